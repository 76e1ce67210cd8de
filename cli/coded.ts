/** `fanout coded serve` / `fanout coded join`: the coded cooperative distribution (coded/). */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { performance } from 'node:perf_hooks';
import { kernelStatus } from '../coded/codec/select.js';
import { CodedClient } from '../coded/client.js';
import { CODED_VARIANTS, checkCodedParams, isVariant, VARIANT_PARAMS, type CodedParams } from '../coded/params.js';
import { CodedServer } from '../coded/server.js';
import { EXIT, fail } from './exit.js';

/**
 * The codec's fast kernel needs relaxed SIMD: on by default from Node 22, behind
 * --experimental-wasm-relaxed-simd on Node 20 (without it encode and decode run about half as fast).
 * The lab starts these programs with the flag; started by hand without it, the flag is turned on
 * here, before the kernel is compiled (it is compiled lazily, at the first encoder or decoder).
 * The kernel in use is printed in the "ready" line.
 */
function enableRelaxedSimd(): ReturnType<typeof kernelStatus> {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 22 && !process.execArgv.includes('--experimental-wasm-relaxed-simd')) setFlagsFromString('--experimental-wasm-relaxed-simd');
  return kernelStatus();
}

export const CODED_HELP = `Usage: fanout coded serve|join [options]

Coded cooperative distribution over UDP: the file is cut into segments of k symbols; a server
sends coded packets of each segment, paced under its uplink; clients decode on the fly and send
peers on the same segment recoded packets (random combinations of what they hold, before they
decode). Control over TCP, data over UDP. See fanout coded serve --help, fanout coded join --help.
`;

export const SERVE_HELP = `Usage: fanout coded serve --file FILE --listen HOST:PORT [options]

  --file FILE          the file to distribute
  --listen HOST:PORT   TCP control and UDP feedback, both on this port
  --rate-kbps N        pace all data under N Kbps of link rate (UDP payload + 42 bytes of IPv4, UDP
                       and Ethernet headers per datagram); "unlimited" (default) sends unpaced
  --variant V          code parameters: ${CODED_VARIANTS.join(' or ')} (default rlnc)
                         sparse: GF(2) band code, k=64, 1280-byte symbols, band 16 (the seed's;
                                 no precode), one segment at a time
                         rlnc:   GF(2^8) dense, k=64, 1280-byte symbols, systematic first pass, 2
                                 segments in flight
  --k N, --symbol-bytes N, --band N, --density X, --systematic / --no-systematic
                       override the variant's parameters
  --max-peers N        peers named to a client per segment (default 64)
  -h, --help           this text

Prints JSON lines: {"event":"ready","port":P} once listening, {"event":"final",...} with its
counters when stopped (SIGINT or SIGTERM). Exit 0; 2 on bad arguments.
`;

