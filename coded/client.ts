/**
 * The coded client: downloads a file segment by segment from a CodedServer, decoding on the fly,
 * and cooperates with peers, as in the seed:
 *
 * - It asks the server for up to `window` segments at a time, lowest first. For each, the server
 *   names the peers on that segment (or holding it), and later the ones that join it.
 * - It opens one TCP connection to each such peer (its "asking" connection) and asks it for the
 *   segment (`ask`), with a rate cap; a peer connected to it the same way is served: it receives
 *   recoded packets (new random combinations of what this node holds of the segment, before it is
 *   decoded; fresh coded packets once decoded) over UDP. So each pair of cooperating peers has two
 *   TCP connections, one per direction of asking, as in the seed.
 * - Rate: its uplink is paced below `upBps` by a FlowScheduler over the peers it serves; its
 *   downlink is shared by a CapAllocator over its senders (server and peers) from the rates it
 *   measures every CAP_INTERVAL_MS, each change sent as a `cap` (the receiver feedback).
 * - A segment is written only once it decodes and its SHA-256 matches the manifest; a mismatch
 *   (a peer sent garbage that happened to be innovative) throws that segment's decoder away and
 *   starts it again (counted). The file is written as `.<name>.coded-part` and renamed to `<name>`
 *   once every segment is in and the file is fsynced.
 *
 * Every datagram is validated (wire.ts) and checked against the node it claims to be from (the
 * address the server or the peer connection gave); anything else is dropped and counted.
 */
import { createHash } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { closeSync, fsyncSync, ftruncateSync, openSync, renameSync, writeSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Decoder, Encoder, defaultKernelFactory, packCoeffs, unpackCoeffs, type CodeParams } from './codec/index.js';
import { CapAllocator, FlowScheduler, RateMeter } from './pacing.js';
import { makeRng, readSegment, segmentCount, segmentLength } from './params.js';
import { NEED_SWARM_SLACK, needShare, ServeState, swarmCap } from './serving.js';
import {
  ControlReader,
  decodeDatagram,
  encodeControl,
  encodeCtrlDatagram,
  encodeData,
  HEADER_BYTES,
  LINK_OVERHEAD_BYTES,
  coeffBytes,
  type ControlMsg,
  type Manifest,
  type PeerInfo,
  type SessionShape,
} from './wire.js';

export const CAP_INTERVAL_MS = 100;
/** How often a client tells its senders how many packets of each segment in progress it still needs. */
export const NEED_INTERVAL_MS = 10;
/** Budget margin over the missing packets: loss (two lossy hops at 5 %: ~10 %) and dependent ones. */
export const NEED_MARGIN = 1.25;
/** Over GF(2) a peer's packet is dependent more often: a wider margin. */
export const NEED_MARGIN_GF2 = 2;
/** Dependent packets in a row from one peer, over GF(2), before it is told to hold. */
export const HOLD_STREAK_GF2 = 3;
/** Peers served at once, most. */
const MAX_SERVED = 256;
/** Completed segments kept as encoders in memory for serving (the rest are read back from disk). */
const ENCODER_CACHE = 32;

export interface JoinOptions {
  server: { host: string; port: number };
  /** This node's id, 1..65535 (receiver i of the lab: i + 1). */
  node: number;
  host: string;
  udpPort: number;
  ctlPort: number;
  outDir: string;
  /** Link bit/s of this node's downlink and uplink (Infinity: not known, unpaced). */
  downBps: number;
  upBps: number;
  /** Fraction of a link rate this node uses (the rest absorbs the shaper's error and bursts). */
  headroom?: number;
  /** Segments in flight (default: the manifest's variant default passed by the CLI). */
  window: number;
  log?: (obj: Record<string, unknown>) => void;
  seed?: number;
}

