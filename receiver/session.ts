/**
 * One sender's connection to a receiver: HELLO, (with a key: CHALLENGE, AUTH,) ACCEPT, DATA into
 * a temporary file, END, verify, ACK.
 *
 * Nothing incomplete is ever presented under the final name: bytes go to `.<transfer>.<index>.part`
 * and are hashed in file order as they are written (a resumed prefix is read back and hashed
 * first, while the sender already streams); at END, after every write has completed and the file
 * is fsynced, the digest is compared with the sender's, and only when they match is the file
 * linked to `<transfer>.<index>.frag` (link(2) fails on an existing name: a complete fragment is
 * never replaced), the directory fsynced, and the fragment acknowledged. A connection that ends
 * early leaves the `.part` file for a resume (unless it holds nothing): the next HELLO for the
 * same transfer and index is told (ACCEPT) how many bytes are already there.
 *
 * What a peer may cost (each bounded): a connection must send HELLO (and, with a key, prove it)
 * within the HELLO deadline; nothing touches the disk, and no live transfer of the same fragment
 * is disturbed, before the peer is authenticated (when the receiver has a key) and the transfer
 * admitted by the FragmentStore (quota, free-space reserve, transfers at once); at most one
 * session writes a fragment at a time (a newer one supersedes, waiting until the older has closed
 * its file); DATA waiting for the disk is bounded in bytes and in pieces (small pieces are copied
 * together, never kept as views of socket buffers). Files are opened with O_NOFOLLOW.
 *
 * Protocol errors from the sender are answered with an ERROR frame and the connection closed
 * (destroyed once the frame is out, or after a second); they never throw out of this module.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { link, lstat, open, unlink, type FileHandle } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { basename, join } from 'node:path';
import { HashCancelled, hashFileRange } from '../core/hash-range.js';
import { ackMac, endMac, helloMac, macEquals, newNonce } from '../wire/auth.js';
import { FrameDecoder } from '../wire/decoder.js';
import { ErrorCode, RemoteProtocolError, errorCodeName } from '../wire/errors.js';
import { encodeAccept, encodeAck, encodeChallenge, encodeError, encodeProgress, type Frame, type HelloFrame } from '../wire/frames.js';
import type { FragmentStore } from './store.js';
import type { ReadThrottle } from './throttle.js';

export interface SessionEnv {
  outDir: string;
  progressEveryBytes: number;
  maxFragmentBytes: number;
  idleTimeoutMs: number;
  /** From connect to an admitted HELLO (authenticated, when a key is set). */
  helloTimeoutMs: number;
  throttle: ReadThrottle | null;
  /** Sessions by fragment key, so a reconnecting sender supersedes a half-dead connection. */
  registry: Map<string, Session>;
  /** The pre-shared key (`--auth-key`); null = no authentication. */
  authKey: Buffer | null;
  store: FragmentStore;
  log: (ev: ReceiverEvent) => void;
}

export type ReceiverEvent =
  | { event: 'hello'; t: number; peer: string; transfer: string; index: number; count: number; lengthBytes: number; offsetBytes: number }
  | { event: 'stored'; t: number; peer: string; transfer: string; index: number; lengthBytes: number; path: string; firstByteT: number | null }
  | { event: 'error'; t: number; peer: string; transfer?: string; index?: number; code: string; message: string }
  | { event: 'closed-early'; t: number; peer: string; transfer: string; index: number; receivedBytes: number };

/** Paths of a fragment in the output folder. */
export function fragmentPaths(outDir: string, transferHex: string, index: number): { part: string; final: string } {
  return { part: join(outDir, `.${transferHex}.${index}.part`), final: join(outDir, `${transferHex}.${index}.frag`) };
}

const MAX_PENDING_WRITE_BYTES = 1 << 20;
/** Pieces waiting for the disk before the socket is paused (a flood of tiny DATA frames). */
const MAX_PENDING_PIECES = 512;
/** DATA pieces smaller than this are copied into a shared buffer instead of kept as views. */
const SMALL_PIECE_BYTES = 4096;
const COALESCE_BYTES = 64 * 1024;
/** Bytes gathered before a write call, and how long a smaller batch may wait. */
const WRITE_BATCH_BYTES = 256 * 1024;
const WRITE_DELAY_MS = 20;
/** How long a tail of unreported bytes waits for the next report boundary. */
const PROGRESS_TAIL_MS = 5;
/** After the last frame (ERROR or ACK) is handed to the socket, it is destroyed at the latest this much later. */
const LINGER_MS = 1000;

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;

