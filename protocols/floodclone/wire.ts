/**
 * FloodClone's wire format: one format for every TCP connection (node to source, node to node).
 * Every frame is `type:u8 | bodyLength:u32be | body`. A decoder never trusts a length: each type
 * has a maximum body checked from the header before a body byte is buffered, and the largest
 * (CHUNK) is bounded by the chunk size the manifest announced (before the manifest: a small
 * limit). So a hostile peer costs at most one frame of memory per connection.
 *
 *   HELLO      magic "FLD1", version u8, role u8 (0 node, 1 source), nodeId u32, listenPort u16,
 *              fileHash 32 bytes (zeros: unknown yet)
 *   WELCOME    nodeId u32 (the source's answer: the id this node has in the swarm)
 *   MANIFEST   fileSize u64, chunkBytes u32, fileHash 32, then one SHA-256 per chunk
 *   PEERS      entries: nodeId u32, port u16, hostLength u8, host (utf-8)
 *   HAVE       chunk indices, u32 each (a batch)
 *   BITFIELD   one bit per chunk, most significant bit first (what the sender holds, sent once)
 *   REQUEST    chunk u32; FRESH (0xffffffff) asks the source for any chunk nobody has been sent
 *   CANCEL     chunk u32: drop my request if you have not started sending it
 *   CANCELLED  chunk u32: dropped, nothing of it will come
 *   NOFRESH    (empty) the source has sent every chunk once: ask holders instead
 *   CHUNK      chunk u32, then the chunk's bytes
 *   ALLDONE    (empty) the source: every node it knows holds the whole file
 *   ERROR      code u8, message (utf-8)
 */
export const MAGIC = 'FLD1';
export const VERSION = 1;
export const HEADER_BYTES = 5;
export const HASH_BYTES = 32;
export const FRESH = 0xffffffff;
/** Largest chunk this version accepts (the manifest's chunkBytes). */
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024;
/** Largest chunk count (so a manifest is at most 32 MiB of hashes). */
export const MAX_CHUNKS = 1 << 20;
export const MAX_MANIFEST_BODY = 8 + 4 + HASH_BYTES + HASH_BYTES * MAX_CHUNKS;
export const MAX_PEERS_BODY = 1 << 20;
export const MAX_HAVE_BODY = 64 * 1024;
export const MAX_ERROR_MESSAGE = 1024;

export enum T {
  Hello = 1,
  Welcome = 2,
  Manifest = 3,
  Peers = 4,
  Have = 5,
  Bitfield = 6,
  Request = 7,
  Cancel = 8,
  Cancelled = 9,
  NoFresh = 10,
  Chunk = 11,
  AllDone = 12,
  Error = 13,
}

export interface PeerEntry {
  id: number;
  host: string;
  port: number;
}

export type Frame =
  | { type: 'hello'; role: 'node' | 'source'; nodeId: number; listenPort: number; fileHash: Buffer }
  | { type: 'welcome'; nodeId: number }
  | { type: 'manifest'; fileBytes: number; chunkBytes: number; fileHash: Buffer; hashes: Buffer[] }
  | { type: 'peers'; peers: PeerEntry[] }
  | { type: 'have'; chunks: number[] }
  | { type: 'bitfield'; bits: Buffer }
  | { type: 'request'; chunk: number }
  | { type: 'cancel'; chunk: number }
  | { type: 'cancelled'; chunk: number }
  | { type: 'nofresh' }
  | { type: 'chunk'; chunk: number; data: Buffer }
  | { type: 'alldone' }
  | { type: 'error'; code: number; message: string };

/** What the peer sent is malformed: answer with ERROR, close, never crash. */
export class FloodProtocolError extends Error {
  override readonly name = 'FloodProtocolError';
}

function frame(type: T, body: Buffer): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt8(type, 0);
  h.writeUInt32BE(body.length, 1);
  return Buffer.concat([h, body]);
}

const u32 = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};

/** A CHUNK frame's header alone (the data follows it on the socket: no copy of the chunk). */
export function chunkHeader(chunk: number, dataBytes: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES + 4);
  h.writeUInt8(T.Chunk, 0);
  h.writeUInt32BE(dataBytes + 4, 1);
  h.writeUInt32BE(chunk >>> 0, 5);
  return h;
}

