import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CommandError, DryRunCommander, RealCommander, RecordingCommander, shellQuote } from '../../lab/commander.js';
import { NetnsNetwork } from '../../lab/netns/backend.js';
import { installTeardownOnSignals } from '../../lab/netns/signals.js';

describe('RealCommander', () => {
  it('runs argv without a shell and feeds input on stdin', async () => {
    const c = new RealCommander();
    expect(await c.run([process.execPath, '-e', 'process.stdout.write(process.argv[1])', '$HOME; echo hi'])).toEqual({
      stdout: '$HOME; echo hi',
      stderr: '',
    });
    const echoed = await c.run([process.execPath, '-e', 'process.stdin.pipe(process.stdout)'], { input: 'netns add x\n' });
    expect(echoed.stdout).toBe('netns add x\n');
  });

  it('throws CommandError with argv, exit code and stderr', async () => {
    const c = new RealCommander();
    const argv = [process.execPath, '-e', 'process.stderr.write("RTNETLINK answers: File exists\\n"); process.exit(2)'];
    const err = await c.run(argv).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    const ce = err as CommandError;
    expect(ce.argv).toEqual(argv);
    expect(ce.exitCode).toBe(2);
    expect(ce.stderr).toBe('RTNETLINK answers: File exists\n');
    expect(ce.message).toContain('exit 2: RTNETLINK answers: File exists');
  });

  it('reports a program that does not exist', async () => {
    const err = (await new RealCommander().run(['/nonexistent/ip', 'link']).catch((e: unknown) => e)) as CommandError;
    expect(err).toBeInstanceOf(CommandError);
    expect(err.exitCode).toBeNull();
    expect(err.stderr).toContain('ENOENT');
  });
});

describe('DryRunCommander and RecordingCommander', () => {
  it('prints shell-quoted lines and batch input as a here-doc', async () => {
    let out = '';
    const c = new DryRunCommander({ write: (t: string) => (out += t) });
    await c.run(['ip', 'netns', 'exec', 'fl0a1b-r0', 'node', '-e', "console.log('a b')"]);
    await c.run(['ip', '-batch', '-'], { input: 'netns add fl0a1b-br\n' });
    expect(out).toBe(`ip netns exec fl0a1b-r0 node -e 'console.log('\\''a b'\\'')'\nip -batch - <<'EOF'\nnetns add fl0a1b-br\nEOF\n`);
    expect(shellQuote(['tc', 'class', 'change', 'parent', '1:', ''])).toBe("tc class change parent 1: ''");
  });

  it('NetnsNetwork.dryRun prints the whole bring-up and teardown without running anything', async () => {
    let out = '';
    await NetnsNetwork.dryRun(
      { receivers: [{ index: 0, downBps: 20e6, upBps: 20e6 }], sender: { upBps: Infinity } },
      { commander: new DryRunCommander({ write: (t: string) => (out += t) }), prefix: 'fl0a1b' },
    );
    const commandLines = out.split('\n').filter((l) => /^(ip|tc) /.test(l));
    expect(commandLines).toEqual([
      "ip -batch - <<'EOF'",
      "ip -n fl0a1b-br -batch - <<'EOF'",
      'ip -n fl0a1b-br -j link show',
      "ip -j -n fl0a1b-s -batch - <<'EOF'",
      "ip -j -n fl0a1b-r0 -batch - <<'EOF'",
      "tc -n fl0a1b-br -batch - <<'EOF'",
      "tc -n fl0a1b-r0 -batch - <<'EOF'",
      "ip -force -batch - <<'EOF'",
    ]);
  });

  it('records calls and answers by matcher, throwing canned errors', async () => {
    const c = new RecordingCommander().onPrefix(['ip', '-j', 'netns'], '[]');
    c.on({ match: (a) => a[0] === 'tc', error: new CommandError(['tc'], 2, 'nope') });
    expect((await c.run(['ip', '-j', 'netns', 'list'])).stdout).toBe('[]');
    expect((await c.run(['ip', 'link'])).stdout).toBe('');
    await expect(c.run(['tc', 'qdisc'], { input: 'x' })).rejects.toThrow('nope');
    expect(c.calls).toEqual([{ argv: ['ip', '-j', 'netns', 'list'] }, { argv: ['ip', 'link'] }, { argv: ['tc', 'qdisc'], input: 'x' }]);
  });
});

describe('installTeardownOnSignals', () => {
  function harness() {
    const target = new EventEmitter();
    const exits: number[] = [];
    const logs: string[] = [];
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const uninstall = installTeardownOnSignals(
      async () => {
        calls++;
        await gate;
      },
      { target: target as unknown as NodeJS.Process, exit: (c) => void exits.push(c), log: (m) => void logs.push(m) },
    );
    return { target, exits, logs, calls: () => calls, release, uninstall };
  }

  it('runs teardown once on SIGINT, then exits 130', async () => {
    const h = harness();
    h.target.emit('SIGINT');
    expect(h.calls()).toBe(1);
    expect(h.exits).toEqual([]);
    h.release();
    await new Promise((r) => setImmediate(r));
    expect(h.exits).toEqual([130]);
  });

  it('exits 143 on SIGTERM; a second signal exits at once without a second teardown', async () => {
    const h = harness();
    h.target.emit('SIGTERM');
    h.target.emit('SIGTERM');
    expect(h.calls()).toBe(1);
    expect(h.exits).toEqual([143]);
    expect(h.logs[1]).toContain('exiting without waiting');
  });

  it('removes its handlers', () => {
    const h = harness();
    h.uninstall();
    expect(h.target.listenerCount('SIGINT')).toBe(0);
    expect(h.target.listenerCount('SIGTERM')).toBe(0);
  });
});