type Phase = 'hello' | 'challenged' | 'starting' | 'streaming' | 'ending' | 'done';

export class Session {
  private readonly decoder = new FrameDecoder();
  private phase: Phase = 'hello';
  private hello: HelloFrame | null = null;
  private nonceR: Buffer | null = null;
  private key = '';
  private transferHex = '';
  private fh: FileHandle | null = null;
  private receivedBytes = 0;
  private lastProgressBytes = 0;
  private writeChain: Promise<void> = Promise.resolve();
  private pendingWriteBytes = 0;
  private ended = false;
  private closed = false;
  private firstByteT: number | null = null;
  /** The fragment was already stored under its final name (a retry after a lost ACK). */
  private storedAlready = false;
  /** This session created the `.part` (so it deletes it again if nothing was stored). */
  private createdPart = false;
  /** Bytes reserved in the store at admission (-1: not admitted). */
  private reserved = -1;
  private offset = 0;
  /** SHA-256 of the fragment's bytes in order: a resumed prefix (read back after ACCEPT), then each batch as it goes to disk. */
  private hash: Hash = createHash('sha256');
  /** Settles when the prefix is hashed (at once when there is none). */
  private prefixHashed: Promise<void> = Promise.resolve();
  /** Work on the file started by start() (open, stat); close waits for it before closing the file. */
  private starting: Promise<void> = Promise.resolve();
  /** The verification and rename after END. */
  private finishing: Promise<void> = Promise.resolve();
  private readonly peer: string;
  private helloTimer: NodeJS.Timeout | null;
  /** Resolves when the session has released its file (for a superseding session). */
  readonly released: Promise<void>;
  private release!: () => void;

  constructor(
    private readonly socket: Socket,
    private readonly env: SessionEnv,
  ) {
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.released = new Promise((r) => (this.release = r));
    socket.setNoDelay(true);
    socket.setTimeout(env.idleTimeoutMs, () => this.abort(ErrorCode.Timeout, `no data for ${env.idleTimeoutMs / 1000} s`));
    // A deadline, not an idle timeout: a byte now and then does not extend it.
    this.helloTimer = setTimeout(() => {
      this.helloTimer = null;
      this.abort(ErrorCode.Timeout, `no ${env.authKey ? 'authenticated ' : ''}HELLO within ${env.helloTimeoutMs} ms`);
    }, env.helloTimeoutMs);
    socket.on('data', (b: Buffer) => this.onData(b));
    socket.on('error', () => this.onClose());
    socket.on('close', () => this.onClose());
  }

  /** The `.part` file name this session holds (for the store's expiry), or null. */
  get partName(): string | null {
    return this.hello && this.fh ? basename(fragmentPaths(this.env.outDir, this.transferHex, this.hello.index).part) : null;
  }

  private t(): number {
    return Date.now() / 1000;
  }

  /** Bytes held back by the read throttle, in arrival order. */
  private inbox: Buffer[] = [];
  private holding = false;

  private onData(bytes: Buffer): void {
    if (this.closed) return;
    const throttle = this.env.throttle;
    if (throttle === null) return this.process(bytes);
    this.inbox.push(bytes);
    const waitMs = throttle.reserve(bytes.length);
    if (this.holding) return;
    if (waitMs <= 0) return this.drainInbox();
    this.hold(waitMs);
  }

  private hold(waitMs: number): void {
    this.holding = true;
    this.socket.pause();
    setTimeout(() => {
      this.holding = false;
      this.drainInbox();
      if (!this.closed && !this.mustPause()) this.socket.resume();
    }, Math.max(1, waitMs));
  }

  private drainInbox(): void {
    const batch = this.inbox;
    this.inbox = [];
    for (const b of batch) this.process(b);
  }