export function encode(f: Frame): Buffer {
  switch (f.type) {
    case 'hello': {
      const b = Buffer.alloc(4 + 1 + 1 + 4 + 2 + HASH_BYTES);
      b.write(MAGIC, 0, 'latin1');
      b.writeUInt8(VERSION, 4);
      b.writeUInt8(f.role === 'source' ? 1 : 0, 5);
      b.writeUInt32BE(f.nodeId >>> 0, 6);
      b.writeUInt16BE(f.listenPort, 10);
      f.fileHash.copy(b, 12, 0, HASH_BYTES);
      return frame(T.Hello, b);
    }
    case 'welcome':
      return frame(T.Welcome, u32(f.nodeId));
    case 'manifest': {
      const head = Buffer.allocUnsafe(8 + 4 + HASH_BYTES);
      head.writeBigUInt64BE(BigInt(f.fileBytes), 0);
      head.writeUInt32BE(f.chunkBytes, 8);
      f.fileHash.copy(head, 12);
      return frame(T.Manifest, Buffer.concat([head, ...f.hashes]));
    }
    case 'peers': {
      const parts = f.peers.map((p) => {
        const host = Buffer.from(p.host, 'utf8');
        if (host.length > 255) throw new RangeError(`host too long: ${p.host}`);
        const b = Buffer.allocUnsafe(7);
        b.writeUInt32BE(p.id >>> 0, 0);
        b.writeUInt16BE(p.port, 4);
        b.writeUInt8(host.length, 6);
        return Buffer.concat([b, host]);
      });
      return frame(T.Peers, Buffer.concat(parts));
    }
    case 'have':
      return frame(T.Have, Buffer.concat(f.chunks.map(u32)));
    case 'bitfield':
      return frame(T.Bitfield, f.bits);
    case 'request':
      return frame(T.Request, u32(f.chunk));
    case 'cancel':
      return frame(T.Cancel, u32(f.chunk));
    case 'cancelled':
      return frame(T.Cancelled, u32(f.chunk));
    case 'nofresh':
      return frame(T.NoFresh, Buffer.alloc(0));
    case 'chunk':
      return Buffer.concat([chunkHeader(f.chunk, f.data.length), f.data]);
    case 'alldone':
      return frame(T.AllDone, Buffer.alloc(0));
    case 'error': {
      const msg = Buffer.from(f.message, 'utf8').subarray(0, MAX_ERROR_MESSAGE);
      return frame(T.Error, Buffer.concat([Buffer.from([f.code & 0xff]), msg]));
    }
  }
}

/** Largest body each type may have; CHUNK's depends on the manifest (`chunkLimit`). */
function maxBody(type: number, chunkLimit: number, fromSource: boolean): number {
  switch (type) {
    case T.Hello:
      return 44;
    case T.Welcome:
    case T.Request:
    case T.Cancel:
    case T.Cancelled:
      return 4;
    case T.Manifest:
      return fromSource ? MAX_MANIFEST_BODY : 0;
    case T.Peers:
      return fromSource ? MAX_PEERS_BODY : 0;
    case T.Have:
      return MAX_HAVE_BODY;
    case T.Bitfield:
      return MAX_CHUNKS / 8;
    case T.NoFresh:
    case T.AllDone:
      return 0;
    case T.Chunk:
      return 4 + chunkLimit;
    case T.Error:
      return 1 + MAX_ERROR_MESSAGE;
    default:
      throw new FloodProtocolError(`unknown frame type ${type}`);
  }
}

function exact(len: number, want: number, what: string): void {
  if (len !== want) throw new FloodProtocolError(`${what}: body of ${len} bytes, expected ${want}`);
}

