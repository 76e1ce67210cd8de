/**
 * The base image Dockerfile.receiver is built FROM (its `BASE_IMAGE` argument), and saying which.
 *
 *   1. `FANOUT_LAB_BASE_IMAGE` when set (present, or pulled; failing that is an error);
 *   2. the official `node:20-slim` when the engine has it;
 *   3. a local base built here earlier for this very Node runtime (`fanout-lab-node-base:<hash>`);
 *   4. `node:20-slim` pulled from the registry;
 *   5. offline (no registry, as on the project's machines): a local base made with `docker import`
 *      from a minimal root filesystem holding this machine's own Node binary (as
 *      /usr/local/bin/node, where the official image has it) and exactly the libraries `ldd`
 *      lists for it. Its tag is the hash of those files' contents, so a changed runtime makes a
 *      new base and a stale one is never used.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type Dockerode from 'dockerode';
import type { Commander } from '../commander.js';
import { LABEL_IMAGE } from './plan.js';
import { followProgress } from './progress.js';
import { tarStream, type TarEntry } from './tar.js';

/** What online users get. */
export const OFFICIAL_BASE = 'node:20-slim';
/** The repository of bases built here. */
export const LOCAL_BASE_REPO = 'fanout-lab-node-base';
/** Where the base keeps node (as the official image does). */
export const BASE_NODE_PATH = '/usr/local/bin/node';

/** The base chosen, and how. */
export interface BaseImage {
  /** Image reference to pass as BASE_IMAGE. */
  ref: string;
  /** Its image id (goes into the receiver image's content hash). */
  id: string;
  /** For the log: which base and why. */
  description: string;
}

/** The base image could not be had. */
export class BaseImageError extends Error {
  override readonly name = 'BaseImageError';
}

/**
 * The shared libraries `ldd` lists (resolved paths, the dynamic loader included; the vDSO has no
 * file). Throws on `not found`. A static binary gives [].
 */
export function parseLdd(stdout: string): string[] {
  const out: string[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    if (line === '' || /statically linked|not a dynamic executable/.test(line)) continue;
    if (/=>\s*not found/.test(line)) throw new BaseImageError(`ldd: ${line}`);
    const arrow = /=>\s*(\/\S+)/.exec(line);
    const bare = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    const path = arrow?.[1] ?? bare?.[1];
    if (path !== undefined && !out.includes(path)) out.push(path);
  }
  return out;
}

/** Every directory the root filesystem needs for `files` (parents first), plus /tmp. */
export function rootfsDirs(files: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const f of files) {
    for (let d = posix.dirname(f); d !== '/' && d !== '.'; d = posix.dirname(d)) dirs.add(d);
  }
  return [...dirs].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
}

/** One file of the root filesystem: where it goes, where its bytes come from. */
export interface RootfsFile {
  path: string;
  source: string;
  size: number;
  mode: number;
}

