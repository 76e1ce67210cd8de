/** `fanout receive`: the CLI around ReceiverServer. */
import { parseArgs } from 'node:util';
import { ListenSpecError, ReceiverServer, parseListen } from '../receiver/server.js';
import { EXIT, authKeyFlag, fail } from './exit.js';

export const RECEIVE_HELP = `Usage: fanout receive --listen HOST:PORT[-PORT] --out DIR [options]

Receives fragments from any number of \`fanout send\` runs at once. Each fragment goes to a
temporary file (.<transfer>.<index>.part), is verified against the sender's SHA-256, fsynced and
only then renamed to <transfer>.<index>.frag and acknowledged. A transfer cut short resumes from
the bytes already stored.

  --listen HOST:PORT       address to listen on; HOST:PORT-PORT listens on a range of ports in
                           this one process, each port standing for one node
  --out DIR                where fragments are stored (created if missing)
  --read-rate-kbps N       read no faster than N Kbps per port (emulates a slow node without root)
  --progress-bytes N       report progress to the sender every N arrived bytes (default 65536)
  --idle-timeout-ms N      drop a connection silent this long (default 120000)

Who may send, and how much:
  --auth-key FILE          serve only senders that prove this pre-shared key (fanout send
                           --auth-key with the same file); others get ERROR Auth and are closed
  --max-fragment-bytes N   largest fragment accepted (default 68719476736, 64 GiB)
  --quota-bytes N          fragment files in --out (stored and in progress) never exceed N
                           (default: no quota)
  --min-free-bytes N       refuse a transfer that could leave less than N bytes free on the disk
                           (default 67108864, 64 MiB; 0 = none)
  --max-transfers N        transfers in progress at once (default 256)
  --max-connections N      connections open at once (default 1024)
  --max-connections-per-peer N   ... from one address (default 256)
  --hello-timeout-ms N     a connection must send HELLO (and its proof) this soon (default 10000)
  --part-expiry-s N        delete .part files untouched this long (default 86400)
  --json                   one JSON object per line: listening, hello, stored, error events
  -h, --help               this text

Prints "listening on ..." once every port is bound; runs until SIGINT or SIGTERM.
`;

export async function receiveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string' },
      out: { type: 'string' },
      'read-rate-kbps': { type: 'string' },
      'progress-bytes': { type: 'string' },
      'idle-timeout-ms': { type: 'string' },
      'auth-key': { type: 'string' },
      'max-fragment-bytes': { type: 'string' },
      'quota-bytes': { type: 'string' },
      'min-free-bytes': { type: 'string' },
      'max-transfers': { type: 'string' },
      'max-connections': { type: 'string' },
      'max-connections-per-peer': { type: 'string' },
      'hello-timeout-ms': { type: 'string' },
      'part-expiry-s': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(RECEIVE_HELP);
    return EXIT.ok;
  }
  if (!values.listen) fail('--listen is required (fanout receive --help)');
  if (!values.out) fail('--out is required (fanout receive --help)');
  const num = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^[0-9.]+$/.test(v) || !(n > 0)) fail(`--${name}: expected a number above 0, got "${v}"`);
    return n;
  };
  const whole = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min) fail(`--${name}: expected a whole number of at least ${min}, got "${v}"`);
    return Number(v);
  };
  const authKey = authKeyFlag(values['auth-key']);
  const store: { maxTotalBytes?: number; minFreeBytes?: number; maxTransfers?: number; partExpiryMs?: number } = {};
  const quota = whole('quota-bytes', values['quota-bytes'], 1);
  if (quota !== undefined) store.maxTotalBytes = quota;
  const minFree = whole('min-free-bytes', values['min-free-bytes'], 0);
  if (minFree !== undefined) store.minFreeBytes = minFree;
  const maxTransfers = whole('max-transfers', values['max-transfers'], 1);
  if (maxTransfers !== undefined) store.maxTransfers = maxTransfers;
  const expiryS = whole('part-expiry-s', values['part-expiry-s'], 1);
  if (expiryS !== undefined) store.partExpiryMs = expiryS * 1000;
  const json = values.json!;
  let server: ReceiverServer;
  try {
    server = new ReceiverServer({
      listen: parseListen(values.listen),
      outDir: values.out,
      readRateKbps: num('read-rate-kbps', values['read-rate-kbps']),
      progressEveryBytes: num('progress-bytes', values['progress-bytes']),
      idleTimeoutMs: num('idle-timeout-ms', values['idle-timeout-ms']),
      helloTimeoutMs: whole('hello-timeout-ms', values['hello-timeout-ms'], 1),
      maxFragmentBytes: whole('max-fragment-bytes', values['max-fragment-bytes'], 1),
      maxConnections: whole('max-connections', values['max-connections'], 1),
      maxConnectionsPerPeer: whole('max-connections-per-peer', values['max-connections-per-peer'], 1),
      authKey,
      store,
      onEvent: (ev) => {
        if (json) process.stdout.write(`${JSON.stringify(ev)}\n`);
        else if (ev.event === 'error') process.stderr.write(`${ev.peer}: ${ev.code}: ${ev.message}\n`);
      },
    });
    const addrs = await server.start();
    const shown = addrs.length > 1 ? `${addrs[0]} .. ${addrs[addrs.length - 1]} (${addrs.length} ports)` : addrs[0];
    if (json) process.stdout.write(`${JSON.stringify({ event: 'listening', t: Date.now() / 1000, addresses: addrs, out: values.out, pid: process.pid, auth: authKey !== undefined })}\n`);
    else process.stdout.write(`listening on ${shown}, storing into ${values.out}\n`);
  } catch (err) {
    if (err instanceof ListenSpecError) fail(err.message, EXIT.usage);
    throw err;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  return EXIT.ok;
}
