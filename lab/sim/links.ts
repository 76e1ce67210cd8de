/**
 * The links a flow crosses in a Topology, for the flow simulator's max-min sharing
 * (fair-share.ts `maxMinRates`). Pure.
 *
 * Nodes are numbered as NodeEvent numbers them: -1 is the source, i >= 0 is receiver i. Every
 * node has an up link (what it sends) and a down link (what it receives); every site
 * (Topology.sites) a trunk up (out of the site) and a trunk down (into it). A flow from `from` to
 * `to` crosses, in order:
 *
 *   from's up;  from's site's trunk up, when `from` is in a site and `to` is not in the same one;
 *   to's site's trunk down, when `to` is in a site and `from` is not in the same one;  to's down.
 *
 * So a flow between two receivers of one site never touches the trunk, and a flow between the
 * site and anything else crosses it once (up to leave, down to enter; both when it goes from one
 * site to another). This is what the netns backend builds (lab/netns/plan.ts).
 */
import { siteOfReceiver } from '../scenario/sites.js';
import type { Topology } from '../types.js';

/** -1: the source; i >= 0: receiver i. */
export type SimNodeId = number;

export type LinkRef =
  | { kind: 'up'; node: SimNodeId }
  | { kind: 'down'; node: SimNodeId }
  | { kind: 'trunk-up'; site: number }
  | { kind: 'trunk-down'; site: number };

type Sited = Pick<Topology, 'receivers' | 'sites'>;

function checkNode(t: Sited, node: SimNodeId, what: string): void {
  if (!(node === -1 || (Number.isInteger(node) && node >= 0 && node < t.receivers.length))) {
    throw new RangeError(`${what}: no node ${node} (-1 is the source, receivers are 0..${t.receivers.length - 1})`);
  }
}

/** The links a flow from `from` to `to` crosses, in order (see the banner). */
export function flowLinks(t: Sited, from: SimNodeId, to: SimNodeId, siteOf: ReadonlyMap<number, number> = siteOfReceiver(t.sites)): LinkRef[] {
  checkNode(t, from, 'from');
  checkNode(t, to, 'to');
  if (from === to) throw new RangeError(`a flow from node ${from} to itself`);
  const a = siteOf.get(from);
  const b = siteOf.get(to);
  const out: LinkRef[] = [{ kind: 'up', node: from }];
  if (a !== undefined && a !== b) out.push({ kind: 'trunk-up', site: a });
  if (b !== undefined && a !== b) out.push({ kind: 'trunk-down', site: b });
  out.push({ kind: 'down', node: to });
  return out;
}

/**
 * Every link of a Topology with its capacity, numbered for `maxMinRates`: `index(ref)` gives its
 * place in `capacities`. Capacities are link rates in bit/s times `bytesPerBit` (e.g. goodput/8
 * for payload bytes/s); Infinity stays Infinity (unshaped).
 */
export class LinkTable {
  readonly capacities: number[] = [];
  readonly names: string[] = [];
  private readonly n: number;
  readonly siteOf: ReadonlyMap<number, number>;

  constructor(
    private readonly t: Pick<Topology, 'receivers' | 'sites' | 'sender'>,
    bytesPerBit: number,
  ) {
    this.n = t.receivers.length;
    this.siteOf = siteOfReceiver(t.sites);
    const add = (name: string, bps: number): void => {
      this.names.push(name);
      this.capacities.push(bps === Infinity ? Infinity : bps * bytesPerBit);
    };
    add('source up', t.sender.upBps);
    add('source down', t.sender.downBps ?? Infinity);
    for (const r of t.receivers) {
      add(`receiver ${r.index} up`, r.upBps);
      add(`receiver ${r.index} down`, r.downBps);
    }
    for (const s of t.sites ?? []) {
      add(`site ${s.name} trunk up`, s.upBps);
      add(`site ${s.name} trunk down`, s.downBps);
    }
  }

  /** The place of `ref` in `capacities`. */
  index(ref: LinkRef): number {
    switch (ref.kind) {
      case 'up':
      case 'down':
        checkNode(this.t, ref.node, ref.kind);
        return 2 * (ref.node + 1) + (ref.kind === 'down' ? 1 : 0);
      default: {
        const k = ref.site;
        if (!(Number.isInteger(k) && k >= 0 && k < (this.t.sites ?? []).length)) throw new RangeError(`no site ${k}`);
        return 2 * (this.n + 1) + 2 * k + (ref.kind === 'trunk-down' ? 1 : 0);
      }
    }
  }

  /**
   * The indexes of the shaped links a flow from `from` to `to` crosses (unshaped ones limit
   * nothing and are left out: maxMinRates takes only finite capacities).
   */
  flow(from: SimNodeId, to: SimNodeId): number[] {
    return flowLinks(this.t, from, to, this.siteOf)
      .map((ref) => this.index(ref))
      .filter((l) => Number.isFinite(this.capacities[l]!));
  }
}
