/**
 * P2MP-FTP's command lines: the specification's two programs, exactly
 *
 *   p2mpserver port# file-name p                       (a receiver; prints `Packet loss, sequence number = X`)
 *   p2mpclient server-1 server-2 ... server-port# file-name MSS   (the sender; prints `Timeout, sequence number = Y`)
 *
 * (options may follow: --json, --bind, --timeout-ms, ...), and the fast variant as `fanout p2mp
 * send` / `fanout p2mp receive`. `fanout p2mp server|client` are the two programs above. Bad input
 * (MSS outside its limits, p outside 0..1, an unknown host, a port in use) is a message and exit 2.
 */
import { parseArgs } from 'node:util';
import { P2mpUsageError, parsePort, stdoutOutput } from '../p2mp/io.js';
import { DEFAULT_TIMEOUT_MS, runSawClient, runSawServer } from '../p2mp/saw-driver.js';
import { DEFAULT_SEG_BYTES, NAK_PORT, runNakReceiver, runNakSender } from '../p2mp/nak-driver.js';
import { parseRateBps, UnitError } from '../core/units.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const SERVER_USAGE = 'usage: p2mpserver port# file-name p [--json] [--bind ADDR] [--seed N] [--linger-ms N]';
const CLIENT_USAGE = 'usage: p2mpclient server-1 server-2 ... server-port# file-name MSS [--timeout-ms N] [--json] [--wait-signal SIGUSR1]';
const SEND_USAGE = 'usage: fanout p2mp send --file F --receivers HOST[:PORT],... --rate 100mbit [--link-rate 10mbit] [--mode unicast|multicast --group 239.x.y.z --bind SRC] [--port 7736] [--seg-bytes 1400] [--block 0|1..255 (parity repairs over blocks of that many segments)] [--json]';
const RECEIVE_USAGE = 'usage: fanout p2mp receive --out FILE [--port 7736] [--bind ADDR] [--group 239.x.y.z] [--session N] [--json]';

function number(text: string, what: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new P2mpUsageError(`${what}: expected a number (got ${JSON.stringify(text)})`);
  return n;
}

function int(text: string, what: string): number {
  const n = number(text, what);
  if (!Number.isInteger(n)) throw new P2mpUsageError(`${what}: expected a whole number (got ${JSON.stringify(text)})`);
  return n;
}

/** mulberry32: a seeded draw in (0, 1]. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967296;
  };
}

/** SIGTERM/SIGINT abort the transfer (the temporary file is removed). */
function abortOnSignals(): AbortSignal {
  const ac = new AbortController();
  for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => ac.abort());
  return ac.signal;
}

/** `--wait-signal SIG`: once set up, say ready and wait for the signal (the lab's go). */
function waitSignal(name: string, out: ReturnType<typeof stdoutOutput>): () => Promise<void> {
  if (!/^SIG[A-Z0-9]+$/.test(name)) throw new P2mpUsageError(`--wait-signal: expected a signal name such as SIGUSR1 (got ${JSON.stringify(name)})`);
  return () => {
    const p = new Promise<void>((resolve) => process.once(name as NodeJS.Signals, () => resolve()));
    out.event({ event: 'ready' });
    return p;
  };
}

export async function serverMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, bind: { type: 'string' }, seed: { type: 'string' }, 'linger-ms': { type: 'string' } } });
  if (positionals.length !== 3) throw new P2mpUsageError(SERVER_USAGE);
  const [portText, file, pText] = positionals as [string, string, string];
  const port = parsePort(portText, 'port#');
  const p = number(pText, 'p');
  if (p < 0 || p > 1) throw new P2mpUsageError(`p: expected a probability from 0 to 1 (got ${pText})`);
  const out = stdoutOutput(values.json === true);
  const r = await runSawServer({
    port, file, p, out, signal: abortOnSignals(),
    ...(values.bind ? { bind: values.bind } : {}),
    ...(values.seed !== undefined ? { random: seeded(int(values.seed, '--seed')) } : {}),
    ...(values['linger-ms'] !== undefined ? { lingerMs: int(values['linger-ms'], '--linger-ms') } : {}),
  });
  return r.complete ? EXIT_OK : EXIT_FAILED;
}

export async function clientMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, 'timeout-ms': { type: 'string' }, 'give-up-ms': { type: 'string' }, 'wait-signal': { type: 'string' } } });
  if (positionals.length < 4) throw new P2mpUsageError(CLIENT_USAGE);
  const servers = positionals.slice(0, -3);
  const [portText, file, mssText] = positionals.slice(-3) as [string, string, string];
  const port = parsePort(portText, 'server-port#');
  const mss = int(mssText, 'MSS');
  const timeoutMs = values['timeout-ms'] === undefined ? DEFAULT_TIMEOUT_MS : number(values['timeout-ms'], '--timeout-ms');
  if (!(timeoutMs > 0)) throw new P2mpUsageError(`--timeout-ms: expected > 0 (got ${timeoutMs})`);
  const out = stdoutOutput(values.json === true);
  const r = await runSawClient({
    servers, port, file, mss, timeoutMs, out, signal: abortOnSignals(),
    ...(values['give-up-ms'] !== undefined ? { giveUpMs: number(values['give-up-ms'], '--give-up-ms') } : {}),
    ...(values['wait-signal'] !== undefined ? { go: waitSignal(values['wait-signal'], out) } : {}),
  });
  out.text(`Transfer ${r.complete ? 'complete' : 'FAILED'}: ${r.segments} segments to ${servers.length} servers in ${r.seconds.toFixed(3)} s, ${r.timeouts} timeouts, ${r.retransmissions} retransmissions`);
  out.event({ event: 'summary', ...r });
  if (!r.complete) process.stderr.write(`p2mpclient: gave up: no acknowledgement from ${r.failed.join(', ')}\n`);
  return r.complete ? EXIT_OK : EXIT_FAILED;
}

