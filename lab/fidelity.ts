/**
 * Is this run a measurement of the programs and the network, or of the lab itself?
 *
 * On a 2-core machine the emulated hosts, the shaping and the lab share the cores with the program
 * under test. Three things say whether that sharing distorted a run:
 *
 *   - the machine was quiet when the transfer started: before the last phase (or the `go` signal)
 *     the runner waits until the cores have been mostly idle for a short window (the nodes' own
 *     start-up, a previous run's teardown and file checks are done), and records how long it
 *     waited and how busy the machine still was;
 *   - the source's programs were not kept from a core: the kernel counts, per thread, the time it
 *     was runnable but waiting on a run queue (/proc/PID/schedstat, second field, for the main
 *     thread: the one running the event loop). The source's share of such waiting over the
 *     transfer (from its first line of output, or from the `go` signal) is the direct measure of
 *     CPU starvation;
 *   - the machine-wide CPU pressure (/proc/pressure/cpu, `some`: the share of time at least one task
 *     waited for a core) over the transfer, reported beside it.
 *
 * A run whose source waited more than STARVED_WAIT_SHARE of its makespan for a core is flagged:
 * its makespan measures the emulator, and the lab says so in its output and in summary.json.
 * The files read are Linux's; on a kernel without them every figure is null and nothing is flagged
 * (the output says the guard could not look).
 */
import { readFileSync } from 'node:fs';

/**
 * The source waited this share of the makespan for a core: the run is flagged CPU-starved.
 * Measured on this 2-core machine, quiet, one-slow (64 receivers, 15 runs x 3): 2.5-3.8 % for the
 * in-order strategies, 5.0-6.0 % for probe-prioritise (its own set-ups) with makespans as steady as
 * the others'; the first run on freshly started receivers read 4.6-9.7 % and ran 2-5 % slower.
 * The runs the guard exists for (other heavy work beside the lab) read 30-88 %.
 */
export const STARVED_WAIT_SHARE = 0.1;
/** The machine counts as quiet when its cores are at most this busy over a window. */
export const QUIET_BUSY_SHARE = 0.2;
export const QUIET_WINDOW_MS = 200;
/** Give up waiting for quiet after this long (and say the run started on a busy machine). */
export const QUIET_MAX_WAIT_MS = 15_000;

/** Jiffies of every core: busy and total, from /proc/stat's `cpu` line; null if unreadable. */
export function cpuTimes(read: (p: string) => string = (p) => readFileSync(p, 'utf8')): { busy: number; total: number } | null {
  try {
    const line = read('/proc/stat').split('\n').find((l) => l.startsWith('cpu '));
    if (!line) return null;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user and nice).
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** Busy share of the cores between two readings (0..1). */
export function busyShare(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  const dt = b.total - a.total;
  return dt > 0 ? Math.min(1, Math.max(0, (b.busy - a.busy) / dt)) : 0;
}

export interface QuietWait {
  /** Seconds spent waiting for quiet. */
  waitedS: number;
  /** How busy the cores were over the last window before the start (0..1); null when unknown. */
  busyShare: number | null;
  /** The window before the start was quiet. */
  quiet: boolean;
}

/** Waits until the cores' busy share is at most QUIET_BUSY_SHARE over two QUIET_WINDOW_MS windows in a row, or QUIET_MAX_WAIT_MS. */
export async function waitForQuiet(maxWaitMs = QUIET_MAX_WAIT_MS): Promise<QuietWait> {
  const t0 = Date.now();
  let prev = cpuTimes();
  if (prev === null) return { waitedS: 0, busyShare: null, quiet: false };
  let share = 1;
  let quietWindows = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, QUIET_WINDOW_MS));
    const now = cpuTimes();
    if (now === null) return { waitedS: (Date.now() - t0) / 1000, busyShare: null, quiet: false };
    const s = busyShare(prev, now);
    prev = now;
    // Two quiet windows in a row: one can fall in a lull between bursts.
    quietWindows = s <= QUIET_BUSY_SHARE ? quietWindows + 1 : 0;
    share = quietWindows === 2 ? Math.max(share, s) : s;
    if (quietWindows === 2) return { waitedS: Math.max(0, Date.now() - t0 - 2 * QUIET_WINDOW_MS) / 1000, busyShare: share, quiet: true };
    if (Date.now() - t0 >= maxWaitMs) return { waitedS: (Date.now() - t0) / 1000, busyShare: share, quiet: false };
  }
}

/** Total µs some task waited for a core (/proc/pressure/cpu, `some` total), or null without PSI. */
export function cpuPressureUs(read: (p: string) => string = (p) => readFileSync(p, 'utf8')): number | null {
  try {
    const m = /^some .*total=(\d+)/m.exec(read('/proc/pressure/cpu'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Seconds the main thread of `pid` (the one running its event loop) has spent runnable but waiting
 * for a core; null when unreadable. Helper threads (GC, the file-system pool) are left out: their
 * waits overlap the main thread's and summing them would count one stall several times.
 */
export function runQueueWaitS(pid: number, read: (p: string) => string = (p) => readFileSync(p, 'utf8')): number | null {
  try {
    const f = read(`/proc/${pid}/schedstat`).trim().split(/\s+/);
    const ns = Number(f[1]);
    return Number.isFinite(ns) ? ns / 1e9 : null;
  } catch {
    return null;
  }
}

/** What the guard says about one run (in summary.json as RunResult.fidelity). */
export interface Fidelity {
  quietWaitS: number;
  /** Cores' busy share just before the start (0..1), null if unknown. */
  busyAtStart: number | null;
  /** The source's programs' time waiting for a core during the run, s (null: could not read). */
  sourceWaitS: number | null;
  /** sourceWaitS / makespan. */
  sourceWaitShare: number | null;
  /** Share of the run during which some task on the machine waited for a core (PSI), null without PSI. */
  cpuPressure: number | null;
  /** Time from the origin to each node's first byte: median and largest, s (null when no node got a byte). */
  startLagMedianS: number | null;
  startLagMaxS: number | null;
  /** The run is not a faithful measurement; `reasons` says why. */
  starved: boolean;
  reasons: string[];
}

/**
 * The verdict: starved when the source waited too long for a core, or when the transfer had to start
 * on a busy machine (`quietChecked`: the runner waited for quiet; false in tests that skip it).
 */
export function judge(f: Omit<Fidelity, 'starved' | 'reasons' | 'sourceWaitShare'>, makespanS: number, quiet: { checked: boolean; quiet: boolean } = { checked: false, quiet: true }): Fidelity {
  const reasons: string[] = [];
  if (quiet.checked && !quiet.quiet) {
    reasons.push(f.busyAtStart === null ? "the machine's CPU use could not be read before the start" : `the machine was still ${(f.busyAtStart * 100).toFixed(0)} % busy after ${f.quietWaitS.toFixed(1)} s of waiting for quiet`);
  }
  const share = f.sourceWaitS === null || !(makespanS > 0) ? null : f.sourceWaitS / makespanS;
  if (share !== null && share > STARVED_WAIT_SHARE) {
    reasons.push(`the source waited ${f.sourceWaitS!.toFixed(2)} s for a core (${(share * 100).toFixed(1)} % of the makespan; over ${STARVED_WAIT_SHARE * 100} % means the machine, not the network, set the pace)`);
  }
  return { ...f, sourceWaitShare: share, starved: reasons.length > 0, reasons };
}

/** Median of finite values, or null. */
export function medianOf(xs: readonly (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}