  private process(bytes: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(bytes);
    } catch (err) {
      if (err instanceof RemoteProtocolError) return this.abort(err.code, err.message);
      return this.abort(ErrorCode.Internal, String(err));
    }
    for (const f of frames) {
      if (this.closed) return;
      this.onFrame(f);
    }
    this.reportProgress(true);
  }

  /** Bytes of the fragment that have arrived (stored or queued for the disk). */
  private get arrivedBytes(): number {
    return this.receivedBytes + this.pendingWriteBytes;
  }

  /** Too much waits for the disk (bytes or pieces), or the file is not ready yet. */
  private mustPause(): boolean {
    return this.phase === 'starting' || this.pendingWriteBytes > MAX_PENDING_WRITE_BYTES / 2 || this.queue.length > MAX_PENDING_PIECES / 2;
  }

  /**
   * PROGRESS reports bytes that have *arrived*: the network's delivery, which is what the sender's
   * window and rate estimates are about. (Storage is confirmed by the ACK; a resume uses what is on
   * disk; a slow disk pauses the socket, which stops arrivals and so the reports.) A report goes
   * out every progressEveryBytes, and after each socket read that leaves bytes unreported, so a
   * sender waiting on the tail of a probe is never left waiting for the next boundary.
   */
  private reportProgress(endOfRead: boolean): void {
    if (this.closed || this.phase !== 'streaming') return;
    const unreported = this.arrivedBytes - this.lastProgressBytes;
    if (unreported >= this.env.progressEveryBytes) {
      this.sendProgress();
    } else if (endOfRead && unreported > 0 && this.progressTimer === null) {
      // A trickle of small reads would otherwise cost a report each: report the tail shortly,
      // unless a boundary report goes out first.
      this.progressTimer = setTimeout(() => {
        this.progressTimer = null;
        if (!this.closed && this.phase === 'streaming' && this.arrivedBytes > this.lastProgressBytes) this.sendProgress();
      }, PROGRESS_TAIL_MS);
    }
  }

  private progressTimer: NodeJS.Timeout | null = null;

  private sendProgress(): void {
    this.lastProgressBytes = this.arrivedBytes;
    this.socket.write(encodeProgress(this.lastProgressBytes));
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case 'hello':
        if (this.phase !== 'hello') return this.abort(ErrorCode.Unexpected, 'a second HELLO on one connection');
        this.hello = f;
        if (this.env.authKey !== null) {
          if (f.nonce === undefined) return this.abort(ErrorCode.Auth, 'this receiver serves authenticated senders only (fanout send --auth-key)');
          this.phase = 'challenged';
          this.nonceR = newNonce();
          this.socket.write(encodeChallenge(this.nonceR));
          return;
        }
        if (f.nonce !== undefined) return this.abort(ErrorCode.Auth, 'the sender asks for authentication but this receiver has no --auth-key');
        return this.begin(f);
      case 'auth':
        if (this.phase !== 'challenged') return this.abort(ErrorCode.Unexpected, 'AUTH without a CHALLENGE');
        if (!macEquals(f.mac, helloMac(this.env.authKey!, this.hello!, this.nonceR!))) {
          return this.abort(ErrorCode.Auth, 'authentication failed: wrong key');
        }
        return this.begin(this.hello!);
      case 'data':
        if (this.phase !== 'streaming') return this.abort(ErrorCode.Unexpected, 'DATA before ACCEPT or after END');
        return this.onDataFrame(f.bytes);
      case 'end':
        if (this.phase !== 'streaming') return this.abort(ErrorCode.Unexpected, 'END before ACCEPT or twice');
        if (this.env.authKey !== null && !macEquals(f.mac, endMac(this.env.authKey, this.hello!, this.nonceR!, f.sha256))) {
          return this.abort(ErrorCode.Auth, 'END digest not authenticated: wrong or missing MAC');
        }
        this.phase = 'ending';
        this.ended = true;
        this.finishing = this.finish(f.sha256).catch((err) => this.storageError(err));
        return;
      case 'error':
        this.env.log({ event: 'error', t: this.t(), peer: this.peer, code: errorCodeName(f.code), message: `sender says: ${f.message}` });
        return this.onClose();
      default:
        return this.abort(ErrorCode.Unexpected, `unexpected ${f.type.toUpperCase()} frame from a sender`);
    }
  }

  private begin(h: HelloFrame): void {
    this.phase = 'starting';
    this.socket.pause(); // until the file is open and the offset known
    this.starting = this.start(h).catch((err) => this.storageError(err));
  }

  private async start(h: HelloFrame): Promise<void> {
    if (h.lengthBytes > this.env.maxFragmentBytes) {
      return this.abort(ErrorCode.Refused, `fragment of ${h.lengthBytes} bytes exceeds this receiver's limit of ${this.env.maxFragmentBytes} (--max-fragment-bytes)`);
    }
    this.transferHex = h.transferId.toString('hex');
    this.key = `${this.transferHex}.${h.index}`;
    // One writer per fragment: supersede whoever holds the key, wait until it has closed its
    // file, and look again (another newcomer may have taken it meanwhile); claim it only when
    // free, with no await between the look and the claim.
    for (;;) {
      const previous = this.env.registry.get(this.key);
      if (previous === undefined || previous === this) break;
      previous.abort(ErrorCode.Refused, 'superseded by a newer connection for the same fragment');
      await previous.released;
      if (this.closed) return;
    }
    if (this.closed) return;
    this.env.registry.set(this.key, this);

    const { part, final } = fragmentPaths(this.env.outDir, this.transferHex, h.index);
    const done = await lstat(final).catch(() => null);
    if (this.closed) return;
    if (done !== null) {
      if (!done.isFile()) return this.abort(ErrorCode.Conflict, `${basename(final)} exists and is not a regular file`);
      if (done.size !== h.lengthBytes) {
        return this.abort(ErrorCode.Conflict, `fragment ${this.key} is stored already with ${done.size} bytes (HELLO says ${h.lengthBytes}); a complete fragment is never replaced`);
      }
      // Stored earlier but the ACK was lost: let the sender send END and verify against the stored file.
      this.storedAlready = true;
      this.fh = await open(final, constants.O_RDONLY | O_NOFOLLOW);
      this.offset = h.lengthBytes;
    } else {
      let fh: FileHandle;
      let st: Stats;
      try {
        fh = await open(part, constants.O_RDWR | O_NOFOLLOW);
        st = await fh.stat();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        fh = await open(part, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o644);
        this.createdPart = true;
        st = await fh.stat();
      }
      this.fh = fh;
      if (!st.isFile()) return this.abort(ErrorCode.Storage, `${basename(part)} is not a regular file`);
      if (st.size > h.lengthBytes) {
        await fh.truncate(0);
        this.env.store.forget(st.size);
        this.offset = 0;
      } else {
        this.offset = st.size;
      }
    }
    if (this.closed) return;
    const need = h.lengthBytes - this.offset;
    const refusal = await this.env.store.admit(need);
    if (refusal !== null) return this.abort(ErrorCode.Quota, refusal);
    this.reserved = need;
    if (this.closed) return;
    this.receivedBytes = this.offset;
    this.lastProgressBytes = this.offset;
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    // A resumed (or already stored) prefix is hashed from disk while the sender streams the rest:
    // batches wait for it before they are hashed and written, so the digest stays in file order.
    if (this.offset > 0) {
      const fh = this.fh!;
      this.prefixHashed = hashFileRange(fh, 0, this.offset, () => this.closed).then((hash) => {
        this.hash = hash;
      });
      this.prefixHashed.catch((err) => {
        if (!(err instanceof HashCancelled)) this.storageError(err);
      });
    }
    this.env.log({ event: 'hello', t: this.t(), peer: this.peer, transfer: this.transferHex, index: h.index, count: h.count, lengthBytes: h.lengthBytes, offsetBytes: this.offset });
    this.phase = 'streaming';
    this.socket.write(encodeAccept(this.offset));
    if (!this.holding) this.socket.resume();
  }

  /** Small pieces are gathered here (a copy) instead of queued one by one. */
  private gather: Buffer | null = null;
  private gathered = 0;

  private onDataFrame(bytes: Buffer): void {
    const h = this.hello!;
    const at = this.receivedBytes + this.pendingWriteBytes;
    if (at + bytes.length > h.lengthBytes) {
      return this.abort(ErrorCode.TooMuchData, `DATA past the announced ${h.lengthBytes} bytes`);
    }
    if (this.firstByteT === null) this.firstByteT = this.t();
    if (bytes.length < SMALL_PIECE_BYTES) {
      this.gather ??= Buffer.allocUnsafe(COALESCE_BYTES);
      bytes.copy(this.gather, this.gathered);
      this.gathered += bytes.length;
      if (this.gathered > COALESCE_BYTES - SMALL_PIECE_BYTES) this.sealGather();
    } else {
      this.sealGather();
      // The decoder's pieces are views of socket buffers Node never reuses: keep them, no copy.
      this.queue.push(bytes);
    }
    this.queuedBytes += bytes.length;
    this.pendingWriteBytes += bytes.length;
    if (this.pendingWriteBytes > MAX_PENDING_WRITE_BYTES || this.queue.length > MAX_PENDING_PIECES) this.socket.pause();
    // Write in batches: at once when a batch is full or the fragment is complete, else after a
    // short delay, so a slow trickle of small reads does not cost one write call each.
    this.maybeFlush();
    this.reportProgress(false);
  }

  /** Moves gathered small pieces into the queue, in order. */
  private sealGather(): void {
    if (this.gather === null || this.gathered === 0) return;
    this.queue.push(this.gather.subarray(0, this.gathered));
    this.gather = null;
    this.gathered = 0;
  }

  /** Bytes waiting for the write in flight; written together with one writev. */
  private queue: Buffer[] = [];
  private writing = false;

  private queuedBytes = 0;
  private flushTimer: NodeJS.Timeout | null = null;

  private maybeFlush(): void {
    if (this.writing || this.queuedBytes === 0 || this.closed) return;
    if (this.queuedBytes >= WRITE_BATCH_BYTES || this.arrivedBytes === this.hello!.lengthBytes) return this.flush();
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      if (!this.writing && this.queuedBytes > 0 && !this.closed) this.flush();
    }, WRITE_DELAY_MS);
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.sealGather();
    const fh = this.fh!;
    const batch = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    const n = batch.reduce((a, b) => a + b.length, 0);
    const at = this.receivedBytes;
    this.writing = true;
    this.writeChain = (async () => {
      await this.prefixHashed;
      if (this.closed) return;
      for (const b of batch) this.hash.update(b);
      const { bytesWritten } = await fh.writev(batch, at);
      if (bytesWritten !== n) throw Object.assign(new Error(`short write: ${bytesWritten} of ${n} bytes`), { code: 'EIO' });
      this.pendingWriteBytes -= n;
      this.receivedBytes += n;
      this.writing = false;
      if (this.closed) return;
      if (!this.mustPause() && !this.holding) this.socket.resume();
      this.maybeFlush();
    })();
    this.writeChain.catch((err) => {
      if (!(err instanceof HashCancelled)) this.storageError(err);
    });
  }

  /** Resolves when every queued byte is written. */
  private async writesDone(): Promise<void> {
    while (this.writing || this.queuedBytes > 0) {
      if (!this.writing) this.flush();
      await this.writeChain;
      if (this.closed) return;
    }
  }

  private async finish(sha256: Buffer): Promise<void> {
    await this.writesDone();
    await this.prefixHashed;
    const h = this.hello!;
    if (this.closed) return;
    if (this.receivedBytes !== h.lengthBytes) {
      return this.abort(ErrorCode.Unexpected, `END after ${this.receivedBytes} of ${h.lengthBytes} bytes`);
    }
    const { part, final } = fragmentPaths(this.env.outDir, this.transferHex, h.index);
    const storedAlready = this.storedAlready;
    if (!storedAlready) await this.fh!.sync();
    const digest = this.hash.digest();
    if (this.closed) return;
    if (!digest.equals(sha256)) {
      if (!storedAlready) await this.discardPart(part);
      return this.abort(ErrorCode.DigestMismatch, `stored bytes hash to ${digest.toString('hex').slice(0, 16)}..., the sender's END says ${sha256.toString('hex').slice(0, 16)}...; discarded`);
    }
    if (!storedAlready) {
      await this.closeFile();
      try {
        await link(part, final); // never replaces an existing name
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        await this.discardPart(part);
        return this.abort(ErrorCode.Conflict, `fragment ${this.key} was stored meanwhile; a complete fragment is never replaced`);
      }
      await unlink(part);
      await syncDir(this.env.outDir);
    }
    if (this.closed) return;
    this.env.log({ event: 'stored', t: this.t(), peer: this.peer, transfer: this.transferHex, index: h.index, lengthBytes: h.lengthBytes, path: final, firstByteT: this.firstByteT });
    const mac = this.env.authKey !== null ? ackMac(this.env.authKey, h, this.nonceR!, digest) : undefined;
    this.phase = 'done';
    this.endWith(encodeAck(digest, mac));
    this.onClose();
  }

  private async discardPart(part: string): Promise<void> {
    await this.closeFile();
    const s = await lstat(part).catch(() => null);
    await unlink(part).catch(() => {});
    // The store counts the prefix this session found; what it wrote itself is not counted yet.
    if (s) this.env.store.forget(this.offset);
    this.receivedBytes = this.offset = 0;
    this.createdPart = false;
  }

  private storageError(err: unknown): void {
    const e = err as NodeJS.ErrnoException;
    const what = e.code === 'ENOSPC' ? 'disk full' : e.code === 'EACCES' ? 'permission denied' : e.code === 'ELOOP' ? 'a symbolic link where a fragment file belongs' : (e.code ?? String(err));
    this.abort(ErrorCode.Storage, `cannot store fragment in ${this.env.outDir}: ${what}`);
  }

  /** Hands `frame` to the socket as its last, then destroys the socket (at once when written, else after LINGER_MS). */
  private endWith(frame: Buffer): void {
    const s = this.socket;
    if (s.destroyed) return;
    const timer = setTimeout(() => s.destroy(), LINGER_MS);
    timer.unref();
    s.end(frame, () => {
      clearTimeout(timer);
      s.destroy();
    });
  }

  /** Sends an ERROR frame and closes. Keeps a `.part` file (resumable); never presents it as complete. */
  abort(code: ErrorCode, message: string): void {
    if (this.closed) return;
    this.env.log({ event: 'error', t: this.t(), peer: this.peer, transfer: this.transferHex || undefined, index: this.hello?.index, code: errorCodeName(code), message });
    this.endWith(encodeError(code, message));
    this.onClose();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.pause();
    if (this.helloTimer) clearTimeout(this.helloTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.progressTimer) clearTimeout(this.progressTimer);
    this.helloTimer = this.flushTimer = this.progressTimer = null;
    this.queue = [];
    this.gather = null;
    if (this.hello && !this.ended && this.phase !== 'hello' && this.phase !== 'challenged') {
      this.env.log({ event: 'closed-early', t: this.t(), peer: this.peer, transfer: this.transferHex, index: this.hello.index, receivedBytes: this.receivedBytes });
    }
    // Wait for whatever still uses the file (start, a write, the prefix hash) before closing it,
    // so no read or write ever reaches an fd number the kernel has given to someone else.
    void Promise.allSettled([this.starting, this.writeChain, this.prefixHashed, this.finishing])
      .then(() => this.settle())
      .finally(() => this.unregister());
  }

  /** Settles the store's reservation and removes a `.part` this session made that holds nothing. */
  private async settle(): Promise<void> {
    await this.closeFile();
    if (this.reserved >= 0) {
      this.env.store.settle(this.reserved, this.storedAlready ? 0 : this.receivedBytes - this.offset);
      this.reserved = -1;
    }
    if (this.createdPart && this.receivedBytes === 0 && this.hello) {
      await unlink(fragmentPaths(this.env.outDir, this.transferHex, this.hello.index).part).catch(() => {});
    }
  }

  private unregister(): void {
    if (this.key !== '' && this.env.registry.get(this.key) === this) this.env.registry.delete(this.key);
    this.release();
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (fh) await fh.close().catch(() => {});
  }
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
