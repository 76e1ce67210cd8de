/** Exit codes, and the one place errors become messages: only the CLI layer exits. */
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
