/**
 * npm run bench:send [-- --runs N --size-mib M --nodes K --rate-kbps R]
 *
 * 64 MiB to 64 loopback nodes (one receiver process on 64 ports), unthrottled and throttled, over
 * several runs, beside the naive baseline measured in the same run: 64 sockets each fed by
 * fs.createReadStream(...).pipe(socket), no rate limit, no protocol, into a sink that writes each
 * connection to a file. Prints medians of makespan, throughput, sender CPU and peak RSS, and the
 * ratios sender / naive. Targets (issue 2): peak RSS < 100 MB; unthrottled makespan <= 1.3x naive;
 * CPU <= 1.5x naive. The `naive+integ` row is the naive pipe paying for what fanout guarantees and
 * nothing more (SHA-256 at both ends, fsync + rename + folder fsync before a file counts,
 * bench/naive.ts --integrity): the gap from naive to naive+integ is the integrity's price, the gap
 * from naive+integ to unthrottled the protocol's own. The `auth` row is the unthrottled run with `--auth-key` on both ends (a second
 * receiver process on its own ports), interleaved with the others: the cost of authentication.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FANOUT_JS as FANOUT } from '../lab/hosts.js';
import { median } from '../lab/results/stats.js';


const NAIVE = fileURLToPath(new URL('./naive.js', import.meta.url));

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'size-mib': { type: 'string', default: '64' },
    nodes: { type: 'string', default: '64' },
    'rate-kbps': { type: 'string', default: '400000' },
    strategy: { type: 'string', default: 'backpressure' },
  },
});
const RUNS = Number(values.runs);
const NODES = Number(values.nodes);
const SIZE = Number(values['size-mib']) * 2 ** 20;

interface Figures {
  makespanS: number;
  cpuUserS: number;
  cpuSysS: number;
  maxRssBytes: number;
}

function runJson(args: string[]): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let last: Record<string, any> | null = null;
    createInterface({ input: p.stdout! }).on('line', (l) => {
      try {
        last = JSON.parse(l);
      } catch {
        /* not JSON */
      }
    });
    p.once('close', (code) => (last && code === 0 ? resolve(last) : reject(new Error(`${args.join(' ')} exited ${code}`))));
  });
}

