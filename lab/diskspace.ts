/**
 * Free-space checks before the lab writes big files (the seeded source file, and the fragments the
 * receivers store beside it): a scenario asking for more than the disk holds is refused up front
 * with a message, instead of filling the disk part-way through a run.
 */
import { statSync, statfsSync } from 'node:fs';
import { ScenarioError } from './scenario/errors.js';
import type { FileSpec } from './types.js';

/** Left free after the lab's own files, for everything else on the machine. */
export const FREE_SPACE_RESERVE_BYTES = 256 * 2 ** 20;

/** Bytes available to this user on the file system holding `dir` (null when statfs cannot tell). */
export function freeBytes(dir: string): number | null {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;

/**
 * Throws ScenarioError (bad input, exit 2) unless `dir` has room for `needBytes` plus the reserve.
 * `what` names the scenario key the need comes from (e.g. `file.size`).
 */
export function checkFreeSpace(dir: string, needBytes: number, what: string, source: string, free: (d: string) => number | null = freeBytes): void {
  const have = free(dir);
  if (have === null) return;
  if (needBytes + FREE_SPACE_RESERVE_BYTES > have) {
    throw new ScenarioError(source, [
      {
        path: what,
        message: `needs ${gib(needBytes)} in ${dir} (the source file and what the receivers store), plus ${gib(FREE_SPACE_RESERVE_BYTES)} kept free; ${gib(have)} is available`,
      },
    ]);
  }
}

/**
 * What a run of `file` writes: the seeded source (when generated), and every fragment once
 * (fragments job) or a whole copy on every node (whole-file job, `copies` = the receiver count).
 */
export function labDiskNeed(file: FileSpec, sizeOf: (p: string) => number = (p) => statSync(p).size, copies = 1): number {
  const size = file.kind === 'size' ? file.sizeBytes : sizeOf(file.path);
  return (file.kind === 'size' ? size : 0) + copies * size;
}

/** The check `runLab` makes before writing the source file: room in `workDir` for the run. */
export function checkLabDisk(workDir: string, file: FileSpec, source: string, copies = 1): void {
  checkFreeSpace(workDir, labDiskNeed(file, undefined, copies), file.kind === 'size' ? 'file.size' : 'file.path', source);
}
