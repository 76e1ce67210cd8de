/**
 * The coded protocol's wire format, pure (no sockets). Two kinds of bytes:
 *
 * 1. UDP datagrams (data, and a fast copy of a few control messages), all with one 18-byte header:
 *
 *      magic 'FC' (2) | version u8 | type u8 | session u32be | segment u32be | from u16be |
 *      rank u16be | len u16be                                                    (18 bytes)
 *
 *    `session` is the server's random 32-bit id for this distribution, `segment` the generation,
 *    `from` the sending node (0 = the server, receiver i = i + 1), `rank` the sender's rank of the
 *    segment when it made the packet (k when it holds it all; the server's: how many packets of it
 *    it has sent so far, at most k, the most any node can hold), `len` the bytes after the header.
 *    In a CTRL `need`, `rank` is the receiver's rank of the segment.
 *    A receiver that finds a peer's packet dependent tells that peer to hold the segment until its
 *    rank is above the one in the header (`hold`): its subspace is (almost surely) inside ours.
 *    DATA (type 1): coefficients then payload. The coefficient bytes are `coeffBytes(field, k)`
 *    (GF(2): one bit per symbol, packed; GF(2^8): one byte per symbol) and the payload is exactly
 *    `symbolBytes`: `len` must equal their sum for this session's parameters, else the datagram is
 *    dropped (`wrong-length`). CTRL (type 2): a JSON control message (the same as on TCP), `len`
 *    at most 1024. Coding header bytes per DATA packet: 18 + coeffBytes (and 28 of IPv4 + UDP).
 *
 * 2. TCP control frames: `len u32be | JSON`, at most MAX_CONTROL_BYTES (a manifest of a large
 *    file is the biggest). Every message is validated field by field (`parseControl`): an unknown
 *    type, a missing or mistyped field is a `WireError`, never a crash.
 *
 * Decoding never trusts a length and never throws on garbage: `decodeDatagram` returns a reason
 * for a drop, which the node counts.
 */

export const MAGIC = 0x4643; // 'FC'
export const VERSION = 1;
export const HEADER_BYTES = 18;
export const TYPE_DATA = 1;
export const TYPE_CTRL = 2;
export const MAX_CTRL_DATAGRAM = 1024;
/** Largest UDP payload that fits one Ethernet frame (1500 - 20 IPv4 - 8 UDP). */
export const MAX_DATAGRAM = 1472;
/** Per datagram on the wire besides the UDP payload: IPv4 20 + UDP 8 + Ethernet 14 (what HTB counts). */
export const LINK_OVERHEAD_BYTES = 42;
export const MAX_CONTROL_BYTES = 8 * 1024 * 1024;

export type Field = 'gf2' | 'gf256';

export function coeffBytes(field: Field, k: number): number {
  return field === 'gf2' ? Math.ceil(k / 8) : k;
}

export interface DataHeader {
  session: number;
  segment: number;
  from: number;
  /** The sender's rank of the segment (DATA); 0 in CTRL datagrams. */
  rank: number;
}

export type Datagram =
  | ({ type: 'data'; coeffs: Uint8Array; payload: Uint8Array } & DataHeader)
  | ({ type: 'ctrl'; msg: ControlMsg } & DataHeader);

export type DropReason = 'truncated' | 'bad-magic' | 'bad-version' | 'bad-type' | 'bad-length' | 'unknown-session' | 'wrong-length' | 'bad-rank' | 'bad-ctrl';

/** What the receiver of a datagram knows: its session's code parameters. */
export interface SessionShape {
  session: number;
  segments: number;
  field: Field;
  k: number;
  symbolBytes: number;
}

function header(buf: Buffer, type: number, h: DataHeader, len: number): void {
  buf.writeUInt16BE(MAGIC, 0);
  buf.writeUInt8(VERSION, 2);
  buf.writeUInt8(type, 3);
  buf.writeUInt32BE(h.session >>> 0, 4);
  buf.writeUInt32BE(h.segment >>> 0, 8);
  buf.writeUInt16BE(h.from, 12);
  buf.writeUInt16BE(h.rank, 14);
  buf.writeUInt16BE(len, 16);
}

