/**
 * The coded server: holds the file, answers clients on TCP (manifest, which peers are on which
 * segment, rate caps) and sends coded packets of the segments they want over UDP, paced under
 * its uplink (`rateKbps`, a little below the link rate) and under each client's cap (the client's
 * downlink share, from its own feedback). The seed ran one worker process per session; here one
 * event loop sends every segment (a worker per segment would only add copies on this scale).
 *
 * A client's `done` (TCP, and a copy by UDP so a lost TCP segment does not hold it for an RTO)
 * stops that segment for that client at once; a DATA packet arriving at a client for a segment it
 * already holds makes it answer `done` again, so a lost `done` costs at most one more packet.
 */
import { randomInt } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Encoder, packCoeffs } from './codec/index.js';
import { FlowScheduler } from './pacing.js';
import { checkCodedParams, datagramBytes, makeRng, readSegment, segmentBytes, segmentCount, segmentHashes, type CodedParams } from './params.js';
import { ControlReader, decodeDatagram, encodeControl, encodeData, LINK_OVERHEAD_BYTES, type ControlMsg, type Manifest, type PeerInfo, type SessionShape } from './wire.js';

export interface ServeOptions {
  file: string;
  host: string;
  /** TCP (control) and UDP (data, feedback) port: the same number for both (0: any free one). */
  port: number;
  /** Uplink pace, link bit/s (Infinity: unpaced). */
  rateBps: number;
  params: CodedParams;
  /** Most peers named to a client per segment. */
  maxPeers?: number;
  log?: (obj: Record<string, unknown>) => void;
}

interface Client {
  node: number;
  sock: Socket;
  host: string;
  udp: number;
  ctl: number;
  wants: number[];
  done: Set<number>;
  rr: number;
  /** seg -> packets the client still asks for (its last `need`); absent: no limit yet. */
  budget: Map<number, number>;
}

export interface ServerCounters {
  packetsSent: number;
  bytesSent: number;
  systematicSent: number;
  dropped: Record<string, number>;
  clients: number;
}

const MAX_CLIENTS = 4096;

export class CodedServer {
  private readonly o: Required<Omit<ServeOptions, 'log'>> & Pick<ServeOptions, 'log'>;
  private fd = -1;
  private fileBytes = 0;
  private manifest!: Manifest;
  private shape!: SessionShape;
  private tcp: Server | null = null;
  private udp: UdpSocket | null = null;
  private readonly clients = new Map<number, Client>();
  /** `sent`: packets of the segment sent to anybody (while it stays wanted): carried as the header's rank. */
  private readonly encoders = new Map<number, { enc: Encoder; sysNext: number; sent: number }>();
  private sched!: FlowScheduler<number>;
  private timer: NodeJS.Timeout | null = null;
  private readonly rng = makeRng(randomInt(2 ** 31));
  private readonly pktLinkBytes: number;
  readonly counters: ServerCounters = { packetsSent: 0, bytesSent: 0, systematicSent: 0, dropped: {}, clients: 0 };

  constructor(o: ServeOptions) {
    checkCodedParams(o.params);
    this.o = { maxPeers: 64, ...o };
    this.pktLinkBytes = datagramBytes(o.params) + LINK_OVERHEAD_BYTES;
  }

  get session(): number {
    return this.manifest.session;
  }

