/**
 * CPU seconds and peak memory of a process and its descendants, read from /proc while they run
 * (the lab reads each node's programs just before it stops them). Linux only; a process that is
 * gone reads as nothing. Peak RSS is VmHWM, summed over the tree (each process's own peak).
 */
import { readFileSync, readdirSync } from 'node:fs';

export interface Usage {
  cpuS: number;
  peakRssBytes: number;
}

const CLK_TCK = 100;

function children(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c));
    } catch {
      // the task ended meanwhile
    }
  }
  return out;
}

function own(pid: number): Usage {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    const cpuS = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuS, peakRssBytes: hwm ? Number(hwm[1]) * 1024 : 0 };
  } catch {
    return { cpuS: 0, peakRssBytes: 0 };
  }
}

/** The pids of the tree rooted at `pid` (bounded size: a runaway fork cannot stall the lab). */
export function treePids(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && out.length < 256) {
    const p = queue.shift()!;
    out.push(p);
    queue.push(...children(p));
  }
  return out;
}

/** CPU and peak memory of the tree rooted at `pid`. */
export function treeUsage(pid: number): Usage {
  const total: Usage = { cpuS: 0, peakRssBytes: 0 };
  for (const p of treePids(pid)) {
    const u = own(p);
    total.cpuS += u.cpuS;
    total.peakRssBytes += u.peakRssBytes;
  }
  return total;
}
