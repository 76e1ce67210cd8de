/**
 * One attempt at one fragment over one TCP connection: the socket, the frames, the read-ahead from
 * disk and the running SHA-256. It makes no scheduling decision: the driver asks `hasRoom()` and
 * calls `write(n)`; this object reports what happens through `ConnectionHooks`.
 *
 * Lifecycle: connecting -> hello (HELLO sent, waiting for ACCEPT) -> streaming (DATA) -> ending
 * (END sent, waiting for ACK) -> closed. Any socket error, ERROR frame or malformed frame closes it
 * as failed; the driver decides whether to retry.
 */
import { createHash, type Hash } from 'node:crypto';
import { read } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { ErrorCode, RemoteProtocolError, errorCodeName } from '../wire/errors.js';
import { HashCancelled, hashFileRange } from '../core/hash-range.js';
import { ackMac, endMac, helloMac, macEquals, newNonce } from '../wire/auth.js';
import { FrameDecoder } from '../wire/decoder.js';
import { encodeAuth, encodeDataHeader, encodeEnd, encodeError, encodeHello, HEADER_BYTES, type Frame, type HelloFrame } from '../wire/frames.js';
import { Block, type BlockPool } from './block-pool.js';
import type { NodeAddress } from './nodes.js';

export interface ConnectionHooks {
  /** The receiver accepted; sending starts at `offsetBytes`. */
  accepted(offsetBytes: number): void;
  /** Room may have changed (drain, read-ahead ready, progress). */
  roomChanged(): void;
  progress(deliveredBytes: number): void;
  /** The receiver stored the fragment and its digest matches. */
  acked(): void;
  /** Wire bytes written outside `write()` (HELLO, END, ERROR), for the rate limiter and the meter. */
  controlBytes(bytes: number): void;
  /** The attempt ended without an ACK. `retryable` is false for errors a retry cannot fix. */
  failed(message: string, retryable: boolean): void;
}

export interface ConnectionParams {
  node: NodeAddress;
  fd: number;
  transferId: Buffer;
  index: number;
  count: number;
  fileOffsetBytes: number;
  sizeBytes: number;
  /** What the sender believes the receiver holds (HELLO.offsetBytes). */
  knownOffsetBytes: number;
  chunkBytes: number;
  windowBytes: number;
  connectTimeoutMs: number;
  /** Read-ahead blocks of READ_AHEAD_CHUNKS * chunkBytes, shared by the sender's connections. */
  pool: BlockPool;
  /** Pre-shared key: authenticate (HELLO nonce, AUTH, MACs on END and ACK). */
  authKey?: Buffer | null;
}

/** Chunks read from disk per read call. */
export const READ_AHEAD_CHUNKS = 4;

type State = 'connecting' | 'hello' | 'challenged' | 'resuming' | 'streaming' | 'ending' | 'closed';

export class FragmentConnection {
  private state: State = 'connecting';
  private readonly socket: Socket;
  private readonly decoder = new FrameDecoder();
  private hash: Hash = createHash('sha256');
  private needsDrain = false;
  private ahead: Buffer | null = null;
  private aheadBlock: Block | null = null;
  private reading = false;
  private connectTimer: NodeJS.Timeout | null;
  /** The HELLO sent (its bytes are what the MACs cover). */
  private helloFrame: HelloFrame | null = null;
  /** The receiver's CHALLENGE nonce (authenticated transfers). */
  private nonceR: Buffer | null = null;
  /** SHA-256 sent in END: the ACK must repeat it. */
  private sentDigest: Buffer | null = null;
  sentBytes = 0;
  deliveredBytes = 0;
  /** performance.now() of the last frame from the receiver (or of the connect). */
  lastRxMs: number;