/** A DATA datagram: header, packed coefficients, payload. */
export function encodeData(h: DataHeader, coeffs: Uint8Array, payload: Uint8Array): Buffer {
  const len = coeffs.length + payload.length;
  if (HEADER_BYTES + len > MAX_DATAGRAM) throw new RangeError(`a DATA datagram of ${HEADER_BYTES + len} bytes exceeds ${MAX_DATAGRAM}`);
  const buf = Buffer.allocUnsafe(HEADER_BYTES + len);
  header(buf, TYPE_DATA, h, len);
  buf.set(coeffs, HEADER_BYTES);
  buf.set(payload, HEADER_BYTES + coeffs.length);
  return buf;
}

export function encodeCtrlDatagram(h: DataHeader, msg: ControlMsg): Buffer {
  const body = Buffer.from(JSON.stringify(msg));
  if (body.length > MAX_CTRL_DATAGRAM) throw new RangeError('control message too large for a datagram');
  const buf = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  header(buf, TYPE_CTRL, h, body.length);
  body.copy(buf, HEADER_BYTES);
  return buf;
}

/**
 * Decodes one datagram against the session it must belong to; a reason when it is dropped.
 * Copies nothing: coeffs and payload are views into `buf`.
 */
export function decodeDatagram(buf: Uint8Array, shape: SessionShape): Datagram | { drop: DropReason } {
  if (buf.length < HEADER_BYTES) return { drop: 'truncated' };
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (v.getUint16(0) !== MAGIC) return { drop: 'bad-magic' };
  if (v.getUint8(2) !== VERSION) return { drop: 'bad-version' };
  const type = v.getUint8(3);
  const h: DataHeader = { session: v.getUint32(4), segment: v.getUint32(8), from: v.getUint16(12), rank: v.getUint16(14) };
  const len = v.getUint16(16);
  if (buf.length !== HEADER_BYTES + len) return { drop: buf.length < HEADER_BYTES + len ? 'truncated' : 'bad-length' };
  if (h.session !== shape.session >>> 0) return { drop: 'unknown-session' };
  if (type === TYPE_DATA) {
    if (h.segment >= shape.segments) return { drop: 'wrong-length' };
    const cb = coeffBytes(shape.field, shape.k);
    if (len !== cb + shape.symbolBytes) return { drop: 'wrong-length' };
    if (h.rank < 1 || h.rank > shape.k) return { drop: 'bad-rank' };
    const coeffs = buf.subarray(HEADER_BYTES, HEADER_BYTES + cb);
    return { type: 'data', ...h, coeffs, payload: buf.subarray(HEADER_BYTES + cb) };
  }
  if (type === TYPE_CTRL) {
    if (len > MAX_CTRL_DATAGRAM) return { drop: 'bad-ctrl' };
    let raw: unknown;
    try {
      raw = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + HEADER_BYTES, len).toString('utf8'));
    } catch {
      return { drop: 'bad-ctrl' };
    }
    const msg = parseControl(raw);
    if ('error' in msg) return { drop: 'bad-ctrl' };
    return { type: 'ctrl', ...h, msg };
  }
  return { drop: 'bad-type' };
}

// ---------------------------------------------------------------------------------------------
// Control messages (TCP frames, and the same JSON in CTRL datagrams)

export interface PeerInfo {
  node: number;
  host: string;
  udp: number;
  ctl: number;
}

export interface Manifest {
  t: 'manifest';
  session: number;
  name: string;
  size: number;
  field: Field;
  k: number;
  symbolBytes: number;
  band: number;
  density: number;
  systematic: boolean;
  /** SHA-256 of each segment's bytes (the last one shorter), hex. */
  hashes: string[];
}

