/**
 * `p2mp-ftp/nak` over real UDP sockets (machines: nak-sender.ts, nak-receiver.ts). The sender
 * sends to each receiver's host:port (unicast, and repairs in either mode) and, in multicast
 * mode, new data and STATUS to group:port once, with its own address as the multicast interface.
 * A receiver binds its port (on 0.0.0.0 in multicast mode, joining the group on its interface
 * address) and writes under a temporary name until the whole file checks against the announced
 * SHA-256.
 *
 * Parity repairs (`blockSegs` > 0, announced in STATUS): the sender makes each REPAIR with a codec
 * Encoder over the block's segments read back from the file (one encoder kept: repairs drain a
 * block before the next); a receiver opens a Decoder for a block when its first repair is taken
 * (fed the block's held segments from its temporary file as unit vectors), feeds it later
 * segments and repairs, writes the recovered segments once it is full and frees it; the machine
 * caps the open blocks.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, fdatasync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { CodecError, Decoder, Encoder, defaultKernelFactory } from '../coded/codec/index.js';
import { NakReceiver } from './nak-receiver.js';
import { NakSender } from './nak-sender.js';
import { MAX_BLOCK_SEGS, MAX_SEG_BYTES, MIN_SEG_BYTES, decodeNak, encodeNak, sessionOf, type NakFrame } from './nak-wire.js';
import { P2mpUsageError, TempFile, bindUdp, nowMs, resolveHost, type Output } from './io.js';

export const NAK_PORT = 7736;
export const DEFAULT_SEG_BYTES = 1400;

export interface NakSendOptions {
  receivers: string[];
  port: number;
  file: string;
  segBytes: number;
  rateBps: number;
  /** Each receiver link's rate (default rateBps). */
  linkRateBps?: number;
  mode: 'unicast' | 'multicast';
  group?: string;
  /** The source's own address: bound, and the multicast interface. */
  bind?: string;
  session?: number;
  deadAfterMs?: number;
  /** Parity repairs over blocks of this many segments (0 or absent: plain retransmissions). */
  blockSegs?: number;
  out: Output;
  /** Called once everything is set up; resolves when the transfer may start (the lab's go signal). */
  go?: () => Promise<void>;
  signal?: AbortSignal;
}

export interface NakSendResult {
  complete: number;
  failed: string[];
  seconds: number;
  newSent: number;
  repairSent: number;
  datagrams: number;
  linkBytes: number;
}

function readFully(fd: number, buf: Buffer, bytes: number, at: number): void {
  for (let done = 0; done < bytes; ) {
    const n = readSync(fd, buf, done, bytes - done, at + done);
    if (n <= 0) throw new Error('file shrank while being read');
    done += n;
  }
}

/** Feeds bytes [from, to) of the file to `h`, through `buf`. */
function hashRange(h: Hash, fd: number, from: number, to: number, buf: Buffer): void {
  for (let at = from; at < to; ) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, to - at), at);
    if (n <= 0) throw new Error('file shrank while being read');
    h.update(buf.subarray(0, n));
    at += n;
  }
}

function sha256File(fd: number, bytes: number): Buffer {
  const h = createHash('sha256');
  hashRange(h, fd, 0, bytes, Buffer.allocUnsafe(1 << 20));
  return h.digest();
}

export function checkSegBytes(n: number): void {
  if (!(Number.isInteger(n) && n >= MIN_SEG_BYTES && n <= MAX_SEG_BYTES)) {
    throw new P2mpUsageError(`segment size: expected a whole number of bytes from ${MIN_SEG_BYTES} to ${MAX_SEG_BYTES} (got ${n})`);
  }
}

function checkGroup(g: string): void {
  const first = Number(g.split('.')[0]);
  if (!isIPv4(g) || first < 224 || first > 239) throw new P2mpUsageError(`multicast group: expected an IPv4 address in 224.0.0.0/4 (got ${JSON.stringify(g)})`);
}

