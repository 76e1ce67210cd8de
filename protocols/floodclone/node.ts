/**
 * A FloodClone node: joins the source, learns the manifest and the peers, connects to every peer,
 * and runs its picker (picker.ts) over real sockets: requests go out as the picker says, chunks are
 * verified against the manifest before they count, stored (store.ts), announced to every peer
 * (HAVE, batched), and served to any peer that asks. It keeps serving after it completes, until the
 * source says every node is done (ALLDONE) or it is stopped.
 *
 * Bounded per peer: one frame buffered by the decoder (a chunk at most), at most
 * MAX_PEER_REQUESTS queued requests, one chunk in user space waiting for the socket.
 *
 * Uploads go out through an UploadGate (upload-gate.ts): a chunk is written only while what the node
 * wrote and its receivers have not yet announced stays within its measured rate times a short
 * round trip, so its own requests and acknowledgements never queue seconds behind its uploads.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { ERR_PROTOCOL, ERR_REFUSED, FloodConn } from './conn.js';
import { Picker, type Handle } from './picker.js';
import { PartStore, chunkLength, holdsFile, type Manifest } from './store.js';
import { UploadGate } from './upload-gate.js';
import { FRESH, FloodProtocolError, bitAt, bitfieldOf, type Frame } from './wire.js';

export const MAX_PEER_REQUESTS = 64;
/** Connections a node keeps at once (peers and the source); one more is closed at once. */
export const MAX_LINKS = 1024;
const HAVE_FLUSH_MS = 20;
const TICK_MS = 50;
const RECONNECT_MS = 500;
const CORRUPT_LIMIT = 3;

export interface NodeOptions {
  sourceHost: string;
  sourcePort: number;
  listenHost: string;
  listenPort: number;
  out: string;
  onEvent?: (ev: Record<string, unknown>) => void;
  /** Picker tuning (tests). */
  picker?: { queueTargetMs?: number; minCancelMs?: number };
  /** Test hook: corrupt every chunk this node serves (a lying peer). */
  corruptUploads?: boolean;
}

interface PeerLink {
  handle: Handle;
  conn: FloodConn;
  isSource: boolean;
  ready: boolean;
  addr: string | null;
  /** Requests from this peer waiting to be served (chunk indices). */
  serve: number[];
  haveOut: number[];
  /** The peer's address and node id from its HELLO (links to the same peer share it). */
  peerKey: string | null;
}

export class FloodNode {
  private server: Server | null = null;
  private manifest: Manifest | null = null;
  private store: PartStore | null = null;
  private picker: Picker | null = null;
  private gate: UploadGate | null = null;
  /** Peer links with requests queued, in turn order. */
  private readonly waiting = new Set<PeerLink>();
  private readonly links = new Map<Handle, PeerLink>();
  /** Ready peer links by peerKey (two per peer when both dialed): HAVEs look them up per frame. */
  private readonly byPeer = new Map<string, Set<PeerLink>>();
  private nextHandle = 1;
  private nodeId = 0;
  private source: PeerLink | null = null;
  private stopped = false;
  private allDone = false;
  private tick: NodeJS.Timeout | null = null;
  private pickQueued = false;
  private firstByte = false;
  private doneMs: number | null = null;
  private listenPort = 0;
  private readonly dialed = new Set<string>();
  payloadDown = 0;
  controlDown = 0;
  payloadUpGone = 0;
  controlUpGone = 0;
  controlDownGone = 0;
  private resolveFinished: () => void = () => {};
  /** Resolves when the node holds the file and the source said ALLDONE (or it was stopped). */
  readonly finished = new Promise<void>((r) => (this.resolveFinished = r));
  private resolveComplete: () => void = () => {};
  readonly complete = new Promise<void>((r) => (this.resolveComplete = r));

  constructor(private readonly o: NodeOptions) {}

  private emit(ev: Record<string, unknown>): void {
    this.o.onEvent?.({ ...ev, wallMs: Date.now() });
  }