export interface ClientCounters {
  /** DATA datagrams accepted (valid, for a segment in progress or already held). */
  received: number;
  innovative: number;
  /** Linearly dependent on what was held (includes those for segments already decoded). */
  dependent: number;
  /** Of the received: for a segment already decoded (in flight when `done` went out). */
  late: number;
  lateFromServer: number;
  fromServer: number;
  fromPeers: number;
  /** DATA datagrams sent to peers and their UDP payload bytes. */
  uploadPackets: number;
  uploadBytes: number;
  /** Coding header bytes per DATA packet: the 16-byte header and the coefficient vector. */
  headerBytesPerPacket: number;
  hashFailures: number;
  /** Peers banned after two segments with their packets in them failed the hash. */
  bannedPeers: number;
  /** `hold` messages sent to peers whose packets were dependent. */
  holdsSent: number;
  dropped: Record<string, number>;
}

interface Helper {
  info: PeerInfo;
  sock: Socket | null;
  segs: Set<number>;
}

interface Served {
  node: number;
  host: string;
  udp: number;
  sock: Socket;
  /** Its asks, holds and budgets (coded/serving.ts). */
  st: ServeState;
}

export class CodedClient {
  private readonly o: JoinOptions & { headroom: number };
  private readonly rng: () => number;
  private manifest!: Manifest;
  private shape!: SessionShape;
  private codeParams!: CodeParams;
  private segBytes = 0;
  private segments = 0;
  private fd = -1;
  private partPath = '';
  private serverSock: Socket | null = null;
  private udp: UdpSocket | null = null;
  private tcp: Server | null = null;
  private readonly decoders = new Map<number, Decoder>();
  /** Peers whose packets went into each segment in progress (innovative ones): the suspects if its hash fails. */
  private readonly contributors = new Map<number, Set<number>>();
  /** Innovative packets of each segment in progress, in all and by sender (for holds, serving.ts). */
  private readonly depStreak = new Map<string, number>();
  private readonly innov = new Map<number, { total: number; by: Map<number, number> }>();
  /** Highest rank seen in a packet of each segment in progress (the most this node can reach of it for now). */
  private readonly swarmRank = new Map<number, number>();
  /** When the last `need` went to each "helper:segment". */
  private readonly needSentAt = new Map<string, number>();
  /** Segments whose hash failed once: taken again from the server only. */
  private readonly serverOnly = new Set<number>();
  /** Peer -> segments that failed their hash with its packets in them; at 2 it is banned. */
  private readonly suspicion = new Map<number, number>();
  private readonly banned = new Set<number>();
  private readonly have = new Set<number>();
  private readonly cache = new Map<number, Encoder>();
  private readonly helpers = new Map<number, Helper>();
  private readonly served = new Map<number, Served>();
  private next = 0;
  private sched!: FlowScheduler<number>;
  private alloc!: CapAllocator<number>;
  private meter!: RateMeter<number>;
  private pumpTimer: NodeJS.Timeout | null = null;
  private capTimer: NodeJS.Timeout | null = null;
  private needTimer: NodeJS.Timeout | null = null;
  private needRound = 0;
  private readonly lateAnswered = new Map<string, number>();
  private started = false;
  private finished: ((v: void) => void) | null = null;
  readonly done: Promise<void>;
  doneBytes = 0;
  readonly counters: ClientCounters = { received: 0, innovative: 0, dependent: 0, late: 0, lateFromServer: 0, fromServer: 0, fromPeers: 0, uploadPackets: 0, uploadBytes: 0, headerBytesPerPacket: 0, hashFailures: 0, bannedPeers: 0, holdsSent: 0, dropped: {} };
  /** performance.now() of the first accepted DATA datagram. */
  firstDataMs: number | null = null;

  constructor(o: JoinOptions) {
    this.o = { headroom: 0.95, ...o };
    this.rng = makeRng(o.seed ?? (o.node * 7919) ^ Date.now());
    this.done = new Promise((r) => (this.finished = r));
  }

  get finalPath(): string {
    return join(this.o.outDir, this.manifest.name);
  }

  private drop(reason: string): void {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + 1;
  }