  /** Reads and hashes the file, binds both sockets. Resolves with the bound port. */
  async start(): Promise<number> {
    const p = this.o.params;
    this.fd = openSync(this.o.file, 'r');
    this.fileBytes = fstatSync(this.fd).size;
    const segBytes = segmentBytes(p);
    const hashes = segmentHashes(this.o.file, this.fileBytes, segBytes);
    const session = randomInt(1, 2 ** 32 - 1);
    this.manifest = { t: 'manifest', session, name: basename(this.o.file), size: this.fileBytes, field: p.field, k: p.k, symbolBytes: p.symbolBytes, band: p.band, density: p.density, systematic: p.systematic, hashes };
    this.shape = { session, segments: hashes.length, field: p.field, k: p.k, symbolBytes: p.symbolBytes };
    this.sched = new FlowScheduler<number>(this.o.rateBps, performance.now());

    const tcp = createServer((s) => this.onConnection(s));
    this.tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.o.port, this.o.host, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    const a = tcp.address();
    const port = typeof a === 'object' && a ? a.port : this.o.port;
    const udp = createSocket('udp4');
    this.udp = udp;
    udp.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo.address));
    udp.on('error', (e) => this.o.log?.({ event: 'udp-error', message: e.message }));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, this.o.host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    udp.setSendBufferSize(4 * 1024 * 1024);
    return port;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const c of this.clients.values()) c.sock.destroy();
    this.clients.clear();
    this.tcp?.close();
    this.udp?.close();
    this.tcp = null;
    this.udp = null;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private drop(reason: string): void {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + 1;
  }

  private onConnection(sock: Socket): void {
    if (this.clients.size >= MAX_CLIENTS) return void sock.destroy();
    sock.setNoDelay(true);
    const reader = new ControlReader(64 * 1024);
    let client: Client | null = null;
    const helloTimer = setTimeout(() => sock.destroy(), 10_000);
    sock.on('data', (chunk: Buffer) => {
      let msgs: ControlMsg[];
      try {
        msgs = reader.push(chunk);
      } catch (e) {
        this.drop('bad-control');
        this.o.log?.({ event: 'bad-control', message: (e as Error).message });
        return void sock.destroy();
      }
      for (const m of msgs) {
        if (!client) {
          if (m.t !== 'hello') {
            this.drop('bad-control');
            return void sock.destroy();
          }
          clearTimeout(helloTimer);
          const old = this.clients.get(m.node);
          if (old) this.forget(old);
          client = { node: m.node, sock, host: sock.remoteAddress?.replace(/^::ffff:/, '') ?? '', udp: m.udp, ctl: m.ctl, wants: [], done: new Set(), rr: 0, budget: new Map() };
          this.clients.set(m.node, client);
          this.counters.clients = Math.max(this.counters.clients, this.clients.size);
          this.sched.set(m.node, m.downKbps > 0 ? m.downKbps * 1000 : Infinity, performance.now());
          sock.write(encodeControl(this.manifest));
          continue;
        }
        this.onControl(client, m);
      }
    });
    const bye = (): void => {
      clearTimeout(helloTimer);
      if (client && this.clients.get(client.node) === client) this.forget(client);
    };
    sock.on('close', bye);
    sock.on('error', bye);
  }

  private forget(c: Client): void {
    this.clients.delete(c.node);
    this.sched.remove(c.node);
    c.sock.destroy();
    this.gcEncoders();
  }

  private onDatagram(buf: Buffer, from: string): void {
    const d = decodeDatagram(buf, this.shape);
    if ('drop' in d) return this.drop(d.drop);
    if (d.type !== 'ctrl') return this.drop('unexpected-data');
    const c = this.clients.get(d.from);
    if (!c || c.host !== from) return this.drop('unknown-sender');
    if (d.msg.t === 'done' || d.msg.t === 'want' || d.msg.t === 'need') this.onControl(c, d.msg);
    else this.drop('unexpected-ctrl');
  }

  private onControl(c: Client, m: ControlMsg): void {
    const now = performance.now();
    switch (m.t) {
      case 'want': {
        if (m.seg >= this.shape.segments) return this.drop('bad-segment');
        if (c.done.has(m.seg) || c.wants.includes(m.seg)) return;
        if (c.wants.length >= 16) return this.drop('too-many-wants');
        c.wants.push(m.seg);
        if (m.kbps > 0) this.sched.set(c.node, m.kbps * 1000, now);
        // Who can help on this segment: those on it, and those who hold it.
        const peers: PeerInfo[] = [];
        for (const o of this.clients.values()) {
          if (o === c || peers.length >= this.o.maxPeers) continue;
          if (o.wants.includes(m.seg) || o.done.has(m.seg)) peers.push({ node: o.node, host: o.host, udp: o.udp, ctl: o.ctl });
        }
        c.sock.write(encodeControl({ t: 'peers', seg: m.seg, peers }));
        // And those on it, still without it, learn of the newcomer.
        const me: PeerInfo = { node: c.node, host: c.host, udp: c.udp, ctl: c.ctl };
        for (const o of this.clients.values()) if (o !== c && o.wants.includes(m.seg)) o.sock.write(encodeControl({ t: 'peers', seg: m.seg, peers: [me] }));
        this.kick();
        return;
      }
      case 'done': {
        if (m.seg >= this.shape.segments) return this.drop('bad-segment');
        c.done.add(m.seg);
        c.budget.delete(m.seg);
        const i = c.wants.indexOf(m.seg);
        if (i >= 0) c.wants.splice(i, 1);
        this.gcEncoders();
        return;
      }
      case 'need':
        if (!c.wants.includes(m.seg)) return;
        c.budget.set(m.seg, m.n);
        if (m.n > 0) this.kick();
        return;
      case 'cap':
        this.sched.set(c.node, m.kbps > 0 ? m.kbps * 1000 : Infinity, now);
        this.kick();
        return;
      default:
        this.drop('unexpected-control');
    }
  }

  /** Encoders of segments nobody wants any more are dropped (memory: one segment per wanted one). */
  private gcEncoders(): void {
    for (const s of this.encoders.keys()) {
      let wanted = false;
      for (const c of this.clients.values()) if (c.wants.includes(s)) wanted = true;
      if (!wanted) {
        this.encoders.get(s)!.enc.dispose();
        this.encoders.delete(s);
      }
    }
  }

  private encoder(s: number): { enc: Encoder; sysNext: number; sent: number } {
    let e = this.encoders.get(s);
    if (!e) {
      const p = this.o.params;
      const data = readSegment(this.fd, this.fileBytes, segmentBytes(p), s);
      e = { enc: new Encoder({ field: p.field, k: p.k, symbolBytes: p.symbolBytes, ...(p.density < 1 ? { density: p.density } : {}), ...(p.band > 0 ? { band: p.band } : {}) }, data, this.rng), sysNext: p.systematic ? 0 : p.k, sent: 0 };
      this.encoders.set(s, e);
    }
    return e;
  }

  /** A segment the client wants and still has budget for. */
  private sendable(c: Client | undefined): boolean {
    return c !== undefined && c.wants.some((g) => (c.budget.get(g) ?? 1) > 0);
  }

  private kick(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.pump(), 0);
  }

  /** Sends what the pacing allows now, then sleeps until it allows more. */
  private pump(): void {
    this.timer = null;
    const udp = this.udp;
    if (!udp) return;
    const now = performance.now();
    const p = this.o.params;
    for (let n = 0; n < 256; n++) {
      const node = this.sched.next(now, this.pktLinkBytes, (k) => this.sendable(this.clients.get(k)));
      if (node === null) break;
      const c = this.clients.get(node)!;
      let seg = -1;
      for (let j = 0; j < c.wants.length && seg < 0; j++) {
        const g = c.wants[(c.rr + j) % c.wants.length]!;
        if ((c.budget.get(g) ?? 1) > 0) {
          seg = g;
          c.rr = (c.rr + j + 1) % c.wants.length;
        }
      }
      const left = c.budget.get(seg);
      if (left !== undefined) c.budget.set(seg, left - 1);
      const e = this.encoder(seg);
      let pkt;
      if (e.sysNext < p.k) {
        pkt = e.enc.systematic(e.sysNext++);
        this.counters.systematicSent++;
      } else pkt = e.enc.coded();
      // The header's rank: how many packets of the segment the server has put on the air (at most
      // k): no node can hold more of it than that, so a client sizes its peers' budgets on it.
      e.sent = Math.min(p.k, e.sent + 1);
      const buf = encodeData({ session: this.manifest.session, segment: seg, from: 0, rank: e.sent }, packCoeffs(p.field, pkt.coeffs), pkt.payload);
      udp.send(buf, c.udp, c.host);
      this.counters.packetsSent++;
      this.counters.bytesSent += buf.length;
    }
    const wait = this.sched.wakeInMs(performance.now());
    let anyWant = false;
    for (const c of this.clients.values()) if (this.sendable(c)) anyWant = true;
    if (anyWant && wait !== null) this.timer = setTimeout(() => this.pump(), Math.max(0, Math.min(50, wait)));
  }
}
