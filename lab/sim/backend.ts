/**
 * The `sim` backend: a scenario's runs in the flow simulator instead of on an emulated network.
 * Same Topology in, same RunResult out, so the results folder, CSV, charts and checks are the
 * lab's own; what differs is marked: no bytes move, so no receiver is "verified", and CPU and
 * memory are the simulator's, not a sender's (reported as zero).
 */
import { statSync } from 'node:fs';
import { planFragments } from '../../core/fragments.js';
import type { StrategyName } from '../../sender/strategies/names.js';
import { LAB_CHUNK_BYTES, goodputFactor, topologyLowerBound } from '../bound.js';
import type { ReceiverResult, RunResult, Topology } from '../types.js';
import { simulateTransfer, type SimModel, type SimOutcome } from './engine.js';
import { LinkTable } from './links.js';

export function topologyFileBytes(t: Topology): number {
  return t.file.kind === 'size' ? t.file.sizeBytes : statSync(t.file.path).size;
}

/** One simulated transfer of `t` under `strategy`. */
export function simulateScenario(t: Topology, strategy: StrategyName, model: Partial<SimModel> = {}): { outcome: SimOutcome; fragmentBytes: number[] } {
  const plan = planFragments(topologyFileBytes(t), t.receivers.length);
  const factor = goodputFactor(LAB_CHUNK_BYTES);
  const changes: { atMs: number; index: number; bytesPerS: number }[] = [];
  for (const ev of t.events) {
    if (ev.downBps === undefined) continue;
    for (const index of ev.receivers) changes.push({ atMs: ev.atMs, index, bytesPerS: (ev.downBps / 8) * factor });
  }
  const fragmentBytes = plan.map((p) => p.sizeBytes);
  // Sites: each receiver's flow also crosses its site's trunk down (links.ts); the uplink and the
  // receiver's own link the engine already has.
  const links = new LinkTable(t, factor / 8);
  const own = new Set([links.index({ kind: 'up', node: -1 })]);
  const trunkIndexes = (t.sites ?? []).map((_, k) => links.index({ kind: 'trunk-down', site: k }));
  const shared = trunkIndexes.length === 0 ? undefined : {
    capacitiesBytesPerS: trunkIndexes.map((l) => links.capacities[l]!),
    linksOf: t.receivers.map((r) => links.flow(-1, r.index).filter((l) => !own.has(l) && trunkIndexes.includes(l)).map((l) => trunkIndexes.indexOf(l))),
  };
  const outcome = simulateTransfer({
    strategy,
    fragmentBytes,
    capacityBytesPerS: t.receivers.map((r) => (r.downBps / 8) * factor),
    changes,
    uplinkBytesPerS: (t.sender.upBps / 8) * factor,
    rateBytesPerS: Number.isFinite(t.transfer.rateKbps) ? (t.transfer.rateKbps * 1000) / 8 : Infinity,
    width: t.transfer.width,
    chunkBytes: LAB_CHUNK_BYTES,
    model,
    ...(shared ? { shared } : {}),
  });
  return { outcome, fragmentBytes };
}

/** A simulated run as the lab records runs. */
export function simulatedRun(t: Topology, strategy: StrategyName, repeat: number, model: Partial<SimModel> = {}, contender: string = strategy): RunResult {
  const { outcome: o, fragmentBytes } = simulateScenario(t, strategy, model);
  const bound = topologyLowerBound(t, fragmentBytes);
  const s = (ms: number | null): number | null => (ms === null ? null : Math.round(ms) / 1000);
  const receivers: ReceiverResult[] = t.receivers.map((r) => {
    const node = o.nodes[r.index]!;
    return {
      index: r.index,
      address: `sim:${r.index}`,
      downBps: r.downBps,
      upBps: r.upBps,
      fragmentBytes: fragmentBytes[r.index]!,
      bytes: node.doneMs === null ? 0 : fragmentBytes[r.index]!,
      startS: s(node.startMs),
      firstByteS: s(node.firstByteMs),
      doneS: s(node.doneMs),
      verified: false,
    };
  });
  const rateBytesPerS = (t.transfer.rateKbps * 1000) / 8;
  const makespanS = o.makespanMs / 1000;
  return {
    strategy: contender,
    protocol: 'fragments',
    variant: strategy,
    repeat,
    makespanS,
    lowerBoundS: bound.seconds,
    boundTerm: bound.binding,
    efficiency: makespanS / bound.seconds,
    rateOvershoot: Number.isFinite(rateBytesPerS) ? o.maxWindowBytes / rateBytesPerS - 1 : 0,
    wireOverhead: o.wireBytes / Math.max(1, o.payloadBytes) - 1,
    payloadBytes: o.payloadBytes,
    wireBytes: o.wireBytes,
    cpuUserS: 0,
    cpuSysS: 0,
    maxRssBytes: 0,
    failedReceivers: 0,
    receivers,
    simEvents: o.events,
  };
}
