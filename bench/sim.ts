/**
 * npm run bench:sim [-- --sizes 1000,10000 --strategies a,b --runs 3 --fragment-kib 1024 --rate-kbps 1000000]
 *
 * The flow simulator at scale: for each receiver count and strategy, simulate one transfer of one
 * fragment per receiver (links drawn log-normally, median 20 Mbit/s, 2..200 Mbit/s; a 1 Gbit/s
 * limit; width = all; receivers on machines of their own, so set-ups do not queue for the lab
 * machine's two cores: setupCores = n) in a fresh process, and print medians over the runs of wall time, CPU,
 * events processed and peak RSS, then how the cost grows with the receiver count: the exponent k
 * in time ~ n^k between successive sizes (n log n is a little above 1; n^2 is 2). Target (issue 5):
 * 10,000 receivers in under 10 s of wall time and under 1 GiB.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from '../lab/results/stats.js';
import { parseScenario } from '../lab/scenario/parse.js';
import { simulatedRun } from '../lab/sim/backend.js';
import { STRATEGY_NAMES, isStrategyName, type StrategyName } from '../sender/strategies/names.js';

const SELF = fileURLToPath(import.meta.url);

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,2000,5000,10000' },
    strategies: { type: 'string', default: STRATEGY_NAMES.join(',') },
    runs: { type: 'string', default: '3' },
    'fragment-kib': { type: 'string', default: '1024' },
    'rate-kbps': { type: 'string', default: '1000000' },
    one: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    'Usage: npm run bench:sim [-- --sizes 1000,2000,5000,10000 --strategies a,b --runs 3 --fragment-kib 1024 --rate-kbps 1000000]\n',
  );
  process.exit(0);
}

const fragmentKiB = Number(values['fragment-kib']);
const rateKbps = Number(values['rate-kbps']);

export function scaleScenario(n: number, strategy: StrategyName): string {
  return `
name: scale-${n}
seed: 1
file: { size: ${n * fragmentKiB}KiB }
transfer: { rateKbps: ${rateKbps} }
strategies: [${strategy}]
receivers:
  count: ${n}
  down: { lognormal: { median: 20mbit, sigma: 0.8, min: 2mbit, max: 200mbit } }
sim: { setupCores: ${n} }
`;
}

interface One {
  n: number;
  strategy: StrategyName;
  wallS: number;
  cpuS: number;
  events: number;
  rssMiB: number;
  makespanS: number;
  efficiency: number;
}

function runOne(n: number, strategy: StrategyName): One {
  const t = parseScenario(scaleScenario(n, strategy), { netem: false }, `scale-${n}.yaml`);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = simulatedRun(t, strategy, 1, t.sim ?? {});
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    n,
    strategy,
    wallS,
    cpuS: (cpu.user + cpu.system) / 1e6,
    events: r.simEvents ?? 0,
    rssMiB: process.resourceUsage().maxRSS / 1024,
    makespanS: r.makespanS,
    efficiency: r.efficiency,
  };
}

function child(n: number, strategy: StrategyName): Promise<One> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [SELF, '--one', `${n}:${strategy}`, '--fragment-kib', String(fragmentKiB), '--rate-kbps', String(rateKbps)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    p.once('close', (code) => {
      if (code !== 0) return reject(new Error(`simulating ${n} receivers with ${strategy} exited ${code}`));
      resolve(JSON.parse(out) as One);
    });
  });
}

async function main(): Promise<void> {
  if (values.one) {
    const [n, s] = values.one.split(':');
    if (!isStrategyName(s!)) throw new Error(`unknown strategy ${s}`);
    process.stdout.write(JSON.stringify(runOne(Number(n), s)));
    return;
  }
  const sizes = values.sizes.split(',').map(Number);
  const strategies = values.strategies.split(',').filter(isStrategyName);
  const runs = Number(values.runs);
  console.log(`flow simulator: one ${fragmentKiB} KiB fragment per receiver, limit ${rateKbps / 1000} Mbit/s, width = all; medians of ${runs} runs, each in a fresh process`);
  console.log('strategy           receivers   wall s    cpu s     events   peak RSS MiB  makespan s  efficiency');
  const table = new Map<string, One>();
  for (const strategy of strategies) {
    for (const n of sizes) {
      const rs: One[] = [];
      for (let k = 0; k < runs; k++) rs.push(await child(n, strategy));
      const m: One = {
        n,
        strategy,
        wallS: median(rs.map((r) => r.wallS)),
        cpuS: median(rs.map((r) => r.cpuS)),
        events: rs[0]!.events,
        rssMiB: median(rs.map((r) => r.rssMiB)),
        makespanS: rs[0]!.makespanS,
        efficiency: rs[0]!.efficiency,
      };
      table.set(`${strategy}:${n}`, m);
      console.log(
        `${strategy.padEnd(18)} ${String(n).padStart(9)} ${m.wallS.toFixed(3).padStart(8)} ${m.cpuS.toFixed(3).padStart(8)} ${String(m.events).padStart(10)} ${m.rssMiB.toFixed(0).padStart(13)} ${m.makespanS.toFixed(2).padStart(11)} ${m.efficiency.toFixed(3).padStart(11)}`,
      );
    }
  }
  console.log('\ngrowth: k in wall ~ n^k between successive sizes (n log n: ~1.1; n^2: 2)');
  for (const strategy of strategies) {
    const parts: string[] = [];
    for (let i = 1; i < sizes.length; i++) {
      const a = table.get(`${strategy}:${sizes[i - 1]}`)!;
      const b = table.get(`${strategy}:${sizes[i]}`)!;
      const k = Math.log(b.wallS / a.wallS) / Math.log(b.n / a.n);
      const ke = Math.log(b.events / a.events) / Math.log(b.n / a.n);
      parts.push(`${a.n}->${b.n}: k=${k.toFixed(2)} (events k=${ke.toFixed(2)})`);
    }
    console.log(`${strategy.padEnd(18)} ${parts.join('  ')}`);
  }
  const big = [...table.values()].filter((r) => r.n === 10000);
  if (big.length > 0) {
    const worst = big.reduce((a, b) => (b.wallS > a.wallS ? b : a));
    const fat = big.reduce((a, b) => (b.rssMiB > a.rssMiB ? b : a));
    console.log(
      `\n10,000 receivers: slowest ${worst.strategy} ${worst.wallS.toFixed(2)} s (target < 10 s: ${worst.wallS < 10 ? 'met' : 'NOT met'}); ` +
        `largest ${fat.strategy} ${fat.rssMiB.toFixed(0)} MiB (target < 1024 MiB: ${fat.rssMiB < 1024 ? 'met' : 'NOT met'})`,
    );
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
