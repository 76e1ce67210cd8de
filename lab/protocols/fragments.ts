/**
 * The fragment fan-out (seeds 000, 001) as a lab plug-in: receiver i gets fragment i of the file
 * from `fanout receive` on its host; the source runs `fanout send --json` with the variant as its
 * strategy, under the scenario's aggregate limit and width. The sender is the run's driver: the
 * run ends when it exits, and its own summary (its clock, from its start) gives the makespan and
 * every node's times, exactly as the lab measured before protocols were plug-ins.
 */
import { writeFileSync } from 'node:fs';
import { planFragments } from '../../core/fragments.js';
import type { SenderEvent, SenderSummary } from '../../sender/report.js';
import { STRATEGY_NAMES, isStrategyName, type StrategyName } from '../../sender/strategies/names.js';
import { LAB_CHUNK_BYTES, topologyLowerBound } from '../bound.js';
import { FANOUT_JS, RECEIVER_PORT, RunError } from '../hosts.js';
import { simulatedRun } from '../sim/backend.js';
import { sameBytesAt } from '../verify.js';
import { writeAuthKey } from '../auth.js';
import type { NodeEvent, Protocol, ProcessSpec, RunContext, RunFigures } from './types.js';

const summaries = new WeakMap<RunContext, SenderSummary>();
const AUTH_KEY_NAME = 'auth.key';
/** The run's key file (`transfer.authKey`): written by prepare(), named by both commands. */
const authKeyPath = (ctx: RunContext): string => `${ctx.runDir}/${AUTH_KEY_NAME}`;

function strategyOf(variant: string): StrategyName {
  if (!isStrategyName(variant)) throw new RunError(`fragments: unknown strategy ${variant}`);
  return variant;
}

export const fragments: Protocol<Record<string, never>> = {
  name: 'fragments',
  job: 'fragments',
  variants: STRATEGY_NAMES,
  tools: [],
  services: [],
  backends: ['netns', 'docker'],
  summary: 'one fragment per node over its own TCP connection, under an aggregate limit and a width (fanout send/receive)',

  parseOptions(raw, path, issues) {
    if (raw !== undefined) issues.add(path, 'the fragments protocol takes its options from transfer.rateKbps and transfer.width');
    return {};
  },

  phases(ctx) {
    const t = ctx.topology;
    const auth = t.transfer.authKey ? ['--auth-key', authKeyPath(ctx)] : [];
    const receivers: ProcessSpec[] = t.receivers.map((r) => ({
      node: { role: 'receiver', index: r.index },
      label: `receiver ${r.index}`,
      argv: [process.execPath, FANOUT_JS, 'receive', '--json', '--listen', `${ctx.address({ role: 'receiver', index: r.index })}:${RECEIVER_PORT}`, '--out', ctx.poolDir(r.index), ...auth],
      ready: /"event":"listening"/,
      stop: 'SIGTERM',
      // One receiver serves every run on this network (a keyed run makes its own key file: fresh receivers).
      ...(t.transfer.authKey ? {} : { reuse: 'fanout-receive' }),
      fanoutReceiver: { outDir: ctx.poolDir(r.index) },
    }));
    const nodesFile = `${ctx.runDir}/nodes.txt`;
    const sender: ProcessSpec = {
      node: { role: 'source' },
      label: 'sender',
      argv: [
        process.execPath, FANOUT_JS, 'send', '--json', '--file', ctx.srcFile, '--nodes', nodesFile,
        '--rate-kbps', String(t.transfer.rateKbps), '--strategy', strategyOf(ctx.variant), '--width', String(t.transfer.width),
        '--transfer-id', ctx.runId, '--chunk-bytes', String(LAB_CHUNK_BYTES), ...auth,
      ],
      ready: null,
      stop: 'SIGTERM',
      driver: true,
    };
    return [
      { name: 'receivers', procs: receivers },
      { name: 'sender', procs: [sender] },
    ];
  },

  async prepare(ctx) {
    const lines = ctx.topology.receivers.map((r) => `${ctx.address({ role: 'receiver', index: r.index })}:${RECEIVER_PORT}`);
    writeFileSync(`${ctx.runDir}/nodes.txt`, lines.join('\n') + '\n');
    if (ctx.topology.transfer.authKey) await writeAuthKey(ctx.runDir, AUTH_KEY_NAME);
  },

  parseLine(spec, line, ctx) {
    if (!spec.driver) return [];
    let ev: SenderEvent | SenderSummary;
    try {
      ev = JSON.parse(line) as SenderEvent | SenderSummary;
    } catch {
      return [];
    }
    switch (ev.event) {
      case 'summary':
        summaries.set(ctx, ev);
        return [];
      case 'start':
        return [{ kind: 'origin', node: -1 }];
      case 'connected':
        return [{ kind: 'start', node: ev.index }];
      case 'first-byte':
        return [{ kind: 'first-byte', node: ev.index }];
      case 'acked':
        return [{ kind: 'done', node: ev.index, downBytes: ev.bytes }];
      case 'error':
        return ev.retryInMs === null ? [{ kind: 'error', node: ev.index, message: ev.message }] : [];
      default:
        return [] as NodeEvent[];
    }
  },

  async verify(ctx, index) {
    const plan = planFragments(ctx.fileBytes, ctx.topology.receivers.length);
    const frag = plan[index]!;
    const s = summaries.get(ctx);
    const nodeError = s?.nodes[index]?.error ?? null;
    if (nodeError !== null) return nodeError;
    const ok = sameBytesAt(ctx.srcFile, frag.offsetBytes, frag.sizeBytes, `${ctx.poolDir(index)}/${ctx.runId}.${index}.frag`);
    return ok ? null : 'stored fragment differs from the source';
  },

  lowerBound(t, _o, fileBytes) {
    return topologyLowerBound(t, planFragments(fileBytes, t.receivers.length).map((p) => p.sizeBytes));
  },

  figures(ctx): RunFigures | null {
    const s = summaries.get(ctx);
    if (!s) throw new RunError('the sender exited without a summary');
    const plan = planFragments(ctx.fileBytes, ctx.topology.receivers.length);
    return {
      makespanS: s.makespanS,
      rateOvershoot: s.rateOvershoot ?? 0,
      wireOverhead: s.wireBytes / Math.max(1, s.payloadBytes) - 1,
      payloadBytes: s.payloadBytes,
      wireBytes: s.wireBytes,
      cpuUserS: s.cpuUserS,
      cpuSysS: s.cpuSysS,
      maxRssBytes: s.maxRssBytes,
      receivers: ctx.topology.receivers.map((r) => {
        const node = s.nodes[r.index]!;
        return {
          index: r.index,
          address: `${ctx.address({ role: 'receiver', index: r.index })}:${RECEIVER_PORT}`,
          downBps: r.downBps,
          upBps: r.upBps,
          fragmentBytes: plan[r.index]!.sizeBytes,
          bytes: node.bytes,
          upBytes: 0,
          startS: node.startS,
          firstByteS: node.firstByteS,
          doneS: node.doneS,
          verified: false,
        };
      }),
    };
  },

  simulate(t, variant, contender, repeat, model) {
    return simulatedRun(t, strategyOf(variant), repeat, model, contender);
  },
};
