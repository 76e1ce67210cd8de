/**
 * `npm run build` step: compiles kernel.wat to kernel.wasm next to the compiled kernel-wasm.js in
 * dist/, and next to kernel-wasm.ts in the source tree (git-ignored) so tests run from source use
 * the same kernel by default.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileKernel, kernelWatPath } from './compile-wat.js';

const bytes = await compileKernel();
const targets = [fileURLToPath(new URL('./kernel.wasm', import.meta.url)), kernelWatPath().replace(/\.wat$/, '.wasm')];
for (const t of new Set(targets)) writeFileSync(t, bytes);
console.log(`kernel.wasm: ${bytes.length} bytes -> ${[...new Set(targets)].join(', ')}`);
