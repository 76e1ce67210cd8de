/**
 * The exchange folder: where receiver containers store, on this machine. Receiver containers live
 * for the whole lab (one create/remove cycle, not one per run), so they cannot bind-mount each
 * run's out dir; each gets `<exchange>/rx<i>` as its /out instead, and when a run stops, what it
 * stored is moved into that run's out dir (a rename: both live under the same temporary folder;
 * a copy across filesystems), before stop() resolves. The folder is named
 * `fanout-docker-<prefix>-XXXXXX` and recorded in the network's labels, so `fanout clean` can
 * remove it after a killed run.
 */
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';

/** The label on a run's network naming its exchange folder. */
export const LABEL_EXCHANGE = 'org.fanout-lab.exchange';
const EXCHANGE_NAME = /^fanout-docker-fl[0-9a-f]{4}-[A-Za-z0-9]{6}$/;

/** Is `path` an exchange folder the lab could have made (absolute, the lab's name)? */
export function isExchangePath(path: string): boolean {
  return isAbsolute(path) && EXCHANGE_NAME.test(basename(path));
}

/** Receiver i's folder inside the exchange. */
export function exchangeSlot(root: string, index: number): string {
  return join(root, `rx${index}`);
}

/** Make the exchange folder for run `prefix` with one slot per receiver. */
export async function makeExchange(prefix: string, receivers: number, parent: string = tmpdir()): Promise<string> {
  const root = await mkdtemp(join(parent, `fanout-docker-${prefix}-`));
  for (let i = 0; i < receivers; i++) await mkdir(exchangeSlot(root, i));
  return root;
}

/** Move every file of `from` into `to` (created if missing). Returns how many were moved. */
export async function moveOut(from: string, to: string): Promise<number> {
  await mkdir(to, { recursive: true });
  let n = 0;
  for (const name of await readdir(from)) {
    const src = join(from, name);
    const dst = join(to, name);
    try {
      await rename(src, dst);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      await copyFile(src, dst);
      await unlink(src);
    }
    n++;
  }
  return n;
}

/** Empty a slot (what a broken run left). */
export async function emptySlot(dir: string): Promise<void> {
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
}

/** Remove an exchange folder; refuses anything not named like one. */
export async function removeExchange(path: string): Promise<void> {
  if (!isExchangePath(path)) throw new Error(`refusing to remove ${path}: not a lab exchange folder`);
  await rm(path, { recursive: true, force: true });
}
