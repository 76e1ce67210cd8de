/**
 * The fragment protocol's frames: encoding and one-frame decoding, with no sockets.
 *
 * Theory of operation
 * -------------------
 * One TCP connection carries one fragment. Every frame is length-prefixed:
 *
 *     +--------+-----------------+---------------------+
 *     | type:1 | bodyLength:4 BE | body (bodyLength B) |
 *     +--------+-----------------+---------------------+
 *
 * The protocol version travels in HELLO and ACCEPT (magic "FNT1" + version), so a peer speaking
 * another version is refused before any data flows.
 *
 *     sender                                receiver
 *       HELLO {transferId, index, count,  ->
 *              lengthBytes, offsetBytes}
 *                                         <-  ACCEPT {offsetBytes}   (what it already holds)
 *       DATA {bytes} ...                  ->
 *                                         <-  PROGRESS {receivedBytes} (every progress interval)
 *       END {sha256}                      ->
 *                                         <-  ACK {sha256}           (after verify + fsync + rename)
 *     either side, at any time:  ERROR {code, message}, then close.
 *
 * Authenticated (both ends given the same pre-shared key, wire/auth.ts): HELLO carries a 16-byte
 * sender nonce (a longer body), the receiver answers CHALLENGE {its nonce} instead of ACCEPT, the
 * sender proves the key with AUTH {HMAC-SHA-256 over the HELLO and both nonces}, and only then
 * does the receiver look at its disk and ACCEPT. END and ACK then carry a second 32-byte field: an
 * HMAC binding the fragment's digest to this exchange, so a peer without the key can neither
 * forge the digest nor the receipt. A peer without the key never gets past CHALLENGE.
 *
 *       HELLO {..., nonceS}               ->
 *                                         <-  CHALLENGE {nonceR}
 *       AUTH {mac}                        ->
 *                                         <-  ACCEPT {offsetBytes}
 *       DATA ... END {sha256, mac}        ->
 *                                         <-  ACK {sha256, mac}
 *
 * Unauthenticated frames are byte for byte what they were: a peer of the previous release talks
 * to this one as before when neither side has a key.
 *
 * The fragment's SHA-256 travels in END, not in HELLO: the sender hashes as it streams, so it reads
 * the file once (a digest in HELLO would need a second pass over the file before the first byte
 * leaves; see README "Wire format" for the measurement).
 *
 * Decoding never trusts a length: every type has a maximum body length, checked from the 5-byte
 * header before a single body byte is buffered; HELLO and ACCEPT have exact lengths; u64 fields
 * must fit in a JavaScript safe integer. A violation is a `RemoteProtocolError` with a code.
 */
import { ErrorCode, RemoteProtocolError } from './errors.js';

export const MAGIC = 0x464e5431; // "FNT1"
export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 5;
/** Largest DATA body a peer may send. */
export const MAX_DATA_BYTES = 1 << 20;
/** Largest ERROR message, in UTF-8 bytes. */
export const MAX_ERROR_MESSAGE_BYTES = 1024;
export const TRANSFER_ID_BYTES = 16;
export const DIGEST_BYTES = 32;
/** Nonce in an authenticated HELLO and in CHALLENGE. */
export const NONCE_BYTES = 16;
/** HMAC-SHA-256 in AUTH and the authenticated END and ACK. */
export const MAC_BYTES = 32;
/** Largest fragment the protocol describes (2^48 B): far beyond any disk, well inside a safe integer. */
export const MAX_FRAGMENT_BYTES = 2 ** 48;
/** Largest fragment count: a sender with more receivers than this is a mistake, not a use. */
export const MAX_FRAGMENT_COUNT = 1 << 24;

export enum FrameType {
  Hello = 1,
  Accept = 2,
  Data = 3,
  End = 4,
  Progress = 5,
  Ack = 6,
  Error = 7,
  Challenge = 8,
  Auth = 9,
}