export async function sendMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      file: { type: 'string' }, receivers: { type: 'string' }, rate: { type: 'string' }, 'link-rate': { type: 'string' }, mode: { type: 'string' }, group: { type: 'string' },
      bind: { type: 'string' }, port: { type: 'string' }, 'seg-bytes': { type: 'string' }, session: { type: 'string' }, json: { type: 'boolean' },
      'wait-signal': { type: 'string' }, 'dead-after-ms': { type: 'string' }, block: { type: 'string' },
    },
  });
  if (!values.file || !values.receivers || !values.rate) throw new P2mpUsageError(SEND_USAGE);
  const mode = values.mode ?? 'unicast';
  if (mode !== 'unicast' && mode !== 'multicast') throw new P2mpUsageError(`--mode: expected unicast or multicast (got ${JSON.stringify(mode)})`);
  const rate = (text: string, flag: string): number => {
    try {
      return parseRateBps(text);
    } catch (err) {
      if (err instanceof UnitError) throw new P2mpUsageError(`${flag}: ${err.message}`);
      throw err;
    }
  };
  const rateBps = rate(values.rate, '--rate');
  const out = stdoutOutput(values.json === true);
  const r = await runNakSender({
    file: values.file, receivers: values.receivers.split(',').filter((s) => s !== ''), rateBps, mode, out, signal: abortOnSignals(),
    port: values.port ? parsePort(values.port, '--port') : NAK_PORT,
    segBytes: values['seg-bytes'] ? int(values['seg-bytes'], '--seg-bytes') : DEFAULT_SEG_BYTES,
    ...(values.group ? { group: values.group } : {}),
    ...(values.bind ? { bind: values.bind } : {}),
    ...(values['link-rate'] ? { linkRateBps: rate(values['link-rate'], '--link-rate') } : {}),
    ...(values.session ? { session: int(values.session, '--session') } : {}),
    ...(values['dead-after-ms'] ? { deadAfterMs: int(values['dead-after-ms'], '--dead-after-ms') } : {}),
    ...(values.block !== undefined ? { blockSegs: int(values.block, '--block') } : {}),
    ...(values['wait-signal'] !== undefined ? { go: waitSignal(values['wait-signal'], out) } : {}),
  });
  out.event({ event: 'summary', ...r });
  if (r.failed.length > 0) process.stderr.write(`fanout p2mp send: not complete: ${r.failed.join(', ')}\n`);
  return r.failed.length === 0 ? EXIT_OK : EXIT_FAILED;
}

export async function receiveMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { out: { type: 'string' }, port: { type: 'string' }, bind: { type: 'string' }, group: { type: 'string' }, session: { type: 'string' }, json: { type: 'boolean' }, 'idle-ms': { type: 'string' } },
  });
  if (!values.out) throw new P2mpUsageError(RECEIVE_USAGE);
  const out = stdoutOutput(values.json === true);
  const r = await runNakReceiver({
    file: values.out, out, signal: abortOnSignals(),
    port: values.port ? parsePort(values.port, '--port') : NAK_PORT,
    ...(values.bind ? { bind: values.bind } : {}),
    ...(values.group ? { group: values.group } : {}),
    ...(values.session ? { session: int(values.session, '--session') } : {}),
    ...(values['idle-ms'] ? { idleMs: int(values['idle-ms'], '--idle-ms') } : {}),
  });
  if (r.error) process.stderr.write(`fanout p2mp receive: ${r.error}\n`);
  return r.complete ? EXIT_OK : EXIT_FAILED;
}

const VERBS: Record<string, (argv: string[]) => Promise<number>> = { server: serverMain, client: clientMain, send: sendMain, receive: receiveMain };

/** `fanout p2mp <server|client|send|receive> ...` */
export async function p2mpCommand(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  const run = verb === undefined ? undefined : VERBS[verb];
  if (!run) {
    process.stderr.write(`fanout p2mp: expected one of server, client (stop-and-wait, the specification's programs), send, receive (the NAK variant)\n  ${SERVER_USAGE.replace('p2mpserver', 'fanout p2mp server')}\n  ${CLIENT_USAGE.replace('p2mpclient', 'fanout p2mp client')}\n  ${SEND_USAGE}\n  ${RECEIVE_USAGE}\n`);
    return EXIT_USAGE;
  }
  return run(rest);
}

/** A bin's main: runs `main`, turns usage errors into a message and exit 2. */
export function runBin(name: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof P2mpUsageError || (err instanceof Error && String((err as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS'))) {
        process.stderr.write(`${name}: ${err.message}\n`);
        process.exitCode = EXIT_USAGE;
      } else {
        process.stderr.write(`${name}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        process.exitCode = EXIT_FAILED;
      }
    },
  );
}
