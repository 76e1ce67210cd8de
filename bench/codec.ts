/**
 * npm run bench:codec [-- --runs N --ms M --k 16,64,256 --json]
 *
 * (The npm script starts node with --experimental-wasm-relaxed-simd, so Node 20 uses the relaxed
 * kernel as Node >= 22 does by default; the plain-SIMD kernel's figures are printed beside.)
 * Throughput of the RLNC codec (coded/codec) on one core, in MB of payload (1 MB = 10^6 bytes) per
 * second of the process's CPU time (so other load on the machine matters less; still noisy):
 *   encode  coded packets produced (symbol bytes out per second, systematic packets not used);
 *   recode  recoded packets produced by a decoder holding a full-rank generation (k rows to combine,
 *           the most a relay combines), one after another, so from the rows' split form over GF(2^8)
 *           (a decoder splits its rows at the second recode at a rank); the first recode after an
 *           innovative packet combines the rows as they are, at the kernel line's plain-combine
 *           ceiling;
 *   decode  generation bytes (k * symbolBytes) recovered per second from coded packets only, counting
 *           decoder creation, every packet offered (dependent ones too) and data().
 * for K = 16, 64, 256, symbols of 1280 bytes, GF(2) and GF(2^8), dense, sparse (density 0.1) and
 * banded (band 16, sparsenc style), medians over --runs runs, each op timed for --ms milliseconds.
 * In the same run, the `raptorq` npm package (cberner/raptorq's RFC 6330 codec compiled to wasm by
 * wasm-bindgen) as an anchor: encode = Encoder.with_defaults + encode(K) (K repair symbols, counted
 * like our encode: repair bytes out per second), decode = Decoder.with_defaults + repair packets
 * only until it returns the data (data bytes per second). Then the kernel alone: bytes multiplied
 * and added per second and per cycle at the clock /proc/cpuinfo reports (a nominal figure on a VM).
 * Targets (issue 12, K=64 GF(2^8) dense): encode and recode >= 200 MB/s, decode >= 100 MB/s, and at
 * least raptorq's. With --json the last line is one object; its `k64` entry holds encodeMBps,
 * recodeMBps and decodeMBps for GF(2^8), dense, K=64.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Decoder, Encoder, defaultKernelFactory, kernelStatus, wasmKernelFactory, type CodeParams, type Field, type KernelFactory } from '../coded/codec/index.js';
import { median } from '../lab/results/stats.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    ms: { type: 'string', default: '120' },
    k: { type: 'string', default: '16,64,256' },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const MS = Number(values.ms);
const KS = values.k!.split(',').map(Number);
const S = 1280;
const log = values.json ? (s: string) => process.stderr.write(`${s}\n`) : (s: string) => console.log(s);

/**
 * Calls `op` (which reports how many payload bytes it handled) for at least MS ms; MB per second of
 * this process's CPU time (user + system), not of wall time: on a shared machine the process is
 * descheduled for part of the wall time, and one core's throughput is what is asked.
 */
function rate(op: () => number): number {
  let bytes = op(); // warm
  bytes = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < MS) {
    for (let i = 0; i < 4; i++) bytes += op();
    t = performance.now();
  }
  const c = process.cpuUsage(c0);
  return bytes / ((c.user + c.system) / 1e6) / 1e6;
}

interface Row {
  field: Field;
  shape: string;
  k: number;
  encodeMBps: number;
  recodeMBps: number;
  decodeMBps: number;
  /** Packets offered per generation decoded / k (1 = no dependent packet). */
  overhead: number;
}

const SHAPES: Record<string, Partial<CodeParams>> = { dense: {}, sparse: { density: 0.1 }, band16: { band: 16 } };