export interface HelloFrame {
  type: 'hello';
  /** 16 random bytes naming one run of a sender; fragments of one transfer share it. */
  transferId: Buffer;
  index: number;
  count: number;
  lengthBytes: number;
  /** Bytes the sender believes the receiver already holds (0 on a first attempt). */
  offsetBytes: number;
  /** The sender's nonce: present when the sender authenticates (it then expects CHALLENGE). */
  nonce?: Buffer;
}
export interface AcceptFrame {
  type: 'accept';
  /** Bytes the receiver holds already; the sender resumes from here. */
  offsetBytes: number;
}
/** Payload bytes. On the wire, one DATA frame; out of the decoder, one or more pieces of one. */
export interface DataFrame {
  type: 'data';
  bytes: Buffer;
}
export interface EndFrame {
  type: 'end';
  sha256: Buffer;
  /** Authenticated transfers: HMAC over the exchange and sha256 (wire/auth.ts). */
  mac?: Buffer;
}
export interface ProgressFrame {
  type: 'progress';
  /** Bytes of the fragment the receiver has written so far (including a resumed prefix). */
  receivedBytes: number;
}
export interface AckFrame {
  type: 'ack';
  sha256: Buffer;
  /** Authenticated transfers: the receiver's HMAC over the exchange and sha256. */
  mac?: Buffer;
}
/** Receiver -> sender, after an authenticated HELLO: the receiver's fresh nonce. */
export interface ChallengeFrame {
  type: 'challenge';
  nonce: Buffer;
}
/** Sender -> receiver: proof of the pre-shared key over HELLO and both nonces. */
export interface AuthFrame {
  type: 'auth';
  mac: Buffer;
}
export interface ErrorFrame {
  type: 'error';
  code: ErrorCode;
  message: string;
}

export type Frame =
  | HelloFrame
  | AcceptFrame
  | DataFrame
  | EndFrame
  | ProgressFrame
  | AckFrame
  | ErrorFrame
  | ChallengeFrame
  | AuthFrame;

const HELLO_BODY_BYTES = 4 + 2 + TRANSFER_ID_BYTES + 4 + 4 + 8 + 8;
const ACCEPT_BODY_BYTES = 4 + 2 + 8;

/** Exact or maximum body length of each frame type. */
const BODY_LIMITS: Record<number, { min: number; max: number; name: Frame['type']; only?: number[] }> = {
  [FrameType.Hello]: { min: HELLO_BODY_BYTES, max: HELLO_BODY_BYTES + NONCE_BYTES, name: 'hello', only: [HELLO_BODY_BYTES, HELLO_BODY_BYTES + NONCE_BYTES] },
  [FrameType.Accept]: { min: ACCEPT_BODY_BYTES, max: ACCEPT_BODY_BYTES, name: 'accept' },
  [FrameType.Data]: { min: 1, max: MAX_DATA_BYTES, name: 'data' },
  [FrameType.End]: { min: DIGEST_BYTES, max: DIGEST_BYTES + MAC_BYTES, name: 'end', only: [DIGEST_BYTES, DIGEST_BYTES + MAC_BYTES] },
  [FrameType.Progress]: { min: 8, max: 8, name: 'progress' },
  [FrameType.Ack]: { min: DIGEST_BYTES, max: DIGEST_BYTES + MAC_BYTES, name: 'ack', only: [DIGEST_BYTES, DIGEST_BYTES + MAC_BYTES] },
  [FrameType.Error]: { min: 2, max: 2 + MAX_ERROR_MESSAGE_BYTES, name: 'error' },
  [FrameType.Challenge]: { min: NONCE_BYTES, max: NONCE_BYTES, name: 'challenge' },
  [FrameType.Auth]: { min: MAC_BYTES, max: MAC_BYTES, name: 'auth' },
};

/**
 * Checks a frame header and returns its body length, or throws. Called before any body byte is
 * buffered, so a hostile length never causes an allocation.
 */
export function checkHeader(type: number, bodyLength: number): number {
  const limit = BODY_LIMITS[type];
  if (limit === undefined) {
    throw new RemoteProtocolError(ErrorCode.UnknownFrame, `unknown frame type ${type}`);
  }
  if (bodyLength < limit.min || bodyLength > limit.max || (limit.only !== undefined && !limit.only.includes(bodyLength))) {
    const want = limit.only !== undefined ? limit.only.join(' or ') : limit.min === limit.max ? `${limit.min}` : `${limit.min}..${limit.max}`;
    throw new RemoteProtocolError(
      ErrorCode.BadLength,
      `${limit.name} frame with body length ${bodyLength} (expected ${want})`,
    );
  }
  return bodyLength;
}

function header(type: FrameType, bodyLength: number, into: Buffer): void {
  into.writeUInt8(type, 0);
  into.writeUInt32BE(bodyLength, 1);
}

function readU64(body: Buffer, at: number, field: string): number {
  const v = body.readBigUInt64BE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RemoteProtocolError(ErrorCode.BadField, `${field} ${v} is out of range`);
  }
  return Number(v);
}

function checkVersion(body: Buffer, frame: string): void {
  const magic = body.readUInt32BE(0);
  if (magic !== MAGIC) {
    throw new RemoteProtocolError(ErrorCode.BadMagic, `${frame}: not a fanout peer (magic 0x${magic.toString(16)})`);
  }
  const version = body.readUInt16BE(4);
  if (version !== PROTOCOL_VERSION) {
    throw new RemoteProtocolError(
      ErrorCode.Version,
      `${frame}: protocol version ${version}, this program speaks ${PROTOCOL_VERSION}`,
    );
  }
}