export async function runNakSender(o: NakSendOptions): Promise<NakSendResult> {
  checkSegBytes(o.segBytes);
  if (!(Number.isFinite(o.rateBps) && o.rateBps > 0)) throw new P2mpUsageError(`rate: expected > 0 bit/s (got ${o.rateBps})`);
  if (o.linkRateBps !== undefined && !(Number.isFinite(o.linkRateBps) && o.linkRateBps > 0)) throw new P2mpUsageError(`link rate: expected > 0 bit/s (got ${o.linkRateBps})`);
  if (o.receivers.length === 0) throw new P2mpUsageError('at least one receiver is needed');
  const blockSegs = o.blockSegs ?? 0;
  if (!(Number.isInteger(blockSegs) && blockSegs >= 0 && blockSegs <= MAX_BLOCK_SEGS)) throw new P2mpUsageError(`block: expected 0 to ${MAX_BLOCK_SEGS} segments (got ${o.blockSegs})`);
  if (o.mode === 'multicast') {
    if (!o.group) throw new P2mpUsageError('multicast mode needs a group (--group)');
    checkGroup(o.group);
    if (!o.bind) throw new P2mpUsageError('multicast mode needs the source address as the multicast interface (--bind)');
  }
  let fd: number;
  try {
    fd = openSync(o.file, 'r');
  } catch (err) {
    throw new P2mpUsageError(`cannot read ${o.file}: ${(err as Error).message}`);
  }
  const fileBytes = fstatSync(fd).size;
  const sha = sha256File(fd, fileBytes);
  const targets = await Promise.all(
    o.receivers.map(async (r) => {
      const m = /^(.+?)(?::(\d+))?$/.exec(r)!;
      return { address: await resolveHost(m[1]!), port: m[2] ? Number(m[2]) : o.port };
    }),
  );
  const index = new Map<string, number>();
  targets.forEach((t, i) => {
    const key = `${t.address}:${t.port}`;
    if (index.has(key)) throw new P2mpUsageError(`receiver ${o.receivers[i]} is listed twice (${key})`);
    index.set(key, i);
  });
  const sock = await bindUdp(o.bind ?? '0.0.0.0', 0);
  sock.setSendBufferSize(4 << 20);
  if (o.mode === 'multicast') {
    sock.setMulticastInterface(o.bind!);
    sock.setMulticastTTL(1);
    sock.setMulticastLoopback(false);
  }
  const session = o.session ?? randomBytes(4).readUInt32BE(0);
  await o.go?.();
  const t0 = nowMs();
  const m = new NakSender({ receivers: targets.length, fileBytes, segBytes: o.segBytes, mode: o.mode, rateBps: o.rateBps, ...(o.linkRateBps ? { linkRateBps: o.linkRateBps } : {}), ...(o.deadAfterMs ? { deadAfterMs: o.deadAfterMs } : {}), blockSegs }, t0);
  o.out.event({ event: 'start', receivers: targets.length, fileBytes, segBytes: o.segBytes, segments: m.segments, rateBps: o.rateBps, linkRateBps: o.linkRateBps ?? o.rateBps, groupRepairAt: m.groupRepairAt, mode: o.mode, session });
  const segBuf = Buffer.allocUnsafe(o.segBytes);
  const frame = (f: NakFrame): Buffer => encodeNak(session, f);
  // Parity repairs: an encoder over the block being repaired (repairs drain a block before the
  // next, so one is kept), its source read back from the file, the last segment zero-padded.
  let enc: { block: number; e: Encoder } | null = null;
  const encoderFor = (b: number): Encoder => {
    if (enc !== null && enc.block === b) return enc.e;
    enc?.e.dispose();
    const k = m.blockLen(b);
    const src = Buffer.alloc(k * o.segBytes);
    const first = b * blockSegs * o.segBytes;
    readFully(fd, src, Math.min(src.length, fileBytes - first), first);
    enc = { block: b, e: new Encoder({ field: 'gf256', k, symbolBytes: o.segBytes }, src, Math.random) };
    return enc.e;
  };
  return new Promise<NakSendResult>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      sock.close();
      closeSync(fd);
      enc?.e.dispose();
      const failed = targets.flatMap((_, i) => (m.complete[i] ? [] : [o.receivers[i]!]));
      resolve({ complete: m.complete.filter(Boolean).length, failed, seconds: (nowMs() - t0) / 1000, newSent: m.newSent, repairSent: m.repairSent, datagrams: m.datagrams, linkBytes: m.linkBytes });
    };
    const sendTo = (buf: Buffer, to: 'group' | number[]): void => {
      if (to === 'group') sock.send(buf, o.port, o.group!);
      else for (const i of to) sock.send(buf, targets[i]!.port, targets[i]!.address);
    };
    // NAKs are taken as they come and acted on once per turn of the event loop, after the turn's
    // datagrams (setImmediate), not once per NAK: 64 receivers' NAKs arrive in bursts.
    const schedulePump = oncePerTurn(() => pump(), () => ended);
    const pump = (): void => {
      if (ended) return;
      clearTimeout(timer);
      const now = nowMs();
      for (let k = 0; k < 256; k++) {
        const tx = m.poll(now);
        if (tx === null) break;
        if (tx.kind === 'bye') sendTo(frame({ type: 'bye' }), tx.to);
        else if (tx.kind === 'status') sendTo(frame({ type: 'status', fileBytes, segBytes: o.segBytes, sentSegs: m.sentSegs, sha256: sha, blockSegs }), tx.to);
        else if (tx.kind === 'repair') {
          const p = encoderFor(tx.block).coded();
          sendTo(frame({ type: 'repair', block: tx.block, coeffs: p.coeffs, payload: p.payload }), tx.to);
        }
        else {
          const len = Math.min(o.segBytes, fileBytes - tx.seg * o.segBytes);
          readSync(fd, segBuf, 0, len, tx.seg * o.segBytes);
          sendTo(frame({ type: 'data', seg: tx.seg, data: segBuf.subarray(0, len) }), tx.to);
        }
      }
      if (m.done) return end();
      const wake = m.nextWakeMs(nowMs());
      timer = setTimeout(pump, Math.max(0, Math.min(wake - nowMs(), 1000)));
    };
    o.signal?.addEventListener('abort', end, { once: true });
    sock.on('message', (msg, rinfo) => {
      const r = index.get(`${rinfo.address}:${rinfo.port}`);
      if (r === undefined || sessionOf(msg) !== session) return;
      const f = decodeNak(msg);
      if (f === null) return;
      if (f.type === 'nak') m.onNak(nowMs(), r, f.ranges);
      else if (f.type === 'bnak') m.onBlockNak(nowMs(), r, f.needs);
      else if (f.type === 'complete') {
        const was = m.complete[r];
        m.onComplete(nowMs(), r);
        if (!was) o.out.event({ event: 'receiver-complete', index: r });
      }
      schedulePump();
    });
    pump();
  });
}

