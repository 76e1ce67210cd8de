import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CommandError, RealCommander, RecordingCommander } from '../../lab/commander.js';
import { detectCapabilities, formatDoctor, type DockerProbe } from '../../lab/doctor.js';
import { clearLossInvocation, lossInvocation, lossRuleset, lossThreshold, netemArgs, netemLines } from '../../lab/loss.js';
import { isLabName } from '../../lab/netns/plan.js';

describe('nftables random loss', () => {
  it('thresholds are thousandths of a percent of mod 100000', () => {
    expect(lossThreshold(1)).toBe(1000);
    expect(lossThreshold(0.5)).toBe(500);
    expect(lossThreshold(0.001)).toBe(1);
    expect(lossThreshold(12.3456)).toBe(12346);
    expect(lossThreshold(100)).toBe(100000);
    expect(lossThreshold(0)).toBe(0);
  });

  it('builds the exact ruleset: replace the table, input = down, output = up', () => {
    expect(lossRuleset(1, 0.5)).toBe(
      [
        'table inet fanout_loss',
        'delete table inet fanout_loss',
        'table inet fanout_loss {',
        '\tchain down {',
        '\t\ttype filter hook input priority filter; policy accept;',
        '\t\tmeta nfproto ipv4 numgen random mod 100000 < 1000 drop',
        '\t}',
        '\tchain up {',
        '\t\ttype filter hook output priority filter; policy accept;',
        '\t\tmeta nfproto ipv4 numgen random mod 100000 < 500 drop',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('leaves out a direction at 0 % (and only clears the table when both are 0)', () => {
    const downOnly = lossRuleset(10, 0);
    expect(downOnly).toContain('hook input');
    expect(downOnly).toContain('< 10000 drop');
    expect(downOnly).not.toContain('hook output');
    const upOnly = lossRuleset(0, 2);
    expect(upOnly).not.toContain('hook input');
    expect(upOnly).toContain('hook output');
    expect(upOnly).toContain('< 2000 drop');
    expect(lossRuleset(0, 0)).toBe('table inet fanout_loss\ndelete table inet fanout_loss\n');
    expect(lossRuleset(0.0001, 0)).toBe(lossRuleset(0, 0)); // below the resolution: no rule
  });

  it('refuses percentages outside [0, 100]', () => {
    expect(() => lossRuleset(-1, 0)).toThrow(RangeError);
    expect(() => lossRuleset(0, 100.5)).toThrow(RangeError);
    expect(() => lossRuleset(Number.NaN, 0)).toThrow(RangeError);
    expect(() => lossRuleset(0, Infinity)).toThrow(RangeError);
    expect(() => lossInvocation('fl0a1b-r0', 101, 0)).toThrow(RangeError);
    expect(() => lossThreshold(-0.1)).toThrow(/loss/);
  });

  it('runs nft inside the namespace with the ruleset as stdin', () => {
    expect(lossInvocation('fl0a1b-r0', 1, 0)).toEqual({ argv: ['ip', 'netns', 'exec', 'fl0a1b-r0', 'nft', '-f', '-'], input: lossRuleset(1, 0) });
    expect(clearLossInvocation('fl0a1b-r0')).toEqual({
      argv: ['ip', 'netns', 'exec', 'fl0a1b-r0', 'nft', '-f', '-'],
      input: 'table inet fanout_loss\ndelete table inet fanout_loss\n',
    });
  });
});

describe('netem lines', () => {
  it('under the HTB class 1:1 of a shaped direction', () => {
    expect(netemLines('fl0a1b-r0', { delayMs: 20, jitterMs: 5, lossPct: 1 })).toEqual(['qdisc replace dev fl0a1b-r0 parent 1:1 handle 10: netem delay 20ms 5ms loss 1%']);
    expect(netemLines('eth0', { lossPct: 0.5 }, true)).toEqual(['qdisc replace dev eth0 parent 1:1 handle 10: netem loss 0.5%']);
    expect(netemLines('eth0', { delayMs: 10 })).toEqual(['qdisc replace dev eth0 parent 1:1 handle 10: netem delay 10ms']);
  });

  it('as the root qdisc of an unshaped direction', () => {
    expect(netemLines('fl0a1b-r0', { delayMs: 20, jitterMs: 5, lossPct: 1 }, false)).toEqual(['qdisc replace dev fl0a1b-r0 root handle 10: netem delay 20ms 5ms loss 1%']);
    expect(netemLines('eth0', { lossPct: 3 }, false)).toEqual(['qdisc replace dev eth0 root handle 10: netem loss 3%']);
  });

  it('jitter without delay varies around 0 ms; nothing asked, no line; nonsense refused', () => {
    expect(netemArgs({ jitterMs: 2 })).toBe('delay 0ms 2ms');
    expect(netemLines('eth0', {})).toEqual([]);
    expect(netemLines('eth0', { delayMs: 0, lossPct: 0 }, false)).toEqual([]);
    expect(() => netemLines('eth0', { lossPct: 120 })).toThrow(RangeError);
    expect(() => netemLines('eth0', { delayMs: -1 })).toThrow(RangeError);
  });
});

describe('doctor: the nftables probe', () => {
  const noDocker = async (): Promise<DockerProbe> => ({ ok: false, endpoint: 'unix:///var/run/docker.sock', detail: 'no engine: ENOENT' });

  it('loads the loss ruleset in the probe namespace and reports it', async () => {
    const rec = new RecordingCommander();
    const caps = await detectCapabilities(rec, { root: true, prefix: 'fl0d0c', probeDocker: noDocker, kernel: 't' });
    const nft = rec.calls.find((c) => c.argv.includes('nft'));
    expect(nft).toEqual({ argv: ['ip', 'netns', 'exec', 'fl0d0c-probe', 'nft', '-f', '-'], input: lossRuleset(1, 0) });
    expect(rec.lines().at(-1)).toBe('ip netns del fl0d0c-probe');
    expect(caps.nftables).toEqual({ ok: true, detail: 'nftables works (random loss without netem)' });
    expect(formatDoctor(caps)).toContain('ok  nftables    nftables works (random loss without netem)');
  });

  it('names Debian\'s nftables package when nft is missing; not tried without root', async () => {
    const missing = (argv: readonly string[]) => new CommandError(argv, 1, 'exec of "nft" failed: No such file or directory\n');
    const rec = new RecordingCommander([{ match: (a) => a.includes('nft'), error: missing }]);
    const caps = await detectCapabilities(rec, { root: true, prefix: 'fl0d0c', probeDocker: noDocker });
    expect(caps.nftables.ok).toBe(false);
    expect(caps.nftables.detail).toMatch(/install Debian's `nftables`/);
    const nonRoot = await detectCapabilities(new RecordingCommander(), { root: false, probeDocker: noDocker });
    expect(nonRoot.nftables).toEqual({ ok: false, detail: 'not tried: not root' });
  });
});

/**
 * Sends `total` 16-byte datagrams to itself on 127.0.0.1 in batches, draining the socket after
 * each batch (until an event-loop turn reads nothing), so the receive buffer never overflows;
 * prints {sent, got, rcvbufErrors} (RcvbufErrors from the namespace's /proc/net/snmp).
 */
const UDP_SELF_SCRIPT = `
const dgram = require('node:dgram');
const fs = require('node:fs');
const total = Number(process.argv[1]);
const BATCH = 200;
const rcvbufErrors = () => {
  const lines = fs.readFileSync('/proc/net/snmp', 'utf8').split('\\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0].split(/\\s+/), values = lines[1].split(/\\s+/);
  return Number(values[names.indexOf('RcvbufErrors')]);
};
const turn = () => new Promise((r) => setImmediate(r));
const s = dgram.createSocket('udp4');
let got = 0;
s.on('message', () => { got++; });
s.bind(0, '127.0.0.1', async () => {
  const port = s.address().port;
  const buf = Buffer.alloc(16);
  const errors0 = rcvbufErrors();
  for (let sent = 0; sent < total; ) {
    const n = Math.min(BATCH, total - sent);
    await new Promise((res, rej) => {
      let left = n;
      for (let k = 0; k < n; k++) s.send(buf, port, '127.0.0.1', (e) => (e ? rej(e) : --left === 0 && res()));
    });
    sent += n;
    for (let before = -1; before !== got; ) { before = got; await turn(); await turn(); }
  }
  await new Promise((r) => setTimeout(r, 100));
  console.log(JSON.stringify({ sent: total, got, rcvbufErrors: rcvbufErrors() - errors0 }));
  s.close();
});
`;

describe('nftables loss in a real namespace (root)', () => {
  it.skipIf(process.getuid?.() !== 0)(
    'applies twice (idempotent), and drops 10 % of what arrives',
    async () => {
      const cmd = new RealCommander();
      const ns = `fl${randomBytes(2).toString('hex')}-losstest`;
      expect(isLabName(ns)).toBe(true);
      await cmd.run(['ip', 'netns', 'add', ns]);
      try {
        const once = lossInvocation(ns, 1, 0.5);
        await cmd.run(once.argv, { input: once.input });
        await cmd.run(once.argv, { input: once.input });
        const listed = (await cmd.run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'ruleset'])).stdout;
        expect(listed.match(/table inet fanout_loss/g)).toHaveLength(1);
        expect(listed.match(/numgen random mod 100000 < 1000 drop/g)).toHaveLength(1);
        expect(listed.match(/numgen random mod 100000 < 500 drop/g)).toHaveLength(1);

        const clear = clearLossInvocation(ns);
        await cmd.run(clear.argv, { input: clear.input });
        await cmd.run(clear.argv, { input: clear.input }); // absent: still fine
        expect((await cmd.run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'ruleset'])).stdout).not.toContain('fanout_loss');

        await cmd.run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
        const tenPct = lossInvocation(ns, 10, 0);
        await cmd.run(tenPct.argv, { input: tenPct.input });
        const total = 20_000;
        const out = await cmd.run(['ip', 'netns', 'exec', ns, process.execPath, '-e', UDP_SELF_SCRIPT, String(total)]);
        const r = JSON.parse(out.stdout.trim()) as { sent: number; got: number; rcvbufErrors: number };
        const lossPct = (100 * (r.sent - r.got)) / r.sent;
        console.log(`nftables 10 % input loss on lo: ${r.got}/${r.sent} received, measured loss ${lossPct.toFixed(2)} % (rcvbuf errors ${r.rcvbufErrors})`);
        expect(r.rcvbufErrors).toBe(0);
        expect(lossPct).toBeGreaterThanOrEqual(9);
        expect(lossPct).toBeLessThanOrEqual(11);
      } finally {
        await cmd.run(['ip', 'netns', 'del', ns]).catch(() => undefined);
      }
    },
    20_000,
  );
});
