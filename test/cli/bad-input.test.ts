/**
 * `fanout` refuses bad input with exit code 2 and one message naming the problem, before it opens a
 * single connection. Runs the built CLI (`npm test` builds first); no receiver is needed.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRATEGY_NAMES } from '../../sender/strategies/names.js';

const CLI = fileURLToPath(new URL('../../dist/cli/fanout.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function fanout(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, timeout: 20_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'fanout-cli-'));
const p = (name: string): string => join(dir, name);

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  writeFileSync(p('data.bin'), Buffer.alloc(4096, 7));
  writeFileSync(p('tiny.bin'), 'ab');
  writeFileSync(p('nodes.txt'), '# two receivers\n127.0.0.1:47001\n\n127.0.0.1:47002\n');
  writeFileSync(p('malformed.txt'), '# receivers\n127.0.0.1:47001\n127.0.0.1:port\n');
  writeFileSync(p('dup.txt'), '127.0.0.1:47001\n127.0.0.1:47002\n127.0.0.1:47001\n');
  mkdirSync(p('dir.txt'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A valid send, with `over` replacing or adding flags (a null value drops the flag). */
function send(over: Record<string, string | null> = {}, extra: string[] = []): string[] {
  const flags: Record<string, string | null> = {
    '--file': p('data.bin'),
    '--nodes': p('nodes.txt'),
    '--rate-kbps': '8000',
    ...over,
  };
  const argv = ['send'];
  for (const [k, v] of Object.entries(flags)) if (v !== null) argv.push(k, v);
  return [...argv, ...extra];
}