/**
 * A function that runs `run` once in the next turn of the event loop (setImmediate: after that
 * turn's I/O) however often it is called before then; nothing once `stopped()`. The sender and the
 * receiver act on their datagrams this way, once per turn rather than once per datagram.
 */
function oncePerTurn(run: () => void, stopped: () => boolean): () => void {
  let queued = false;
  return () => {
    if (queued || stopped()) return;
    queued = true;
    setImmediate(() => {
      queued = false;
      run();
    });
  };
}

/**
 * Writes segments at their offsets, gathering a run of consecutive ones into one write: on a
 * mostly in-order multicast stream one pwrite per RUN_SEGS segments instead of one per datagram
 * (the receiver's cost per datagram is what limits how many receivers a core carries). Bounded:
 * one run of at most RUN_SEGS segments is held; `flush()` before reading the file back.
 */
export class RunWriter {
  static readonly RUN_SEGS = 32;
  private buf: Buffer | null = null;
  private first = 0;
  private count = 0;
  private bytes = 0;

  constructor(private readonly fd: number, private readonly segBytes: number) {}

  write(seg: number, data: Uint8Array): void {
    if (this.count > 0 && (seg !== this.first + this.count || this.count === RunWriter.RUN_SEGS || this.bytes !== this.count * this.segBytes)) this.flush();
    if (this.count === 0) {
      this.buf ??= Buffer.allocUnsafe(RunWriter.RUN_SEGS * this.segBytes);
      this.first = seg;
    }
    this.buf!.set(data, this.bytes);
    this.bytes += data.length;
    this.count++;
  }

