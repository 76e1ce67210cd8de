/**
 * Scenario values checked against this machine (and sanity bounds no machine changes), after the
 * file is valid and the backend chosen, before anything is built: a scenario this machine cannot
 * hold is bad input (exit 2) with a message saying how much it can hold and why, never an
 * out-of-memory half-way through bring-up.
 *
 * Per-backend cost of one receiver, measured on this project's 2-vCPU VM (README):
 *   - netns: one `fanout receive` process (~45 MiB resident) and a namespace with a veth pair and
 *     two HTB trees: 64 MiB of memory counted each; CPU: 64 receivers share two cores with the
 *     sender at 300 Mbit/s, so at most 128 per core;
 *   - docker: 12-15.5 MiB of host memory each (MemAvailable), plus ~0.5 CPU-s to start: 16 MiB
 *     counted each, at most 128 per core;
 *   - sim: ~20 KiB per receiver at 10,000 (100-192 MiB peak): 32 KiB counted each.
 * Half of the memory available now is what the receivers may take.
 */
import { availableParallelism, freemem } from 'node:os';
import { readFileSync } from 'node:fs';
import type { BackendName, Topology } from '../types.js';
import { ScenarioError, type ScenarioIssue } from './errors.js';

export interface Machine {
  /** Memory available now, bytes (MemAvailable). */
  availableBytes: number;
  cpus: number;
}

export const RECEIVER_COST: Record<BackendName, { bytes: number; perCpu: number }> = {
  netns: { bytes: 64 * 2 ** 20, perCpu: 128 },
  docker: { bytes: 16 * 2 ** 20, perCpu: 128 },
  sim: { bytes: 32 * 1024, perCpu: Infinity },
};

/** Events later than this after the start are a mistake (a run that long is not a lab run). */
export const MAX_EVENT_MS = 24 * 3600 * 1000;

/** This machine: MemAvailable from /proc/meminfo (os.freemem() elsewhere), and its processors. */
export function thisMachine(): Machine {
  let availableBytes = freemem();
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) availableBytes = Number(m[1]) * 1024;
  } catch {
    // not Linux: freemem() it is
  }
  return { availableBytes, cpus: availableParallelism() };
}

/** How many receivers `backend` can hold on `machine`, and what limits it. */
export function receiverCap(backend: BackendName, machine: Machine): { cap: number; why: string } {
  const cost = RECEIVER_COST[backend];
  const byMemory = Math.floor(machine.availableBytes / 2 / cost.bytes);
  const byCpu = cost.perCpu * machine.cpus;
  const mib = (b: number): string => `${Math.round(b / 2 ** 20)} MiB`;
  if (byMemory <= byCpu) {
    return { cap: byMemory, why: `${mib(machine.availableBytes)} of memory available, half of it for receivers at ${mib(cost.bytes)} each` };
  }
  return { cap: byCpu, why: `${machine.cpus} processor(s) at ${cost.perCpu} receivers each` };
}

/** The problems of `t` on `backend` and `machine` (empty: fine). Pure. */
export function scenarioLimitIssues(t: Topology, backend: BackendName, machine: Machine): ScenarioIssue[] {
  const issues: ScenarioIssue[] = [];
  const { cap, why } = receiverCap(backend, machine);
  if (t.receivers.length > cap) {
    issues.push({
      path: 'receivers',
      message: `${t.receivers.length} receivers on the ${backend} backend: this machine holds at most ${cap} (${why})${backend === 'sim' ? '' : '; try backend: sim'}`,
    });
  }
  for (const ev of t.events) {
    if (!Number.isFinite(ev.atMs) || ev.atMs < 0 || ev.atMs > MAX_EVENT_MS) {
      issues.push({ path: 'events', message: `an event at ${ev.atMs / 1000} s is out of range: events happen from 0 to ${MAX_EVENT_MS / 3_600_000} h after the start` });
    }
  }
  return issues;
}

/** Throws ScenarioError (exit 2) when `t` does not fit `backend` on this machine. */
export function checkScenarioLimits(t: Topology, backend: BackendName, source: string, machine: Machine = thisMachine()): void {
  const issues = scenarioLimitIssues(t, backend, machine);
  if (issues.length > 0) throw new ScenarioError(source, issues);
}
