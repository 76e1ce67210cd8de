/** `fanout send`: the CLI around FragmentSender. */
import { existsSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FragmentSender, SenderInputError } from '../sender/driver.js';
import { NodeListError, readNodeList } from '../sender/nodes.js';
import type { SenderEvent, SenderSummary } from '../sender/report.js';
import { STRATEGY_NAMES, isStrategyName } from '../sender/strategies/names.js';
import { HANDICAP_ENV, parseHandicap } from '../sender/strategies/handicap.js';
import { CliError, EXIT, authKeyFlag, fail } from './exit.js';
import { formatBytesShort } from './format.js';
import { startProgress } from './progress.js';

export const SEND_HELP = `Usage: fanout send --file PATH --nodes NODES --rate-kbps N [options]

Splits the file into one fragment per node, in node-list order (fragment i goes to node i), each
ceil(size/nodes) bytes with the last one shorter, and sends each over its own TCP connection to a
\`fanout receive\`. Every byte written, frame headers included, counts against the rate limit.

Required:
  --file PATH            the file to distribute
  --nodes NODES          a file with one host:port per line (# comments, blank lines ignored,
                         IPv6 as [::1]:9000) or a comma-separated list
  --rate-kbps N          aggregate limit over all connections, Kbps (1 Kbps = 1000 bit/s), or
                         "unlimited"

Options:
  --strategy NAME        ${STRATEGY_NAMES.join(' | ')} (default probe-prioritise)
  --width W              connections open at once (default: all nodes)
  --chunk-bytes N        largest DATA frame payload (default 65536)
  --window-bytes N       unacknowledged bytes per connection before it counts as full (default 524288)
  --retries N            attempts after the first before a node is given up (default 5)
  --stall-timeout-ms N   abandon an attempt when its receiver says nothing this long (default 10000)
  --connect-timeout-ms N (default 5000)
  --transfer-id HEX      32 hex digits naming the transfer (default random); receivers store
                         fragment i as <transfer-id>.<i>.frag
  --auth-key FILE        prove this pre-shared key to every receiver (fanout receive --auth-key
                         with the same file) and require each to prove it back; the fragment's
                         digest in END and the receipt in ACK are authenticated
  --json                 one JSON object per line: events, then a summary (instead of progress)
  -h, --help             this text

Exit status: 0 every node stored its fragment; 1 some node failed (the summary says which and
why); 2 invalid input; 130 interrupted.
`;

function positiveInt(name: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) fail(`--${name}: expected a whole number of at least ${min}, got "${v}"`);
  return Number(v);
}

