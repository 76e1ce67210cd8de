/**
 * One sender's connection to a receiver: HELLO, DATA into a temporary file, END, verify, ACK.
 *
 * Nothing incomplete is ever presented under the final name: bytes go to `.<transfer>.<index>.part`
 * and are hashed in file order as they are written (a resumed prefix is read back and hashed
 * first); at END, after every write has completed and the file is fsynced, the digest is compared
 * with the sender's, and only when they match is the file renamed to `<transfer>.<index>.frag`
 * (and the directory fsynced) and acknowledged. A
 * connection that ends early leaves the `.part` file for a resume: the next HELLO for the same
 * transfer and index is told (ACCEPT) how many bytes are already there.
 *
 * Protocol errors from the sender are answered with an ERROR frame and the connection closed; they
 * never throw out of this module.
 */
import { createHash } from 'node:crypto';
import { open, rename, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { hashFileRange } from '../core/hash-range.js';
import { FrameDecoder } from '../wire/decoder.js';
import { ErrorCode, RemoteProtocolError, errorCodeName } from '../wire/errors.js';
import { encodeAccept, encodeAck, encodeError, encodeProgress, type Frame, type HelloFrame } from '../wire/frames.js';
import type { ReadThrottle } from './throttle.js';

export interface SessionEnv {
  outDir: string;
  progressEveryBytes: number;
  maxFragmentBytes: number;
  idleTimeoutMs: number;
  throttle: ReadThrottle | null;
  /** Sessions by fragment key, so a reconnecting sender supersedes a half-dead connection. */
  registry: Map<string, Session>;
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
/** Bytes gathered before a write call, and how long a smaller batch may wait. */
const WRITE_BATCH_BYTES = 256 * 1024;
const WRITE_DELAY_MS = 20;
/** How long a tail of unreported bytes waits for the next report boundary. */
const PROGRESS_TAIL_MS = 5;

export class Session {
  private readonly decoder = new FrameDecoder();
  private hello: HelloFrame | null = null;
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
  /** SHA-256 of the fragment's bytes in order: a resumed prefix (read back at HELLO), then each piece as it is queued for the disk. */
  private hash = createHash('sha256');
  private readonly peer: string;
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
    socket.on('data', (b: Buffer) => this.onData(b));
    socket.on('error', () => this.onClose());
    socket.on('close', () => this.onClose());
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
      if (!this.closed && this.pendingWriteBytes <= MAX_PENDING_WRITE_BYTES / 2) this.socket.resume();
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

  /**
   * PROGRESS reports bytes that have *arrived*: the network's delivery, which is what the sender's
   * window and rate estimates are about. (Storage is confirmed by the ACK; a resume uses what is on
   * disk; a slow disk pauses the socket, which stops arrivals and so the reports.) A report goes
   * out every progressEveryBytes, and after each socket read that leaves bytes unreported, so a
   * sender waiting on the tail of a probe is never left waiting for the next boundary.
   */
  private reportProgress(endOfRead: boolean): void {
    if (this.closed || !this.fh || this.ended) return;
    const unreported = this.arrivedBytes - this.lastProgressBytes;
    if (unreported >= this.env.progressEveryBytes) {
      this.sendProgress();
    } else if (endOfRead && unreported > 0 && this.progressTimer === null) {
      // A trickle of small reads would otherwise cost a report each: report the tail shortly,
      // unless a boundary report goes out first.
      this.progressTimer = setTimeout(() => {
        this.progressTimer = null;
        if (!this.closed && !this.ended && this.arrivedBytes > this.lastProgressBytes) this.sendProgress();
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
        if (this.hello) return this.abort(ErrorCode.Unexpected, 'a second HELLO on one connection');
        this.hello = f;
        this.socket.pause(); // until the file is open and the offset known
        void this.start(f).catch((err) => this.storageError(err));
        return;
      case 'data':
        if (!this.fh || this.ended) return this.abort(ErrorCode.Unexpected, 'DATA before ACCEPT or after END');
        return this.onDataFrame(f.bytes);
      case 'end':
        if (!this.fh || this.ended) return this.abort(ErrorCode.Unexpected, 'END before ACCEPT or twice');
        this.ended = true;
        void this.finish(f.sha256).catch((err) => this.storageError(err));
        return;
      case 'error':
        this.env.log({ event: 'error', t: this.t(), peer: this.peer, code: errorCodeName(f.code), message: `sender says: ${f.message}` });
        return this.onClose();
      default:
        return this.abort(ErrorCode.Unexpected, `unexpected ${f.type.toUpperCase()} frame from a sender`);
    }
  }

  private async start(h: HelloFrame): Promise<void> {
    if (h.lengthBytes > this.env.maxFragmentBytes) {
      return this.abort(ErrorCode.Refused, `fragment of ${h.lengthBytes} bytes exceeds this receiver's limit of ${this.env.maxFragmentBytes}`);
    }
    this.transferHex = h.transferId.toString('hex');
    this.key = `${this.transferHex}.${h.index}`;
    const previous = this.env.registry.get(this.key);
    if (previous && previous !== this) {
      previous.abort(ErrorCode.Refused, 'superseded by a newer connection for the same fragment');
      await previous.released;
    }
    if (this.closed) return;
    this.env.registry.set(this.key, this);
    const { part, final } = fragmentPaths(this.env.outDir, this.transferHex, h.index);
    let offset = 0;
    const done = await stat(final).catch(() => null);
    if (done && done.size === h.lengthBytes) {
      // Stored earlier but the ACK was lost: let the sender send END and verify against the stored file.
      offset = h.lengthBytes;
      this.receivedBytes = offset;
      this.storedAlready = true;
      this.fh = await open(final, 'r');
    } else {
      const partial = await stat(part).catch(() => null);
      if (partial && partial.size <= h.lengthBytes) offset = partial.size;
      else if (partial) await truncate(part, 0);
      this.fh = await open(part, partial ? 'r+' : 'w');
      this.receivedBytes = offset;
    }
    if (this.closed) return void (await this.closeFile());
    // A resumed (or already stored) prefix is hashed from disk, so the digest covers what is stored.
    if (offset > 0) this.hash = await hashFileRange(this.fh.fd, 0, offset);
    if (this.closed) return void (await this.closeFile());
    this.lastProgressBytes = offset;
    this.env.log({ event: 'hello', t: this.t(), peer: this.peer, transfer: this.transferHex, index: h.index, count: h.count, lengthBytes: h.lengthBytes, offsetBytes: offset });
    this.socket.write(encodeAccept(offset));
    if (!this.holding) this.socket.resume();
  }

  private onDataFrame(bytes: Buffer): void {
    const h = this.hello!;
    const at = this.receivedBytes + this.pendingWriteBytes;
    if (at + bytes.length > h.lengthBytes) {
      return this.abort(ErrorCode.TooMuchData, `DATA past the announced ${h.lengthBytes} bytes`);
    }
    if (this.firstByteT === null) this.firstByteT = this.t();
    // The decoder's pieces are views of socket buffers Node never reuses: keep them, no copy.
    this.hash.update(bytes);
    this.queue.push(bytes);
    this.queuedBytes += bytes.length;
    this.pendingWriteBytes += bytes.length;
    if (this.pendingWriteBytes > MAX_PENDING_WRITE_BYTES) this.socket.pause();
    // Write in batches: at once when a batch is full or the fragment is complete, else after a
    // short delay, so a slow trickle of small reads does not cost one write call each.
    this.maybeFlush();
    this.reportProgress(false);
  }

  /** Bytes waiting for the write in flight; written together with one writev. */
  private queue: Buffer[] = [];
  private writing = false;

  private queuedBytes = 0;
  private flushTimer: NodeJS.Timeout | null = null;

  private maybeFlush(): void {
    if (this.writing || this.queue.length === 0 || this.closed) return;
    if (this.queuedBytes >= WRITE_BATCH_BYTES || this.arrivedBytes === this.hello!.lengthBytes) return this.flush();
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      if (!this.writing && this.queue.length > 0 && !this.closed) this.flush();
    }, WRITE_DELAY_MS);
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const fh = this.fh!;
    const batch = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    const n = batch.reduce((a, b) => a + b.length, 0);
    const at = this.receivedBytes;
    this.writing = true;
    this.writeChain = (async () => {
      const { bytesWritten } = await fh.writev(batch, at);
      if (bytesWritten !== n) throw Object.assign(new Error(`short write: ${bytesWritten} of ${n} bytes`), { code: 'EIO' });
      this.pendingWriteBytes -= n;
      this.receivedBytes += n;
      this.writing = false;
      if (this.closed) return;
      if (this.pendingWriteBytes <= MAX_PENDING_WRITE_BYTES / 2 && !this.holding) this.socket.resume();
      this.maybeFlush();
    })();
    this.writeChain.catch((err) => this.storageError(err));
  }

  /** Resolves when every queued byte is written. */
  private async writesDone(): Promise<void> {
    while (this.writing || this.queue.length > 0) {
      if (!this.writing) this.flush();
      await this.writeChain;
    }
  }

  private async finish(sha256: Buffer): Promise<void> {
    await this.writesDone();
    const h = this.hello!;
    if (this.closed) return;
    if (this.receivedBytes !== h.lengthBytes) {
      return this.abort(ErrorCode.Unexpected, `END after ${this.receivedBytes} of ${h.lengthBytes} bytes`);
    }
    const { part, final } = fragmentPaths(this.env.outDir, this.transferHex, h.index);
    const storedAlready = this.storedAlready;
    await this.fh!.sync();
    await this.closeFile();
    const digest = this.hash.digest();
    if (this.closed) return;
    if (!digest.equals(sha256)) {
      if (!storedAlready) await unlink(part).catch(() => {});
      return this.abort(ErrorCode.DigestMismatch, `stored bytes hash to ${digest.toString('hex').slice(0, 16)}..., the sender's END says ${sha256.toString('hex').slice(0, 16)}...; discarded`);
    }
    if (!storedAlready) {
      await rename(part, final);
      await syncDir(this.env.outDir);
    }
    this.env.log({ event: 'stored', t: this.t(), peer: this.peer, transfer: this.transferHex, index: h.index, lengthBytes: h.lengthBytes, path: final, firstByteT: this.firstByteT });
    this.socket.end(encodeAck(digest));
    this.closed = true;
    this.unregister();
  }

  private storageError(err: unknown): void {
    const e = err as NodeJS.ErrnoException;
    const what = e.code === 'ENOSPC' ? 'disk full' : e.code === 'EACCES' ? 'permission denied' : (e.code ?? String(err));
    this.abort(ErrorCode.Storage, `cannot store fragment in ${this.env.outDir}: ${what}`);
  }

  /** Sends an ERROR frame and closes. Keeps a `.part` file (resumable); never presents it as complete. */
  abort(code: ErrorCode, message: string): void {
    if (this.closed) return;
    this.env.log({ event: 'error', t: this.t(), peer: this.peer, transfer: this.transferHex || undefined, index: this.hello?.index, code: errorCodeName(code), message });
    if (!this.socket.destroyed) this.socket.end(encodeError(code, message));
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.onClose();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.progressTimer) clearTimeout(this.progressTimer);
    if (this.hello && !this.ended) {
      this.env.log({ event: 'closed-early', t: this.t(), peer: this.peer, transfer: this.transferHex, index: this.hello.index, receivedBytes: this.receivedBytes });
    }
    void this.writeChain.catch(() => {}).then(() => this.closeFile()).finally(() => this.unregister());
  }

  private unregister(): void {
    if (this.env.registry.get(this.key) === this) this.env.registry.delete(this.key);
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