function measure(field: Field, shape: string, k: number): Omit<Row, 'field' | 'shape' | 'k'> {
  const p: CodeParams = { field, k, symbolBytes: S, ...SHAPES[shape] };
  if (p.band !== undefined && p.band > k) delete p.band;
  const source = new Uint8Array(randomBytes(k * S));
  const enc = new Encoder(p, source, Math.random);
  // The packets a decoder is fed, in order: as many as it takes to reach full rank (every decode run
  // then goes through the same prefix).
  const pool: ReturnType<Encoder['coded']>[] = [];
  const full = new Decoder(p);
  while (!full.complete) {
    if (pool.length > 50 * k) throw new Error(`${field}/${shape}/k=${k}: ${pool.length} packets did not reach full rank`);
    const x = enc.coded();
    pool.push(x);
    full.add(x);
  }
  let offered = 0;
  let decodes = 0;
  const encodeMBps = rate(() => enc.coded().payload.length);
  const recodeMBps = rate(() => full.recode(Math.random)!.payload.length);
  const decodeMBps = rate(() => {
    const d = new Decoder(p);
    let i = 0;
    while (!d.complete) d.add(pool[i++]!);
    offered += i;
    decodes++;
    const n = d.data().length;
    d.dispose();
    return n;
  });
  enc.dispose();
  full.dispose();
  return { encodeMBps, recodeMBps, decodeMBps, overhead: offered / decodes / k };
}

// ---- raptorq (npm), loaded the way its wasm-bindgen "web" build allows in Node: initSync(bytes).
interface RaptorQ {
  initSync(bytes: Uint8Array): unknown;
  Encoder: { with_defaults(data: Uint8Array, mtu: number): { encode(repairPerBlock: number): Uint8Array[]; free(): void } };
  Decoder: { with_defaults(len: bigint, mtu: number): { decode(packet: Uint8Array): Uint8Array | undefined; free(): void } };
}

async function loadRaptorQ(): Promise<RaptorQ> {
  const require = createRequire(import.meta.url);
  const js = require.resolve('raptorq/raptorq.js');
  const rq = (await import(pathToFileURL(js).href)) as RaptorQ;
  rq.initSync(readFileSync(js.replace(/raptorq\.js$/, 'raptorq_bg.wasm')));
  return rq;
}

/** RaptorQ packets are a 4-byte payload id (source block number, 24-bit symbol id) + the symbol. */
const MTU = S + 4;
const esi = (pkt: Uint8Array): number => (pkt[1]! << 16) | (pkt[2]! << 8) | pkt[3]!;

function measureRaptorQ(rq: RaptorQ, k: number): { encodeMBps: number; decodeMBps: number } {
  const data = new Uint8Array(randomBytes(k * S));
  const all = rq.Encoder.with_defaults(data, MTU).encode(k + 8);
  const repair = all.filter((x) => esi(x) >= k);
  if (repair.length < k || all.some((x) => x.length !== MTU || x[0] !== 0)) throw new Error(`raptorq k=${k}: unexpected packets (one source block of ${k} symbols of ${S} bytes expected)`);
  const encodeMBps = rate(() => {
    const e = rq.Encoder.with_defaults(data, MTU);
    const out = e.encode(k);
    e.free();
    return (out.length - k) * S; // repair symbols produced
  });
  const decodeMBps = rate(() => {
    const d = rq.Decoder.with_defaults(BigInt(data.length), MTU);
    let got: Uint8Array | undefined;
    for (const x of repair) if ((got = d.decode(x))) break;
    d.free();
    if (!got || got.length !== data.length || Buffer.compare(got, data) !== 0) throw new Error(`raptorq k=${k}: decode failed`);
    return got.length;
  });
  return { encodeMBps, decodeMBps };
}