  /** Binds, connects to the server and reads the manifest; the transfer starts with go(). */
  async start(): Promise<Manifest> {
    defaultKernelFactory(); // the codec's WebAssembly kernel compiled before "ready", not at the first packet
    const udp = createSocket('udp4');
    this.udp = udp;
    udp.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo.address));
    udp.on('error', (e) => this.o.log?.({ event: 'udp-error', message: e.message }));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.o.udpPort, this.o.host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    // Small on purpose: a node that cannot keep up should lose packets (coding makes that cheap), not
    // decode seconds-old ones for segments it has meanwhile finished.
    udp.setRecvBufferSize(512 * 1024);
    udp.setSendBufferSize(4 * 1024 * 1024);
    const tcp = createServer((s) => this.onPeerConnection(s));
    this.tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.o.ctlPort, this.o.host, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    const ta = tcp.address();
    const ctlPort = typeof ta === 'object' && ta ? ta.port : this.o.ctlPort;
    const udpPort = udp.address().port;

    const sock = connect({ host: this.o.server.host, port: this.o.server.port });
    sock.setNoDelay(true);
    this.serverSock = sock;
    const reader = new ControlReader();
    const manifest = await new Promise<Manifest>((resolve, reject) => {
      let got = false;
      sock.once('connect', () => sock.write(encodeControl({ t: 'hello', node: this.o.node, udp: udpPort, ctl: ctlPort, downKbps: this.kbps(this.downBudget()) })));
      sock.on('data', (chunk: Buffer) => {
        let msgs: ControlMsg[];
        try {
          msgs = reader.push(chunk);
        } catch (e) {
          sock.destroy();
          return reject(new Error(`the server sent a bad control frame: ${(e as Error).message}`));
        }
        for (const m of msgs) {
          if (!got) {
            if (m.t !== 'manifest') return reject(new Error(`the server sent ${m.t} before its manifest`));
            got = true;
            resolve(m);
          } else this.onServerControl(m);
        }
      });
      sock.on('error', (e) => (got ? this.o.log?.({ event: 'server-error', message: e.message }) : reject(e)));
      sock.on('close', () => {
        if (!got) reject(new Error('the server closed the connection before its manifest'));
        else if (this.have.size < this.segments) this.o.log?.({ event: 'server-closed' });
      });
    });
    this.setManifest(manifest);
    return manifest;
  }

  private setManifest(m: Manifest): void {
    this.manifest = m;
    this.segBytes = m.k * m.symbolBytes;
    this.segments = segmentCount(m.size, this.segBytes);
    this.shape = { session: m.session, segments: this.segments, field: m.field, k: m.k, symbolBytes: m.symbolBytes };
    this.codeParams = { field: m.field, k: m.k, symbolBytes: m.symbolBytes, ...(m.density < 1 ? { density: m.density } : {}), ...(m.band > 0 ? { band: m.band } : {}) };
    this.counters.headerBytesPerPacket = HEADER_BYTES + coeffBytes(m.field, m.k);
    this.partPath = join(this.o.outDir, `.${m.name}.coded-part`);
    this.fd = openSync(this.partPath, 'w+', 0o644);
    ftruncateSync(this.fd, m.size);
    const now = performance.now();
    this.sched = new FlowScheduler<number>(this.o.upBps * this.o.headroom, now);
    this.alloc = new CapAllocator<number>({ downBps: this.downBudget(), pinned: [0] });
    this.meter = new RateMeter<number>(now);
  }

  /** Link bytes of one DATA packet (frame included). */
  private pktLinkBytes(): number {
    return HEADER_BYTES + coeffBytes(this.manifest.field, this.manifest.k) + this.manifest.symbolBytes + LINK_OVERHEAD_BYTES;
  }

  private downBudget(): number {
    return this.o.downBps === Infinity ? 1e12 : this.o.downBps * this.o.headroom;
  }

  private kbps(bps: number): number {
    return Math.min(1e9, Math.max(1, Math.round(bps / 1000)));
  }

  /** Starts the transfer (the lab's go signal). */
  go(): void {
    if (this.started) return;
    this.started = true;
    if (this.segments === 0) return this.complete();
    this.capTimer = setInterval(() => this.feedback(), CAP_INTERVAL_MS);
    this.needTimer = setInterval(() => this.sendNeeds(), NEED_INTERVAL_MS);
    this.addSender(0);
    this.fill();
  }

  stop(): void {
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    if (this.capTimer) clearInterval(this.capTimer);
    if (this.needTimer) clearInterval(this.needTimer);
    this.pumpTimer = this.capTimer = this.needTimer = null;
    this.serverSock?.destroy();
    for (const h of this.helpers.values()) h.sock?.destroy();
    for (const s of this.served.values()) s.sock.destroy();
    this.tcp?.close();
    this.udp?.close();
    this.udp = null;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  // -------------------------------------------------------------------- downloading

  /** Wants the lowest segments not held, up to the window. */
  private fill(): void {
    while (this.decoders.size < this.o.window && this.next < this.segments) {
      const s = this.next++;
      if (this.have.has(s)) continue;
      this.decoders.set(s, new Decoder(this.codeParams));
      this.toServer({ t: 'want', seg: s, kbps: this.kbps(this.alloc.cap(0) ?? this.downBudget()) });
    }
  }

  private toServer(m: ControlMsg, udpCopy = true): void {
    this.serverSock?.write(encodeControl(m));
    if (udpCopy && this.udp) this.udp.send(encodeCtrlDatagram({ session: this.manifest.session, segment: 0, from: this.o.node, rank: 0 }, m), this.o.server.port, this.o.server.host);
  }

  private addSender(node: number): void {
    for (const [k, bps] of this.alloc.add(node)) this.sendCap(k, bps);
  }

  private removeSender(node: number): void {
    for (const [k, bps] of this.alloc.remove(node)) this.sendCap(k, bps);
  }

  private sendCap(node: number, bps: number): void {
    const m: ControlMsg = { t: 'cap', kbps: this.kbps(bps) };
    if (node === 0) this.serverSock?.write(encodeControl(m));
    else this.helpers.get(node)?.sock?.write(encodeControl(m));
  }

  private feedback(): void {
    const rates = this.meter.take(performance.now(), this.alloc.senders);
    for (const [k, bps] of this.alloc.update(rates)) this.sendCap(k, bps);
  }

  /**
   * Each peer sending a segment in progress gets its share of the packets still missing (with a
   * margin), by UDP: a budget, replaced every NEED_INTERVAL_MS, so few packets are in flight when
   * it completes.
   */
  private sendNeeds(): void {
    const udp = this.udp;
    if (!udp) return;
    this.needRound++;
    for (const [seg, dec] of this.decoders) {
      const helpers = this.serverOnly.has(seg) ? [] : [...this.helpers.values()].filter((h) => h.segs.has(seg));
      // The server is not budgeted: it is the one sender whose packets are always fresh, and over
      // GF(2) with a band its last useful packets are rare (a budget starved the end of each segment).
      const senders = helpers.length + 1;
      const margin = this.manifest.field === 'gf2' ? NEED_MARGIN_GF2 : NEED_MARGIN;
      const cap = swarmCap(this.manifest.k, this.swarmRank.get(seg) ?? 0, NEED_SWARM_SLACK);
      const now = performance.now();
      helpers.forEach((h, k) => {
        // Paced like the data it governs: at most one `need` per two of that sender's packets at
        // its cap (and per NEED_INTERVAL_MS). Every 10 ms to every sender of both segments, the
        // needs cost a 4 Mbit/s node of coded-one-slow about 1 Mbit/s of its downlink (7 fast
        // peers x 2 segments x 100/s x ~90 bytes), unbudgeted: a standing queue, late packets.
        const key = `${h.info.node}:${seg}`;
        const capBps = this.alloc.cap(h.info.node) ?? this.downBudget();
        const every = Math.max(NEED_INTERVAL_MS, (2 * 8 * this.pktLinkBytes()) / Math.max(1, capBps) * 1000);
        if (now - (this.needSentAt.get(key) ?? -Infinity) < every - 1) return;
        this.needSentAt.set(key, now);
        const n = needShare(cap, dec.rank, senders, margin, k + 1 + this.needRound);
        udp.send(encodeCtrlDatagram({ session: this.manifest.session, segment: seg, from: this.o.node, rank: dec.rank }, { t: 'need', seg, n }), h.info.udp, h.info.host);
      });
    }
  }

  private onServerControl(m: ControlMsg): void {
    if (m.t !== 'peers') return this.drop('unexpected-control');
    if (!this.decoders.has(m.seg)) return;
    for (const p of m.peers) {
      if (p.node === this.o.node) continue;
      this.askHelper(p, m.seg);
    }
  }

  private askHelper(p: PeerInfo, seg: number): void {
    if (this.banned.has(p.node) || this.serverOnly.has(seg)) return;
    let h = this.helpers.get(p.node);
    if (!h) {
      if (this.helpers.size >= MAX_SERVED) return;
      h = { info: p, sock: null, segs: new Set() };
      this.helpers.set(p.node, h);
      const sock = connect({ host: p.host, port: p.ctl });
      sock.setNoDelay(true);
      h.sock = sock;
      const hh = h;
      // Written before anything else (writes queue until the connection is up, in order).
      sock.write(encodeControl({ t: 'peer-hello', session: this.manifest.session, node: this.o.node, udp: this.udp!.address().port }));
      sock.on('data', () => {}); // a helper says nothing back
      const gone = (): void => {
        if (this.helpers.get(p.node) !== hh) return;
        this.helpers.delete(p.node);
        this.removeSender(p.node);
      };
      sock.on('error', gone);
      sock.on('close', gone);
    }
    if (h.segs.has(seg)) return;
    h.segs.add(seg);
    if (h.segs.size === 1) this.addSender(p.node);
    h.sock?.write(encodeControl({ t: 'ask', seg, kbps: this.kbps(this.alloc.cap(p.node) ?? this.downBudget()) }));
  }

  private onDatagram(buf: Buffer, from: string): void {
    if (!this.shape) return this.drop('before-manifest');
    const d = decodeDatagram(buf, this.shape);
    if ('drop' in d) return this.drop(d.drop);
    if (d.type === 'ctrl') {
      // A copy of `done` from a peer this node serves.
      const s = this.served.get(d.from);
      if (!s || s.host !== from || (d.msg.t !== 'done' && d.msg.t !== 'need')) return this.drop('unexpected-ctrl');
      return this.onServedControl(s, d.msg, Math.min(d.rank, this.manifest.k));
    }
    // Only the server and the peers this node asked may send it data, from their own address.
    const sender = d.from === 0 ? (from === this.o.server.host ? 0 : -1) : this.helpers.get(d.from)?.info.host === from ? d.from : -1;
    if (sender < 0) return this.drop('unknown-sender');
    if (this.banned.has(sender)) return this.drop('banned-peer');
    if (sender !== 0 && this.serverOnly.has(d.segment)) return this.drop('distrusted');
    this.meter.add(sender, buf.length + LINK_OVERHEAD_BYTES);
    this.counters.received++;
    if (sender === 0) this.counters.fromServer++;
    else this.counters.fromPeers++;
    this.firstDataMs ??= performance.now();
    const dec = this.decoders.get(d.segment);
    if (!dec) {
      this.counters.dependent++;
      if (this.have.has(d.segment)) {
        this.counters.late++;
        if (sender === 0) this.counters.lateFromServer++;
        this.answerLate(sender, d.segment);
      }
      return;
    }
    this.swarmRank.set(d.segment, Math.max(this.swarmRank.get(d.segment) ?? 0, d.rank));
    // A peer we also serve: its rank, for the rank gate of what we send it (serving.ts).
    if (sender !== 0) this.served.get(sender)?.st.heard(d.segment, d.rank);
    let res: 'innovative' | 'dependent';
    try {
      res = dec.add({ coeffs: unpackCoeffs(this.manifest.field, this.manifest.k, d.coeffs), payload: d.payload });
    } catch {
      this.counters.received--;
      return this.drop('bad-packet');
    }
    const streak = `${sender}:${d.segment}`;
    if (res === 'dependent') {
      this.counters.dependent++;
      // Over GF(2^8) one dependent packet means the sender's subspace is inside ours (but for a
      // 1/256 chance); over GF(2) a random combination falls inside by chance half the time or
      // more, so it takes HOLD_STREAK_GF2 in a row.
      const n = (this.depStreak.get(streak) ?? 0) + 1;
      this.depStreak.set(streak, n);
      if (sender !== 0 && n >= (this.manifest.field === 'gf2' ? HOLD_STREAK_GF2 : 1)) {
        this.depStreak.delete(streak);
        this.hold(sender, d.segment, d.rank);
      }
    } else {
      this.depStreak.delete(streak);
      this.counters.innovative++;
      let iv = this.innov.get(d.segment);
      if (!iv) this.innov.set(d.segment, (iv = { total: 0, by: new Map() }));
      iv.total++;
      iv.by.set(sender, (iv.by.get(sender) ?? 0) + 1);
      if (sender !== 0) {
        let c = this.contributors.get(d.segment);
        if (!c) this.contributors.set(d.segment, (c = new Set()));
        c.add(sender);
      }
    }
    if (dec.complete) this.segmentDecoded(d.segment, dec);
    else if (res === 'innovative') this.kickPump();
  }

  /** A packet for a segment already held: that sender missed our `done`; say it again, at most every 20 ms. */
  private answerLate(sender: number, seg: number): void {
    const key = `${sender}:${seg}`;
    const now = performance.now();
    if ((this.lateAnswered.get(key) ?? -Infinity) > now - 20) return;
    this.lateAnswered.set(key, now);
    if (this.lateAnswered.size > 4096) this.lateAnswered.clear();
    if (sender === 0) return this.toServer({ t: 'done', seg });
    const h = this.helpers.get(sender);
    if (h) {
      h.sock?.write(encodeControl({ t: 'done', seg }));
      this.udp?.send(encodeCtrlDatagram({ session: this.manifest.session, segment: seg, from: this.o.node, rank: 0 }, { t: 'done', seg }), h.info.udp, h.info.host);
    }
  }

  /** A peer's packet at rank `rank` was dependent: its subspace is (almost surely) in ours; it should wait until it has more. */
  private hold(sender: number, seg: number, rank: number): void {
    const key = `h${sender}:${seg}:${rank}`;
    if (this.lateAnswered.has(key)) return;
    this.lateAnswered.set(key, performance.now());
    this.counters.holdsSent++;
    this.helpers.get(sender)?.sock?.write(encodeControl({ t: 'hold', seg, rank }));
  }

  private segmentDecoded(seg: number, dec: Decoder): void {
    this.decoders.delete(seg);
    const suspects = this.contributors.get(seg) ?? new Set<number>();
    this.contributors.delete(seg);
    this.innov.delete(seg);
    this.swarmRank.delete(seg);
    for (const key of this.needSentAt.keys()) if (key.endsWith(`:${seg}`)) this.needSentAt.delete(key);
    if (this.depStreak.size > 4096) this.depStreak.clear();
    const data = dec.data();
    // Its workspace goes back to the codec's shared memory now, not when a finalizer runs: else the
    // memory grew by every segment's decoder and each new one touched fresh pages (about 3 % of a
    // client's CPU in a profile, in page faults under the allocator's zero-fill).
    dec.dispose();
    const len = segmentLength(this.manifest.size, this.segBytes, seg);
    const hash = createHash('sha256').update(data.subarray(0, len)).digest('hex');
    if (hash !== this.manifest.hashes[seg]) {
      // Garbage from a peer decoded into wrong bytes (the server's packets are the file's own):
      // start this segment again from the server only; a peer in two failed segments is banned.
      this.counters.hashFailures++;
      this.serverOnly.add(seg);
      for (const p of suspects) {
        const n = (this.suspicion.get(p) ?? 0) + 1;
        this.suspicion.set(p, n);
        if (n >= 2 && !this.banned.has(p)) {
          this.banned.add(p);
          this.counters.bannedPeers++;
          const h = this.helpers.get(p);
          h?.sock?.destroy();
        }
      }
      for (const [node, h] of this.helpers) {
        if (!h.segs.delete(seg)) continue;
        h.sock?.write(encodeControl({ t: 'done', seg })); // "stop sending it": the same message
        if (h.segs.size === 0) this.removeSender(node);
      }
      this.o.log?.({ event: 'hash-mismatch', seg, suspects: [...suspects] });
      this.decoders.set(seg, new Decoder(this.codeParams));
      return;
    }
    let off = 0;
    while (off < len) off += writeSync(this.fd, data, off, len - off, seg * this.segBytes + off);
    this.have.add(seg);
    this.doneBytes += len;
    this.cacheEncoder(seg, data);
    this.toServer({ t: 'done', seg });
    // Every sender of the segment is told at once, by TCP and by a UDP copy (the copy overtakes a
    // TCP segment stuck behind a loss, as for the server).
    for (const [node, h] of this.helpers) {
      if (!h.segs.delete(seg)) continue;
      h.sock?.write(encodeControl({ t: 'done', seg }));
      this.udp?.send(encodeCtrlDatagram({ session: this.manifest.session, segment: seg, from: this.o.node, rank: 0 }, { t: 'done', seg }), h.info.udp, h.info.host);
      if (h.segs.size === 0) this.removeSender(node);
    }
    if (this.have.size === this.segments) return this.complete();
    this.fill();
  }

  private complete(): void {
    fsyncSync(this.fd);
    renameSync(this.partPath, this.finalPath);
    if (this.capTimer) clearInterval(this.capTimer);
    if (this.needTimer) clearInterval(this.needTimer);
    this.capTimer = this.needTimer = null;
    this.finished?.();
    this.finished = null;
  }

  // -------------------------------------------------------------------- serving peers

  private onPeerConnection(sock: Socket): void {
    if (this.served.size >= MAX_SERVED) return void sock.destroy();
    sock.setNoDelay(true);
    const reader = new ControlReader(4096);
    let me: Served | null = null;
    const helloTimer = setTimeout(() => sock.destroy(), 10_000);
    sock.on('data', (chunk: Buffer) => {
      let msgs: ControlMsg[];
      try {
        msgs = reader.push(chunk);
      } catch {
        this.drop('bad-control');
        return void sock.destroy();
      }
      for (const m of msgs) {
        if (!me) {
          if (m.t !== 'peer-hello' || !this.shape || m.session !== this.manifest.session || m.node === this.o.node) {
            this.drop('bad-peer-hello');
            return void sock.destroy();
          }
          clearTimeout(helloTimer);
          const old = this.served.get(m.node);
          if (old) this.forgetServed(old);
          me = { node: m.node, host: sock.remoteAddress?.replace(/^::ffff:/, '') ?? '', udp: m.udp, sock, st: new ServeState() };
          this.served.set(m.node, me);
          this.sched.set(m.node, this.downBudget(), performance.now());
          continue;
        }
        this.onServedControl(me, m);
      }
    });
    const bye = (): void => {
      clearTimeout(helloTimer);
      if (me && this.served.get(me.node) === me) this.forgetServed(me);
    };
    sock.on('close', bye);
    sock.on('error', bye);
  }

  private forgetServed(s: Served): void {
    this.served.delete(s.node);
    this.sched.remove(s.node);
    s.sock.destroy();
  }

  /** `rank`: the node's rank of the segment, in a `need` that came by UDP. */
  private onServedControl(s: Served, m: ControlMsg, rank?: number): void {
    const now = performance.now();
    switch (m.t) {
      case 'ask':
        if (m.seg >= this.segments) return this.drop('bad-segment');
        if (!s.st.ask(m.seg)) return this.drop('too-many-asks');
        if (m.kbps > 0) this.sched.set(s.node, m.kbps * 1000, now);
        this.kickPump();
        return;
      case 'done':
        s.st.done(m.seg);
        return;
      case 'need':
        s.st.need(m.seg, m.n, rank);
        if (m.n > 0) this.kickPump();
        return;
      case 'hold':
        s.st.hold(m.seg, this.freshOf(m.seg, s.node));
        return;
      case 'cap':
        this.sched.set(s.node, m.kbps > 0 ? m.kbps * 1000 : 1000, now);
        this.kickPump();
        return;
      default:
        this.drop('unexpected-control');
    }
  }

  /** Innovative packets of `seg` this node got from others than `node` (Infinity once it holds it). */
  private freshOf(seg: number, node: number): number {
    if (this.have.has(seg)) return Infinity;
    const iv = this.innov.get(seg);
    return iv ? iv.total - (iv.by.get(node) ?? 0) : 0;
  }

  /** This node's rank of `seg` for the rank gate (Infinity once held: no gate). */
  private readonly myRank = (seg: number): number => (this.have.has(seg) ? Infinity : (this.decoders.get(seg)?.rank ?? 0));

  /** This node's rank of `seg` (k once held). */
  private rankOf(seg: number): number {
    return this.have.has(seg) ? this.manifest.k : (this.decoders.get(seg)?.rank ?? 0);
  }

  private cacheEncoder(seg: number, data: Uint8Array): Encoder {
    const enc = new Encoder(this.codeParams, data, this.rng);
    this.cache.set(seg, enc);
    if (this.cache.size > ENCODER_CACHE) {
      const [oldest, old] = this.cache.entries().next().value!;
      this.cache.delete(oldest);
      old.dispose();
    }
    return enc;
  }

  private kickPump(): void {
    if (this.pumpTimer || !this.started) return;
    this.pumpTimer = setTimeout(() => this.pump(), 0);
  }

  private pump(): void {
    this.pumpTimer = null;
    const udp = this.udp;
    if (!udp || !this.shape) return;
    const now = performance.now();
    const linkBytes = HEADER_BYTES + coeffBytes(this.manifest.field, this.manifest.k) + this.manifest.symbolBytes + LINK_OVERHEAD_BYTES;
    for (let n = 0; n < 256; n++) {
      const node = this.sched.next(now, linkBytes, (k) => this.served.get(k)?.st.any((g) => this.freshOf(g, k), this.myRank) ?? false);
      if (node === null) break;
      const s = this.served.get(node)!;
      const seg = s.st.pick((g) => this.freshOf(g, node), this.myRank);
      if (seg === null) continue;
      const rank = this.rankOf(seg);
      const pkt = this.packetOf(seg);
      if (!pkt) continue;
      const buf = encodeData({ session: this.manifest.session, segment: seg, from: this.o.node, rank }, packCoeffs(this.manifest.field, pkt.coeffs), pkt.payload);
      udp.send(buf, s.udp, s.host);
      this.counters.uploadPackets++;
      this.counters.uploadBytes += buf.length;
    }
    let work = false;
    for (const s of this.served.values()) if (s.st.any((g) => this.freshOf(g, s.node), this.myRank)) work = true;
    const wait = this.sched.wakeInMs(performance.now());
    if (work && wait !== null) this.pumpTimer = setTimeout(() => this.pump(), Math.max(0, Math.min(50, wait)));
  }

  private packetOf(seg: number): { coeffs: Uint8Array; payload: Uint8Array } | null {
    const dec = this.decoders.get(seg);
    if (dec) return dec.recode(this.rng);
    if (!this.have.has(seg)) return null;
    let enc = this.cache.get(seg);
    if (!enc) enc = this.cacheEncoder(seg, readSegment(this.fd, this.manifest.size, this.segBytes, seg));
    return enc.coded();
  }
}
