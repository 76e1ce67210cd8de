/**
 * `uftp/fixed` and `uftp/tfmcc`: Debian's UFTP 4.10 (`uftp` sends, `uftpd` receives) as a
 * whole-file contender over IP multicast on the lab's bridge (lab/netns/commands.ts makes the
 * multicast route in every host and sets the bridge to flood multicast to every port).
 *
 * Per run: every receiver runs `uftpd` in the foreground (`-d`, its log on stderr, which a `sh`
 * wrapper execs onto stdout so the lab reads it; the pid the lab records is uftpd's own), with
 * `-D <node dir>` and `-t` (each file is received under a temp name, `.~uftp-<group>-<file>`, in
 * that folder and renamed to its own name only once it is complete, so a cut transfer is never
 * presented as complete; `-T <temp dir>` was tried first: it moves files only when the whole
 * session ends, after the client's last COMPLETE, and the sender may exit and the lab stop the
 * client before the move), `-M` the lab's announcement group, `-U` a unique client id (the receiver's index + 1) and `-q`
 * (no DNS lookups). The source then runs `uftp` (the run's driver: the run ends when it exits)
 * announcing on 239.72.0.1 and sending data to 239.72.0.2, from eth0, with TTL 1.
 *
 * Its best fair shot, as a user would tune it on a LAN whose bottleneck rate is known:
 *   - closed group (`-H @file` with every client id): the sender stops announcing as soon as every
 *     client registered, instead of announcing `robust` times for open membership (~1.5 s);
 *   - `-r 0.01:0.001:1`: an initial group RTT of 10 ms (default 500 ms, made for WANs) and a
 *     minimum of 1 ms: NAK rounds and registration wait for the LAN's real round trip;
 *   - `-s 10`: the smallest robustness factor (message retries while waiting for clients);
 *   - blocks of 1400 bytes (`-b`): a FILESEG packet is 24 bytes of UFTP headers (+8 with TFMCC's
 *     extension) + 28 of UDP/IP, so 1400 fits a 1500-byte MTU in both variants;
 *   - `fixed`: `-R` = the bottleneck link rate (min of the source's up link and every receiver's
 *     down link), converted from link bits (whole Ethernet frames, as HTB counts) to what uftp
 *     counts (block + its headers), times `rate` (default 1: the link itself; measured as a sweep
 *     of `transfer.uftp.rate`, 4 receivers, 8 MiB, 20 Mbit/s, no loss, median of 2, smoke on a
 *     noisy machine: 0.9 -> 1.14x the bound, 0.97 -> 1.05x, 1.0 -> 1.03x; on uftp-16-loss5 1.53x at
 *     1.0 against 1.57x at 0.97; HTB's queue absorbs uftp's pacing without drops); `rateKbps`
 *     sets -R directly instead;
 *   - `tfmcc`: `-C tfmcc:init=R:max=R` with R as above: TFMCC (RFC 4654) adapts the rate to the
 *     receivers' loss reports, never above the link;
 *   - UDP buffers of 8 MiB on both sides (`-B`), no encryption (`-Y none`), `-x 2` logging.
 * Rates are shaped only by the lab; uftp's own rate is set to the lab's links, never below.
 *
 * Per-node events come from each uftpd's own log, with its microsecond timestamps (local time,
 * the machine's one clock): `Registration confirmed` = start (uftpd logs no first data block at
 * -x 2), and `done file close` = done (the file is complete and renamed into place; the client
 * does this before it answers the sender's end of session, so it precedes the sender's exit).
 * `Transfer aborted` / `aborted` lines are errors. Verification: byte for byte against the source.
 *
 * Lower bound (multicast): one copy of the file leaves the source and the bridge replicates it, so
 *   T >= max( F' / u_s,  max_i F' / ((1 - p_i) d_i),  max_k F' / D_k )   (D_k: site k's trunk down)
 * with F' = F x (block + 66) / block (24 UFTP + 8 UDP + 20 IP + 14 Ethernet bytes per block; +8
 * for TFMCC's extension: the bound uses the fixed variant's smaller framing, so it holds for both)
 * and link rates as HTB counts them; events integrated (lab/bound-whole.ts).
 */
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { kumarRossBound } from '../../bound-whole.js';
import { STDERR_TO_STDOUT } from '../../netns/teardown.js';
import { at, readInt, readNumber, readObject } from '../../scenario/read.js';
import type { Topology } from '../../types.js';
import { sameFile } from '../../verify.js';
import type { Bound, NodeEvent, Protocol, ProcessSpec, RunContext } from '../types.js';

