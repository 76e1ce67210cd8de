/**
 * Turns a checked `ScenarioPlan` into a `Topology`: resolves selectors, applies groups in order
 * (later ones override earlier ones) and makes every random draw from the seed. Pure and
 * deterministic: the same plan gives the same Topology.
 */
import { createRng, type Rng } from '../rng.js';
import type { LinkEvent, ReceiverSpec, Topology } from '../types.js';
import { RateDraw, type RateSource } from './rates.js';
import { resolveSelector } from './select.js';
import { buildSites, siteMembers } from './sites.js';
import type { LinkSettings, ScenarioPlan } from './validate.js';

/** The fork of the scenario seed that every rate draw comes from. */
export const RATES_LABEL = 'rates';

export function buildTopology(plan: ScenarioPlan): Topology {
  const rates = createRng(plan.seed).fork(RATES_LABEL);
  const topology: Topology = {
    name: plan.name,
    description: plan.description,
    backend: plan.backend,
    seed: plan.seed,
    file: plan.file,
    transfer: { job: plan.job, rateKbps: plan.rateKbps, width: plan.width, options: { ...plan.options } },
    strategies: [...plan.strategies],
    repeat: plan.repeat,
    receivers: buildReceivers(plan, rates),
    sender: {
      upBps: new RateDraw(plan.senderUp, rates).forReceiver(0),
      downBps: plan.senderDown ? new RateDraw(plan.senderDown, rates).forReceiver(0) : Infinity,
    },
    events: buildEvents(plan, rates),
  };
  if (plan.sites.length > 0) topology.sites = buildSites(plan.sites, rates);
  if (plan.authKey) topology.transfer.authKey = true;
  if (plan.check) topology.check = { efficiency: { ...plan.check.efficiency } };
  if (plan.sim) topology.sim = { ...plan.sim };
  return topology;
}

interface Slot {
  downBps: number;
  /** Set only when some entry sets `up`; otherwise the receiver's final down rate. */
  upBps?: number;
  delayMs?: number;
  jitterMs?: number;
  lossDownPct?: number;
  lossUpPct?: number;
}

function buildReceivers(plan: ScenarioPlan, rates: Rng): ReceiverSpec[] {
  const all = Array.from({ length: plan.count }, (_, i) => i);
  const slots: Slot[] = all.map(() => ({ downBps: 0 }));
  apply(slots, all, plan.base, rates);
  const sites = siteMembers(plan.sites);
  for (const g of plan.groups) apply(slots, resolveSelector(g.select, plan.count, sites), g.link, rates);
  return slots.map((s, index) => {
    const spec: ReceiverSpec = { index, downBps: s.downBps, upBps: s.upBps ?? s.downBps };
    if (s.delayMs !== undefined) spec.delayMs = s.delayMs;
    if (s.jitterMs !== undefined) spec.jitterMs = s.jitterMs;
    if (s.lossDownPct !== undefined) spec.lossDownPct = s.lossDownPct;
    if (s.lossUpPct !== undefined) spec.lossUpPct = s.lossUpPct;
    return spec;
  });
}

function apply(slots: Slot[], indexes: readonly number[], link: LinkSettings, rates: Rng): void {
  const down = link.down && new RateDraw(link.down, rates);
  const up = link.up && new RateDraw(link.up, rates);
  for (const i of indexes) {
    const s = slots[i]!;
    if (down) s.downBps = down.forReceiver(i);
    if (up) s.upBps = up.forReceiver(i);
    if (link.delayMs !== undefined) s.delayMs = link.delayMs;
    if (link.jitterMs !== undefined) s.jitterMs = link.jitterMs;
    if (link.lossDownPct !== undefined) s.lossDownPct = link.lossDownPct;
    if (link.lossUpPct !== undefined) s.lossUpPct = link.lossUpPct;
  }
}

const isFixed = (r: RateSource | undefined): boolean => r === undefined || r.kind === 'fixed';

/** One LinkEvent per scenario event, or one per receiver when the event draws its rates. */
function buildEvents(plan: ScenarioPlan, rates: Rng): LinkEvent[] {
  const out: LinkEvent[] = [];
  for (const e of plan.events) {
    const receivers = resolveSelector(e.select, plan.count, siteMembers(plan.sites));
    const down = e.down && new RateDraw(e.down, rates);
    const up = e.up && new RateDraw(e.up, rates);
    const groups = isFixed(e.down) && isFixed(e.up) ? [receivers] : receivers.map((i) => [i]);
    for (const group of groups) {
      const first = group[0] ?? 0;
      const ev: LinkEvent = { atMs: e.atMs, receivers: group };
      if (down) ev.downBps = down.forReceiver(first);
      if (up) ev.upBps = up.forReceiver(first);
      out.push(ev);
    }
  }
  // Stable: events at the same time keep the order they were written in.
  return out.map((ev, i) => ({ ev, i })).sort((a, b) => a.ev.atMs - b.ev.atMs || a.i - b.i).map((x) => x.ev);
}
