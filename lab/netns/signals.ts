/**
 * Tear the lab down when the user presses Ctrl-C or the process is told to stop.
 *
 * The first SIGINT/SIGTERM runs `teardown` once, then exits 130 (SIGINT) or 143 (SIGTERM), the
 * shell's 128 + signal number. A second signal while teardown runs exits at once with the same
 * code (whatever is left is in the ledger, for `fanout clean`). SIGKILL cannot be caught: that is
 * what the ledger and `fanout clean` are for.
 */

/** Hooks for tests: how to exit and where to say what happened. */
export interface SignalTeardownOptions {
  exit?: (code: number) => void;
  log?: (message: string) => void;
  /** The emitter to listen on (default: process). */
  target?: Pick<NodeJS.Process, 'on' | 'off'>;
}

/** Exit codes by signal. */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * Install the handlers; returns a function that removes them (call it after a normal teardown).
 */
export function installTeardownOnSignals(teardown: () => Promise<unknown>, opts: SignalTeardownOptions = {}): () => void {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const target = opts.target ?? process;
  let running = false;

  const handler = (signal: keyof typeof SIGNAL_EXIT_CODES): void => {
    const code = SIGNAL_EXIT_CODES[signal];
    if (running) {
      log(`${signal} again: exiting without waiting for teardown (run \`fanout clean\`)`);
      exit(code);
      return;
    }
    running = true;
    log(`${signal}: tearing the lab down`);
    teardown().then(
      () => exit(code),
      (e: unknown) => {
        log(`teardown failed: ${e instanceof Error ? e.message : String(e)} (run \`fanout clean\`)`);
        exit(code);
      },
    );
  };
  const onInt = (): void => handler('SIGINT');
  const onTerm = (): void => handler('SIGTERM');
  target.on('SIGINT', onInt);
  target.on('SIGTERM', onTerm);
  return () => {
    target.off('SIGINT', onInt);
    target.off('SIGTERM', onTerm);
  };
}
