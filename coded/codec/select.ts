/**
 * The default kernel: the WebAssembly SIMD one when this runtime has SIMD and kernel.wasm was built,
 * else the TypeScript one. `kernelStatus()` says which and why (the bench prints it).
 */
import type { KernelFactory } from './kernel.js';
import { tsKernelFactory } from './kernel.js';
import { builtWasmKernel } from './kernel-wasm.js';

export function defaultKernelFactory(): KernelFactory {
  return builtWasmKernel().factory ?? tsKernelFactory;
}

export function kernelStatus(): { kernel: 'wasm-simd' | 'ts'; reason: string } {
  const w = builtWasmKernel();
  return w.factory ? { kernel: 'wasm-simd', reason: w.reason } : { kernel: 'ts', reason: w.reason };
}
