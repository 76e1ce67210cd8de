/** A one-line progress display for terminals: nodes done, bytes, rate, elapsed. */
import { formatBytesShort } from './format.js';

export interface ProgressSource {
  stats(): { doneNodes: number; failedNodes: number; nodes: number; deliveredBytes: number; totalBytes: number; elapsedS: number };
}

export function startProgress(src: ProgressSource, out: NodeJS.WriteStream, label: string): () => void {
  if (!out.isTTY) return () => {};
  const draw = (): void => {
    const s = src.stats();
    const frac = s.totalBytes > 0 ? s.deliveredBytes / s.totalBytes : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    const rate = s.elapsedS > 0 ? (s.deliveredBytes * 8) / s.elapsedS / 1e6 : 0;
    const failed = s.failedNodes > 0 ? `, ${s.failedNodes} failed` : '';
    const line = `${label} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}%  ${s.doneNodes}/${s.nodes} nodes${failed}  ${formatBytesShort(s.deliveredBytes)}/${formatBytesShort(s.totalBytes)}  ${rate.toFixed(1)} Mbit/s  ${s.elapsedS.toFixed(1)} s`;
    out.write(`\r${line.slice(0, (out.columns ?? 120) - 1)}\x1b[K`);
  };
  const timer = setInterval(draw, 200);
  draw();
  return () => {
    clearInterval(timer);
    draw();
    out.write('\n');
  };
}

/**
 * The lab's two outputs on stderr: `log` prints a line for good; `status` (on a terminal only,
 * else null) rewrites one live line in place, which the next `log` clears first.
 */
export function labConsole(err: NodeJS.WriteStream = process.stderr): { log: (line: string) => void; status: ((line: string) => void) | null } {
  let statusShown = false;
  const status = err.isTTY
    ? (line: string): void => {
        err.write(`\r${line.slice(0, (err.columns ?? 120) - 1)}\x1b[K`);
        statusShown = true;
      }
    : null;
  const log = (line: string): void => {
    if (statusShown) err.write('\r\x1b[K');
    statusShown = false;
    err.write(`${line}\n`);
  };
  return { log, status };
}
