/**
 * The receiver image: Dockerfile.receiver (top level of the project) built on the chosen base
 * (base.ts) with a build context the lab assembles in memory:
 *
 *   Dockerfile.receiver
 *   package.json          {"type": "module"} (the compiled CLI is ESM) and the version
 *   dist/...              the compiled `fanout receive` and exactly the modules it imports
 *                         (followed from dist/cli/fanout.js and dist/cli/receive.js; ~15 files,
 *                         no node_modules: the receiver uses only Node's own modules)
 *
 * Bundling was measured and not worth a bundler dependency: a 33 KB esbuild bundle reached its
 * ready line in 78-84 ms (median of 20 starts), the copied modules in 84-106 ms, within the
 * noise of a container start (~100+ ms) on this machine; the image's size is the base's.
 *
 * The tag is `fanout-lab-receiver:<hash>` over every byte of the context, the build arguments
 * and the base image's id, so an image is reused only when it is exactly what would be built,
 * and a stale one never is. The build runs through dockerode's build call and the progress
 * stream is read to its end: a failed build is reported with the builder's own error (the
 * engine reports it inside a successful HTTP answer; testcontainers' build does not look).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import type Dockerode from 'dockerode';
import { FANOUT_JS } from '../hosts.js';
import type { BaseImage } from './base.js';
import { LABEL_IMAGE } from './plan.js';
import { followProgress } from './progress.js';
import { tarStream, type TarEntry } from './tar.js';

export const RECEIVER_REPO = 'fanout-lab-receiver';
export const DOCKERFILE_NAME = 'Dockerfile.receiver';
/** The modules the receiver starts from, relative to the compiled tree's root. */
export const RECEIVER_ENTRIES = ['cli/fanout.js', 'cli/receive.js'];

/** A build failed (with the builder's own error) or its image is missing afterwards. */
export class ImageBuildError extends Error {
  override readonly name = 'ImageBuildError';
}

/** Relative specifiers of a module's static imports and re-exports (`import x from './a.js'`, `export * from '../b.js'`, `import './c.js'`). */
export function staticImports(source: string): string[] {
  const out = new Set<string>();
  const re = /(?:^|[\n;])\s*(?:import|export)\s+(?:[^'";]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]/g;
  for (let m = re.exec(source); m !== null; m = re.exec(source)) out.add(m[1]!);
  return [...out];
}

/**
 * Every module reachable from `entries` by static relative imports, as paths relative to the
 * compiled tree's root, sorted. `read(rel)` returns a module's text. Pure apart from `read`.
 */
export function moduleClosure(entries: readonly string[], read: (rel: string) => string): string[] {
  const seen = new Set<string>();
  const todo = [...entries.map((e) => posix.normalize(e))];
  while (todo.length > 0) {
    const rel = todo.pop()!;
    if (seen.has(rel)) continue;
    if (rel.startsWith('..')) throw new ImageBuildError(`the receiver imports ${rel}, outside the compiled tree`);
    seen.add(rel);
    for (const spec of staticImports(read(rel))) todo.push(posix.normalize(posix.join(posix.dirname(rel), spec)));
  }
  return [...seen].sort();
}

/** The project's top-level folder: the nearest parent of the compiled tree holding Dockerfile.receiver. */
export function findProjectRoot(from: string = dirname(dirname(FANOUT_JS))): string {
  for (let dir = from, i = 0; i < 6; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, DOCKERFILE_NAME))) return dir;
  }
  throw new ImageBuildError(`${DOCKERFILE_NAME} not found above ${from}`);
}

/** One file of the build context. */
export interface ContextFile {
  name: string;
  content: Buffer;
}

/** The build context for the compiled tree at `distRoot` (a folder holding cli/fanout.js). */
export function receiverContext(distRoot: string, projectRoot: string): ContextFile[] {
  const modules = moduleClosure(RECEIVER_ENTRIES, (rel) => readFileSync(join(distRoot, rel), 'utf8'));
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version?: string };
  const files: ContextFile[] = [
    { name: DOCKERFILE_NAME, content: readFileSync(join(projectRoot, DOCKERFILE_NAME)) },
    { name: 'package.json', content: Buffer.from(`${JSON.stringify({ name: 'fanout-lab-receiver', version: pkg.version ?? '0.0.0', private: true, type: 'module' }, null, 2)}\n`) },
    ...modules.map((rel) => ({ name: `dist/${rel}`, content: readFileSync(join(distRoot, rel)) })),
  ];
  return files;
}

/** The content tag of a context plus build arguments plus base id. Pure. */
export function contextTag(files: readonly ContextFile[], buildArgs: Readonly<Record<string, string>>, baseId: string): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => a.name.localeCompare(b.name))) {
    h.update(`${f.name}\0${f.content.length}\0`);
    h.update(f.content);
  }
  for (const k of Object.keys(buildArgs).sort()) h.update(`arg\0${k}\0${buildArgs[k]}\0`);
  h.update(`base\0${baseId}\0`);
  return `${RECEIVER_REPO}:${h.digest('hex').slice(0, 16)}`;
}

/** The tar entries of a context (directories first). Pure. */
export function contextEntries(files: readonly ContextFile[]): TarEntry[] {
  const dirs = new Set<string>();
  for (const f of files) for (let d = posix.dirname(f.name); d !== '.'; d = posix.dirname(d)) dirs.add(d);
  return [
    ...[...dirs].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b)).map((d) => ({ type: 'dir' as const, name: d })),
    ...files.map((f) => ({ type: 'file' as const, name: f.name, size: f.content.length, source: f.content })),
  ];
}

/** The receiver image, built if needed. */
export interface ReceiverImage {
  tag: string;
  base: BaseImage;
  /** True when an image with this content tag already existed. */
  cached: boolean;
  buildS: number;
}

/** Build (or reuse, by content tag) the receiver image on `base`. */
export async function ensureReceiverImage(docker: Dockerode, base: BaseImage, opts: { distRoot?: string; projectRoot?: string } = {}): Promise<ReceiverImage> {
  const t0 = performance.now();
  const distRoot = opts.distRoot ?? dirname(dirname(FANOUT_JS));
  const projectRoot = opts.projectRoot ?? findProjectRoot(distRoot);
  const files = receiverContext(distRoot, projectRoot);
  const buildArgs = { BASE_IMAGE: base.ref };
  const tag = contextTag(files, buildArgs, base.id);
  try {
    await docker.getImage(tag).inspect();
    return { tag, base, cached: true, buildS: (performance.now() - t0) / 1000 };
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 404) throw e;
  }
  const stream = await docker.buildImage(tarStream(contextEntries(files)), {
    t: tag,
    dockerfile: DOCKERFILE_NAME,
    buildargs: buildArgs,
    labels: { [LABEL_IMAGE]: 'receiver' },
    rm: true,
    forcerm: true,
    pull: false,
  } as Dockerode.ImageBuildOptions);
  const p = await followProgress(stream);
  if (p.error !== null) {
    throw new ImageBuildError(`docker build of ${DOCKERFILE_NAME} (BASE_IMAGE=${base.ref}) failed: ${p.error}\n${p.lines.slice(-15).join('\n')}`);
  }
  try {
    await docker.getImage(tag).inspect();
  } catch {
    throw new ImageBuildError(`docker build of ${DOCKERFILE_NAME} reported no error, but ${tag} does not exist:\n${p.lines.slice(-15).join('\n')}`);
  }
  return { tag, base, cached: false, buildS: (performance.now() - t0) / 1000 };
}
