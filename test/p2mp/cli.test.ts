/**
 * P2MP-FTP's programs for real on loopback (the built CLI: `npm test` builds first): bad input
 * exits 2 with a message; both variants move a file to 3 receivers (127.0.0.1-3) byte for byte,
 * with garbage thrown at the receivers on the way.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const dist = (f: string): string => fileURLToPath(new URL(`../../dist/cli/${f}`, import.meta.url));
const SERVER = dist('p2mpserver.js');
const CLIENT = dist('p2mpclient.js');
const FANOUT = dist('fanout.js');

const dir = mkdtempSync(join(tmpdir(), 'p2mp-cli-'));
const p = (name: string): string => join(dir, name);

beforeAll(() => {
  if (!existsSync(SERVER)) throw new Error(`${SERVER} is missing: run \`npm run build\` first (npm test does)`);
  writeFileSync(p('small.bin'), randomBytes(3000));
});
/** Every program a test started: stopped (by pid) whatever the test's outcome. */
const started: ChildProcess[] = [];
afterAll(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

function run(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { timeout: 20_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

describe.concurrent('bad input: a message and exit 2', () => {
  const cases: [string, string, string[], RegExp][] = [
    ['server: p above 1', SERVER, ['47901', p('x'), '1.5'], /p: expected a probability from 0 to 1/],
    ['server: p below 0', SERVER, ['--', '47901', p('x'), '-0.1'], /p: expected a probability/],
    ['server: p below 0 without --', SERVER, ['47901', p('x'), '-0.1'], /Unknown option '-0'/],
    ['server: p not a number', SERVER, ['47901', p('x'), 'half'], /p: expected a number/],
    ['server: port 0', SERVER, ['0', p('x'), '0.1'], /port#: expected a UDP port/],
    ['server: missing argument', SERVER, ['47901', p('x')], /usage: p2mpserver port# file-name p/],
    ['server: no such folder', SERVER, ['47901', p('nope/x'), '0'], /no such folder/],
    ['client: MSS 0', CLIENT, ['127.0.0.1', '47901', p('small.bin'), '0'], /MSS: expected a whole number of bytes from 1 to 65499/],
    ['client: MSS too large', CLIENT, ['127.0.0.1', '47901', p('small.bin'), '70000'], /MSS: expected/],
    ['client: MSS fractional', CLIENT, ['127.0.0.1', '47901', p('small.bin'), '10.5'], /MSS: expected a whole number/],
    ['client: unknown host', CLIENT, ['no-such-host.invalid', '47901', p('small.bin'), '500'], /unknown host "no-such-host.invalid"/],
    ['client: missing file', CLIENT, ['127.0.0.1', '47901', p('none.bin'), '500'], /cannot read/],
    ['client: no servers', CLIENT, ['47901', p('small.bin'), '500'], /usage: p2mpclient/],
    ['client: bad timeout', CLIENT, ['127.0.0.1', '47901', p('small.bin'), '500', '--timeout-ms', '0'], /--timeout-ms: expected > 0/],
    ['fanout p2mp send: bad mode', FANOUT, ['p2mp', 'send', '--file', p('small.bin'), '--receivers', '127.0.0.1', '--rate', '1mbit', '--mode', 'broadcast'], /--mode: expected unicast or multicast/],
    ['fanout p2mp send: group not multicast', FANOUT, ['p2mp', 'send', '--file', p('small.bin'), '--receivers', '127.0.0.1', '--rate', '1mbit', '--mode', 'multicast', '--group', '10.0.0.1', '--bind', '127.0.0.1'], /224\.0\.0\.0\/4/],
    ['fanout p2mp send: bad rate', FANOUT, ['p2mp', 'send', '--file', p('small.bin'), '--receivers', '127.0.0.1', '--rate', 'fast'], /--rate/],
    ['fanout p2mp send: segment too small', FANOUT, ['p2mp', 'send', '--file', p('small.bin'), '--receivers', '127.0.0.1', '--rate', '1mbit', '--seg-bytes', '10'], /segment size: expected/],
    ['fanout p2mp send: unknown host', FANOUT, ['p2mp', 'send', '--file', p('small.bin'), '--receivers', 'nowhere.invalid', '--rate', '1mbit'], /unknown host/],
    ['fanout p2mp receive: no --out', FANOUT, ['p2mp', 'receive'], /usage: fanout p2mp receive/],
    ['fanout p2mp: unknown flag', FANOUT, ['p2mp', 'server', '47901', p('x'), '0', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [name, script, args, message] of cases) {
    it(name, async () => {
      const r = await run(script, args);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/internal error/);
      expect(r.code).toBe(2);
    });
  }

  it('server: a port in use', async () => {
    const sock = createSocket('udp4');
    await new Promise<void>((res) => sock.bind(0, '127.0.0.1', () => res()));
    try {
      const port = sock.address().port;
      const r = await run(SERVER, [String(port), p('y'), '0', '--bind', '127.0.0.1']);
      expect(r.stderr).toMatch(new RegExp(`UDP port ${port} on 127.0.0.1 is already in use`));
      expect(r.code).toBe(2);
      expect(readdirSync(dir).filter((f) => f.includes('p2mp-part'))).toEqual([]);
    } finally {
      sock.close();
    }
  });
});

/** Starts a program and resolves once it prints a line matching `ready`. */
function start(script: string, args: string[], ready: RegExp): Promise<{ proc: ChildProcess; out: () => string; exited: Promise<number | null> }> {
  const proc = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(proc);
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((r) => proc.once('close', r));
  return new Promise((resolve, reject) => {
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (ready.test(out)) resolve({ proc, out: () => out, exited });
    });
    proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    void exited.then((c) => reject(new Error(`${script} exited ${c} before ready: ${err}`)));
  });
}

/** Throws `count` datagrams of garbage (random, and truncated/corrupted headers) at host:port. */
async function garbage(host: string, port: number, count: number): Promise<void> {
  const s = createSocket('udp4');
  for (let i = 0; i < count; i++) {
    const kind = i % 3;
    const b = kind === 0 ? randomBytes(1 + (i % 60)) : kind === 1 ? Buffer.from('504d0103', 'hex') : Buffer.concat([Buffer.from('0000000a12345555', 'hex'), randomBytes(10)]);
    await new Promise<void>((r) => s.send(b, port, host, () => r()));
  }
  s.close();
}

describe('loopback end to end, 3 receivers', () => {
  it('stop-and-wait: p = 0.1 at each server, every file byte for byte, the specification\'s lines printed', async () => {
    const src = p('saw-src.bin');
    const data = randomBytes(300_000 + 7);
    writeFileSync(src, data);
    const port = 40_000 + (process.pid % 20_000);
    const servers = await Promise.all([1, 2, 3].map((i) => start(SERVER, [String(port), p(`saw-out${i}.bin`), '0.1', '--bind', `127.0.0.${i}`, '--linger-ms', '300', '--seed', String(i), '--json'], /"listening"/)));
    await new Promise((r) => setTimeout(r, 300));
    await garbage('127.0.0.1', port, 30);
    const client = await run(CLIENT, ['127.0.0.1', '127.0.0.2', '127.0.0.3', String(port), src, '500', '--timeout-ms', '15']);
    expect(client.stderr).toBe('');
    expect(client.code).toBe(0);
    expect(client.stdout).toMatch(/^Timeout, sequence number = \d+$/m);
    expect(client.stdout).toMatch(/Transfer complete: 601 segments to 3 servers/);
    for (const [i, s] of servers.entries()) {
      expect(await s.exited).toBe(0);
      expect(s.out()).toMatch(/^Packet loss, sequence number = \d+$/m);
      expect(readFileSync(p(`saw-out${i + 1}.bin`)).equals(data)).toBe(true);
    }
    expect(readdirSync(dir).filter((f) => f.includes('p2mp-part'))).toEqual([]);
  });

  it('nak (unicast): every file byte for byte, corrupt datagrams dropped and counted', async () => {
    const src = p('nak-src.bin');
    const data = randomBytes(2_000_000 + 13);
    writeFileSync(src, data);
    const port = 40_000 + ((process.pid + 7) % 20_000);
    const rx = await Promise.all([1, 2, 3].map((i) => start(FANOUT, ['p2mp', 'receive', '--out', p(`nak-out${i}.bin`), '--bind', `127.0.0.${i}`, '--port', String(port), '--json'], /"listening"/)));
    await garbage('127.0.0.2', port, 30);
    const sender = await run(FANOUT, ['p2mp', 'send', '--file', src, '--receivers', `127.0.0.1:${port},127.0.0.2:${port},127.0.0.3:${port}`, '--rate', '100mbit', '--json']);
    expect(sender.stderr).toBe('');
    expect(sender.code).toBe(0);
    const summary = JSON.parse(sender.stdout.trim().split('\n').pop()!);
    expect(summary).toMatchObject({ event: 'summary', complete: 3, failed: [] });
    for (const [i, r] of rx.entries()) {
      expect(await r.exited).toBe(0);
      expect(readFileSync(p(`nak-out${i + 1}.bin`)).equals(data)).toBe(true);
      const done = JSON.parse(r.out().split('\n').find((l) => l.includes('"done"'))!);
      expect(done.bytes).toBe(data.length);
      if (i === 1) expect(done.corrupt).toBe(30);
    }
    expect(readdirSync(dir).filter((f) => f.includes('p2mp-part'))).toEqual([]);
  });
});
