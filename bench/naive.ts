/**
 * The naive baseline for bench:send, as a separate process so its CPU and memory are its own:
 *   node dist/bench/naive.js sink HOST FIRSTPORT COUNT OUTDIR [--integrity]
 *       - accept, write each connection to a file
 *   node dist/bench/naive.js send FILE HOST FIRSTPORT COUNT [--integrity]
 *       - 64 sockets, each fed by fs.createReadStream(file, {start, end}).pipe(socket); no rate
 *         limit, no protocol.
 * With --integrity both ends also pay for what fanout's guarantees cost, and nothing else: the
 * sender hashes every byte it sends (SHA-256), the sink hashes every byte it stores, writes to a
 * temporary name, fsyncs the file, renames it and fsyncs the folder (receiver/session.ts does the
 * same before it acknowledges a fragment). The makespan then ends when the last file is durable:
 * the sink says so on its own stdout, and the sender waits for its word for every connection.
 * The sender prints one JSON line: makespanS, cpuUserS, cpuSysS, maxRssBytes.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, fsyncSync, openSync, renameSync, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const [mode, ...args] = process.argv.slice(2);

const integrity = args.includes('--integrity');
const positional = args.filter((a) => a !== '--integrity');

if (mode === 'sink') {
  const [host, first, count, out] = positional as [string, string, string, string];
  for (let i = 0; i < Number(count); i++) {
    const port = Number(first) + i;
    let n = 0;
    // With --integrity the sink answers after the sender's end: it must not close its side at once.
    createServer({ allowHalfOpen: integrity }, (socket) => {
      const name = join(out, `naive.${port}.${n++}`);
      if (!integrity) {
        socket.pipe(createWriteStream(name));
        return;
      }
      const hash = createHash('sha256');
      const file = createWriteStream(`${name}.part`);
      socket.on('data', (b: Buffer) => hash.update(b));
      socket.pipe(file);
      // Durable, then renamed, then the folder durable: then the sender hears it is done.
      file.on('finish', () => {
        const fd = openSync(`${name}.part`, 'r+');
        fsyncSync(fd);
        closeSync(fd);
        renameSync(`${name}.part`, name);
        const dir = openSync(out, 'r');
        fsyncSync(dir);
        closeSync(dir);
        socket.end(hash.digest());
      });
    }).listen(port, host);
  }
  process.stdout.write('ready\n');
} else if (mode === 'send') {
  const [file, host, first, count] = positional as [string, string, string, string];
  const n = Number(count);
  const size = statSync(file).size;
  const frag = Math.ceil(size / n);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let left = n;
  for (let i = 0; i < n; i++) {
    const socket = connect({ host, port: Number(first) + i });
    const source = createReadStream(file, { start: i * frag, end: Math.min(size, (i + 1) * frag) - 1 });
    if (integrity) {
      const hash = createHash('sha256');
      source.on('data', (b) => hash.update(b as Buffer));
      source.on('end', () => hash.digest());
      // Half-close after the data; the sink answers with its digest once the file is durable.
      source.pipe(socket, { end: true });
      socket.resume();
    } else {
      source.pipe(socket);
    }
    socket.on('close', () => {
      if (--left > 0) return;
      const cpu = process.cpuUsage(cpu0);
      process.stdout.write(
        `${JSON.stringify({ makespanS: (performance.now() - t0) / 1000, cpuUserS: cpu.user / 1e6, cpuSysS: cpu.system / 1e6, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`,
      );
    });
    // The sink closes its side after end (with --integrity, after its digest); we close ours when the pipe has finished.
    if (!integrity) socket.on('finish', () => socket.destroySoon());
  }
} else {
  process.stderr.write('usage: naive.js sink HOST PORT COUNT OUTDIR [--integrity] | send FILE HOST PORT COUNT [--integrity]\n');
  process.exitCode = 2;
}