export async function sendCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      file: { type: 'string' },
      nodes: { type: 'string' },
      'rate-kbps': { type: 'string' },
      strategy: { type: 'string', default: 'probe-prioritise' },
      width: { type: 'string' },
      'chunk-bytes': { type: 'string' },
      'window-bytes': { type: 'string' },
      retries: { type: 'string' },
      'stall-timeout-ms': { type: 'string' },
      'connect-timeout-ms': { type: 'string' },
      'transfer-id': { type: 'string' },
      'auth-key': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(SEND_HELP);
    return EXIT.ok;
  }
  if (!values.file) fail('--file is required (fanout send --help)');
  if (!values.nodes) fail('--nodes is required (fanout send --help)');
  if (values['rate-kbps'] === undefined) fail('--rate-kbps is required: a number of Kbps, or "unlimited"');
  const file = values.file;
  if (!existsSync(file)) fail(`--file ${file}: no such file`);
  if (!statSync(file).isFile()) fail(`--file ${file}: not a regular file`);
  const rateText = values['rate-kbps'];
  const rateKbps = rateText === 'unlimited' ? Infinity : Number(rateText);
  if (rateText !== 'unlimited' && (!/^[0-9.eE+-]+$/.test(rateText) || !Number.isFinite(rateKbps))) {
    fail(`--rate-kbps: expected a number of Kbps or "unlimited", got "${rateText}"`);
  }
  if (!(rateKbps > 0)) fail(`--rate-kbps: the rate must be above 0 (got ${rateText})`);
  const strategy = values.strategy!;
  if (!isStrategyName(strategy)) fail(`--strategy: unknown strategy "${strategy}" (choose one of ${STRATEGY_NAMES.join(', ')})`);
  let handicap;
  try {
    handicap = parseHandicap(process.env[HANDICAP_ENV]);
  } catch (err) {
    fail((err as Error).message);
  }
  if (handicap && handicap.strategy === strategy) {
    process.stderr.write(`fanout send: ${HANDICAP_ENV} is set: ${strategy} is deliberately slowed (node ${handicap.node} waits ${handicap.untilMs} ms)\n`);
  }
  const width = positiveInt('width', values.width);
  let transferId: Buffer | undefined;
  if (values['transfer-id'] !== undefined) {
    if (!/^[0-9a-fA-F]{32}$/.test(values['transfer-id'])) fail('--transfer-id: expected 32 hex digits');
    transferId = Buffer.from(values['transfer-id'], 'hex');
  }
  const authKey = authKeyFlag(values['auth-key']);
  let nodes;
  try {
    nodes = readNodeList(values.nodes, existsSync);
  } catch (err) {
    if (err instanceof NodeListError) fail(err.message);
    throw err;
  }

  const json = values.json!;
  // Pipes are written synchronously on Linux: gather a loop turn's events into one write.
  let pending: string[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    process.stdout.write(pending.join(''));
    pending = [];
  };
  const emit = (obj: SenderEvent | SenderSummary): void => {
    if (pending.length === 0) setImmediate(flush);
    pending.push(`${JSON.stringify(obj)}\n`);
  };
  let sender: FragmentSender;
  try {
    sender = new FragmentSender({
      file,
      nodes,
      rateKbps,
      strategy,
      width,
      chunkBytes: positiveInt('chunk-bytes', values['chunk-bytes']),
      windowBytes: positiveInt('window-bytes', values['window-bytes']),
      retries: positiveInt('retries', values.retries, 0),
      stallTimeoutMs: positiveInt('stall-timeout-ms', values['stall-timeout-ms']),
      connectTimeoutMs: positiveInt('connect-timeout-ms', values['connect-timeout-ms']),
      transferId,
      authKey,
      onEvent: json
        ? emit
        : (ev) => {
            if (ev.event === 'error' && ev.retryInMs === null) process.stderr.write(`\n${ev.node}: ${ev.message}\n`);
          },
    });
  } catch (err) {
    if (err instanceof SenderInputError) fail(err.message);
    throw err;
  }
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
    sender.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const stopProgress = json ? () => {} : startProgress(sender, process.stderr, strategy);
  let summary: SenderSummary;
  try {
    summary = await sender.run();
  } catch (err) {
    stopProgress();
    if (err instanceof SenderInputError) fail(err.message);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  stopProgress();
  if (interrupted) {
    process.stderr.write('fanout send: interrupted; fragments not acknowledged are incomplete\n');
    return 130;
  }
  if (json) {
    emit(summary);
    flush();
  }
  else process.stdout.write(humanSummary(summary));
  if (!summary.ok) throw new CliError(`${summary.failed.length} of ${summary.nodes.length} nodes failed`, EXIT.failed);
  return EXIT.ok;
}

function humanSummary(s: SenderSummary): string {
  const lines = [
    `sent ${formatBytesShort(s.payloadBytes)} to ${s.nodes.length - s.failed.length}/${s.nodes.length} nodes in ${s.makespanS.toFixed(3)} s` +
      ` (${s.strategy}, width ${s.width}, limit ${s.rateKbps === null ? 'none' : `${s.rateKbps} Kbps`})`,
    `wire ${formatBytesShort(s.wireBytes)} (+${(((s.wireBytes / Math.max(1, s.payloadBytes)) - 1) * 100).toFixed(2)} %), ` +
      `${(s.achievedKbps / 1000).toFixed(1)} Mbit/s average, busiest 1 s window ${((s.maxWindowBytes * 8) / 1e6).toFixed(1)} Mbit` +
      (s.rateOvershoot === null ? '' : ` (${(s.rateOvershoot * 100).toFixed(2)} % vs limit)`),
    `cpu ${s.cpuUserS.toFixed(2)} s user + ${s.cpuSysS.toFixed(2)} s sys, peak RSS ${formatBytesShort(s.maxRssBytes)}`,
  ];
  if (s.probe) {
    lines.push(`probes: ${s.probe.parks} parks (${s.probe.extraSetups} set-ups again), ${formatBytesShort(s.probe.probeBytes)} sent as probes` + (s.probe.setupMs === null ? '' : `, set-up ${s.probe.setupMs} ms on average`));
  }
  for (const f of s.failed) lines.push(`FAILED ${f.node} (fragment ${f.index}): ${f.reason}`);
  return `${lines.join('\n')}\n`;
}
