/**
 * Random linear network coding over GF(2) and GF(2^8): encode, recode, decode. Pure: no I/O.
 * See encoder.ts and decoder.ts for the theory of operation, kernel.ts for the arithmetic.
 */
export type { Field, CodeParams } from './params.js';
export { packCoeffs, unpackCoeffs, packedCoeffBytes, checkParams, drawCoeffs, MAX_K, MAX_SYMBOL_BYTES } from './params.js';
export { Encoder, type CodedPacket, type CodecOptions } from './encoder.js';
export { Decoder, type AddResult } from './decoder.js';
export { CodecError, type CodecErrorCode } from './errors.js';
export { type Kernel, type KernelFactory, TsKernel, tsKernelFactory } from './kernel.js';
export { defaultKernelFactory } from './select.js';
export { gfMul, gfInv, gfDiv } from './gf256.js';
export { kernelStatus } from './select.js';
export { wasmKernelFactory, wasmSimdSupported, wasmRelaxedSimdSupported, NIBBLE_TABLES, type WasmKernelFactory } from './kernel-wasm.js';