/** Decodes one frame's body (the header already checked by `checkHeader`). */
export function decodeBody(type: number, body: Buffer): Frame {
  switch (type) {
    case FrameType.Hello: {
      checkVersion(body, 'hello');
      const transferId = Buffer.from(body.subarray(6, 6 + TRANSFER_ID_BYTES));
      let at = 6 + TRANSFER_ID_BYTES;
      const index = body.readUInt32BE(at);
      const count = body.readUInt32BE(at + 4);
      const lengthBytes = readU64(body, at + 8, 'hello.lengthBytes');
      const offsetBytes = readU64(body, at + 16, 'hello.offsetBytes');
      at += 24;
      if (count < 1 || count > MAX_FRAGMENT_COUNT) {
        throw new RemoteProtocolError(ErrorCode.BadField, `hello.count ${count} out of range 1..${MAX_FRAGMENT_COUNT}`);
      }
      if (index >= count) {
        throw new RemoteProtocolError(ErrorCode.BadField, `hello.index ${index} not below count ${count}`);
      }
      if (lengthBytes < 1 || lengthBytes > MAX_FRAGMENT_BYTES) {
        throw new RemoteProtocolError(ErrorCode.BadField, `hello.lengthBytes ${lengthBytes} out of range`);
      }
      if (offsetBytes > lengthBytes) {
        throw new RemoteProtocolError(ErrorCode.BadField, `hello.offsetBytes ${offsetBytes} beyond length ${lengthBytes}`);
      }
      const hello: HelloFrame = { type: 'hello', transferId, index, count, lengthBytes, offsetBytes };
      if (body.length === HELLO_BODY_BYTES + NONCE_BYTES) hello.nonce = Buffer.from(body.subarray(at, at + NONCE_BYTES));
      return hello;
    }
    case FrameType.Accept:
      checkVersion(body, 'accept');
      return { type: 'accept', offsetBytes: readU64(body, 6, 'accept.offsetBytes') };
    case FrameType.Data:
      return { type: 'data', bytes: body };
    case FrameType.End: {
      const end: EndFrame = { type: 'end', sha256: Buffer.from(body.subarray(0, DIGEST_BYTES)) };
      if (body.length > DIGEST_BYTES) end.mac = Buffer.from(body.subarray(DIGEST_BYTES));
      return end;
    }
    case FrameType.Progress:
      return { type: 'progress', receivedBytes: readU64(body, 0, 'progress.receivedBytes') };
    case FrameType.Ack: {
      const ack: AckFrame = { type: 'ack', sha256: Buffer.from(body.subarray(0, DIGEST_BYTES)) };
      if (body.length > DIGEST_BYTES) ack.mac = Buffer.from(body.subarray(DIGEST_BYTES));
      return ack;
    }
    case FrameType.Challenge:
      return { type: 'challenge', nonce: Buffer.from(body) };
    case FrameType.Auth:
      return { type: 'auth', mac: Buffer.from(body) };
    case FrameType.Error: {
      const code = body.readUInt16BE(0);
      const message = body.subarray(2).toString('utf8');
      return { type: 'error', code: code as ErrorCode, message };
    }
    default:
      throw new RemoteProtocolError(ErrorCode.UnknownFrame, `unknown frame type ${type}`);
  }
}

export function encodeHello(f: Omit<HelloFrame, 'type'>): Buffer {
  if (f.transferId.length !== TRANSFER_ID_BYTES) throw new RangeError('transferId must be 16 bytes');
  if (f.nonce !== undefined && f.nonce.length !== NONCE_BYTES) throw new RangeError('nonce must be 16 bytes');
  const bodyBytes = HELLO_BODY_BYTES + (f.nonce ? NONCE_BYTES : 0);
  const b = Buffer.alloc(HEADER_BYTES + bodyBytes);
  header(FrameType.Hello, bodyBytes, b);
  let at = HEADER_BYTES;
  b.writeUInt32BE(MAGIC, at);
  b.writeUInt16BE(PROTOCOL_VERSION, at + 4);
  f.transferId.copy(b, at + 6);
  at += 6 + TRANSFER_ID_BYTES;
  b.writeUInt32BE(f.index, at);
  b.writeUInt32BE(f.count, at + 4);
  b.writeBigUInt64BE(BigInt(f.lengthBytes), at + 8);
  b.writeBigUInt64BE(BigInt(f.offsetBytes), at + 16);
  f.nonce?.copy(b, at + 24);
  return b;
}

