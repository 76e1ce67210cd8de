/**
 * Errors of the fragment protocol, split by who is at fault (as h11 does):
 * - `RemoteProtocolError`: the peer sent something malformed or out of order. The receiving side answers
 *   with an ERROR frame carrying `code` and closes; it never crashes.
 * - `LocalProtocolError`: this program misused the protocol (a bug here, not in the peer).
 * Codes travel in ERROR frames, so their numbers are part of the wire format: never renumber.
 */
export enum ErrorCode {
  /** A frame type this version does not know. */
  UnknownFrame = 1,
  /** A body length outside the limits of its frame type. */
  BadLength = 2,
  /** A field out of range (index >= count, offset beyond length, u64 beyond 2^53). */
  BadField = 3,
  /** HELLO/ACCEPT without the "FNT1" magic: not a fanout peer. */
  BadMagic = 4,
  /** A protocol version this program does not speak. */
  Version = 5,
  /** A frame that is valid alone but not here (DATA before HELLO, a second HELLO, ...). */
  Unexpected = 6,
  /** More DATA bytes than the HELLO announced. */
  TooMuchData = 7,
  /** The stored bytes do not hash to the sender's SHA-256. The receiver discarded them. */
  DigestMismatch = 8,
  /** The receiver could not store the fragment (disk full, permission, I/O error). */
  Storage = 9,
  /** The receiver refuses (fragment larger than it accepts, shutting down). */
  Refused = 10,
  /** The peer timed out waiting. */
  Timeout = 11,
  /** Anything else on the peer's side. */
  Internal = 12,
  /**
   * Authentication failed or is missing: the receiver wants a proof of its pre-shared key (or the
   * proof was wrong), or the sender wants one from a receiver that gave none. Not retryable.
   */
  Auth = 13,
  /** A quota is exhausted for now (disk, transfers, connections); a later retry may succeed. */
  Quota = 14,
  /** A complete fragment with this name is stored already with other content: it is never replaced. */
  Conflict = 15,
}

export function errorCodeName(code: number): string {
  return ErrorCode[code] ?? `code-${code}`;
}

export class RemoteProtocolError extends Error {
  override readonly name = 'RemoteProtocolError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class LocalProtocolError extends Error {
  override readonly name = 'LocalProtocolError';
}
