/**
 * The safety check run before every tc/ip change to an interface: is this an interface the lab
 * made, in the namespace the plan says it is in?
 *
 * The rule (see plan.ts): the namespace is one of this run's (`<prefix>-...`, and the very one
 * the plan names for the interface); the interface is listed in that namespace's
 * `ip -n <ns> -j link show`; and its name carries the prefix (bridge namespace; bridge ports must
 * also be enslaved to the bridge the plan puts them on: the core bridge, or a site's) or is exactly `eth0` (a host namespace). Anything else
 * is refused with a SafetyError before a command is built. Pure: listings come in as parsed JSON.
 */
import { HOST_IFNAME, bridgeNsInterfaces, planHosts, type NetnsPlan } from './plan.js';

/** The fields of one `ip -j link show` entry the check reads. */
export interface LinkInfo {
  ifindex: number;
  ifname: string;
  master?: string;
  link_type?: string;
  /** The link-layer (MAC) address. */
  address?: string;
}

/** A change was about to touch an interface the lab cannot prove it made. */
export class SafetyError extends Error {
  override readonly name = 'SafetyError';
}

/** Parse `ip -j link show` output (one JSON array). */
export function parseLinkList(stdout: string): LinkInfo[] {
  const parsed: unknown = JSON.parse(stdout.trim() === '' ? '[]' : stdout);
  if (!Array.isArray(parsed)) throw new SyntaxError('ip -j link show: expected a JSON array');
  return parsed.map((e: unknown, i) => {
    const o = e as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.ifname !== 'string' || typeof o.ifindex !== 'number') {
      throw new SyntaxError(`ip -j link show: entry ${i} lacks ifname/ifindex`);
    }
    const info: LinkInfo = { ifindex: o.ifindex, ifname: o.ifname };
    if (typeof o.master === 'string') info.master = o.master;
    if (typeof o.link_type === 'string') info.link_type = o.link_type;
    if (typeof o.address === 'string') info.address = o.address;
    return info;
  });
}

/**
 * The last JSON array printed by `ip -j ... -batch -` (each `link show` line prints one array on
 * its own line; configuration lines print nothing).
 */
export function lastJsonArray(stdout: string): string {
  const lines = stdout.split('\n').filter((l) => l.trimStart().startsWith('['));
  const last = lines[lines.length - 1];
  if (last === undefined) throw new SyntaxError('no JSON link listing in the output');
  return last;
}

/** Listings per namespace name, as taken after bring-up. */
export type Listings = ReadonlyMap<string, readonly LinkInfo[]>;

/**
 * Check that `dev` in namespace `ns` is an interface this plan's lab made, using `listings`.
 * Returns the listing entry; throws SafetyError with the reason otherwise.
 */
export function checkLabInterface(plan: NetnsPlan, listings: Listings, ns: string, dev: string): LinkInfo {
  const refuse = (why: string): never => {
    throw new SafetyError(`refusing to touch ${dev} in namespace ${ns}: ${why}`);
  };
  if (!ns.startsWith(`${plan.prefix}-`)) refuse(`namespace is not one of run ${plan.prefix}`);
  const host = planHosts(plan).find((h) => h.ns === ns);
  const inBridgeNs = ns === plan.bridgeNs ? bridgeNsInterfaces(plan).find((x) => x.name === dev) : undefined;
  if (ns === plan.bridgeNs) {
    if (!dev.startsWith(`${plan.prefix}-`)) refuse(`name does not carry the prefix ${plan.prefix}-`);
    if (inBridgeNs === undefined) refuse(`not an interface the plan puts in ${ns}`);
  } else if (host !== undefined) {
    if (dev !== HOST_IFNAME) refuse(`a host namespace holds only ${HOST_IFNAME} (and lo)`);
  } else {
    refuse('not a namespace of this plan');
  }
  const listing = listings.get(ns);
  if (listing === undefined) refuse('no listing of that namespace was taken');
  const found = listing!.find((l) => l.ifname === dev);
  if (found === undefined) refuse('not listed in that namespace (wrong namespace, or gone)');
  const master = inBridgeNs?.master ?? null;
  if (master !== null && found!.master !== master) {
    refuse(`not a port of the lab's bridge ${master} (master: ${found!.master ?? 'none'})`);
  }
  return found!;
}

/**
 * Check every interface the plan shapes or configures after bring-up: the bridge, each bridge
 * port, and each host's eth0. Throws the first SafetyError.
 */
export function checkPlanInterfaces(plan: NetnsPlan, listings: Listings): void {
  for (const x of bridgeNsInterfaces(plan)) checkLabInterface(plan, listings, plan.bridgeNs, x.name);
  for (const h of planHosts(plan)) checkLabInterface(plan, listings, h.ns, h.ifname);
}