  flush(): void {
    if (this.count === 0) return;
    for (let done = 0; done < this.bytes; ) done += writeSync(this.fd, this.buf!, done, this.bytes - done, this.first * this.segBytes + done);
    this.count = 0;
    this.bytes = 0;
  }
}

/**
 * The SHA-256 of the file's held prefix, kept up during the transfer: `catchUp` reads back (from
 * the page cache) the segments held and written since it last stopped, up to the first missing
 * one. The check at the end then hashes only the tail, instead of every receiver reading its whole
 * file back at once when the last segment lands (16 MiB each, 64 receivers: seconds of CPU).
 */
export class PrefixHasher {
  private h: Hash = createHash('sha256');
  private next = 0;
  private buf: Buffer | null = null;

  constructor(private readonly fd: number, private readonly segBytes: number, private readonly fileBytes: number) {}

  get segments(): number {
    return Math.ceil(this.fileBytes / this.segBytes);
  }

  /** Bytes hashed so far. */
  get bytes(): number {
    return Math.min(this.next * this.segBytes, this.fileBytes);
  }

  /** Hashes on from where it stopped while `written(seg)` (the segment is in the file). */
  catchUp(written: (seg: number) => boolean): void {
    let end = this.next;
    const segs = this.segments;
    while (end < segs && written(end)) end++;
    if (end === this.next) return;
    this.buf ??= Buffer.allocUnsafe(1 << 20);
    hashRange(this.h, this.fd, this.bytes, Math.min(end * this.segBytes, this.fileBytes), this.buf);
    this.next = end;
  }

  /** The whole file's digest (once every segment is hashed). */
  digest(): Buffer {
    if (this.next !== this.segments) throw new Error(`hashed ${this.next} of ${this.segments} segments`);
    return this.h.digest();
  }

  reset(): void {
    this.h = createHash('sha256');
    this.next = 0;
  }
}

/** A receiver asks the kernel to write its file out every so many bytes, so the end's fsync is short (16 receivers each syncing 4 MiB at once at the end: ~0.1 s). */
const SYNC_EVERY_BYTES = 1 << 20;

export interface NakReceiveOptions {
  port: number;
  file: string;
  /** Unicast: the address to bind (default 0.0.0.0). Multicast: the interface address to join on. */
  bind?: string;
  group?: string;
  /** Accept only this session (the lab passes it); default: the first STATUS seen. */
  session?: number;
  out: Output;
  signal?: AbortSignal;
  /** Give up when nothing valid arrives for this long (default 60 s). */
  idleMs?: number;
}

export interface NakReceiveResult {
  complete: boolean;
  bytes: number;
  corrupt: number;
  duplicates: number;
  error?: string;
}