  /** Listens for peers; returns the address. Nothing is sent until `go()`. */
  async listen(): Promise<string> {
    const server = createServer((s) => this.incoming(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.listenPort, this.o.listenHost, () => resolve());
    });
    const a = server.address();
    this.listenPort = typeof a === 'object' && a ? a.port : 0;
    return typeof a === 'object' && a ? `${a.address}:${a.port}` : String(a);
  }

  go(): void {
    this.dialSource();
    this.tick = setInterval(() => this.onTick(), TICK_MS);
  }

  counters(): { down: number; up: number; ctrlDown: number; ctrlUp: number; dups: number; have: number; chunks: number; unannounced: number } {
    let up = this.payloadUpGone;
    let ctrlUp = this.controlUpGone;
    let ctrlDown = this.controlDownGone;
    for (const l of this.links.values()) {
      up += l.conn.payloadUp;
      ctrlUp += l.conn.controlUp;
      ctrlDown += l.conn.decoder.controlBytes;
    }
    // unannounced: chunks uploaded whose receiver never announced them (they stopped counting in the upload window).
    return { down: this.payloadDown, up, ctrlDown, ctrlUp, dups: this.picker?.duplicates ?? 0, have: this.store?.haveCount ?? 0, chunks: this.manifest?.hashes.length ?? 0, unannounced: this.gate?.expired ?? 0 };
  }

  private dialSource(): void {
    if (this.stopped || this.allDone) return;
    const s = connect({ host: this.o.sourceHost, port: this.o.sourcePort });
    const link = this.attach(s, true, null);
    s.once('connect', () => link.conn.send({ type: 'hello', role: 'node', nodeId: this.nodeId, listenPort: this.listenPort, fileHash: this.manifest?.fileHash ?? Buffer.alloc(32) }));
    link.conn.onClose((why) => {
      this.emit({ event: 'source-lost', reason: why });
      if (!this.stopped && !this.allDone) setTimeout(() => this.dialSource(), RECONNECT_MS).unref();
    });
  }

  private dialPeer(host: string, port: number): void {
    const key = `${host}:${port}`;
    if (this.dialed.has(key) || this.stopped || !this.manifest) return;
    this.dialed.add(key);
    const s = connect({ host, port });
    const link = this.attach(s, false, key);
    s.once('connect', () => this.hello(link));
    link.conn.onClose(() => this.dialed.delete(key));
  }

  private incoming(s: Socket): void {
    if (this.stopped || this.links.size >= MAX_LINKS) return void s.destroy();
    const link = this.attach(s, false, null);
    const timer = setTimeout(() => !link.ready && link.conn.fail(ERR_PROTOCOL, 'no HELLO in time'), 10_000);
    link.conn.onClose(() => clearTimeout(timer));
  }

  private hello(link: PeerLink): void {
    link.conn.send({ type: 'hello', role: 'node', nodeId: this.nodeId, listenPort: this.listenPort, fileHash: this.manifest!.fileHash });
  }

  private attach(s: Socket, isSource: boolean, addr: string | null): PeerLink {
    const handle = this.nextHandle++;
    const link: PeerLink = {
      handle,
      isSource,
      ready: false,
      addr,
      serve: [],
      haveOut: [],
      peerKey: null,
      conn: new FloodConn(
        s,
        (f) => this.onFrame(link, f),
        () => this.pumpUploads(),
      ),
    };
    if (this.manifest) link.conn.decoder.chunkLimit = this.manifest.chunkBytes;
    link.conn.decoder.fromSource = isSource;
    this.links.set(handle, link);
    if (isSource) this.source = link;
    link.conn.onClose(() => {
      this.payloadUpGone += link.conn.payloadUp;
      this.controlUpGone += link.conn.controlUp;
      this.controlDownGone += link.conn.decoder.controlBytes;
      this.links.delete(handle);
      this.waiting.delete(link);
      if (this.source === link) this.source = null;
      this.picker?.removePeer(handle);
      if (link.peerKey !== null) {
        const set = this.byPeer.get(link.peerKey);
        set?.delete(link);
        if (set?.size === 0) {
          this.byPeer.delete(link.peerKey);
          this.gate?.forget(link.peerKey);
        }
        this.arrangeRequests(link.peerKey);
      }
      this.pickSoon();
    });
    return link;
  }

  /** The ready peer links to one peer (by address and node id). */
  private linksTo(key: string): Iterable<PeerLink> {
    return this.byPeer.get(key) ?? [];
  }

  /**
   * Requests to a peer go on the links this node dialed, when it has one. Every pair of nodes dials
   * each other, so each holds two connections: on the one A dialed, A sends only requests and HAVEs
   * and B sends the chunks A asked for; on the other, the reverse. A request then never waits, in
   * its TCP stream, behind a chunk its sender is uploading on the same connection (at a 0.74 Mbit/s
   * uplink's share, a 64 KiB chunk ahead of it is seconds: the node with the thinnest uplink of
   * flood-lognormal finished 13 s after all the others). With no dialed link (a peer we could not
   * reach), the link it dialed is asked.
   */
  private arrangeRequests(key: string): void {
    const p = this.picker;
    if (!p) return;
    const ls = [...this.linksTo(key)];
    const dialed = ls.some((l) => l.addr !== null);
    for (const l of ls) p.setRequestable(l.handle, !dialed || l.addr !== null);
  }

  private onFrame(link: PeerLink, f: Frame): void {
    if (f.type === 'error') return link.conn.close(`peer sent ERROR ${f.code}: ${f.message}`);
    if (link.isSource) return this.fromSource(link, f);
    if (!link.ready) {
      if (f.type !== 'hello') throw new FloodProtocolError(`expected HELLO, got ${f.type.toUpperCase()}`);
      if (!this.manifest) return link.conn.fail(ERR_REFUSED, 'not ready: no manifest yet');
      if (!f.fileHash.equals(this.manifest.fileHash)) return link.conn.fail(ERR_REFUSED, 'a different file');
      // The source gives every node its own id; a peer with this node's would tie with it on every
      // chunk's owner hash (the picker's far-chunk split) and hold this node's share back.
      if (f.nodeId === this.nodeId) return link.conn.fail(ERR_REFUSED, `a peer claims this node's id (${f.nodeId})`);
      if (link.addr === null) this.hello(link); // we were dialed: answer
      link.ready = true;
      link.peerKey = `${link.conn.socket.remoteAddress ?? '?'}|${f.nodeId}`;
      const set = this.byPeer.get(link.peerKey);
      if (set) set.add(link);
      else this.byPeer.set(link.peerKey, new Set([link]));
      this.picker!.addPeer(link.handle, false, Date.now(), f.nodeId);
      this.arrangeRequests(link.peerKey);
      link.conn.send({ type: 'bitfield', bits: bitfieldOf(this.store!.have) });
      return;
    }
    this.common(link, f);
  }

  private fromSource(link: PeerLink, f: Frame): void {
    switch (f.type) {
      case 'welcome':
        this.nodeId = f.nodeId;
        return;
      case 'manifest':
        return this.onManifest(link, f);
      case 'peers':
        for (const p of f.peers) if (p.id !== this.nodeId) this.dialPeer(p.host, p.port);
        return;
      case 'nofresh':
        this.picker?.onNoFresh();
        return this.pickSoon();
      case 'alldone':
        this.allDone = true;
        this.maybeFinished();
        return;
      default:
        if (!link.ready) throw new FloodProtocolError(`${f.type.toUpperCase()} before the manifest`);
        return this.common(link, f);
    }
  }

  private onManifest(link: PeerLink, m: Manifest): void {
    if (this.manifest) {
      if (!m.fileHash.equals(this.manifest.fileHash) || m.chunkBytes !== this.manifest.chunkBytes) {
        this.emit({ event: 'error', message: 'the source now serves a different file (or chunk size)' });
        return link.conn.fail(ERR_REFUSED, 'different file');
      }
    } else {
      this.manifest = { fileBytes: m.fileBytes, chunkBytes: m.chunkBytes, fileHash: m.fileHash, hashes: m.hashes };
      for (const l of this.links.values()) l.conn.decoder.chunkLimit = m.chunkBytes;
      const already = holdsFile(this.o.out, this.manifest);
      this.store = new PartStore(this.o.out, this.manifest, already);
      this.gate = new UploadGate({ chunkBytes: m.chunkBytes });
      const resumed = already ? this.manifest.hashes.length : this.store.resume();
      this.picker = new Picker({ chunks: m.hashes.length, chunkBytes: m.chunkBytes, seed: this.nodeId, ...this.o.picker });
      for (let k = 0; k < m.hashes.length; k++) if (this.store.have[k]) this.picker.markHave(k);
      this.emit({ event: 'manifest', nodeId: this.nodeId, chunks: m.hashes.length, chunkBytes: m.chunkBytes, fileBytes: m.fileBytes, resumed });
      if (this.picker.complete) this.onComplete();
    }
    link.ready = true;
    this.picker!.addPeer(link.handle, true, Date.now());
    link.conn.send({ type: 'bitfield', bits: bitfieldOf(this.store!.have) });
    this.pickSoon();
  }

  /** Frames any ready peer (or the source) may send. */
  private common(link: PeerLink, f: Frame): void {
    const p = this.picker!;
    const n = this.manifest!.hashes.length;
    switch (f.type) {
      case 'have':
        for (const k of f.chunks) if (k >= n) throw new FloodProtocolError(`HAVE of chunk ${k} of ${n}`);
        this.holds(link, f.chunks);
        return this.pickSoon();
      case 'bitfield': {
        if (f.bits.length !== Math.ceil(n / 8)) throw new FloodProtocolError(`BITFIELD of ${f.bits.length} bytes for ${n} chunks`);
        const held: number[] = [];
        for (let k = 0; k < n; k++) if (bitAt(f.bits, k)) held.push(k);
        this.holds(link, held);
        return this.pickSoon();
      }
      case 'request':
        if (link.isSource) throw new FloodProtocolError('the source asks nothing');
        if (f.chunk >= n) throw new FloodProtocolError(`REQUEST for chunk ${f.chunk} of ${n}`);
        if (link.serve.length >= MAX_PEER_REQUESTS) throw new FloodProtocolError(`more than ${MAX_PEER_REQUESTS} requests queued`);
        link.serve.push(f.chunk);
        this.waiting.add(link);
        return this.pumpUploads();
      case 'cancel': {
        const k = link.serve.indexOf(f.chunk);
        if (k >= 0) {
          link.serve.splice(k, 1);
          link.conn.send({ type: 'cancelled', chunk: f.chunk });
        }
        return;
      }
      case 'cancelled':
        p.onCancelled(link.handle, f.chunk, Date.now());
        return this.pickSoon();
      case 'chunk':
        return this.onChunk(link, f.chunk, f.data);
      default:
        throw new FloodProtocolError(`unexpected ${f.type.toUpperCase()}`);
    }
  }

  /**
   * What a peer says it holds counts for every link to it: its HAVEs on the link it dialed come
   * first (on ours they queue behind the chunks it sends us).
   */
  private holds(link: PeerLink, chunks: number[]): void {
    const p = this.picker!;
    const now = Date.now();
    if (link.isSource || link.peerKey === null) return p.onHave(link.handle, chunks, now);
    for (const l of this.linksTo(link.peerKey)) p.onHave(l.handle, chunks, now);
    // Its announcements acknowledge what we uploaded to it: room in the upload window.
    if (this.gate?.announced(link.peerKey, chunks, now)) this.pumpUploads();
  }

  private onChunk(link: PeerLink, k: number, data: Buffer): void {
    const p = this.picker!;
    const store = this.store!;
    this.payloadDown += data.length;
    const ok = store.verify(k, data);
    const verdict = p.onChunk(link.handle, k, ok, Date.now());
    if (!ok) {
      this.emit({ event: 'corrupt', chunk: k, peer: link.addr ?? link.handle });
      if (p.corruptFrom(link.handle) >= CORRUPT_LIMIT) link.conn.fail(ERR_PROTOCOL, `${CORRUPT_LIMIT} corrupt chunks`);
    }
    if (verdict === 'store') {
      store.write(k, data);
      if (!this.firstByte) {
        this.firstByte = true;
        this.emit({ event: 'first-byte' });
      }
      for (const l of this.links.values()) if (l.ready) l.haveOut.push(k);
      this.haveTimer ??= setTimeout(() => this.flushHaves(), HAVE_FLUSH_MS);
      if (p.complete) this.onComplete();
    }
    this.pickSoon();
  }

  private onComplete(): void {
    if (this.doneMs !== null) return;
    const store = this.store!;
    if (!store.completed) {
      try {
        store.finish();
      } catch (e) {
        this.emit({ event: 'error', message: (e as Error).message });
        return;
      }
    }
    this.doneMs = Date.now();
    this.flushHaves();
    this.emit({ event: 'done', ...this.counters() });
    this.resolveComplete();
    this.maybeFinished();
  }

  private maybeFinished(): void {
    if (this.allDone && this.doneMs !== null) this.resolveFinished();
  }

  private pickSoon(): void {
    if (this.pickQueued || !this.picker) return;
    this.pickQueued = true;
    setImmediate(() => {
      this.pickQueued = false;
      this.runPicker();
    });
  }

  private runPicker(): void {
    const p = this.picker;
    if (!p || this.stopped) return;
    for (const a of p.pick(Date.now())) {
      const l = this.links.get(a.peer);
      if (!l) continue;
      if (a.kind === 'fresh') l.conn.send({ type: 'request', chunk: FRESH });
      else if (a.kind === 'request') l.conn.send({ type: 'request', chunk: a.chunk });
      else l.conn.send({ type: 'cancel', chunk: a.chunk });
    }
  }

  /**
   * Serves queued requests, one chunk per peer link in turn, while the upload window (UploadGate)
   * and each socket have room.
   */
  private pumpUploads(): void {
    const store = this.store;
    const gate = this.gate;
    if (!store || !gate) return;
    const now = Date.now();
    for (let progress = true; progress; ) {
      progress = false;
      for (const link of [...this.waiting]) {
        if (link.serve.length === 0 || link.conn.closed) {
          this.waiting.delete(link);
          continue;
        }
        const k = link.serve[0]!;
        if (store.have[k]) {
          if (!gate.hasRoom(now)) return;
          if (!link.conn.hasRoom) continue;
          const data = store.read(k);
          if (this.o.corruptUploads) data[0] = (data[0]! ^ 0xff) & 0xff;
          link.conn.sendChunk(k, data);
          gate.sent(link.peerKey ?? `h${link.handle}`, k, data.length, now);
        } else link.conn.send({ type: 'cancelled', chunk: k });
        link.serve.shift();
        progress = true;
        // To the back of the turn.
        this.waiting.delete(link);
        if (link.serve.length > 0) this.waiting.add(link);
      }
    }
  }

  private haveTimer: NodeJS.Timeout | null = null;
  private flushHaves(): void {
    if (this.haveTimer) clearTimeout(this.haveTimer);
    this.haveTimer = null;
    for (const l of this.links.values()) {
      if (l.haveOut.length === 0) continue;
      l.conn.send({ type: 'have', chunks: l.haveOut.splice(0, 16_000) });
    }
  }

  private lastProgressMs = 0;
  private onTick(): void {
    const now = Date.now();
    this.flushHaves();
    const p = this.picker;
    if (p && this.manifest) {
      let backlog = 0;
      let sent = this.payloadUpGone;
      for (const l of this.links.values()) {
        sent += l.conn.payloadUp;
        backlog += l.conn.pendingBytes;
        for (const k of l.serve) backlog += chunkLength(this.manifest, k);
      }
      this.pumpUploads(); // announcements that never came expire
      p.onUpload(now, backlog, sent);
      this.runPicker();
    }
    this.store?.save(now);
    if (now - this.lastProgressMs >= 500) {
      this.lastProgressMs = now;
      this.emit({ event: 'progress', ...this.counters() });
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tick) clearInterval(this.tick);
    if (this.haveTimer) clearTimeout(this.haveTimer);
    this.store?.save(Date.now(), true);
    for (const l of [...this.links.values()]) l.conn.close('stopping');
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.store?.close();
    this.resolveFinished();
  }
}
