/**
 * The naive baseline for bench:send, as a separate process so its CPU and memory are its own:
 *   node dist/bench/naive.js sink HOST FIRSTPORT COUNT OUTDIR   - accept, write each connection to a file
 *   node dist/bench/naive.js send FILE HOST FIRSTPORT COUNT     - 64 sockets, each fed by
 *       fs.createReadStream(file, {start, end}).pipe(socket); no rate limit, no protocol.
 * The sender prints one JSON line: makespanS, cpuUserS, cpuSysS, maxRssBytes.
 */
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'sink') {
  const [host, first, count, out] = args as [string, string, string, string];
  for (let i = 0; i < Number(count); i++) {
    const port = Number(first) + i;
    let n = 0;
    createServer((socket) => {
      socket.pipe(createWriteStream(join(out, `naive.${port}.${n++}`)));
    }).listen(port, host);
  }
  process.stdout.write('ready\n');
} else if (mode === 'send') {
  const [file, host, first, count] = args as [string, string, string, string];
  const n = Number(count);
  const size = statSync(file).size;
  const frag = Math.ceil(size / n);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let left = n;
  for (let i = 0; i < n; i++) {
    const socket = connect({ host, port: Number(first) + i });
    createReadStream(file, { start: i * frag, end: Math.min(size, (i + 1) * frag) - 1 }).pipe(socket);
    socket.on('close', () => {
      if (--left > 0) return;
      const cpu = process.cpuUsage(cpu0);
      process.stdout.write(
        `${JSON.stringify({ makespanS: (performance.now() - t0) / 1000, cpuUserS: cpu.user / 1e6, cpuSysS: cpu.system / 1e6, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`,
      );
    });
    // The sink closes its side after end; we close ours when the pipe has finished.
    socket.on('finish', () => socket.destroySoon());
  }
} else {
  process.stderr.write('usage: naive.js sink HOST PORT COUNT OUTDIR | send FILE HOST PORT COUNT\n');
  process.exitCode = 2;
}