export const UFTP_PORT = 1044;
/** Announcements (public) and data (private): organization-local scope, never routed off the bridge (TTL 1). */
export const UFTP_PUBLIC_GROUP = '239.72.0.1';
export const UFTP_PRIVATE_GROUP = '239.72.0.2';
/** UFTP header (16) + FILESEG (8). */
export const UFTP_DATA_HEADER_BYTES = 24;
/** TFMCC's header extension on every FILESEG. */
export const UFTP_TFMCC_EXT_BYTES = 8;
/** UDP 8 + IPv4 20 + Ethernet 14 (what HTB counts beyond the IP payload). */
export const UDP_FRAME_OVERHEAD_BYTES = 42;
export const UFTP_BUFFER_BYTES = 8 << 20;

export interface UftpOptions {
  /** -b: data bytes per packet. */
  blockBytes: number;
  /** -R as a fraction of the bottleneck link rate (fixed), or TFMCC's init and max. */
  rateFraction: number;
  /** -R in Kbps, set directly (overrides rateFraction). */
  rateKbps: number | null;
  /** -r: initial group round-trip time, seconds (min 0.001, max 1). */
  grttS: number;
  /** -s: robustness factor, 10..50. */
  robust: number;
}

export const UFTP_DEFAULTS: UftpOptions = { blockBytes: 1400, rateFraction: 1, rateKbps: null, grttS: 0.01, robust: 10 };
const OPTION_KEYS = ['blockSize', 'rate', 'rateKbps', 'grtt', 'robust'] as const;
/** Largest block whose FILESEG (with TFMCC's extension) fits a 1500-byte IP packet. */
export const UFTP_MAX_BLOCK = 1500 - 28 - UFTP_DATA_HEADER_BYTES - UFTP_TFMCC_EXT_BYTES;

/** Link bytes per file byte: the block plus UFTP, UDP, IP and Ethernet headers. */
export function uftpWireFactor(blockBytes: number, variant: string): number {
  const hdr = UFTP_DATA_HEADER_BYTES + (variant === 'tfmcc' ? UFTP_TFMCC_EXT_BYTES : 0) + UDP_FRAME_OVERHEAD_BYTES;
  return (blockBytes + hdr) / blockBytes;
}

/** The bottleneck link rate of a multicast transfer, bit/s: the source's up link and the slowest down link. */
export function bottleneckBps(t: Topology): number {
  return Math.min(t.sender.upBps, ...t.receivers.map((r) => r.downBps));
}

/**
 * The rate uftp is told, Kbps: the bottleneck link rate times `rateFraction`, from link bits
 * (frames) to the bits uftp counts (block + its own headers). -1 (uftp: line rate) when unshaped.
 */
export function uftpRateKbps(t: Topology, o: UftpOptions, variant: string): number {
  if (o.rateKbps !== null) return o.rateKbps;
  const link = bottleneckBps(t);
  if (!Number.isFinite(link)) return -1;
  const uftpHdr = UFTP_DATA_HEADER_BYTES + (variant === 'tfmcc' ? UFTP_TFMCC_EXT_BYTES : 0);
  const counted = (o.blockBytes + uftpHdr) / (o.blockBytes + uftpHdr + UDP_FRAME_OVERHEAD_BYTES);
  return Math.max(1, Math.floor((link * o.rateFraction * counted) / 1000));
}

