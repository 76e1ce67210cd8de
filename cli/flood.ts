/** `fanout flood serve|join`: the FloodClone protocol (protocols/floodclone). */
import { appendFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join as joinPath } from 'node:path';
import { parseArgs } from 'node:util';
import { parseSizeBytes } from '../core/units.js';
import { splitHostPort } from '../protocols/floodclone/conn.js';
import { FloodNode } from '../protocols/floodclone/node.js';
import { FloodSource } from '../protocols/floodclone/source.js';
import { MAX_CHUNK_BYTES } from '../protocols/floodclone/wire.js';
import { EXIT, fail } from './exit.js';

export const DEFAULT_CHUNK_BYTES = 256 * 1024;

export const FLOOD_HELP = `Usage: fanout flood serve --file F --listen HOST:PORT [options]
       fanout flood join --source HOST:PORT --out PATH [--listen HOST:PORT] [options]

FloodClone: the whole file to every node; nodes relay chunks to each other. The source hands each
node the manifest (a SHA-256 per chunk and of the whole file) and the peers; nodes connect to every
peer over TCP, ask the source for chunks no node has yet while their own uplink keeps up, and pull
everything else from peers, measuring each peer's rate as chunks arrive. Every chunk is verified
before it counts; the file is written to .<name>.flood-part and renamed to PATH only when every
chunk (and the whole) verified. A node that restarts resumes from its verified chunks
(.<name>.flood-state beside it).

serve:
  --file F             the file to distribute
  --listen HOST:PORT   where nodes connect
  --chunk-size SIZE    chunk size (default 256KiB; 1 byte to 16MiB; e.g. 128KiB, 1MiB)
  --expect N           once N nodes hold the whole file, tell every node (they exit) and exit 0;
                       without it, serve until SIGINT or SIGTERM

join:
  --source HOST:PORT   the source
  --listen HOST:PORT   where peers connect to this node (default 0.0.0.0:0, any port)
  --out PATH           where the file goes (its folder must exist)
  --wait-signal SIG    listen, print "ready", and join only when SIG arrives (SIGUSR1 or SIGUSR2;
                       the lab's go signal)
  The node keeps serving peers after it completes, until the source says every node is done
  (exit 0) or SIGINT/SIGTERM (exit 0 if complete, 1 if not).

Both:
  --json               one JSON object per line (events with wallMs; a final summary)
  -h, --help           this text

Exit status: 0 done; 1 failed (not complete when stopped); 2 bad arguments.
`;

function hostPort(flag: string, v: string | undefined): { host: string; port: number } {
  if (v === undefined) fail(`--${flag} is required (fanout flood --help)`);
  try {
    return splitHostPort(v);
  } catch (e) {
    fail(`--${flag}: ${(e as Error).message}`);
  }
}

/** Set to a folder, every flood process appends its events there too (trace-<pid>.log): debugging a lab run. */
export const FLOOD_TRACE_ENV = 'FANOUT_FLOOD_TRACE';

function printer(json: boolean): (ev: Record<string, unknown>) => void {
  const trace = process.env[FLOOD_TRACE_ENV];
  return (ev) => {
    if (trace) appendFileSync(joinPath(trace, `trace-${process.pid}.log`), `${JSON.stringify(ev)}\n`);
    if (json) process.stdout.write(`${JSON.stringify(ev)}\n`);
    else if (ev['event'] !== 'progress') process.stderr.write(`${String(ev['event'])}${ev['message'] ? `: ${String(ev['message'])}` : ''}\n`);
  };
}

const stopSignal = (): Promise<NodeJS.Signals> =>
  new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });

