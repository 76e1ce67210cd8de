/** Exit codes, and the one place errors become messages: only the CLI layer exits. */
import { AuthKeyError, readAuthKey } from '../wire/auth.js';

export const EXIT = {
  ok: 0,
  /** A run failed (a node failed, a lab run broke). */
  failed: 1,
  /** Invalid input: bad flags, files, scenarios. */
  usage: 2,
  /** A `check` (regression gate) failed. */
  check: 3,
} as const;

/** An error whose message is for the user as it stands, with the exit code to use. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
  }
}

export function fail(message: string, code: number = EXIT.usage): never {
  throw new CliError(message, code);
}

/** `--auth-key FILE`: the key it holds, undefined when not given; a bad file is bad input (exit 2). */
export function authKeyFlag(path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readAuthKey(path);
  } catch (err) {
    if (err instanceof AuthKeyError) fail(err.message);
    throw err;
  }
}
