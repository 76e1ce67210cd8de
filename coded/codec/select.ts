/**
 * The default kernel: the WebAssembly one when this runtime has SIMD and the build made it (with
 * relaxed_swizzle where the runtime has relaxed SIMD: Node >= 22, or Node 20 started with
 * --experimental-wasm-relaxed-simd), else the TypeScript one. `kernelStatus()` says which and why (the bench prints it).
 */
import type { KernelFactory } from './kernel.js';
import { tsKernelFactory } from './kernel.js';
import { builtWasmKernel } from './kernel-wasm.js';

export function defaultKernelFactory(): KernelFactory {
  return builtWasmKernel().factory ?? tsKernelFactory;
}

export function kernelStatus(): { kernel: 'wasm-relaxed-simd' | 'wasm-simd' | 'ts'; reason: string } {
  const w = builtWasmKernel();
  return w.factory && w.name ? { kernel: w.name, reason: w.reason } : { kernel: 'ts', reason: w.reason };
}