export function encodeAccept(offsetBytes: number): Buffer {
  const b = Buffer.alloc(HEADER_BYTES + ACCEPT_BODY_BYTES);
  header(FrameType.Accept, ACCEPT_BODY_BYTES, b);
  b.writeUInt32BE(MAGIC, HEADER_BYTES);
  b.writeUInt16BE(PROTOCOL_VERSION, HEADER_BYTES + 4);
  b.writeBigUInt64BE(BigInt(offsetBytes), HEADER_BYTES + 6);
  return b;
}

/** The 5-byte header of a DATA frame whose body of `bodyLength` bytes follows. */
export function encodeDataHeader(bodyLength: number, into: Buffer = Buffer.alloc(HEADER_BYTES)): Buffer {
  if (bodyLength < 1 || bodyLength > MAX_DATA_BYTES) throw new RangeError(`data body ${bodyLength} out of range`);
  header(FrameType.Data, bodyLength, into);
  return into;
}

export function encodeData(bytes: Buffer): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES + bytes.length);
  encodeDataHeader(bytes.length, b);
  bytes.copy(b, HEADER_BYTES);
  return b;
}

function digestFrame(type: FrameType, sha256: Buffer, mac?: Buffer): Buffer {
  if (sha256.length !== DIGEST_BYTES) throw new RangeError('sha256 must be 32 bytes');
  if (mac !== undefined && mac.length !== MAC_BYTES) throw new RangeError('mac must be 32 bytes');
  const bodyBytes = DIGEST_BYTES + (mac ? MAC_BYTES : 0);
  const b = Buffer.alloc(HEADER_BYTES + bodyBytes);
  header(type, bodyBytes, b);
  sha256.copy(b, HEADER_BYTES);
  mac?.copy(b, HEADER_BYTES + DIGEST_BYTES);
  return b;
}

export const encodeEnd = (sha256: Buffer, mac?: Buffer): Buffer => digestFrame(FrameType.End, sha256, mac);
export const encodeAck = (sha256: Buffer, mac?: Buffer): Buffer => digestFrame(FrameType.Ack, sha256, mac);

function fixedFrame(type: FrameType, body: Buffer, bytes: number, what: string): Buffer {
  if (body.length !== bytes) throw new RangeError(`${what} must be ${bytes} bytes`);
  const b = Buffer.alloc(HEADER_BYTES + bytes);
  header(type, bytes, b);
  body.copy(b, HEADER_BYTES);
  return b;
}

export const encodeChallenge = (nonce: Buffer): Buffer => fixedFrame(FrameType.Challenge, nonce, NONCE_BYTES, 'nonce');
export const encodeAuth = (mac: Buffer): Buffer => fixedFrame(FrameType.Auth, mac, MAC_BYTES, 'mac');

export function encodeProgress(receivedBytes: number): Buffer {
  const b = Buffer.alloc(HEADER_BYTES + 8);
  header(FrameType.Progress, 8, b);
  b.writeBigUInt64BE(BigInt(receivedBytes), HEADER_BYTES);
  return b;
}

export function encodeError(code: ErrorCode, message: string): Buffer {
  let msg = Buffer.from(message, 'utf8');
  if (msg.length > MAX_ERROR_MESSAGE_BYTES) {
    // Cut on a character boundary: back off over UTF-8 continuation bytes (10xxxxxx).
    let end = MAX_ERROR_MESSAGE_BYTES;
    while (end > 0 && (msg[end]! & 0xc0) === 0x80) end--;
    msg = msg.subarray(0, end);
  }
  const b = Buffer.alloc(HEADER_BYTES + 2 + msg.length);
  header(FrameType.Error, 2 + msg.length, b);
  b.writeUInt16BE(code, HEADER_BYTES);
  msg.copy(b, HEADER_BYTES + 2);
  return b;
}

/** Encodes any frame (convenience for tests and the receiver; the sender's hot path uses encodeDataHeader). */
export function encodeFrame(f: Frame): Buffer {
  switch (f.type) {
    case 'hello':
      return encodeHello(f);
    case 'accept':
      return encodeAccept(f.offsetBytes);
    case 'data':
      return encodeData(f.bytes);
    case 'end':
      return encodeEnd(f.sha256, f.mac);
    case 'progress':
      return encodeProgress(f.receivedBytes);
    case 'ack':
      return encodeAck(f.sha256, f.mac);
    case 'error':
      return encodeError(f.code, f.message);
    case 'challenge':
      return encodeChallenge(f.nonce);
    case 'auth':
      return encodeAuth(f.mac);
  }
}

/**
 * How often a receiver reports PROGRESS by default: an eighth of the sender's default 512 KiB
 * window, so the window reopens smoothly. (At 16 KiB, writing the reports cost a third of a
 * loopback receiver's main thread.)
 */
export const DEFAULT_PROGRESS_BYTES = 64 * 1024;
