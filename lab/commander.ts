/**
 * The one door through which the lab runs system commands (`ip`, `tc`, ...).
 *
 * Builders elsewhere in lab/ are pure: they return argv arrays (and, for `ip -batch -` /
 * `tc -batch -`, the batch text as `input`). A Commander runs them. Three implementations:
 *
 *   - RealCommander: execFile without a shell; a non-zero exit becomes a CommandError that
 *     carries argv, exit code and stderr, so the caller can read *why* (e.g. "File exists").
 *   - RecordingCommander: records every call and answers from canned responses; unit tests
 *     assert the exact argv without root.
 *   - DryRunCommander: prints each call as a shell-quoted line (batch input as a here-doc)
 *     and returns empty output; `--dry-run` uses it.
 */
import { spawn } from 'node:child_process';

/** Options for one command. */
export interface RunOptions {
  /** Written to the command's stdin (then stdin is closed), e.g. the lines of `ip -batch -`. */
  input?: string;
}

/** What a finished command printed. */
export interface RunOutput {
  stdout: string;
  stderr: string;
}

/** Runs one command given as an argv array (never through a shell). */
export interface Commander {
  run(argv: string[], opts?: RunOptions): Promise<RunOutput>;
}

/** A command that could not be started or exited non-zero. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly argv: readonly string[],
    /** Exit code, or null when killed by a signal or never started. */
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly stdout = '',
    /** The signal that killed it, if any. */
    readonly signal: string | null = null,
  ) {
    const why = exitCode !== null ? `exit ${exitCode}` : signal !== null ? `signal ${signal}` : 'failed to start';
    const detail = stderr.trim().split('\n').slice(-3).join(' | ');
    super(`${shellQuote(argv)}: ${why}${detail ? `: ${detail}` : ''}`);
  }
}

/** Quote one word for a POSIX shell; words made only of safe characters stay bare. */
export function shellQuoteWord(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** An argv array as one shell-quoted line. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map(shellQuoteWord).join(' ');
}

/** Runs commands for real with child_process.spawn (no shell). */
export class RealCommander implements Commander {
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  run(argv: string[], opts: RunOptions = {}): Promise<RunOutput> {
    const [file, ...args] = argv;
    if (file === undefined) return Promise.reject(new CommandError(argv, null, 'empty argv'));
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, {
        env: this.env,
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout?.on('data', (b: Buffer) => out.push(b));
      child.stderr?.on('data', (b: Buffer) => err.push(b));
      let spawnError: Error | null = null;
      child.on('error', (e) => {
        spawnError = e;
      });
      if (opts.input !== undefined && child.stdin) {
        // EPIPE when the command exits early is reported through its exit code instead.
        child.stdin.on('error', () => {});
        child.stdin.end(opts.input);
      }
      child.on('close', (code, signal) => {
        const stdout = Buffer.concat(out).toString('utf8');
        const stderr = Buffer.concat(err).toString('utf8');
        if (spawnError !== null) {
          reject(new CommandError(argv, null, spawnError.message, stdout));
        } else if (code === 0) {
          resolve({ stdout, stderr });
        } else {
          reject(new CommandError(argv, code, stderr, stdout, signal));
        }
      });
    });
  }
}

/** One call a RecordingCommander saw. */
export interface RecordedCall {
  argv: string[];
  input?: string;
}

/** A canned answer: the first responder whose `match` accepts the call answers it. */
export interface Responder {
  match: (argv: readonly string[], input: string | undefined) => boolean;
  /** stdout to return, or an error to throw (e.g. a CommandError) */
  stdout?: string | ((argv: readonly string[], input: string | undefined) => string);
  stderr?: string;
  error?: Error | ((argv: readonly string[]) => Error);
}

/**
 * Records every call and answers from canned responders (unit tests; no root needed).
 * Calls no responder matches return empty output.
 */
export class RecordingCommander implements Commander {
  readonly calls: RecordedCall[] = [];
  private readonly responders: Responder[] = [];

  constructor(responders: Responder[] = []) {
    this.responders.push(...responders);
  }

  /** Add a responder (checked after those added earlier). */
  on(responder: Responder): this {
    this.responders.push(responder);
    return this;
  }

  /** Shorthand: answer calls whose argv starts with `prefix` with `stdout`. */
  onPrefix(prefix: readonly string[], stdout: string): this {
    return this.on({ match: (argv) => prefix.every((w, i) => argv[i] === w), stdout });
  }

  async run(argv: string[], opts: RunOptions = {}): Promise<RunOutput> {
    const call: RecordedCall = { argv: [...argv] };
    if (opts.input !== undefined) call.input = opts.input;
    this.calls.push(call);
    const r = this.responders.find((x) => x.match(argv, opts.input));
    if (r === undefined) return { stdout: '', stderr: '' };
    if (r.error !== undefined) throw typeof r.error === 'function' ? r.error(argv) : r.error;
    const stdout = typeof r.stdout === 'function' ? r.stdout(argv, opts.input) : (r.stdout ?? '');
    return { stdout, stderr: r.stderr ?? '' };
  }

  /** Every call as a shell-quoted line (batch input not included). */
  lines(): string[] {
    return this.calls.map((c) => shellQuote(c.argv));
  }
}

/** Minimal writable the dry-run printer needs (process.stdout fits). */
export interface LineSink {
  write(text: string): unknown;
}

/** Prints each call as a shell line and runs nothing; returns empty output. */
export class DryRunCommander implements Commander {
  constructor(private readonly sink: LineSink = process.stdout) {}

  async run(argv: string[], opts: RunOptions = {}): Promise<RunOutput> {
    if (opts.input === undefined) {
      this.sink.write(`${shellQuote(argv)}\n`);
    } else {
      const body = opts.input.endsWith('\n') ? opts.input : `${opts.input}\n`;
      this.sink.write(`${shellQuote(argv)} <<'EOF'\n${body}EOF\n`);
    }
    return { stdout: '', stderr: '' };
  }
}