export type ControlMsg =
  /** client -> server, first: who it is and where its data port is. */
  | { t: 'hello'; node: number; udp: number; ctl: number; downKbps: number }
  | Manifest
  /** client -> server: start sending me `seg` (capped at kbps). */
  | { t: 'want'; seg: number; kbps: number }
  /** client -> server / peers: I hold `seg` (decoded, hash checked): stop sending it to me. */
  | { t: 'done'; seg: number }
  /** server -> client: these peers are on (or have) `seg`. */
  | { t: 'peers'; seg: number; peers: PeerInfo[] }
  /** client -> peer: first on a peer connection. */
  | { t: 'peer-hello'; session: number; node: number; udp: number }
  /** client -> peer: send me recoded packets of `seg` at most `kbps`. */
  | { t: 'ask'; seg: number; kbps: number }
  /** client -> server or peer: a new rate cap for what it sends me. */
  | { t: 'cap'; kbps: number }
  /** client -> peer: your packets of `seg` at rank `rank` were dependent: send more only once your rank is above it. */
  | { t: 'hold'; seg: number; rank: number }
  /**
   * client -> server or peer, by UDP every few ms while a segment is in progress: send me at most
   * `n` more packets of `seg` (its share of what I still miss, with a margin for loss). Replaces
   * the previous budget, so packets in flight when a segment completes stay few.
   */
  | { t: 'need'; seg: number; n: number };

export class WireError extends Error {
  override readonly name = 'WireError';
}