async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      file: { type: 'string' },
      listen: { type: 'string' },
      'chunk-size': { type: 'string' },
      expect: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(FLOOD_HELP);
    return EXIT.ok;
  }
  if (!values.file) fail('--file is required (fanout flood --help)');
  if (!existsSync(values.file) || !statSync(values.file).isFile()) fail(`--file: ${values.file} is not a file`);
  const listen = hostPort('listen', values.listen);
  let chunkBytes = DEFAULT_CHUNK_BYTES;
  if (values['chunk-size'] !== undefined) {
    try {
      chunkBytes = parseSizeBytes(values['chunk-size']);
    } catch (e) {
      fail(`--chunk-size: ${(e as Error).message}`);
    }
    if (!(Number.isInteger(chunkBytes) && chunkBytes >= 1 && chunkBytes <= MAX_CHUNK_BYTES)) fail(`--chunk-size: expected 1 byte to 16MiB, got "${values['chunk-size']}"`);
  }
  let expect: number | undefined;
  if (values.expect !== undefined) {
    if (!/^\d+$/.test(values.expect) || Number(values.expect) < 1) fail(`--expect: expected a whole number of at least 1, got "${values.expect}"`);
    expect = Number(values.expect);
  }
  const json = values.json!;
  const emit = printer(json);
  let source: FloodSource;
  try {
    source = new FloodSource({ file: values.file, host: listen.host, port: listen.port, chunkBytes, expect, onEvent: emit });
  } catch (e) {
    fail(`--file: ${(e as Error).message}`);
  }
  let addr: string;
  try {
    addr = await source.start();
  } catch (e) {
    fail(`--listen ${values.listen}: ${(e as Error).message}`, EXIT.failed);
  }
  const m = source.manifest;
  emit({ event: 'listening', address: addr, fileBytes: m.fileBytes, chunkBytes: m.chunkBytes, chunks: m.hashes.length, fileHash: m.fileHash.toString('hex'), wallMs: Date.now() });
  if (!json) process.stdout.write(`serving ${values.file} (${m.fileBytes} bytes, ${m.hashes.length} chunks) on ${addr}\n`);
  const how = await Promise.race([stopSignal(), source.allDone.then(() => 'alldone' as const)]);
  if (how === 'alldone') await new Promise((r) => setTimeout(r, 200)); // let ALLDONE reach the nodes
  emit({ event: 'summary', ...source.stats(), wallMs: Date.now() });
  await source.stop();
  return EXIT.ok;
}

async function join(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      source: { type: 'string' },
      listen: { type: 'string' },
      out: { type: 'string' },
      'wait-signal': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(FLOOD_HELP);
    return EXIT.ok;
  }
  const src = hostPort('source', values.source);
  if (src.port === 0) fail('--source: port 0 is not a port to connect to');
  const listen = hostPort('listen', values.listen ?? '0.0.0.0:0');
  if (!values.out) fail('--out is required (fanout flood --help)');
  if (!existsSync(dirname(values.out)) || !statSync(dirname(values.out)).isDirectory()) fail(`--out: folder ${dirname(values.out)} does not exist`);
  if (existsSync(values.out) && !statSync(values.out).isFile()) fail(`--out: ${values.out} exists and is not a file`);
  const sig = values['wait-signal'];
  if (sig !== undefined && sig !== 'SIGUSR1' && sig !== 'SIGUSR2') fail(`--wait-signal: expected SIGUSR1 or SIGUSR2, got "${sig}"`);
  // The go signal's listener goes in before "ready" is printed. Registered after it, a lab that
  // reads "ready" and signals at once (on a loaded machine the child can be descheduled between
  // its write and the registration) found no listener; Node's own SIGUSR1 handler (it starts the
  // inspector) then took the signal instead, so the process neither died nor went: about 1 run in
  // 30 lost a node that way.
  let released: () => void = () => {};
  const goSignal = new Promise<'go'>((r) => (released = () => r('go')));
  if (sig !== undefined) process.once(sig, () => released());
  const json = values.json!;
  const emit = printer(json);
  const node = new FloodNode({ sourceHost: src.host, sourcePort: src.port, listenHost: listen.host, listenPort: listen.port, out: values.out, onEvent: emit });
  let addr: string;
  try {
    addr = await node.listen();
  } catch (e) {
    fail(`--listen ${values.listen}: ${(e as Error).message}`, EXIT.failed);
  }
  const stopped = stopSignal();
  if (sig !== undefined) {
    emit({ event: 'ready', address: addr, wallMs: Date.now() });
    const got = await Promise.race([goSignal, stopped]);
    if (got !== 'go') {
      await node.stop();
      return EXIT.failed;
    }
    emit({ event: 'go', wallMs: Date.now() });
  }
  node.go();
  let complete = false;
  void node.complete.then(() => (complete = true));
  await Promise.race([node.finished, stopped]);
  emit({ event: 'final', ...node.counters(), wallMs: Date.now() });
  await node.stop();
  return complete ? EXIT.ok : EXIT.failed;
}

export async function floodCommand(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'serve') return serve(rest);
  if (verb === 'join') return join(rest);
  if (verb === undefined || verb === '-h' || verb === '--help') {
    process.stdout.write(FLOOD_HELP);
    return verb === undefined ? EXIT.usage : EXIT.ok;
  }
  fail(`unknown flood command "${verb}" (serve or join; fanout flood --help)`);
}
