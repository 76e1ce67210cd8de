/**
 * The FloodClone source: serves one file to a swarm of nodes over TCP. It hands every node its id,
 * the manifest and the peers it can connect to, and writes chunks as its scheduler
 * (source-policy.ts) says: fresh chunks to nodes that ask, direct chunks only when nobody waits
 * for a fresh one. It tracks what each node holds (HAVE, BITFIELD) to know when all are complete.
 */
import { randomInt } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { ERR_PROTOCOL, FloodConn } from './conn.js';
import { SourceScheduler } from './source-policy.js';
import { buildManifest, readChunk, type Manifest } from './store.js';
import { FRESH, FloodProtocolError, bitAt, type Frame } from './wire.js';

export interface SourceOptions {
  file: string;
  host: string;
  port: number;
  chunkBytes: number;
  /** Send ALLDONE (and resolve `allDone`) once this many distinct nodes hold the whole file. */
  expect?: number;
  onEvent?: (ev: Record<string, unknown>) => void;
  helloTimeoutMs?: number;
  maxNodes?: number;
}

interface NodeConn {
  id: number;
  conn: FloodConn;
  host: string;
  port: number | null;
  holds: Uint8Array | null;
  count: number;
  complete: boolean;
}

export class FloodSource {
  readonly manifest: Manifest;
  private readonly fd: number;
  private readonly sched: SourceScheduler;
  private server: Server | null = null;
  private readonly nodes = new Map<number, NodeConn>();
  /**
   * Ids start at a random point: a source that restarts must not give a node an id another node
   * still carries from its predecessor (peers would refuse its HELLO as their own id, or tie on the
   * picker's owner hashes).
   */
  private nextId = randomInt(1, 2 ** 31);
  private completed = 0;
  private pumpQueued = false;
  private allDoneSent = false;
  private resolveAllDone: () => void = () => {};
  readonly allDone = new Promise<void>((r) => (this.resolveAllDone = r));

  constructor(private readonly o: SourceOptions) {
    this.manifest = buildManifest(o.file, o.chunkBytes);
    this.fd = openSync(o.file, 'r');
    this.sched = new SourceScheduler(this.manifest.hashes.length);
  }

  private emit(ev: Record<string, unknown>): void {
    this.o.onEvent?.({ ...ev, wallMs: Date.now() });
  }

