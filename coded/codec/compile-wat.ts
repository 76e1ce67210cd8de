/**
 * Build-time only: WAT text -> wasm bytes with wabt (a devDependency). Used by build-kernel.ts at
 * `npm run build` and by the tests, which compile kernel.wat themselves so they check the source,
 * not a stale artefact. Runtime code never imports this.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

/** coded/codec/kernel.wat, found from this file whether it runs from the source tree or from dist/. */
export function kernelWatPath(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const fromDist = /[/\\]dist[/\\]coded[/\\]codec[/\\]?$/.test(here);
  return fileURLToPath(new URL(fromDist ? '../../../coded/codec/kernel.wat' : './kernel.wat', import.meta.url));
}

export async function compileWat(text: string, filename = 'kernel.wat'): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const mod = wabt.parseWat(filename, text, { simd: true, relaxed_simd: true });
  try {
    mod.validate();
    return Uint8Array.from(mod.toBinary({ log: false, write_debug_names: true }).buffer);
  } finally {
    mod.destroy();
  }
}

export type KernelVariant = 'simd' | 'relaxed';

/**
 * kernel.wat as is ('simd'), or with every i8x16.swizzle made i8x16.relaxed_swizzle ('relaxed'):
 * the kernel's indices are always nibbles (0..15), for which relaxed_swizzle is defined to give the
 * same bytes, and V8 then emits a bare pshufb instead of a saturating add, a constant load and the
 * pshufb (about 1.4x the kernel's throughput). Runtimes without relaxed SIMD use 'simd'.
 */
export async function compileKernel(variant: KernelVariant = 'simd'): Promise<Uint8Array> {
  const text = readFileSync(kernelWatPath(), 'utf8');
  return compileWat(variant === 'simd' ? text : text.replaceAll('i8x16.swizzle', 'i8x16.relaxed_swizzle'));
}