/** The tar entries of the minimal root filesystem. Pure. */
export function rootfsEntries(files: readonly RootfsFile[]): TarEntry[] {
  const entries: TarEntry[] = rootfsDirs(files.map((f) => f.path)).map((d) => ({ type: 'dir' as const, name: d.slice(1) }));
  entries.push({ type: 'dir', name: 'tmp', mode: 0o1777 });
  for (const f of files) entries.push({ type: 'file', name: f.path.slice(1), size: f.size, mode: f.mode, source: f.source });
  return entries;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The files of a base for the Node binary `nodePath` (read through symlinks), and their content hash. */
export async function localBaseFiles(commander: Commander, nodePath: string): Promise<{ files: RootfsFile[]; hash: string }> {
  const libs = parseLdd((await commander.run(['ldd', nodePath])).stdout);
  const wanted = [{ path: BASE_NODE_PATH, from: nodePath, mode: 0o755 }, ...libs.map((l) => ({ path: l, from: l, mode: 0o755 }))];
  const files: RootfsFile[] = [];
  const h = createHash('sha256');
  for (const w of wanted) {
    const source = await realpath(w.from);
    const s = await stat(source);
    files.push({ path: w.path, source, size: s.size, mode: w.mode });
    h.update(`${w.path}\0${await sha256File(source)}\0`);
  }
  return { files, hash: h.digest('hex') };
}

/** The image id of `ref`, or null when the engine does not have it. */
export async function imageId(docker: Dockerode, ref: string): Promise<string | null> {
  try {
    return (await docker.getImage(ref).inspect()).Id;
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return null;
    throw e;
  }
}

async function pull(docker: Dockerode, ref: string, timeoutMs: number): Promise<string | null> {
  try {
    const p = await followProgress(await docker.pull(ref), timeoutMs);
    if (p.error !== null) return p.error;
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Make the local base with `docker import`; returns its id. */
async function importBase(docker: Dockerode, files: RootfsFile[], ref: string): Promise<string> {
  const [repo, tag] = ref.split(':') as [string, string];
  const stream = await docker.importImage(tarStream(rootfsEntries(files)), {
    repo,
    tag,
    changes: [`ENV PATH=/usr/local/bin:/usr/bin:/bin`, `LABEL ${LABEL_IMAGE}=base`],
    message: 'fanout-lab: this machine\'s Node runtime, for Dockerfile.receiver offline',
  } as Parameters<Dockerode['importImage']>[1]);
  const p = await followProgress(stream as NodeJS.ReadableStream);
  if (p.error !== null) throw new BaseImageError(`docker import of the local base failed: ${p.error}`);
  const id = await imageId(docker, ref);
  if (id === null) throw new BaseImageError(`docker import reported success but ${ref} is not there`);
  return id;
}

/** Options for chooseBase. */
export interface BaseOptions {
  commander: Commander;
  /** Default process.env.FANOUT_LAB_BASE_IMAGE. */
  override?: string | undefined;
  /** The Node binary a local base copies (default process.execPath). */
  nodePath?: string;
  pullTimeoutMs?: number;
}

/** Choose (pull, or build) the base image; see the banner for the order. */
export async function chooseBase(docker: Dockerode, opts: BaseOptions): Promise<BaseImage> {
  const override = 'override' in opts ? opts.override : process.env.FANOUT_LAB_BASE_IMAGE;
  const pullTimeoutMs = opts.pullTimeoutMs ?? 120_000;
  if (override !== undefined && override !== '') {
    let id = await imageId(docker, override);
    if (id === null) {
      const err = await pull(docker, override, pullTimeoutMs);
      id = await imageId(docker, override);
      if (id === null) throw new BaseImageError(`FANOUT_LAB_BASE_IMAGE=${override}: not present and the pull failed: ${err ?? 'no image after pull'}`);
    }
    return { ref: override, id, description: `${override} (FANOUT_LAB_BASE_IMAGE)` };
  }
  const official = await imageId(docker, OFFICIAL_BASE);
  if (official !== null) return { ref: OFFICIAL_BASE, id: official, description: `${OFFICIAL_BASE} (official Node image, present)` };

  const nodePath = opts.nodePath ?? process.execPath;
  const { files, hash } = await localBaseFiles(opts.commander, nodePath);
  const localRef = `${LOCAL_BASE_REPO}:${hash.slice(0, 16)}`;
  const local = await imageId(docker, localRef);
  const fromHere = `this machine's ${nodePath} (${process.version}) and the ${files.length - 1} libraries ldd lists`;
  if (local !== null) return { ref: localRef, id: local, description: `${localRef}, built earlier from ${fromHere}` };

  const pullError = await pull(docker, OFFICIAL_BASE, pullTimeoutMs);
  if (pullError === null) {
    const id = await imageId(docker, OFFICIAL_BASE);
    if (id !== null) return { ref: OFFICIAL_BASE, id, description: `${OFFICIAL_BASE} (official Node image, pulled)` };
  }
  const id = await importBase(docker, files, localRef);
  return { ref: localRef, id, description: `${localRef}, made now with docker import from ${fromHere} (no registry: ${(pullError ?? '?').split('\n')[0]})` };
}