export const JOIN_HELP = `Usage: fanout coded join --server HOST:PORT --node N --listen HOST:PORT --out DIR [options]

  --server HOST:PORT   the coded server
  --node N             this node's id, 1..65535, unique among the clients
  --listen HOST:PORT   this node's UDP data port and TCP port for peers (same number; HOST must be
                       the address peers reach it at)
  --out DIR            where the file is written (.NAME.coded-part, renamed to NAME once complete)
  --down-kbps N        this node's downlink (link rate): the sum of the caps it gives its senders
                       stays below it (default unlimited)
  --up-kbps N          this node's uplink (link rate): what it sends peers is paced below it
                       (default unlimited)
  --window N           segments in flight (default: the variant's, from --variant)
  --variant V          ${CODED_VARIANTS.join(' or ')}: only for the default --window (the code itself comes from the server)
  --wait-go            connect and read the manifest, print "ready", then wait for SIGUSR1
  --linger             once complete, keep serving peers until SIGINT or SIGTERM
  -h, --help           this text

Prints JSON lines with wallMs: ready, go, first-byte, progress (down, up), done, final (counters:
packets received, linearly dependent, uploaded to peers, header bytes per packet, drops).
Exit 0 once complete (with --linger: when stopped); 1 if stopped before complete; 2 on bad arguments.
`;

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ wallMs: Date.now(), ...obj })}\n`);
}

function hostPort(flag: string, v: string | undefined): { host: string; port: number } {
  if (v === undefined) fail(`--${flag} is required`);
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}|localhost):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) > 65535) fail(`--${flag}: expected IPv4:PORT (e.g. 198.18.0.1:7000), got "${v}"`);
  return { host: m[1] === 'localhost' ? '127.0.0.1' : m[1]!, port: Number(m[2]) };
}

function kbps(flag: string, v: string | undefined): number {
  if (v === undefined || v === 'unlimited') return Infinity;
  if (!/^\d+(\.\d+)?$/.test(v) || !(Number(v) > 0)) fail(`--${flag}: expected Kbps above 0 or "unlimited", got "${v}"`);
  return Number(v) * 1000;
}

function whole(flag: string, v: string | undefined, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi) fail(`--${flag}: expected a whole number in ${lo}..${hi}, got "${v}"`);
  return Number(v);
}

function variantOf(v: string | undefined): CodedParams {
  const name = v ?? 'rlnc';
  if (!isVariant(name)) fail(`--variant: expected ${CODED_VARIANTS.join(' or ')}, got "${name}"`);
  return { ...VARIANT_PARAMS[name] };
}

const untilSignal = (): Promise<void> =>
  new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });

export async function codedCommand(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'serve') return serve(rest);
  if (verb === 'join') return join(rest);
  if (verb === '-h' || verb === '--help') {
    process.stdout.write(CODED_HELP);
    return EXIT.ok;
  }
  process.stderr.write(CODED_HELP);
  return EXIT.usage;
}

async function serve(argv: string[]): Promise<number> {
  const kernel = enableRelaxedSimd();
  const { values } = parseArgs({
    args: argv,
    options: {
      file: { type: 'string' },
      listen: { type: 'string' },
      'rate-kbps': { type: 'string' },
      variant: { type: 'string' },
      k: { type: 'string' },
      'symbol-bytes': { type: 'string' },
      band: { type: 'string' },
      density: { type: 'string' },
      systematic: { type: 'boolean' },
      'no-systematic': { type: 'boolean' },
      'max-peers': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return EXIT.ok;
  }
  if (!values.file) fail('--file is required (fanout coded serve --help)');
  if (!existsSync(values.file) || !statSync(values.file).isFile()) fail(`--file: ${values.file} is not a readable file`);
  const listen = hostPort('listen', values.listen);
  const params = variantOf(values.variant);
  params.k = whole('k', values.k, 1, 1024) ?? params.k;
  params.symbolBytes = whole('symbol-bytes', values['symbol-bytes'], 16, 1456) ?? params.symbolBytes;
  params.band = whole('band', values.band, 0, 1024) ?? params.band;
  if (values.density !== undefined) {
    const d = Number(values.density);
    if (!(d > 0 && d <= 1)) fail(`--density: expected a number in (0, 1], got "${values.density}"`);
    params.density = d;
  }
  if (values.systematic && values['no-systematic']) fail('--systematic and --no-systematic contradict each other');
  if (values.systematic) params.systematic = true;
  if (values['no-systematic']) params.systematic = false;
  try {
    checkCodedParams(params);
  } catch (e) {
    fail(`bad code parameters: ${(e as Error).message}`);
  }
  const server = new CodedServer({ file: values.file, host: listen.host, port: listen.port, rateBps: kbps('rate-kbps', values['rate-kbps']), params, maxPeers: whole('max-peers', values['max-peers'], 1, 4096) ?? 64, log: emit });
  const port = await server.start();
  emit({ event: 'ready', port, session: server.session, params, kernel: kernel.kernel });
  await untilSignal();
  emit({ event: 'final', ...server.counters });
  server.stop();
  return EXIT.ok;
}

async function join(argv: string[]): Promise<number> {
  const kernel = enableRelaxedSimd();
  const { values } = parseArgs({
    args: argv,
    options: {
      server: { type: 'string' },
      node: { type: 'string' },
      listen: { type: 'string' },
      out: { type: 'string' },
      'down-kbps': { type: 'string' },
      'up-kbps': { type: 'string' },
      window: { type: 'string' },
      variant: { type: 'string' },
      'wait-go': { type: 'boolean', default: false },
      linger: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(JOIN_HELP);
    return EXIT.ok;
  }
  const server = hostPort('server', values.server);
  const listen = hostPort('listen', values.listen);
  const node = whole('node', values.node, 1, 65535);
  if (node === undefined) fail('--node is required (fanout coded join --help)');
  if (!values.out) fail('--out is required (fanout coded join --help)');
  const window = whole('window', values.window, 1, 16) ?? variantOf(values.variant).window;
  mkdirSync(values.out, { recursive: true });
  const client = new CodedClient({ server, node, host: listen.host, udpPort: listen.port, ctlPort: listen.port, outDir: values.out, downBps: kbps('down-kbps', values['down-kbps']), upBps: kbps('up-kbps', values['up-kbps']), window, log: emit });
  const stopped = untilSignal();
  let wasStopped = false;
  void stopped.then(() => (wasStopped = true));
  let manifest;
  try {
    manifest = await client.start();
  } catch (e) {
    client.stop();
    process.stderr.write(`fanout coded join: ${(e as Error).message}\n`);
    return EXIT.failed;
  }
  // The go handler is in place before "ready" is printed: the lab signals as soon as it reads it.
  const goSignal = new Promise<'go'>((r) => process.once('SIGUSR1', () => r('go')));
  emit({ event: 'ready', name: manifest.name, size: manifest.size, segments: manifest.hashes.length, kernel: kernel.kernel });
  if (values['wait-go']) {
    const go = await Promise.race([goSignal, stopped.then(() => 'stop' as const)]);
    if (go === 'stop') {
      client.stop();
      return EXIT.failed;
    }
  }
  emit({ event: 'go' });
  client.go();
  let firstSeen = false;
  // Stamped with the time the first packet came, not the time it is noticed (the next progress tick,
  // up to 500 ms later: every coded run's first byte read ~0.5 s).
  const firstByte = (): void => {
    firstSeen = true;
    emit({ event: 'first-byte', ...(client.firstDataMs !== null ? { wallMs: Math.round(performance.timeOrigin + client.firstDataMs) } : {}) });
  };
  const snapshot = (): Record<string, unknown> => ({ down: client.doneBytes, up: client.counters.uploadBytes, counters: client.counters });
  const progress = setInterval(() => {
    if (!firstSeen && client.firstDataMs !== null) firstByte();
    emit({ event: 'progress', ...snapshot() });
  }, 500);
  const outcome = await Promise.race([client.done.then(() => 'done' as const), stopped.then(() => 'stopped' as const)]);
  if (outcome === 'done') {
    if (!firstSeen) firstByte();
    emit({ event: 'done', path: client.finalPath });
    if (values.linger && !wasStopped) await stopped;
  }
  clearInterval(progress);
  emit({ event: 'final', ...snapshot() });
  client.stop();
  return outcome === 'done' ? EXIT.ok : EXIT.failed;
}