/** The kernel alone: GF(2^8) combine of 64 symbols, mulAdd, XOR (c=1); bytes multiplied-and-added per second. */
function kernelFigures(factory: KernelFactory): Record<string, number> {
  const kern = factory(66 * S + 512 + 64 * 2 * S + 256);
  const b = kern.base;
  const list = b + 65 * S;
  const coefs = list + 256;
  const splitList = coefs + 256;
  const split0 = splitList + 256;
  kern.mem.set(randomBytes(64 * S), b);
  for (let i = 0; i < 64; i++) {
    kern.words[(list >> 2) + i] = b + i * S;
    kern.words[(splitList >> 2) + i] = split0 + i * 2 * S;
    kern.split(split0 + i * 2 * S, b + i * S, S);
    kern.mem[coefs + i] = 2 + i;
  }
  const out = b + 64 * S;
  const gb = (f: () => void, bytes: number) => rate(() => (f(), bytes)) / 1e3;
  const r = {
    combineGBps: gb(() => kern.combine(out, S, 64, list, coefs), 64 * S),
    combineSplitGBps: gb(() => kern.combineSplit(out, S, 64, splitList, coefs), 64 * S),
    mulAddGBps: gb(() => kern.mulAdd(out, b, S, 0x53), S),
    xorGBps: gb(() => kern.mulAdd(out, b, S, 1), S),
  };
  kern.dispose();
  return r;
}