function startProc(args: string[], readyPattern: RegExp): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: p.stdout! }).on('line', (l) => {
      if (readyPattern.test(l)) resolve(() => p.kill('SIGTERM'));
    });
    p.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}`)));
  });
}


async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fanout-bench-'));
  const stops: (() => void)[] = [];
  try {
    const file = join(dir, 'src.bin');
    writeFileSync(file, randomBytes(SIZE));
    const base = 20000 + Math.floor(Math.random() * 10000); // below the ephemeral range
    mkdirSync(join(dir, 'naive'));
    stops.push(await startProc([FANOUT, 'receive', '--listen', `127.0.0.1:${base}-${base + NODES - 1}`, '--out', join(dir, 'rx')], /listening/));
    stops.push(await startProc([NAIVE, 'sink', '127.0.0.1', String(base + NODES), String(NODES), join(dir, 'naive')], /ready/));
    mkdirSync(join(dir, 'naive-int'));
    const intBase = base + 2 * NODES;
    stops.push(await startProc([NAIVE, 'sink', '127.0.0.1', String(intBase), String(NODES), join(dir, 'naive-int'), '--integrity'], /ready/));
    const key = join(dir, 'auth.key');
    writeFileSync(key, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const authBase = base + 3 * NODES; // past the naive sink's ports
    stops.push(await startProc([FANOUT, 'receive', '--listen', `127.0.0.1:${authBase}-${authBase + NODES - 1}`, '--out', join(dir, 'rx-auth'), '--auth-key', key], /listening/));
    const nodes = Array.from({ length: NODES }, (_, i) => `127.0.0.1:${base + i}`).join(',');
    const authNodes = Array.from({ length: NODES }, (_, i) => `127.0.0.1:${authBase + i}`).join(',');
    const results: Record<string, Figures[]> = { naive: [], unthrottled: [], throttled: [], auth: [], 'naive+integ': [] };
    console.log(`bench:send: ${SIZE / 2 ** 20} MiB to ${NODES} loopback nodes, ${RUNS} runs each, strategy ${values.strategy}`);
    for (let r = 0; r < RUNS; r++) {
      // Interleave the variants so drift on a busy machine hits each alike.
      results.naive!.push((await runJson([NAIVE, 'send', file, '127.0.0.1', String(base + NODES), String(NODES)])) as Figures);
      for (const f of readdirSync(join(dir, 'naive'))) rmSync(join(dir, 'naive', f), { force: true });
      // The naive pipe that also hashes both ends and makes every file durable before it counts.
      results['naive+integ']!.push((await runJson([NAIVE, 'send', file, '127.0.0.1', String(intBase), String(NODES), '--integrity'])) as Figures);
      for (const f of readdirSync(join(dir, 'naive-int'))) rmSync(join(dir, 'naive-int', f), { force: true });
      // The fanout variants in a rotating order: each follows each other alike (what the previous
      // run left to write back to the disk slows the next one's fsyncs).
      const variants: [string, string[]][] = [
        ['unthrottled', ['--nodes', nodes, '--rate-kbps', 'unlimited']],
        ['throttled', ['--nodes', nodes, '--rate-kbps', values['rate-kbps']!]],
        ['auth', ['--nodes', authNodes, '--rate-kbps', 'unlimited', '--auth-key', key]],
      ];
      for (let k = 0; k < variants.length; k++) {
        const [name, args] = variants[(r + k) % variants.length]!;
        results[name]!.push((await runJson([FANOUT, 'send', '--json', '--file', file, '--strategy', values.strategy!, ...args])) as Figures);
      }
      // Empty the receivers' folders (not the folders themselves: the receivers are still running in them).
      for (const rx of ['rx', 'rx-auth']) for (const f of readdirSync(join(dir, rx))) rmSync(join(dir, rx, f), { force: true });
      process.stderr.write(`  run ${r + 1}/${RUNS} done\n`);
    }
    const rows = Object.entries(results).map(([name, runs]) => {
      const mk = median(runs.map((x) => x.makespanS));
      const cpu = median(runs.map((x) => x.cpuUserS + x.cpuSysS));
      const rss = median(runs.map((x) => x.maxRssBytes));
      return { name, mk, cpu, rss, mbit: (SIZE * 8) / mk / 1e6 };
    });
    const naive = rows[0]!;
    console.log('\nvariant       makespan(s)  Mbit/s   cpu(s)  peakRSS(MB)  makespan/naive  cpu/naive');
    for (const r of rows) {
      console.log(
        `${r.name.padEnd(12)}  ${r.mk.toFixed(3).padStart(11)}  ${r.mbit.toFixed(0).padStart(6)}  ${r.cpu.toFixed(3).padStart(7)}  ${(r.rss / 1e6).toFixed(1).padStart(11)}  ${(r.mk / naive.mk).toFixed(2).padStart(14)}  ${(r.cpu / naive.cpu).toFixed(2).padStart(9)}`,
      );
    }
    console.log(`(medians over ${RUNS} runs; throttled = --rate-kbps ${values['rate-kbps']}; naive has no limit)`);
    const un = rows[1]!;
    const verdict = [
      `peak RSS ${(un.rss / 1e6).toFixed(1)} MB ${un.rss < 100e6 ? '<' : '>='} 100 MB`,
      `makespan ${(un.mk / naive.mk).toFixed(2)}x naive ${un.mk / naive.mk <= 1.3 ? '<=' : '>'} 1.3x`,
      `cpu ${(un.cpu / naive.cpu).toFixed(2)}x naive ${un.cpu / naive.cpu <= 1.5 ? '<=' : '>'} 1.5x`,
    ];
    console.log(`targets: ${verdict.join('; ')}`);
    const integ = rows[4]!;
    console.log(
      `naive+integ: the naive pipe also hashing both ends and fsync + rename before a file counts (what fanout's guarantees cost, no protocol): ` +
        `${(integ.mk / naive.mk).toFixed(2)}x naive; unthrottled fanout is ${(un.mk / integ.mk).toFixed(2)}x naive+integ (makespan), ${(un.cpu / integ.cpu).toFixed(2)}x (cpu)`,
    );
    const auth = rows[3]!;
    console.log(
      `auth cost (--auth-key vs unthrottled, same run): makespan ${(((auth.mk / un.mk) - 1) * 100).toFixed(1)} %, ` +
        `throughput ${auth.mbit.toFixed(0)} vs ${un.mbit.toFixed(0)} Mbit/s, sender cpu ${(((auth.cpu / un.cpu) - 1) * 100).toFixed(1)} %`,
    );
  } finally {
    for (const stop of stops) stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
