/**
 * One error type for the codec, with a code saying what was wrong. A packet with a coefficient vector
 * of the wrong length, a payload of the wrong size or a GF(2) coefficient other than 0/1 is rejected
 * with a CodecError before it touches the decoder's state: the caller (a protocol reading datagrams
 * from a hostile network) drops and counts it. Misuse by the local caller (bad parameters, data()
 * before completion) uses the same type with its own codes.
 */
export type CodecErrorCode =
  | 'BAD_PARAMS' // CodeParams out of range
  | 'BAD_SOURCE' // the encoder's source is not k * symbolBytes bytes
  | 'BAD_INDEX' // systematic(i) out of range
  | 'BAD_COEFFS_LENGTH' // coefficient vector (or packed bytes) of the wrong length
  | 'BAD_COEFF_VALUE' // a GF(2) coefficient other than 0 or 1, or nonzero padding bits
  | 'BAD_PAYLOAD_LENGTH' // payload not symbolBytes long
  | 'BAD_PACKET' // not a { coeffs: Uint8Array, payload: Uint8Array } at all
  | 'NOT_COMPLETE' // data() before the decoder has full rank
  | 'DISPOSED'; // used after dispose()

export class CodecError extends Error {
  override readonly name = 'CodecError';
  constructor(
    readonly code: CodecErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}