describe.concurrent('fanout send: bad input exits 2 with a message naming the problem', () => {
  // [name, argv, exact stderr (string) or pattern]
  const cases: [string, () => string[], string | RegExp][] = [
    ['missing --file', () => send({ '--file': null }), 'fanout: --file is required (fanout send --help)\n'],
    ['missing --nodes', () => send({ '--nodes': null }), 'fanout: --nodes is required (fanout send --help)\n'],
    ['missing --rate-kbps', () => send({ '--rate-kbps': null }), 'fanout: --rate-kbps is required: a number of Kbps, or "unlimited"\n'],
    ['a file that does not exist', () => send({ '--file': p('nope.bin') }), `fanout: --file ${p('nope.bin')}: no such file\n`],
    ['a directory as --file', () => send({ '--file': dir }), `fanout: --file ${dir}: not a regular file\n`],
    ['an unreadable node list (a directory)', () => send({ '--nodes': p('dir.txt') }), `fanout: cannot read node list ${p('dir.txt')}: EISDIR\n`],
    ['a node list that does not exist', () => send({ '--nodes': p('gone.txt') }), `fanout: cannot read node list ${p('gone.txt')}: ENOENT\n`],
    ['a malformed node list (line number)', () => send({ '--nodes': p('malformed.txt') }), `fanout: ${p('malformed.txt')}:3: port "port" is not a number\n`],
    ['duplicate nodes in a file', () => send({ '--nodes': p('dup.txt') }), `fanout: ${p('dup.txt')}:3: duplicate node 127.0.0.1:47001 (first at ${p('dup.txt')}:1)\n`],
    ['duplicate nodes in a list', () => send({ '--nodes': '127.0.0.1:47001,127.0.0.1:47001' }), 'fanout: --nodes item 2: duplicate node 127.0.0.1:47001 (first at --nodes item 1)\n'],
    ['--rate-kbps 0', () => send({ '--rate-kbps': '0' }), 'fanout: --rate-kbps: the rate must be above 0 (got 0)\n'],
    ['--rate-kbps=-5', () => send({ '--rate-kbps': null }, ['--rate-kbps=-5']), 'fanout: --rate-kbps: the rate must be above 0 (got -5)\n'],
    // `--rate-kbps -5` as two words: node:util parseArgs refuses a value starting with a dash.
    ['--rate-kbps -5', () => send({ '--rate-kbps': '-5' }), /^fanout: Option '--rate-kbps' argument is ambiguous\./],
    ['--rate-kbps abc', () => send({ '--rate-kbps': 'abc' }), 'fanout: --rate-kbps: expected a number of Kbps or "unlimited", got "abc"\n'],
    ['--rate-kbps 1e999', () => send({ '--rate-kbps': '1e999' }), 'fanout: --rate-kbps: expected a number of Kbps or "unlimited", got "1e999"\n'],
    [
      'unknown --strategy',
      () => send({ '--strategy': 'fastest' }),
      `fanout: --strategy: unknown strategy "fastest" (choose one of ${STRATEGY_NAMES.join(', ')})\n`,
    ],
    ['--width 0', () => send({ '--width': '0' }), 'fanout: --width: expected a whole number of at least 1, got "0"\n'],
    ['--width 1.5', () => send({ '--width': '1.5' }), 'fanout: --width: expected a whole number of at least 1, got "1.5"\n'],
    ['--transfer-id too short', () => send({ '--transfer-id': 'abcd' }), 'fanout: --transfer-id: expected 32 hex digits\n'],
    ['an unknown flag', () => send({}, ['--bogus']), /^fanout: Unknown option '--bogus'/],
    ['a positional argument', () => send({}, ['extra.bin']), /^fanout: Unexpected argument 'extra.bin'/],
    [
      'a file with fewer bytes than nodes',
      () => send({ '--file': p('tiny.bin'), '--nodes': '127.0.0.1:47001,127.0.0.1:47002,127.0.0.1:47003' }),
      'fanout: the file has 2 bytes, fewer than the 3 nodes: every node must get at least one byte\n',
    ],
  ];

  it.each(cases)('%s', async (_name, argv, stderr) => {
    const r = await fanout(argv(), dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    if (typeof stderr === 'string') expect(r.stderr).toBe(stderr);
    else expect(r.stderr).toMatch(stderr);
    expect(r.stderr).not.toContain('internal error');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it.skipIf(process.getuid?.() === 0)('a node list without read permission', async () => {
    const locked = p('locked.txt');
    writeFileSync(locked, '127.0.0.1:47001\n');
    chmodSync(locked, 0o000);
    const r = await fanout(send({ '--nodes': locked }), dir);
    expect([r.code, r.stderr]).toEqual([2, `fanout: cannot read node list ${locked}: EACCES\n`]);
  });
});

describe.concurrent('fanout: help, unknown commands, receive', () => {
  it('send --help exits 0 and names every strategy', async () => {
    const r = await fanout(['send', '--help'], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Usage: fanout send /);
    for (const name of STRATEGY_NAMES) expect(r.stdout).toContain(name);
    expect(STRATEGY_NAMES).toEqual(['round-robin', 'backpressure', 'probe-prioritise', 'sequential', 'static-split']);
  });

  it('no command: usage on stdout, exit 2; an unknown command: exit 2', async () => {
    const none = await fanout([], dir);
    expect(none.code).toBe(2);
    expect(none.stdout).toMatch(/^Usage: fanout <command>/);
    const unknown = await fanout(['sned'], dir);
    expect([unknown.code, unknown.stderr]).toEqual([2, 'fanout: unknown command "sned" (fanout --help lists them)\n']);
  });

  it('receive --listen bad exits 2 naming the address', async () => {
    const r = await fanout(['receive', '--listen', 'bad', '--out', p('out')], dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('fanout: --listen: expected HOST:PORT or HOST:PORT-PORT (e.g. 0.0.0.0:9000-9063), got "bad"\n');
  });

  it('receive --listen with a reversed port range exits 2', async () => {
    const r = await fanout(['receive', '--listen', '127.0.0.1:9005-9001', '--out', p('out')], dir);
    expect([r.code, r.stderr]).toEqual([2, 'fanout: --listen: port range 9005-9001 is not within 0..65535 in increasing order\n']);
  });

  it('receive without --out exits 2', async () => {
    const r = await fanout(['receive', '--listen', '127.0.0.1:47001'], dir);
    expect([r.code, r.stderr]).toEqual([2, 'fanout: --out is required (fanout receive --help)\n']);
  });
});

describe('--auth-key and the receiver limits: bad input exits 2', () => {
  it('a key file that is missing, too short, or a folder; a limit that is not a whole number', async () => {
    writeFileSync(p('short.key'), 'abc\n');
    const cases: [string[], RegExp][] = [
      [send({ '--auth-key': p('missing.key') }), /--auth-key .*missing\.key: ENOENT/],
      [send({ '--auth-key': p('short.key') }), /--auth-key .*short\.key: 3 bytes; a key needs at least 16/],
      [send({ '--auth-key': p('dir.txt') }), /not a regular file/],
      [['receive', '--listen', '127.0.0.1:0', '--out', p('rx'), '--auth-key', p('short.key')], /a key needs at least 16/],
      [['receive', '--listen', '127.0.0.1:0', '--out', p('rx'), '--quota-bytes', '1.5'], /--quota-bytes: expected a whole number of at least 1/],
      [['receive', '--listen', '127.0.0.1:0', '--out', p('rx'), '--max-connections-per-peer', '0'], /--max-connections-per-peer: expected a whole number of at least 1/],
    ];
    for (const [argv, pattern] of cases) {
      const r = await fanout(argv, dir);
      expect(r.code, `${argv.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(pattern);
    }
  });
});
