/**
 * A protocol's image: the programs a protocol's nodes run (BitTorrent: aria2c, opentracker, the
 * node agent), on the same base as the receiver image (base.ts), built offline with the host's
 * own binaries, as the base is:
 *
 *   FROM <base>                  the lab's base (this machine's node and its libraries), or node:20-slim
 *   COPY rootfs/ /               assembled in memory by the lab:
 *     /usr/bin/aria2c ...        every tool the protocol lists (protocol.tools), found on PATH,
 *     /bin/sh, /usr/bin/date     what its hook scripts run (the done hook: `echo ... $(date +%s%N)`)
 *     /lib/..., /lib64/...       every library `ldd` lists for any of them, at the path ldd names
 *     <dist>/lab/...agent.js     the protocol's node modules and what they import (relative imports
 *     <dist>/package.json        only; {"type":"module"}), at their paths in this machine's compiled
 *                                tree, so a ProcessSpec's argv works unchanged inside the container
 *     <process.execPath>         a symlink to the base's node, when this machine's node lives elsewhere
 *     /etc/passwd, group,        root and nobody (opentracker drops to `nobody` after its chroot),
 *     nsswitch.conf              read through files only
 *
 * Files are copied as regular files (symlinks read through), at the paths the host's programs and
 * ld.so look for them. The tag is `fanout-lab-<protocol>:<hash>` over every path, mode and byte
 * of the context and the base image's id: an image is reused only when it is exactly what would
 * be built. The build goes through dockerode and its progress stream is read to the end, so a
 * failed build is reported with the builder's own error (image.ts does the same).
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import type Dockerode from 'dockerode';
import type { Commander } from '../commander.js';
import { FANOUT_JS } from '../hosts.js';
import type { Protocol } from '../protocols/types.js';
import { BASE_NODE_PATH, parseLdd, rootfsDirs, type BaseImage } from './base.js';
import { ImageBuildError, moduleClosure } from './image.js';
import { LABEL_IMAGE } from './plan.js';
import { followProgress } from './progress.js';
import { tarStream, type TarEntry } from './tar.js';

/** Programs every protocol image holds besides the protocol's tools: a shell and `date` for hook scripts. */
export const HOOK_BINS = ['/bin/sh', '/usr/bin/date'];

/**
 * The node modules a protocol's nodes run, by protocol name: entry modules relative to the
 * compiled tree (dist/), as its plug-in names them (bittorrent: plugin.ts's AGENT_JS).
 */
export const PROTOCOL_MODULES: Readonly<Record<string, readonly string[]>> = {
  bittorrent: ['lab/protocols/bittorrent/agent.js'],
};

/** The compiled tree this module runs from (dist/). */
export const DEFAULT_DIST_ROOT = dirname(dirname(FANOUT_JS));

/** Does `protocol` run programs of its own on the nodes (so its nodes need its image)? */
export function needsProtocolImage(protocol: Pick<Protocol, 'tools' | 'name'>): boolean {
  return protocol.tools.length > 0 || (PROTOCOL_MODULES[protocol.name]?.length ?? 0) > 0;
}

/** The minimal user database: root, and `nobody` as Debian numbers it. */
export const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n';
export const GROUP = 'root:x:0:\nnogroup:x:65534:\n';
export const NSSWITCH = 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n';

/** One entry of the image's root filesystem (under `rootfs/` in the build context). */
export type RootEntry =
  | { kind: 'file'; path: string; source: string; mode: number; size: number }
  | { kind: 'text'; path: string; content: Buffer; mode: number }
  | { kind: 'symlink'; path: string; target: string };

/** Where `bin` is on PATH (the first executable match), or null. */
export function findOnPath(bin: string, path: string = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'): string | null {
  if (bin.startsWith('/')) return existsSync(bin) ? bin : null;
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, bin);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return null;
}

/** What the image of `protocol` holds, on this machine: programs, libraries, modules and the user database. */
export async function protocolRootfs(
  commander: Commander,
  protocol: Pick<Protocol, 'tools' | 'name'>,
  opts: { nodePath?: string; modules?: readonly string[]; distRoot?: string } = {},
): Promise<RootEntry[]> {
  const bins: string[] = [];
  for (const t of protocol.tools) {
    const p = findOnPath(t.bin);
    if (p === null) throw new ImageBuildError(`${t.bin} is not installed here (Debian package ${t.pkg}); the ${protocol.name} image copies this machine's own`);
    bins.push(p);
  }
  for (const b of HOOK_BINS) if (!bins.includes(b)) bins.push(b);
  const libs: string[] = [];
  for (const b of bins) {
    for (const l of parseLdd((await commander.run(['ldd', b])).stdout)) if (!libs.includes(l) && !bins.includes(l)) libs.push(l);
  }
  const entries: RootEntry[] = [];
  for (const path of [...bins, ...libs]) {
    const source = await realpath(path);
    const s = await stat(source);
    entries.push({ kind: 'file', path, source, mode: s.mode & 0o7777 || 0o755, size: s.size });
  }
  const modules = opts.modules ?? PROTOCOL_MODULES[protocol.name] ?? [];
  if (modules.length > 0) {
    // Placed at their own paths in the compiled tree, with a package.json there saying ESM.
    const root = opts.distRoot ?? DEFAULT_DIST_ROOT;
    const rels = moduleClosure(modules, (rel) => {
      try {
        return readFileSync(join(root, rel), 'utf8');
      } catch (e) {
        throw new ImageBuildError(`${join(root, rel)}: ${(e as Error).message} (build the project first: npm run build)`);
      }
    });
    for (const rel of rels) {
      const source = join(root, rel);
      entries.push({ kind: 'file', path: source, source, mode: 0o644, size: statSync(source).size });
    }
    entries.push({ kind: 'text', path: join(root, 'package.json'), content: Buffer.from('{"type":"module","private":true}\n'), mode: 0o644 });
  }
  const nodePath = opts.nodePath ?? process.execPath;
  if (nodePath !== BASE_NODE_PATH && !entries.some((e) => e.path === nodePath)) entries.push({ kind: 'symlink', path: nodePath, target: BASE_NODE_PATH });
  entries.push(
    { kind: 'text', path: '/etc/passwd', content: Buffer.from(PASSWD), mode: 0o644 },
    { kind: 'text', path: '/etc/group', content: Buffer.from(GROUP), mode: 0o644 },
    { kind: 'text', path: '/etc/nsswitch.conf', content: Buffer.from(NSSWITCH), mode: 0o644 },
  );
  return entries;
}