/** The client id of receiver `index` (uftpd -U, uftp -H): index + 1, 8 hex digits. */
export function clientId(index: number): string {
  return `0x${(index + 1).toString(16).toUpperCase().padStart(8, '0')}`;
}

/** `2026/12/03 11:46:19.875694: ...` -> ms since the epoch (uftp logs local time). */
export function parseUftpTime(line: string): number | undefined {
  const m = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{1,6}): /.exec(line);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac] = m;
  const ms = Number(`0.${frac}`) * 1000;
  return new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)).getTime() + ms;
}

/** Events in one line of a uftpd log (receiver `node`). */
export function parseUftpdLine(node: number, line: string): NodeEvent[] {
  const wallMs = parseUftpTime(line);
  if (wallMs === undefined) return [];
  const text = line.slice(line.indexOf(': ') + 2);
  if (/\bRegistration confirmed\b/.test(text)) return [{ kind: 'start', node, wallMs }];
  if (/\bdone file close\b/.test(text)) return [{ kind: 'done', node, wallMs }];
  if (/\b(aborted|Aborting|Dropping)\b/i.test(text)) return [{ kind: 'error', node, wallMs, message: `uftpd: ${text.trim().slice(0, 200)}` }];
  return [];
}

/** Run the argv with its stderr on stdout (uftpd -d logs to stderr); `exec` keeps the pid, and teardown knows the wrapper. */
function stderrToStdout(argv: string[]): string[] {
  return [...STDERR_TO_STDOUT, ...argv];
}

function hostListOf(ctx: RunContext): string {
  return join(ctx.runDir, 'uftp-clients.txt');
}

