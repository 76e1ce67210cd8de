/**
 * `npm run build` step: compiles kernel.wat to kernel.wasm (and kernel-relaxed.wasm, see
 * compile-wat.ts) next to the compiled kernel-wasm.js in
 * dist/, and next to kernel-wasm.ts in the source tree (git-ignored) so tests run from source use
 * the same kernel by default.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileKernel, kernelWatPath } from './compile-wat.js';

for (const [variant, file] of [['simd', 'kernel.wasm'], ['relaxed', 'kernel-relaxed.wasm']] as const) {
  const bytes = await compileKernel(variant);
  const targets = new Set([fileURLToPath(new URL(`./${file}`, import.meta.url)), kernelWatPath().replace(/kernel\.wat$/, file)]);
  for (const t of targets) writeFileSync(t, bytes);
}