  async start(): Promise<string> {
    const server = createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => resolve());
    });
    const a = server.address();
    return typeof a === 'object' && a ? `${a.address}:${a.port}` : String(a);
  }

  /** Totals of every connection so far (for the summary). */
  stats(): { payloadUp: number; controlUp: number; controlDown: number; freshSent: number; directSent: number; nodes: number; completed: number } {
    let payloadUp = 0;
    let controlUp = 0;
    let controlDown = 0;
    for (const n of this.nodes.values()) {
      payloadUp += n.conn.payloadUp;
      controlUp += n.conn.controlUp;
      controlDown += n.conn.decoder.controlBytes;
    }
    return { payloadUp: payloadUp + this.gonePayload, controlUp: controlUp + this.goneControlUp, controlDown: controlDown + this.goneControlDown, freshSent: this.sched.freshSent, directSent: this.sched.directSent, nodes: this.nodes.size, completed: this.completed };
  }
  private gonePayload = 0;
  private goneControlUp = 0;
  private goneControlDown = 0;

  private accept(socket: Socket): void {
    if (this.nodes.size >= (this.o.maxNodes ?? 4096)) {
      socket.destroy();
      return;
    }
    const id = this.nextId++;
    const host = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    let node: NodeConn | null = null;
    const timer = setTimeout(() => conn.fail(ERR_PROTOCOL, 'no HELLO in time'), this.o.helloTimeoutMs ?? 10_000);
    const conn: FloodConn = new FloodConn(
      socket,
      (f) => {
        if (!node) {
          if (f.type !== 'hello' || f.role !== 'node') throw new FloodProtocolError(`expected HELLO from a node, got ${f.type.toUpperCase()}`);
          clearTimeout(timer);
          node = { id, conn, host, port: f.listenPort === 0 ? null : f.listenPort, holds: null, count: 0, complete: false };
          this.welcome(node);
          return;
        }
        this.onFrame(node, f);
      },
      () => this.pumpSoon(),
    );
    conn.onClose(() => {
      clearTimeout(timer);
      if (!node) return;
      this.gonePayload += conn.payloadUp;
      this.goneControlUp += conn.controlUp;
      this.goneControlDown += conn.decoder.controlBytes;
      this.nodes.delete(node.id);
      this.sched.close(node.id);
      this.emit({ event: 'node-left', node: node.id });
      this.pumpSoon();
    });
  }

  private welcome(n: NodeConn): void {
    const m = this.manifest;
    n.conn.send({ type: 'welcome', nodeId: n.id });
    n.conn.send({ type: 'manifest', fileBytes: m.fileBytes, chunkBytes: m.chunkBytes, fileHash: m.fileHash, hashes: m.hashes });
    const peers = [...this.nodes.values()].filter((p) => p.port !== null).map((p) => ({ id: p.id, host: p.host, port: p.port! }));
    n.conn.send({ type: 'peers', peers });
    this.nodes.set(n.id, n);
    this.sched.open(n.id);
    this.emit({ event: 'node-joined', node: n.id, host: n.host, port: n.port });
  }

  private onFrame(n: NodeConn, f: Frame): void {
    const chunks = this.manifest.hashes.length;
    switch (f.type) {
      case 'request': {
        const err = this.sched.onRequest(n.id, f.chunk === FRESH ? -1 : f.chunk);
        if (err) throw new FloodProtocolError(err);
        this.pumpSoon();
        return;
      }
      case 'cancel':
        this.sched.onCancel(n.id, f.chunk);
        this.pumpSoon();
        return;
      case 'bitfield':
        if (f.bits.length !== Math.ceil(chunks / 8)) throw new FloodProtocolError(`BITFIELD of ${f.bits.length} bytes for ${chunks} chunks`);
        for (let k = 0; k < chunks; k++) if (bitAt(f.bits, k)) this.mark(n, k);
        return this.checkComplete(n);
      case 'have':
        for (const k of f.chunks) {
          if (k >= chunks) throw new FloodProtocolError(`HAVE of chunk ${k} of ${chunks}`);
          this.mark(n, k);
        }
        return this.checkComplete(n);
      case 'error':
        n.conn.close(`node sent ERROR ${f.code}: ${f.message}`);
        return;
      default:
        throw new FloodProtocolError(`a node may not send ${f.type.toUpperCase()} to the source`);
    }
  }

  private mark(n: NodeConn, k: number): void {
    this.sched.onHeld(n.id, k);
    n.holds ??= new Uint8Array(this.manifest.hashes.length);
    if (!n.holds[k]) {
      n.holds[k] = 1;
      n.count++;
    }
  }

  private checkComplete(n: NodeConn): void {
    if (n.complete || n.count < this.manifest.hashes.length) return;
    n.complete = true;
    this.completed++;
    this.emit({ event: 'node-complete', node: n.id, completed: this.completed });
    if (this.o.expect !== undefined && this.completed >= this.o.expect && !this.allDoneSent) {
      this.allDoneSent = true;
      for (const x of this.nodes.values()) x.conn.send({ type: 'alldone' });
      this.emit({ event: 'all-done', ...this.stats() });
      this.resolveAllDone();
    }
  }

  private pumpSoon(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Writes what the scheduler says on every connection with room. */
  private pump(): void {
    for (const n of this.nodes.values()) this.sched.setWritable(n.id, n.conn.hasRoom);
    let progress = true;
    while (progress) {
      progress = false;
      for (const n of this.nodes.values()) {
        if (!n.conn.hasRoom) continue;
        const a = this.sched.next(n.id);
        if (!a) continue;
        progress = true;
        if (a.kind === 'nofresh') n.conn.send({ type: 'nofresh' });
        else if (a.kind === 'cancelled') n.conn.send({ type: 'cancelled', chunk: a.chunk });
        else n.conn.sendChunk(a.chunk, readChunk(this.fd, this.manifest, a.chunk));
        this.sched.setWritable(n.id, n.conn.hasRoom);
      }
    }
  }

  private stopped = false;
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const n of this.nodes.values()) n.conn.close('source stopping');
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    closeSync(this.fd);
  }
}
