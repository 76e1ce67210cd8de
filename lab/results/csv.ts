/**
 * CSV views of a ScenarioResults, for spreadsheets and pandas: one row per receiver per run
 * (completions.csv) and one row per run (runs.csv). Columns added later go at the end, so older
 * readers keep their positions (protocol and variant of the contender, bytes a node uploaded,
 * the bound's binding term, every node's processes' CPU and summed peak RSS). Both start with a header row, use "\n"
 * line ends, write booleans as true/false, null and missing values as empty cells, and
 * numbers as JavaScript prints them (full precision, seconds and bit/s as in types.ts).
 */
import { stringify } from 'csv-stringify/sync';
import type { ScenarioResults } from '../types.js';

/** Columns of completions.csv, in order. */
export const COMPLETION_COLUMNS = [
  'scenario',
  'backend',
  'strategy',
  'repeat',
  'receiver',
  'address',
  'down_bps',
  'up_bps',
  'fragment_bytes',
  'bytes',
  'start_s',
  'first_byte_s',
  'done_s',
  'verified',
  'error',
  'run_makespan_s',
  'run_lower_bound_s',
  'protocol',
  'variant',
  'up_bytes',
  /** A protocol's own per-node counters (lab/types.ts ReceiverResult.counters), as one JSON object. */
  'counters',
  'control_bytes',
  'duplicate_chunks',
] as const;

/** Columns of runs.csv, in order: every scalar figure of a RunResult plus the receiver count. */
export const RUN_COLUMNS = [
  'scenario',
  'backend',
  'strategy',
  'repeat',
  'makespan_s',
  'lower_bound_s',
  'efficiency',
  'rate_overshoot',
  'wire_overhead',
  'payload_bytes',
  'wire_bytes',
  'cpu_user_s',
  'cpu_sys_s',
  'max_rss_bytes',
  'failed_receivers',
  'receivers',
  'protocol',
  'variant',
  'bound_term',
  'nodes_cpu_s',
  'nodes_max_rss_bytes',
  'peer_up_bytes',
  'launch_s',
  'quiet_wait_s',
  'busy_at_start',
  'source_wait_s',
  'source_wait_share',
  'cpu_pressure',
  'start_lag_median_s',
  'start_lag_max_s',
  'starved',
  'control_bytes',
  'duplicate_chunks',
  'probe_parks',
  'probe_extra_setups',
  'probe_bytes',
] as const;

type Cell = string | number | boolean | null | undefined;
type Row<C extends readonly string[]> = Record<C[number], Cell>;

function toCsv<C extends readonly string[]>(columns: C, rows: Row<C>[]): string {
  return stringify(rows, {
    header: true,
    columns: [...columns],
    cast: { boolean: (value: boolean) => (value ? 'true' : 'false') },
  });
}

/** One row per strategy, repeat and receiver (runs in results order, receivers by index). */
export function completionsCsv(results: ScenarioResults): string {
  const rows: Row<typeof COMPLETION_COLUMNS>[] = [];
  for (const run of results.runs) {
    const receivers = [...run.receivers].sort((a, b) => a.index - b.index);
    for (const r of receivers) {
      rows.push({
        scenario: results.scenario.name,
        backend: results.backend,
        strategy: run.strategy,
        repeat: run.repeat,
        receiver: r.index,
        address: r.address,
        down_bps: r.downBps,
        up_bps: r.upBps,
        fragment_bytes: r.fragmentBytes,
        bytes: r.bytes,
        start_s: r.startS,
        first_byte_s: r.firstByteS,
        done_s: r.doneS,
        verified: r.verified,
        error: r.error,
        run_makespan_s: run.makespanS,
        run_lower_bound_s: run.lowerBoundS,
        protocol: run.protocol,
        variant: run.variant,
        up_bytes: r.upBytes,
        counters: r.counters ? JSON.stringify(r.counters) : undefined,
        control_bytes: r.controlBytes,
        duplicate_chunks: r.duplicateChunks,
      });
    }
  }
  return toCsv(COMPLETION_COLUMNS, rows);
}

/** One row per run (in results order) with all of its scalar figures. */
export function runsCsv(results: ScenarioResults): string {
  const rows: Row<typeof RUN_COLUMNS>[] = results.runs.map((run) => ({
    scenario: results.scenario.name,
    backend: results.backend,
    strategy: run.strategy,
    repeat: run.repeat,
    makespan_s: run.makespanS,
    lower_bound_s: run.lowerBoundS,
    efficiency: run.efficiency,
    rate_overshoot: run.rateOvershoot,
    wire_overhead: run.wireOverhead,
    payload_bytes: run.payloadBytes,
    wire_bytes: run.wireBytes,
    cpu_user_s: run.cpuUserS,
    cpu_sys_s: run.cpuSysS,
    max_rss_bytes: run.maxRssBytes,
    failed_receivers: run.failedReceivers,
    receivers: run.receivers.length,
    protocol: run.protocol,
    variant: run.variant,
    bound_term: run.boundTerm,
    nodes_cpu_s: run.nodesCpuS,
    nodes_max_rss_bytes: run.nodesMaxRssBytes,
    peer_up_bytes: run.peerUpBytes,
    control_bytes: run.controlBytes,
    duplicate_chunks: run.duplicateChunks,
    launch_s: run.launchS,
    quiet_wait_s: run.fidelity?.quietWaitS,
    busy_at_start: run.fidelity?.busyAtStart ?? undefined,
    source_wait_s: run.fidelity?.sourceWaitS ?? undefined,
    source_wait_share: run.fidelity?.sourceWaitShare ?? undefined,
    cpu_pressure: run.fidelity?.cpuPressure ?? undefined,
    start_lag_median_s: run.fidelity?.startLagMedianS ?? undefined,
    start_lag_max_s: run.fidelity?.startLagMaxS ?? undefined,
    starved: run.fidelity === undefined ? undefined : run.fidelity.starved ? 1 : 0,
    probe_parks: run.probe?.parks,
    probe_extra_setups: run.probe?.extraSetups,
    probe_bytes: run.probe?.probeBytes,
  }));
  return toCsv(RUN_COLUMNS, rows);
}