/** The in-memory Dockerfile: the base, then the root filesystem on top. */
export const PROTOCOL_DOCKERFILE = 'ARG BASE_IMAGE=node:20-slim\nFROM ${BASE_IMAGE}\nCOPY rootfs/ /\n';

/** The build context's tar entries (Dockerfile, then rootfs/ with its folders first). Pure. */
export function protocolContext(entries: readonly RootEntry[]): TarEntry[] {
  const dirs = rootfsDirs(entries.map((e) => e.path));
  const out: TarEntry[] = [
    { type: 'file', name: 'Dockerfile', size: Buffer.byteLength(PROTOCOL_DOCKERFILE), source: Buffer.from(PROTOCOL_DOCKERFILE), mode: 0o644 },
    { type: 'dir', name: 'rootfs' },
    ...dirs.map((d) => ({ type: 'dir' as const, name: `rootfs${d}` })),
  ];
  for (const e of entries) {
    const name = `rootfs${e.path}`;
    if (e.kind === 'file') out.push({ type: 'file', name, size: e.size, mode: e.mode, source: e.source });
    else if (e.kind === 'text') out.push({ type: 'file', name, size: e.content.length, mode: e.mode, source: e.content });
    else out.push({ type: 'symlink', name, target: e.target });
  }
  return out;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The content tag: every path, mode and byte, plus the base's id. */
export async function protocolTag(protocol: string, entries: readonly RootEntry[], baseId: string): Promise<string> {
  const h = createHash('sha256');
  h.update(`dockerfile\0${PROTOCOL_DOCKERFILE}\0`);
  for (const e of [...entries].sort((a, b) => a.path.localeCompare(b.path))) {
    if (e.kind === 'file') h.update(`file\0${e.path}\0${e.mode}\0${await sha256File(e.source)}\0`);
    else if (e.kind === 'text') h.update(`file\0${e.path}\0${e.mode}\0${createHash('sha256').update(e.content).digest('hex')}\0`);
    else h.update(`symlink\0${e.path}\0${e.target}\0`);
  }
  h.update(`base\0${baseId}\0`);
  return `fanout-lab-${protocol}:${h.digest('hex').slice(0, 16)}`;
}

/** A protocol image, built if needed. */
export interface ProtocolImage {
  tag: string;
  cached: boolean;
  buildS: number;
  /** Files placed (programs, libraries, modules, configuration). */
  files: number;
}

/** Build (or reuse, by content tag) the image of `protocol` on `base`. */
export async function ensureProtocolImage(
  docker: Dockerode,
  base: BaseImage,
  commander: Commander,
  protocol: Pick<Protocol, 'tools' | 'name'>,
  opts: { nodePath?: string; modules?: readonly string[]; distRoot?: string } = {},
): Promise<ProtocolImage> {
  const t0 = performance.now();
  const entries = await protocolRootfs(commander, protocol, opts);
  const tag = await protocolTag(protocol.name, entries, base.id);
  try {
    await docker.getImage(tag).inspect();
    return { tag, cached: true, buildS: (performance.now() - t0) / 1000, files: entries.length };
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 404) throw e;
  }
  const stream = await docker.buildImage(tarStream(protocolContext(entries)), {
    t: tag,
    dockerfile: 'Dockerfile',
    buildargs: { BASE_IMAGE: base.ref },
    labels: { [LABEL_IMAGE]: protocol.name },
    rm: true,
    forcerm: true,
    pull: false,
  } as Dockerode.ImageBuildOptions);
  const p = await followProgress(stream);
  if (p.error !== null) throw new ImageBuildError(`docker build of the ${protocol.name} image (BASE_IMAGE=${base.ref}) failed: ${p.error}\n${p.lines.slice(-15).join('\n')}`);
  try {
    await docker.getImage(tag).inspect();
  } catch {
    throw new ImageBuildError(`docker build of the ${protocol.name} image reported no error, but ${tag} does not exist:\n${p.lines.slice(-15).join('\n')}`);
  }
  return { tag, cached: false, buildS: (performance.now() - t0) / 1000, files: entries.length };
}
