/**
 * `transfer.authKey: true` in a scenario: the lab's runs authenticate (fanout send and every
 * fanout receive with `--auth-key`, wire/auth.ts). The key is fresh per lab run, written 0600
 * into the run's own folder, and both commands get the same file.
 *
 * The runner's hook (lab/runner.ts), once per lab run:
 *   const auth = topology.transfer.authKey ? await writeAuthKey(workDir) : null;
 * then appends `auth?.argv ?? []` to the receivers' and to the sender's arguments.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface LabAuth {
  /** The key file. */
  path: string;
  /** `['--auth-key', path]`, for `fanout send` and `fanout receive` alike. */
  argv: string[];
}

/** Writes a random 32-byte key (base64, one line) to `<runDir>/auth.key`, readable by this user only. */
export async function writeAuthKey(runDir: string, name = 'auth.key'): Promise<LabAuth> {
  const path = join(runDir, name);
  await writeFile(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return { path, argv: ['--auth-key', path] };
}