export const uftp: Protocol<UftpOptions> = {
  name: 'uftp',
  job: 'whole-file',
  variants: ['fixed', 'tfmcc'],
  tools: [
    { bin: 'uftp', pkg: 'uftp' },
    { bin: 'uftpd', pkg: 'uftp' },
  ],
  services: [],
  backends: ['netns'],
  summary: 'UFTP 4.10 (Debian): multicast file transfer with NAK repairs, at a fixed rate (the bottleneck link) or TFMCC',

  parseOptions(raw, path, issues) {
    if (raw === undefined) return { ...UFTP_DEFAULTS };
    const o = readObject(raw, path, issues, OPTION_KEYS);
    if (!o) return undefined;
    const before = issues.count;
    const out: UftpOptions = { ...UFTP_DEFAULTS };
    if (o['blockSize'] !== undefined) {
      const b = readInt(o['blockSize'], at(path, 'blockSize'), issues, 256, UFTP_MAX_BLOCK);
      if (b !== undefined) out.blockBytes = b;
    }
    if (o['rate'] !== undefined) {
      const f = readNumber(o['rate'], at(path, 'rate'), issues, { gt: 0, max: 1 });
      if (f !== undefined) out.rateFraction = f;
    }
    if (o['rateKbps'] !== undefined) {
      const k = readInt(o['rateKbps'], at(path, 'rateKbps'), issues, 1, 100_000_000);
      if (k !== undefined) out.rateKbps = k;
    }
    if (o['grtt'] !== undefined) {
      const g = readNumber(o['grtt'], at(path, 'grtt'), issues, { min: 0.001, max: 1 });
      if (g !== undefined) out.grttS = g;
    }
    if (o['robust'] !== undefined) {
      const r = readInt(o['robust'], at(path, 'robust'), issues, 10, 50);
      if (r !== undefined) out.robust = r;
    }
    return issues.count > before ? undefined : out;
  },

  async prepare(ctx) {
    writeFileSync(hostListOf(ctx), ctx.topology.receivers.map((r) => `${clientId(r.index)}\n`).join(''));
  },

  phases(ctx) {
    const o = ctx.options as UftpOptions;
    const receivers: ProcessSpec[] = ctx.topology.receivers.map((r) => ({
      node: { role: 'receiver', index: r.index },
      label: `uftpd ${r.index}`,
      argv: stderrToStdout([
        '/usr/bin/uftpd', '-d', '-x', '2', '-q',
        '-p', String(UFTP_PORT),
        '-U', clientId(r.index),
        '-I', 'eth0',
        '-M', UFTP_PUBLIC_GROUP,
        '-B', String(UFTP_BUFFER_BYTES),
        '-D', ctx.nodeDir(r.index),
        '-t',
      ]),
      // Its last start-up line: the client key is made and the socket is open.
      ready: /Loaded \d+ bit \w+ key/,
      stop: 'SIGTERM',
    }));
    const rate = uftpRateKbps(ctx.topology, o, ctx.variant);
    const rateArgs = ctx.variant === 'tfmcc' ? ['-C', rate > 0 ? `tfmcc:init=${rate}:max=${rate}` : 'tfmcc'] : ['-R', String(rate)];
    const sender: ProcessSpec = {
      node: { role: 'source' },
      label: 'uftp',
      argv: [
        '/usr/bin/uftp', '-Y', 'none', '-x', '2',
        '-I', 'eth0',
        '-M', UFTP_PUBLIC_GROUP, '-P', UFTP_PRIVATE_GROUP, '-t', '1',
        '-p', String(UFTP_PORT),
        '-b', String(o.blockBytes),
        ...rateArgs,
        '-B', String(UFTP_BUFFER_BYTES),
        '-H', `@${hostListOf(ctx)}`,
        '-r', `${o.grttS}:0.001:1`,
        '-s', String(o.robust),
        '-D', basename(ctx.srcFile),
        ctx.srcFile,
      ],
      ready: null,
      stop: 'SIGTERM',
      driver: true,
    };
    return [
      { name: 'receivers', procs: receivers },
      { name: 'sender', procs: [sender] },
    ];
  },

  parseLine(spec, line, ctx) {
    if (spec.node.role !== 'receiver') return [];
    const evs = parseUftpdLine(spec.node.index, line);
    return evs.map((e) => (e.kind === 'done' ? { ...e, downBytes: ctx.fileBytes } : e));
  },

  async verify(ctx, index) {
    const path = join(ctx.nodeDir(index), basename(ctx.srcFile));
    return sameFile(ctx.srcFile, path) ? null : `${path} differs from the source (or is missing)`;
  },

  lowerBound(t, o, fileBytes): Bound {
    return uftpBound(t, o, fileBytes, 'fixed');
  },
};

/** The multicast bound (banner): the source's up link once, each receiver's down link with its loss. */
export function uftpBound(t: Topology, o: UftpOptions, fileBytes: number, variant: string): Bound {
  const kr = kumarRossBound({
    fileBytes,
    sourceUpBps: t.sender.upBps,
    nodes: t.receivers.map((r) => ({ downBps: r.downBps, upBps: r.upBps, lossDownPct: r.lossDownPct ?? 0, lossUpPct: 0 })),
    events: t.events,
    goodputFactor: 1 / uftpWireFactor(o.blockBytes, variant),
  });
  // Kumar-Ross's aggregate term counts unicast copies; with multicast the bridge replicates.
  const { sourceUpS, slowestDownS } = kr.terms;
  // A site's trunk carries one copy into the site (its bridge replicates it to the site's receivers).
  const wireBytes = fileBytes * uftpWireFactor(o.blockBytes, variant);
  const siteDownS = Math.max(0, ...(t.sites ?? []).map((s) => (Number.isFinite(s.downBps) ? (wireBytes * 8) / s.downBps : 0)));
  const terms: [number, string][] = [
    [sourceUpS, 'multicast: source-up'],
    [slowestDownS, 'multicast: slowest-down'],
    [siteDownS, 'multicast: site-down'],
  ];
  const [seconds, binding] = terms.reduce((a, b) => (b[0] > a[0] ? b : a));
  return { seconds, binding };
}