function clockMHz(): number | null {
  try {
    const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const ks = kernelStatus();
  log(`bench:codec: symbols of ${S} bytes, K = ${KS.join(', ')}, ${RUNS} runs of ${MS} ms per figure, kernel ${ks.kernel}${ks.kernel === 'ts' ? ` (${ks.reason})` : ''}`);
  const rq = await loadRaptorQ();
  const rows: Row[] = [];
  const rqRows: { k: number; encodeMBps: number; decodeMBps: number }[] = [];
  const kernelRuns: Record<string, number>[] = [];
  // Beside the default kernel, the plain-SIMD one when the default is the relaxed one (the ceiling
  // where relaxed SIMD is missing, e.g. Node 20 without --experimental-wasm-relaxed-simd).
  const plain = ks.kernel === 'wasm-relaxed-simd' ? wasmKernelFactory(readFileSync(new URL('../coded/codec/kernel.wasm', import.meta.url))) : null;
  const plainRuns: Record<string, number>[] = [];
  for (const k of KS) {
    const runs = new Map<string, Omit<Row, 'field' | 'shape' | 'k'>[]>();
    const rqRuns: { encodeMBps: number; decodeMBps: number }[] = [];
    for (let r = 0; r < RUNS; r++) {
      for (const field of ['gf256', 'gf2'] as const)
        for (const shape of Object.keys(SHAPES)) {
          const key = `${field}/${shape}`;
          runs.set(key, [...(runs.get(key) ?? []), measure(field, shape, k)]);
        }
      rqRuns.push(measureRaptorQ(rq, k));
      if (k === KS[0]) {
        kernelRuns.push(kernelFigures(defaultKernelFactory()));
        if (plain) plainRuns.push(kernelFigures(plain));
      }
      process.stderr.write(`  k=${k} run ${r + 1}/${RUNS} done\n`);
    }
    for (const [key, rs] of runs) {
      const [field, shape] = key.split('/') as [Field, string];
      rows.push({
        field,
        shape,
        k,
        encodeMBps: median(rs.map((x) => x.encodeMBps)),
        recodeMBps: median(rs.map((x) => x.recodeMBps)),
        decodeMBps: median(rs.map((x) => x.decodeMBps)),
        overhead: median(rs.map((x) => x.overhead)),
      });
    }
    rqRows.push({ k, encodeMBps: median(rqRuns.map((x) => x.encodeMBps)), decodeMBps: median(rqRuns.map((x) => x.decodeMBps)) });
  }

  log('\nfield  shape     K    encode MB/s  recode MB/s  decode MB/s  packets/K');
  for (const r of rows)
    log(
      `${r.field.padEnd(5)}  ${r.shape.padEnd(7)} ${String(r.k).padStart(4)}  ${r.encodeMBps.toFixed(0).padStart(11)}  ${r.recodeMBps.toFixed(0).padStart(11)}  ${r.decodeMBps.toFixed(0).padStart(11)}  ${r.overhead.toFixed(3).padStart(9)}`,
    );
  for (const r of rqRows) log(`raptorq (npm)  ${String(r.k).padStart(4)}  ${r.encodeMBps.toFixed(0).padStart(11)}  ${'-'.padStart(11)}  ${r.decodeMBps.toFixed(0).padStart(11)}`);
  log(`(medians over ${RUNS} runs; MB = 10^6 bytes of payload; one core)`);

  const med = (runs: Record<string, number>[]) => Object.fromEntries(Object.keys(runs[0] ?? {}).map((key) => [key, median(runs.map((x) => x[key]!))]));
  const kernel = med(kernelRuns);
  const mhz = clockMHz();
  const perCycle = (gbps: number) => (mhz ? (gbps * 1e3) / mhz : null);
  const kernelLine = (name: string, f: Record<string, number>) => {
    log(
      `kernel ${name}: combine of 64 GF(2^8) symbols ${f.combineGBps!.toFixed(2)} GB/s (split form ${f.combineSplitGBps!.toFixed(2)} GB/s), mulAdd ${f.mulAddGBps!.toFixed(2)} GB/s, XOR ${f.xorGBps!.toFixed(2)} GB/s` +
        (mhz
          ? `; at ${mhz.toFixed(0)} MHz (/proc/cpuinfo, nominal) ${perCycle(f.combineGBps!)!.toFixed(2)} (${perCycle(f.combineSplitGBps!)!.toFixed(2)}), ${perCycle(f.mulAddGBps!)!.toFixed(2)}, ${perCycle(f.xorGBps!)!.toFixed(2)} bytes/cycle`
          : ''),
    );
    log(
      `  ceiling for K=64 GF(2^8) dense encode and full-rank recode (split form) from this kernel alone: ${((f.combineSplitGBps! * 1e3) / 64).toFixed(0)} MB/s; recode right after an innovative packet (plain combine): ${((f.combineGBps! * 1e3) / 64).toFixed(0)} MB/s`,
    );
  };
  kernelLine(`${ks.kernel} (default)`, kernel);
  const plainKernel = plain ? med(plainRuns) : null;
  if (plainKernel) kernelLine('wasm-simd (without relaxed SIMD)', plainKernel);

  const k64 = rows.find((r) => r.k === 64 && r.field === 'gf256' && r.shape === 'dense');
  const rq64 = rqRows.find((r) => r.k === 64);
  if (k64 && rq64) {
    const v = [
      `encode ${k64.encodeMBps.toFixed(0)} ${k64.encodeMBps >= 200 ? '>=' : '<'} 200 MB/s`,
      `recode ${k64.recodeMBps.toFixed(0)} ${k64.recodeMBps >= 200 ? '>=' : '<'} 200 MB/s`,
      `decode ${k64.decodeMBps.toFixed(0)} ${k64.decodeMBps >= 100 ? '>=' : '<'} 100 MB/s`,
      `vs raptorq encode ${(k64.encodeMBps / rq64.encodeMBps).toFixed(1)}x, decode ${(k64.decodeMBps / rq64.decodeMBps).toFixed(1)}x`,
    ];
    log(`targets (K=64, GF(2^8), dense): ${v.join('; ')}`);
  }
  if (values.json) {
    const pick = (r: Row | undefined) => (r ? { encodeMBps: r.encodeMBps, recodeMBps: r.recodeMBps, decodeMBps: r.decodeMBps } : null);
    console.log(
      JSON.stringify({
        k64: pick(k64),
        symbolBytes: S,
        runs: RUNS,
        kernel: { name: ks.kernel, ...kernel, clockMHz: mhz, ...(plainKernel ? { plainSimd: plainKernel } : {}) },
        rows,
        raptorq: rqRows,
      }),
    );
  }
}

await main();