  constructor(
    private readonly p: ConnectionParams,
    private readonly hooks: ConnectionHooks,
    private readonly now: () => number,
  ) {
    this.lastRxMs = now();
    this.socket = connect({ host: p.node.host, port: p.node.port, noDelay: true });
    this.connectTimer = setTimeout(
      () => this.fail(`no answer to connect or HELLO within ${p.connectTimeoutMs} ms`, true),
      p.connectTimeoutMs,
    );
    this.socket.on('connect', () => this.onConnect());
    this.socket.on('data', (b: Buffer) => this.onData(b));
    this.socket.on('drain', () => {
      this.needsDrain = false;
      this.hooks.roomChanged();
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.fail(err.code ?? err.message, true));
    this.socket.on('close', () => {
      if (this.state !== 'closed') this.fail('connection closed by the receiver before ACK', true);
    });
  }

  get isStreaming(): boolean {
    return this.state === 'streaming';
  }

  get remainingBytes(): number {
    return this.p.sizeBytes - this.sentBytes;
  }

  /**
   * Can take a DATA frame now: streaming, socket not full, read-ahead ready, and a whole chunk (or
   * the rest of the fragment) fits in the window, so writes are never dribbles of a few bytes.
   */
  hasRoom(): boolean {
    return (
      this.state === 'streaming' &&
      !this.needsDrain &&
      this.ahead !== null &&
      this.p.windowBytes - (this.sentBytes - this.deliveredBytes) >= Math.min(this.p.chunkBytes, this.remainingBytes)
    );
  }

  /** Payload bytes `write(maxBytes)` would write now. */
  nextWriteBytes(maxBytes: number): number {
    if (!this.hasRoom()) return 0;
    const windowLeft = this.p.windowBytes - (this.sentBytes - this.deliveredBytes);
    return Math.max(0, Math.min(maxBytes, this.ahead!.length, windowLeft));
  }

  /** Writes one DATA frame of exactly `n` payload bytes (n <= nextWriteBytes). Returns wire bytes. */
  write(n: number): number {
    const ahead = this.ahead!;
    const block = this.aheadBlock!;
    const payload = ahead.subarray(0, n);
    this.ahead = n < ahead.length ? ahead.subarray(n) : null;
    this.hash.update(payload);
    this.socket.cork();
    this.socket.write(encodeDataHeader(n));
    const ok = this.socket.write(payload, block.hold());
    this.socket.uncork();
    if (this.ahead === null) {
      block.finish();
      this.aheadBlock = null;
    }
    if (!ok) this.needsDrain = true;
    this.sentBytes += n;
    if (this.sentBytes === this.p.sizeBytes) {
      this.sendEnd();
    } else if (this.ahead === null) {
      this.readAhead();
    }
    return n + HEADER_BYTES;
  }

  /** Ends the attempt on purpose (parked, or the run aborted): no failure is reported. */
  close(): void {
    if (this.state === 'closed') return;
    this.releaseAhead();
    this.state = 'closed';
    this.clearTimer();
    this.socket.destroy();
  }

  private clearTimer(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  private sendEnd(): void {
    const digest = this.hash.digest();
    this.sentDigest = digest;
    const key = this.p.authKey;
    this.sendControl(encodeEnd(digest, key ? endMac(key, this.helloFrame!, this.nonceR!, digest) : undefined));
    this.state = 'ending';
  }

  private sendControl(frame: Buffer): void {
    this.hooks.controlBytes(frame.length);
    if (!this.socket.write(frame)) this.needsDrain = true;
  }

  private onConnect(): void {
    if (this.state !== 'connecting') return;
    this.state = 'hello';
    const hello: HelloFrame = {
      type: 'hello',
      transferId: this.p.transferId,
      index: this.p.index,
      count: this.p.count,
      lengthBytes: this.p.sizeBytes,
      offsetBytes: this.p.knownOffsetBytes,
    };
    if (this.p.authKey) hello.nonce = newNonce();
    this.helloFrame = hello;
    this.sendControl(encodeHello(hello));
  }

  private onData(bytes: Buffer): void {
    if (this.state === 'closed') return;
    this.lastRxMs = this.now();
    let frames: Frame[];
    try {
      frames = this.decoder.push(bytes);
    } catch (err) {
      if (err instanceof RemoteProtocolError) {
        this.sendControl(encodeError(err.code, err.message));
        this.fail(`receiver sent a malformed frame: ${err.message}`, true);
        return;
      }
      throw err;
    }
    for (const f of frames) {
      if ((this.state as State) === 'closed') return;
      this.onFrame(f);
    }
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case 'challenge':
        if (this.state !== 'hello') return this.protocolError(`CHALLENGE in state ${this.state}`);
        if (!this.p.authKey) return this.fail('the receiver requires authentication: run fanout send with --auth-key', false);
        this.nonceR = f.nonce;
        this.state = 'challenged';
        this.sendControl(encodeAuth(helloMac(this.p.authKey, this.helloFrame!, f.nonce)));
        return;
      case 'accept':
        if (this.p.authKey && this.state === 'hello') {
          return this.fail('the receiver did not authenticate (no CHALLENGE): it has no --auth-key, or is not the receiver meant', false);
        }
        if (this.state !== 'hello' && this.state !== 'challenged') return this.protocolError(`ACCEPT in state ${this.state}`);
        if (f.offsetBytes > this.p.sizeBytes) return this.protocolError(`ACCEPT offset ${f.offsetBytes} beyond fragment`);
        this.clearTimer();
        this.state = 'resuming';
        this.resumeFrom(f.offsetBytes);
        return;
      case 'progress':
        if (f.receivedBytes > this.sentBytes || f.receivedBytes < this.deliveredBytes) {
          return this.protocolError(`PROGRESS ${f.receivedBytes} outside ${this.deliveredBytes}..${this.sentBytes}`);
        }
        this.deliveredBytes = f.receivedBytes;
        this.hooks.progress(f.receivedBytes);
        this.hooks.roomChanged();
        return;
      case 'ack': {
        if (this.state !== 'ending') return this.protocolError(`ACK in state ${this.state}`);
        if (!f.sha256.equals(this.sentDigest!)) {
          return this.fail(`the receiver acknowledged digest ${f.sha256.toString('hex').slice(0, 16)}..., not the ${this.sentDigest!.toString('hex').slice(0, 16)}... sent`, true);
        }
        if (this.p.authKey && !macEquals(f.mac, ackMac(this.p.authKey, this.helloFrame!, this.nonceR!, f.sha256))) {
          return this.fail('the ACK is not authenticated (wrong or missing MAC): not the receiver meant', false);
        }
        this.state = 'closed';
        this.clearTimer();
        this.deliveredBytes = this.p.sizeBytes;
        this.socket.end();
        this.hooks.acked();
        return;
      }
      case 'error': {
        const retryable = f.code !== ErrorCode.Version && f.code !== ErrorCode.BadMagic && f.code !== ErrorCode.Auth && f.code !== ErrorCode.Conflict;
        this.fail(`receiver error ${errorCodeName(f.code)}: ${f.message}`, retryable);
        return;
      }
      default:
        return this.protocolError(`unexpected ${f.type.toUpperCase()} frame from a receiver`);
    }
  }

  /** Hashes the prefix the receiver already holds, then starts streaming after it. */
  private resumeFrom(offsetBytes: number): void {
    this.sentBytes = offsetBytes;
    this.deliveredBytes = offsetBytes;
    // Cancelled with the attempt: a closed connection issues no further read of the shared fd.
    hashFileRange(this.p.fd, this.p.fileOffsetBytes, offsetBytes, () => this.state === 'closed').then(
      (hash) => {
        if (this.state === 'closed') return;
        this.hash = hash;
        this.hooks.accepted(offsetBytes);
        if (offsetBytes === this.p.sizeBytes) {
          this.sendEnd();
        } else {
          this.state = 'streaming';
          this.readAhead();
        }
      },
      (err: Error) => {
        if (!(err instanceof HashCancelled)) this.fail(`cannot re-read the file to resume: ${err.message}`, false);
      },
    );
  }

  /** Reads the next chunk of the fragment from disk, so that a write never waits on the disk. */
  private readAhead(): void {
    if (this.reading || this.ahead !== null || this.remainingBytes === 0) return;
    this.reading = true;
    const at = this.sentBytes;
    // Read several chunks at once: fewer calls into the thread pool; writes slice from the block.
    const n = Math.min(READ_AHEAD_CHUNKS * this.p.chunkBytes, this.remainingBytes);
    const block = new Block(this.p.pool.take(), this.p.pool);
    read(this.p.fd, block.buf, 0, n, this.p.fileOffsetBytes + at, (err, got) => {
      this.reading = false;
      if (this.state === 'closed' || err || got !== n || at !== this.sentBytes) block.finish();
      if (this.state === 'closed') return;
      if (err || got !== n) return this.fail(`cannot read the file: ${err?.message ?? `short read at ${at}`}`, false);
      if (at !== this.sentBytes) return this.readAhead(); // raced with a resume
      this.ahead = block.buf.subarray(0, n);
      this.aheadBlock = block;
      this.hooks.roomChanged();
    });
  }

  private protocolError(message: string): void {
    this.sendControl(encodeError(ErrorCode.Unexpected, message));
    this.fail(`receiver broke the protocol: ${message}`, true);
  }

  /** The unsent rest of a block is dropped (a resume rereads it); in-flight writes still hold theirs. */
  private releaseAhead(): void {
    this.aheadBlock?.finish();
    this.aheadBlock = null;
    this.ahead = null;
  }

  private fail(message: string, retryable: boolean): void {
    if (this.state === 'closed') return;
    this.releaseAhead();
    this.state = 'closed';
    this.clearTimer();
    this.socket.destroy();
    this.hooks.failed(message, retryable);
  }
}