function parse(type: number, b: Buffer): Frame {
  switch (type) {
    case T.Hello: {
      exact(b.length, 44, 'HELLO');
      if (b.toString('latin1', 0, 4) !== MAGIC) throw new FloodProtocolError('HELLO without the FLD1 magic: not a floodclone peer');
      if (b.readUInt8(4) !== VERSION) throw new FloodProtocolError(`HELLO of version ${b.readUInt8(4)}; this program speaks ${VERSION}`);
      const role = b.readUInt8(5);
      if (role > 1) throw new FloodProtocolError(`HELLO with role ${role}`);
      return { type: 'hello', role: role === 1 ? 'source' : 'node', nodeId: b.readUInt32BE(6), listenPort: b.readUInt16BE(10), fileHash: Buffer.from(b.subarray(12, 44)) };
    }
    case T.Welcome:
      exact(b.length, 4, 'WELCOME');
      return { type: 'welcome', nodeId: b.readUInt32BE(0) };
    case T.Manifest: {
      if (b.length < 44 || (b.length - 44) % HASH_BYTES !== 0) throw new FloodProtocolError(`MANIFEST of ${b.length} bytes`);
      const big = b.readBigUInt64BE(0);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new FloodProtocolError('MANIFEST: file size beyond 2^53');
      const fileBytes = Number(big);
      const chunkBytes = b.readUInt32BE(8);
      if (chunkBytes < 1 || chunkBytes > MAX_CHUNK_BYTES) throw new FloodProtocolError(`MANIFEST: chunk size ${chunkBytes} out of range`);
      const n = (b.length - 44) / HASH_BYTES;
      if (n !== Math.ceil(fileBytes / chunkBytes) || (fileBytes === 0 && n !== 0)) throw new FloodProtocolError(`MANIFEST: ${n} hashes for ${fileBytes} bytes in chunks of ${chunkBytes}`);
      const hashes: Buffer[] = [];
      for (let k = 0; k < n; k++) hashes.push(Buffer.from(b.subarray(44 + k * HASH_BYTES, 44 + (k + 1) * HASH_BYTES)));
      return { type: 'manifest', fileBytes, chunkBytes, fileHash: Buffer.from(b.subarray(12, 44)), hashes };
    }
    case T.Peers: {
      const peers: PeerEntry[] = [];
      let at = 0;
      while (at < b.length) {
        if (b.length - at < 7) throw new FloodProtocolError('PEERS: truncated entry');
        const id = b.readUInt32BE(at);
        const port = b.readUInt16BE(at + 4);
        const len = b.readUInt8(at + 6);
        if (len === 0 || b.length - at - 7 < len || port === 0) throw new FloodProtocolError('PEERS: bad entry');
        peers.push({ id, port, host: b.toString('utf8', at + 7, at + 7 + len) });
        at += 7 + len;
      }
      return { type: 'peers', peers };
    }
    case T.Have: {
      if (b.length % 4 !== 0) throw new FloodProtocolError(`HAVE of ${b.length} bytes`);
      const chunks: number[] = [];
      for (let at = 0; at < b.length; at += 4) chunks.push(b.readUInt32BE(at));
      return { type: 'have', chunks };
    }
    case T.Bitfield:
      return { type: 'bitfield', bits: Buffer.from(b) };
    case T.Request:
      exact(b.length, 4, 'REQUEST');
      return { type: 'request', chunk: b.readUInt32BE(0) };
    case T.Cancel:
      exact(b.length, 4, 'CANCEL');
      return { type: 'cancel', chunk: b.readUInt32BE(0) };
    case T.Cancelled:
      exact(b.length, 4, 'CANCELLED');
      return { type: 'cancelled', chunk: b.readUInt32BE(0) };
    case T.NoFresh:
      return { type: 'nofresh' };
    case T.Chunk:
      if (b.length < 4) throw new FloodProtocolError('CHUNK without its index');
      return { type: 'chunk', chunk: b.readUInt32BE(0), data: b.subarray(4) };
    case T.AllDone:
      return { type: 'alldone' };
    case T.Error:
      if (b.length < 1) throw new FloodProtocolError('ERROR without a code');
      return { type: 'error', code: b.readUInt8(0), message: b.toString('utf8', 1) };
    default:
      throw new FloodProtocolError(`unknown frame type ${type}`);
  }
}

/**
 * A streaming decoder: push bytes in, get frames out. It buffers at most one frame (the limit of
 * its type), and counts payload (CHUNK data) and control bytes (everything else) as they arrive.
 */
export class FloodDecoder {
  private parts: Buffer[] = [];
  private buffered = 0;
  private need: { type: number; len: number } | null = null;
  /** Largest CHUNK data accepted; set from the manifest. */
  chunkLimit = 0;
  /**
   * Only a node's connection to its source accepts MANIFEST (up to 32 MiB of hashes) and PEERS (up
   * to 1 MiB): from anybody else they are refused at the header, so a peer costs at most one chunk.
   */
  fromSource = false;
  payloadBytes = 0;
  controlBytes = 0;

  push(data: Buffer): Frame[] {
    if (data.length > 0) {
      this.parts.push(data);
      this.buffered += data.length;
    }
    const out: Frame[] = [];
    for (;;) {
      if (this.need === null) {
        if (this.buffered < HEADER_BYTES) break;
        const h = this.take(HEADER_BYTES);
        const type = h.readUInt8(0);
        const len = h.readUInt32BE(1);
        const max = maxBody(type, this.chunkLimit, this.fromSource);
        if (len > max) throw new FloodProtocolError(`frame type ${type} with a body of ${len} bytes (at most ${max} here)`);
        this.need = { type, len };
      }
      if (this.buffered < this.need.len) break;
      const { type, len } = this.need;
      this.need = null;
      const body = this.take(len);
      const f = parse(type, body);
      if (f.type === 'chunk') {
        this.payloadBytes += f.data.length;
        this.controlBytes += HEADER_BYTES + 4;
      } else this.controlBytes += HEADER_BYTES + len;
      out.push(f);
    }
    return out;
  }

  /** Bytes held now (bounded by one frame). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.parts[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const p = this.parts[0]!;
      const k = Math.min(p.length, n - at);
      p.copy(out, at, 0, k);
      at += k;
      if (k === p.length) this.parts.shift();
      else this.parts[0] = p.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}

/** Bit `k` of a most-significant-bit-first bitfield. */
export function bitAt(bits: Buffer, k: number): boolean {
  const byte = bits[k >> 3];
  return byte !== undefined && (byte & (0x80 >> (k & 7))) !== 0;
}

export function bitfieldOf(have: ArrayLike<boolean | number>): Buffer {
  const b = Buffer.alloc(Math.ceil(have.length / 8));
  for (let k = 0; k < have.length; k++) if (have[k]) b[k >> 3]! |= 0x80 >> (k & 7);
  return b;
}