const isInt = (x: unknown, lo: number, hi: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;
const U32 = 0xffffffff;

/** Validates a decoded JSON control message: the message, or why it is not one. */
export function parseControl(raw: unknown): ControlMsg | { error: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { error: 'not an object' };
  const o = raw as Record<string, unknown>;
  const bad = (f: string): { error: string } => ({ error: `${String(o['t'])}: bad ${f}` });
  switch (o['t']) {
    case 'hello':
      if (!isInt(o['node'], 1, 65535)) return bad('node');
      if (!isInt(o['udp'], 1, 65535)) return bad('udp');
      if (!isInt(o['ctl'], 1, 65535)) return bad('ctl');
      if (!isInt(o['downKbps'], 0, 1e9)) return bad('downKbps');
      return { t: 'hello', node: o['node'], udp: o['udp'], ctl: o['ctl'], downKbps: o['downKbps'] };
    case 'manifest': {
      if (!isInt(o['session'], 0, U32)) return bad('session');
      if (typeof o['name'] !== 'string' || !/^[^/\0]{1,255}$/.test(o['name']) || o['name'] === '.' || o['name'] === '..') return bad('name');
      if (!isInt(o['size'], 0, Number.MAX_SAFE_INTEGER)) return bad('size');
      if (o['field'] !== 'gf2' && o['field'] !== 'gf256') return bad('field');
      if (!isInt(o['k'], 1, 1024)) return bad('k');
      if (!isInt(o['symbolBytes'], 1, MAX_DATAGRAM)) return bad('symbolBytes');
      if (HEADER_BYTES + coeffBytes(o['field'], o['k']) + o['symbolBytes'] > MAX_DATAGRAM) return bad('k/symbolBytes (a packet exceeds one frame)');
      if (!isInt(o['band'], 0, 1024)) return bad('band');
      if (typeof o['density'] !== 'number' || !(o['density'] > 0 && o['density'] <= 1)) return bad('density');
      if (typeof o['systematic'] !== 'boolean') return bad('systematic');
      const h = o['hashes'];
      const segBytes = o['k'] * o['symbolBytes'];
      const want = Math.ceil(o['size'] / segBytes);
      if (!Array.isArray(h) || h.length !== want || !h.every((x) => typeof x === 'string' && /^[0-9a-f]{64}$/.test(x))) return bad('hashes');
      return { t: 'manifest', session: o['session'], name: o['name'], size: o['size'], field: o['field'], k: o['k'], symbolBytes: o['symbolBytes'], band: o['band'], density: o['density'], systematic: o['systematic'], hashes: h as string[] };
    }
    case 'want':
      if (!isInt(o['seg'], 0, U32)) return bad('seg');
      if (!isInt(o['kbps'], 0, 1e9)) return bad('kbps');
      return { t: 'want', seg: o['seg'], kbps: o['kbps'] };
    case 'done':
      if (!isInt(o['seg'], 0, U32)) return bad('seg');
      return { t: 'done', seg: o['seg'] };
    case 'peers': {
      if (!isInt(o['seg'], 0, U32)) return bad('seg');
      const p = o['peers'];
      if (!Array.isArray(p) || p.length > 4096) return bad('peers');
      const peers: PeerInfo[] = [];
      for (const x of p) {
        if (typeof x !== 'object' || x === null) return bad('peers');
        const q = x as Record<string, unknown>;
        if (!isInt(q['node'], 1, 65535) || typeof q['host'] !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(q['host']) || !isInt(q['udp'], 1, 65535) || !isInt(q['ctl'], 1, 65535)) return bad('peers');
        peers.push({ node: q['node'], host: q['host'], udp: q['udp'], ctl: q['ctl'] });
      }
      return { t: 'peers', seg: o['seg'], peers };
    }
    case 'peer-hello':
      if (!isInt(o['session'], 0, U32)) return bad('session');
      if (!isInt(o['node'], 1, 65535)) return bad('node');
      if (!isInt(o['udp'], 1, 65535)) return bad('udp');
      return { t: 'peer-hello', session: o['session'], node: o['node'], udp: o['udp'] };
    case 'ask':
      if (!isInt(o['seg'], 0, U32)) return bad('seg');
      if (!isInt(o['kbps'], 0, 1e9)) return bad('kbps');
      return { t: 'ask', seg: o['seg'], kbps: o['kbps'] };
    case 'cap':
      if (!isInt(o['kbps'], 0, 1e9)) return bad('kbps');
      return { t: 'cap', kbps: o['kbps'] };
    case 'need':
      if (!isInt(o['seg'], 0, U32)) return bad('seg');
      if (!isInt(o['n'], 0, 65535)) return bad('n');
      return { t: 'need', seg: o['seg'], n: o['n'] };
    case 'hold':
      if (!isInt(o['seg'], 0, U32)) return bad('seg');
      if (!isInt(o['rank'], 0, 65535)) return bad('rank');
      return { t: 'hold', seg: o['seg'], rank: o['rank'] };
    default:
      return { error: `unknown message type ${JSON.stringify(o['t'])}` };
  }
}

export function encodeControl(msg: ControlMsg): Buffer {
  const body = Buffer.from(JSON.stringify(msg));
  if (body.length > MAX_CONTROL_BYTES) throw new RangeError('control frame too large');
  const buf = Buffer.allocUnsafe(4 + body.length);
  buf.writeUInt32BE(body.length, 0);
  body.copy(buf, 4);
  return buf;
}

/**
 * Splits a TCP byte stream into control messages. Bounded: a declared length over `maxBytes`
 * is an error at once (nothing buffered beyond one frame).
 */
export class ControlReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly maxBytes = MAX_CONTROL_BYTES) {}

  /** The messages completed by `chunk`; throws WireError on a malformed frame (close the connection). */
  push(chunk: Buffer): ControlMsg[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: ControlMsg[] = [];
    for (;;) {
      if (this.buf.length < 4) break;
      const len = this.buf.readUInt32BE(0);
      if (len > this.maxBytes) throw new WireError(`control frame of ${len} bytes (limit ${this.maxBytes})`);
      if (this.buf.length < 4 + len) break;
      const body = this.buf.subarray(4, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      let raw: unknown;
      try {
        raw = JSON.parse(body.toString('utf8'));
      } catch {
        throw new WireError('control frame is not JSON');
      }
      const msg = parseControl(raw);
      if ('error' in msg) throw new WireError(msg.error);
      out.push(msg);
    }
    return out;
  }
}
