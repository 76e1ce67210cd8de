/**
 * A minimal streaming ustar writer: enough to hand `docker import` a root filesystem (regular
 * files, directories, symbolic links) without a tar binary or another dependency. Files are
 * streamed from disk, never held whole in memory (the Node binary alone is ~100 MB).
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';

export type TarEntry =
  | { type: 'dir'; name: string; mode?: number }
  | { type: 'file'; name: string; mode?: number; size: number; source: string | Buffer }
  | { type: 'symlink'; name: string; target: string };

const BLOCK = 512;

function octal(n: number, width: number): string {
  const s = Math.floor(n).toString(8);
  if (s.length > width - 1) throw new RangeError(`tar: ${n} does not fit in ${width - 1} octal digits`);
  return `${s.padStart(width - 1, '0')}\0`;
}

/** Split a path for ustar's name (100) and prefix (155) fields. */
export function splitTarName(name: string): { name: string; prefix: string } {
  if (Buffer.byteLength(name) <= 100) return { name, prefix: '' };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest !== '') return { name: rest, prefix };
  }
  throw new RangeError(`tar: path too long for ustar: ${name}`);
}

/** The 512-byte ustar header of `e` (mtime fixed, so the same tree gives the same bytes). */
export function tarHeader(e: TarEntry, mtimeS = 0): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  const path = e.type === 'dir' && !e.name.endsWith('/') ? `${e.name}/` : e.name;
  const { name, prefix } = splitTarName(path);
  const put = (text: string, at: number, len: number): void => {
    const b = Buffer.from(text);
    if (b.length > len) throw new RangeError(`tar: field too long: ${text}`);
    b.copy(h, at);
  };
  const mode = e.type === 'symlink' ? 0o777 : (e.mode ?? (e.type === 'dir' ? 0o755 : 0o644));
  put(name, 0, 100);
  put(octal(mode, 8), 100, 8);
  put(octal(0, 8), 108, 8); // uid
  put(octal(0, 8), 116, 8); // gid
  put(octal(e.type === 'file' ? e.size : 0, 12), 124, 12);
  put(octal(mtimeS, 12), 136, 12);
  put('        ', 148, 8); // checksum placeholder: spaces while summing
  put(e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2', 156, 1);
  if (e.type === 'symlink') put(e.target, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put('root', 265, 32);
  put('root', 297, 32);
  put(prefix, 345, 155);
  let sum = 0;
  for (const byte of h) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

function padding(size: number): Buffer {
  const r = size % BLOCK;
  return Buffer.alloc(r === 0 ? 0 : BLOCK - r, 0);
}

async function* tarChunks(entries: readonly TarEntry[]): AsyncGenerator<Buffer> {
  for (const e of entries) {
    yield tarHeader(e);
    if (e.type !== 'file') continue;
    let written = 0;
    if (Buffer.isBuffer(e.source)) {
      yield e.source;
      written = e.source.length;
    } else {
      for await (const chunk of createReadStream(e.source)) {
        written += (chunk as Buffer).length;
        if (written > e.size) throw new Error(`tar: ${e.source} grew while being read`);
        yield chunk as Buffer;
      }
    }
    if (written !== e.size) throw new Error(`tar: ${e.name}: expected ${e.size} bytes, read ${written}`);
    yield padding(e.size);
  }
  yield Buffer.alloc(2 * BLOCK, 0);
}

/** A readable tar stream of `entries`, in order (parents before children is the caller's job). */
export function tarStream(entries: readonly TarEntry[]): Readable {
  return Readable.from(tarChunks(entries), { objectMode: false });
}
