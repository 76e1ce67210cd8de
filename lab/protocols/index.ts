/**
 * The protocol registry: every plug-in the lab can run, and how a scenario's contender names
 * (`protocol/variant`, or a bare fragment strategy in a fragments job) resolve to them.
 */
import { isStrategyName } from '../../sender/strategies/names.js';
import type { JobKind } from '../types.js';
import { bittorrent } from './bittorrent/plugin.js';
import { coded } from './coded/plugin.js';
import { floodclone } from './floodclone.js';
import { fragments } from './fragments.js';
import { p2mpFtp } from './p2mp-ftp/plugin.js';
import type { Protocol } from './types.js';
import { uftp } from './uftp/plugin.js';

export type { Protocol } from './types.js';

export const PROTOCOLS: readonly Protocol<any>[] = [fragments, bittorrent, floodclone, p2mpFtp, uftp, coded]; // eslint-disable-line @typescript-eslint/no-explicit-any

export function protocolByName(name: string): Protocol<unknown> | undefined {
  return PROTOCOLS.find((p) => p.name === name) as Protocol<unknown> | undefined;
}

export interface Contender {
  /** As the scenario wrote it. */
  name: string;
  protocol: Protocol<unknown>;
  variant: string;
}

/** Every contender name a job accepts (for messages and defaults), `protocol/variant` form. */
export function contenderNames(job: JobKind): string[] {
  return PROTOCOLS.filter((p) => p.job === job).flatMap((p) => p.variants.map((v) => `${p.name}/${v}`));
}

/** The default contenders of a job: a fragments job runs every strategy by its bare name. */
export function defaultContenders(job: JobKind): string[] {
  return job === 'fragments' ? [...fragments.variants] : contenderNames(job);
}

/** Resolves a contender name for a job, or says why it cannot. */
export function resolveContender(name: string, job: JobKind): Contender | { error: string } {
  const known = (): string => contenderNames(job).join(', ');
  const slash = name.indexOf('/');
  if (slash < 0) {
    if (job === 'fragments' && isStrategyName(name)) return { name, protocol: fragments as Protocol<unknown>, variant: name };
    if (job === 'whole-file' && isStrategyName(name)) {
      return { error: `${name} is a strategy of the fragments job; a whole-file scenario runs whole-file protocols (${known()})` };
    }
    const p = protocolByName(name);
    if (p && p.variants.length === 1) {
      if (p.job !== job) return { error: `${name} delivers ${p.job === 'fragments' ? 'fragments' : 'the whole file'}; this scenario's job is ${job} (known: ${known()})` };
      return { name, protocol: p, variant: p.variants[0]! };
    }
    return { error: `unknown contender ${JSON.stringify(name)} (known for the ${job} job: ${known()})` };
  }
  const pname = name.slice(0, slash);
  const variant = name.slice(slash + 1);
  const p = protocolByName(pname);
  if (!p) return { error: `unknown protocol ${JSON.stringify(pname)} (known: ${PROTOCOLS.map((x) => x.name).join(', ')})` };
  if (!p.variants.includes(variant)) return { error: `unknown variant ${JSON.stringify(variant)} of ${pname} (known: ${p.variants.join(', ')})` };
  if (p.job !== job) return { error: `${name} delivers ${p.job === 'fragments' ? 'fragments' : 'the whole file'}; this scenario's job is ${job} (known: ${known()})` };
  return { name, protocol: p, variant };
}