export async function runNakReceiver(o: NakReceiveOptions): Promise<NakReceiveResult> {
  if (o.group !== undefined) {
    checkGroup(o.group);
    if (!o.bind) throw new P2mpUsageError('multicast mode needs this host\'s address to join the group on (--bind)');
  }
  // The codec's WebAssembly kernel is compiled now, before the socket is up, not when the first
  // block of parity repairs opens mid-transfer (about 0.2 s of CPU per receiver on a starved
  // machine in a profile of 64 receivers).
  defaultKernelFactory();
  const file = new TempFile(o.file);
  let sock;
  try {
    sock = await bindUdp(o.group ? '0.0.0.0' : (o.bind ?? '0.0.0.0'), o.port, { rcvBufBytes: 8 << 20 });
    if (o.group) sock.addMembership(o.group, o.bind);
  } catch (err) {
    file.abandon();
    throw err;
  }
  const s = sock;
  const m = new NakReceiver({}, nowMs());
  let writer: RunWriter | null = null;
  let hasher: PrefixHasher | null = null;
  let syncedBytes = 0;
  let syncing = false;
  let sender: { address: string; port: number } | null = null;
  let session = o.session ?? null;
  let corrupt = 0;
  let firstByte = false;
  let lastValidMs = nowMs();
  o.out.event({ event: 'listening', port: o.port, ...(o.group ? { group: o.group } : {}) });
  return new Promise<NakReceiveResult>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const end = (error?: string): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      const complete = m.finished || (m.allHeld && error === undefined && committed);
      if (!committed) file.abandon();
      writer = null;
      dropDecoders();
      s.close();
      resolve({ complete, bytes: m.heldSegments === m.segments && m.announce ? m.announce.fileBytes : 0, corrupt, duplicates: m.duplicates, ...(error ? { error } : {}) });
    };
    let committed = false;
    // Parity repairs: a decoder per open block (the machine caps them), fed unit vectors for the
    // block's segments and the repairs' coefficient vectors; freed once the block is decoded.
    const decoders = new Map<number, Decoder>();
    const segLen = (seg: number): number => Math.min(m.announce!.segBytes, m.announce!.fileBytes - seg * m.announce!.segBytes);
    const unitOf = (seg: number): Uint8Array => {
      const c = new Uint8Array(m.blockLen(Math.floor(seg / m.blockSegs)));
      c[seg % m.blockSegs] = 1;
      return c;
    };
    const padded = (data: Uint8Array): Uint8Array => {
      if (data.length === m.announce!.segBytes) return data;
      const b = new Uint8Array(m.announce!.segBytes);
      b.set(data);
      return b;
    };
    const readSeg = (seg: number): Uint8Array => {
      writer?.flush();
      const b = Buffer.alloc(m.announce!.segBytes);
      readFully(file.fd, b, segLen(seg), seg * m.announce!.segBytes);
      return b;
    };
    const addOrDependent = (d: Decoder, coeffs: Uint8Array, payload: Uint8Array): boolean => {
      try {
        return d.add({ coeffs, payload }) === 'innovative';
      } catch (err) {
        if (!(err instanceof CodecError)) throw err;
        corrupt++;
        return false;
      }
    };
    const writeDecoded = (): void => {
      for (const x of m.takeDecoded()) {
        const d = decoders.get(x.block);
        decoders.delete(x.block);
        if (d === undefined) continue;
        if (d.complete && x.segs.length > 0) {
          const data = d.data();
          const B = m.blockSegs;
          const segBytes = m.announce!.segBytes;
          for (const seg of x.segs) writeSync(file.fd, data, (seg - x.block * B) * segBytes, segLen(seg), seg * segBytes);
        } else if (!d.complete) o.out.event({ event: 'error', message: `block ${x.block}: the machine counted it whole but its decoder is not (the file check will fail and restart)` });
        d.dispose();
      }
    };
    const dropDecoders = (): void => {
      for (const d of decoders.values()) d.dispose();
      decoders.clear();
    };
    const catchUp = (): void => {
      if (hasher === null) return;
      writer?.flush();
      hasher.catchUp((seg) => m.holds(seg));
      if (hasher.bytes - syncedBytes >= SYNC_EVERY_BYTES && !syncing && !committed) {
        // In the background (libuv's pool): nothing waits for it; commit() syncs what is left.
        syncing = true;
        syncedBytes = hasher.bytes;
        fdatasync(file.fd, () => {
          syncing = false;
        });
      }
    };
    const verify = (): void => {
      const a = m.announce!;
      writer?.flush();
      catchUp();
      const digest = hasher!.digest();
      if (!digest.equals(a.sha256)) {
        o.out.event({ event: 'error', message: 'the stored file does not match the announced SHA-256: receiving it again' });
        m.reset();
        hasher!.reset();
        syncedBytes = 0;
        dropDecoders();
        return;
      }
      file.commit();
      committed = true;
      o.out.event({ event: 'done', bytes: a.fileBytes, corrupt, duplicates: m.duplicates });
      m.verified(nowMs());
    };
    // The wake-up timer is set again only when it must fire sooner (not once per datagram).
    // What to send is decided once per turn of the event loop, after its datagrams (setImmediate
    // runs after the I/O phase; a timer runs before it): a receiver that waited for a core first
    // takes the repairs queued in its socket, then NAKs what is still missing, instead of NAKing
    // from stale state and buying duplicate repairs. (Made for 64 starved receivers on 2 cores;
    // no gain measured there: 1.72x before and after at 3 Mbit/s, one run each.)
    let timerDue = Infinity;
    let timerFired = false;
    const schedulePump = oncePerTurn(() => pump(), () => ended);
    const onTimer = (): void => {
      timerDue = Infinity;
      timerFired = true;
      schedulePump();
    };
    const pump = (): void => {
      if (ended) return;
      const now = nowMs();
      if (timerFired) {
        timerFired = false;
        if (!committed) catchUp();
      }
      if (m.finished) return end();
      if (now - lastValidMs > (o.idleMs ?? 60_000)) return end(`nothing from the sender for ${((o.idleMs ?? 60_000) / 1000).toFixed(0)} s`);
      if (sender !== null && session !== null) {
        const tx = m.poll(now);
        if (tx) s.send(encodeNak(session, tx.kind === 'nak' ? { type: 'nak', held: tx.held, ranges: tx.ranges } : tx.kind === 'bnak' ? { type: 'bnak', held: tx.held, needs: tx.needs } : { type: 'complete' }), sender.port, sender.address);
      }
      if (m.finished) return end();
      const t = nowMs();
      const wake = Math.min(m.nextWakeMs(t), t + 1000);
      if (wake < timerDue) {
        clearTimeout(timer);
        timerDue = wake;
        timer = setTimeout(onTimer, Math.max(0, wake - t));
      }
    };
    o.signal?.addEventListener('abort', () => end('stopped before the file was complete'), { once: true });
    s.on('message', (msg, rinfo) => {
      const f = decodeNak(msg);
      const sess = sessionOf(msg);
      if (f === null || sess === null) {
        corrupt++;
        return;
      }
      if (session === null) {
        if (f.type !== 'status') return;
        session = sess;
      }
      if (sess !== session) return;
      if (sender === null) {
        if (f.type !== 'status') return;
        sender = { address: rinfo.address, port: rinfo.port };
      } else if (rinfo.address !== sender.address || rinfo.port !== sender.port) return;
      lastValidMs = nowMs();
      if (f.type === 'status') {
        const err = m.onStatus(nowMs(), f, f.sentSegs);
        if (err) {
          o.out.event({ event: 'error', message: err });
          return end(err);
        }
        writer ??= new RunWriter(file.fd, m.announce!.segBytes);
        hasher ??= new PrefixHasher(file.fd, m.announce!.segBytes, m.announce!.fileBytes);
        if (m.allHeld && !committed && m.segments === 0) verify();
      } else if (f.type === 'data') {
        const v = m.onData(nowMs(), f.seg, f.data.length);
        if (v === 'invalid') corrupt++;
        if (v === 'new') {
          writer!.write(f.seg, f.data);
          const d = m.blockSegs > 0 ? decoders.get(Math.floor(f.seg / m.blockSegs)) : undefined;
          if (d !== undefined) {
            m.dataAdded(f.seg, addOrDependent(d, unitOf(f.seg), padded(f.data)));
            writeDecoded();
          }
          if (!firstByte) {
            firstByte = true;
            o.out.event({ event: 'first-byte' });
          }
          if (m.allHeld && !committed) verify();
        }
      } else if (f.type === 'repair') {
        const v = m.acceptRepair(nowMs(), f.block, f.coeffs.length, f.payload.length);
        if (v === 'invalid') corrupt++;
        if (v === 'new') {
          let d = decoders.get(f.block);
          if (d === undefined) {
            // Open the block: its decoder starts from the segments already held (unit vectors).
            d = new Decoder({ field: 'gf256', k: f.coeffs.length, symbolBytes: m.announce!.segBytes });
            decoders.set(f.block, d);
            const first = f.block * m.blockSegs;
            for (let seg = first; seg < first + f.coeffs.length; seg++) if (m.holds(seg)) addOrDependent(d, unitOf(seg), readSeg(seg));
          }
          m.repairAdded(f.block, addOrDependent(d, f.coeffs, f.payload));
          writeDecoded();
          if (!firstByte) {
            firstByte = true;
            o.out.event({ event: 'first-byte' });
          }
          if (m.allHeld && !committed) verify();
        }
      } else if (f.type === 'bye') {
        m.onBye();
      }
      schedulePump();
    });
    pump();
  });
}
