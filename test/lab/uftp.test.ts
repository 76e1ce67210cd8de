import { describe, expect, it } from 'vitest';
import { resolveContender } from '../../lab/protocols/index.js';
import type { RunContext } from '../../lab/protocols/types.js';
import {
  UFTP_DEFAULTS,
  bottleneckBps,
  clientId,
  parseUftpTime,
  parseUftpdLine,
  uftp,
  uftpBound,
  uftpRateKbps,
  uftpWireFactor,
  type UftpOptions,
} from '../../lab/protocols/uftp/plugin.js';
import { Issues } from '../../lab/scenario/errors.js';
import { parseScenario } from '../../lab/scenario/index.js';

const CAPS = { netem: false, nftables: true };

function topo(extra = ''): ReturnType<typeof parseScenario> {
  return parseScenario(
    `name: t
file: { size: 16MiB }
transfer: { job: whole-file${extra} }
strategies: [uftp/fixed, uftp/tfmcc]
receivers: { count: 4, down: 40mbit, loss: { down: 5%, up: 0% }, groups: [ { select: { index: 2 }, down: 30mbit } ] }
source: { up: 50mbit }
`,
    CAPS,
  );
}

function options(raw: unknown): { o: UftpOptions | undefined; problems: string[] } {
  const issues = new Issues();
  const o = uftp.parseOptions(raw, 'transfer.uftp', issues);
  return { o, problems: issues.list.map((i) => `${i.path}: ${i.message}`) };
}

describe('uftp plug-in', () => {
  it('is registered with both variants and its tools', () => {
    expect(resolveContender('uftp/fixed', 'whole-file')).toMatchObject({ variant: 'fixed' });
    expect(resolveContender('uftp/tfmcc', 'whole-file')).toMatchObject({ variant: 'tfmcc' });
    expect(uftp.tools.map((t) => t.bin)).toEqual(['uftp', 'uftpd']);
    expect(uftp.backends).toEqual(['netns']);
  });

  it('reads its options and refuses bad ones with their paths', () => {
    expect(options(undefined).o).toEqual(UFTP_DEFAULTS);
    expect(options({ blockSize: 1200, rate: 0.9, grtt: 0.05, robust: 12, rateKbps: 30000 }).o).toEqual({ blockBytes: 1200, rateFraction: 0.9, grttS: 0.05, robust: 12, rateKbps: 30000 });
    expect(options({ blockSize: 1441 }).problems[0]).toMatch(/^transfer\.uftp\.blockSize: 1441 is out of range/);
    expect(options({ rate: 1.5 }).problems[0]).toMatch(/^transfer\.uftp\.rate: 1.5 is out of range/);
    expect(options({ rate: 0 }).problems[0]).toMatch(/^transfer\.uftp\.rate: /);
    expect(options({ robust: 5 }).problems[0]).toMatch(/^transfer\.uftp\.robust: /);
    expect(options({ grtt: 0 }).problems[0]).toMatch(/^transfer\.uftp\.grtt: /);
    expect(options({ speed: 1 }).problems[0]).toMatch(/^transfer\.uftp\.speed: unknown key/);
  });

  it('sets the rate from the bottleneck link, in the bits uftp counts', () => {
    const t = topo();
    expect(bottleneckBps(t)).toBe(30e6);
    // 30 Mbit/s x (1400+24)/(1400+24+42): the link rate in the bits uftp counts
    expect(uftpRateKbps(t, UFTP_DEFAULTS, 'fixed')).toBe(Math.floor((30e6 * 1424) / 1466 / 1000));
    expect(uftpRateKbps(t, UFTP_DEFAULTS, 'tfmcc')).toBe(Math.floor((30e6 * 1432) / 1474 / 1000));
    expect(uftpRateKbps(t, { ...UFTP_DEFAULTS, rateFraction: 0.9 }, 'fixed')).toBe(Math.floor((30e6 * 0.9 * 1424) / 1466 / 1000));
    expect(uftpRateKbps(t, { ...UFTP_DEFAULTS, rateKbps: 1234 }, 'fixed')).toBe(1234);
  });

  it('bounds a multicast transfer by the source once and each receiver with its loss', () => {
    const t = topo();
    const F = 16 * 2 ** 20;
    const wire = F * uftpWireFactor(1400, 'fixed');
    const b = uftpBound(t, UFTP_DEFAULTS, F, 'fixed');
    expect(b.binding).toBe('multicast: slowest-down');
    expect(b.seconds).toBeCloseTo(wire / (0.95 * 30e6 / 8), 6);
    // without loss and a slow source, the source binds, and one copy only (not 4)
    const t2 = parseScenario('name: t\nfile: { size: 1MiB }\ntransfer: { job: whole-file }\nstrategies: [uftp/fixed]\nreceivers: { count: 4, down: 40mbit }\nsource: { up: 10mbit }\n', CAPS);
    const b2 = uftp.lowerBound(t2, UFTP_DEFAULTS, 2 ** 20);
    expect(b2.binding).toBe('multicast: source-up');
    expect(b2.seconds).toBeCloseTo((2 ** 20 * uftpWireFactor(1400, 'fixed')) / (10e6 / 8), 6);
  });

  it('counts one copy through a site\'s trunk', () => {
    const t = { ...topo(), sites: [{ name: 'a', receivers: [0, 1], upBps: 10e6, downBps: 8e6 }] };
    const b = uftpBound(t, UFTP_DEFAULTS, 2 ** 20, 'fixed');
    expect(b.binding).toBe('multicast: site-down');
    expect(b.seconds).toBeCloseTo((2 ** 20 * uftpWireFactor(1400, 'fixed') * 8) / 8e6, 6);
  });

  it('reads per-node completion from uftpd\'s log, with its microsecond time', () => {
    const t = parseUftpTime('2026/12/03 11:46:19.876311: [0703AE7A/00:0001]: done file close');
    expect(t).toBe(new Date(2026, 11, 3, 11, 46, 19).getTime() + 876.311);
    expect(parseUftpdLine(2, '2026/12/03 11:46:18.814132: [0703AE7A/00:0]: Registration confirmed')).toEqual([{ kind: 'start', node: 2, wallMs: expect.any(Number) }]);
    expect(parseUftpdLine(2, '2026/12/03 11:46:19.876311: [0703AE7A/00:0001]: done file close')).toEqual([{ kind: 'done', node: 2, wallMs: t }]);
    expect(parseUftpdLine(2, '2026/12/03 11:46:19.876311: [0703AE7A/00:0]: Group complete')).toEqual([]);
    expect(parseUftpdLine(1, '2026/12/03 11:46:19.876311: [0703AE7A/00:0001]: Transfer aborted by server')[0]).toMatchObject({ kind: 'error', node: 1 });
    expect(parseUftpdLine(1, 'RESULT;2026/12/03-11:46:19;7F000001;0703AE7A;f.bin;2929KB;copied')).toEqual([]);
    expect(parseUftpdLine(1, 'garbage \u0000\u00ff')).toEqual([]);
  });

  it('launches uftpd in each receiver (foreground, temp folder, lab group) then uftp as the driver', () => {
    const t = topo();
    const ctx: RunContext<UftpOptions> = {
      topology: t, variant: 'tfmcc', contender: 'uftp/tfmcc', options: UFTP_DEFAULTS, repeat: 1, srcFile: '/w/src.bin', fileBytes: 16 << 20,
      runDir: '/w/run', nodeDir: (i) => `/w/run/rx${i}`, poolDir: (i) => `/w/pool/rx${i}`, address: () => '198.18.0.1', runId: 'x',
    };
    const [rx, tx] = uftp.phases(ctx);
    expect(rx!.procs).toHaveLength(4);
    const a = rx!.procs[3]!.argv;
    expect(a.slice(0, 4)).toEqual(['/bin/sh', '-c', 'exec "$0" "$@" 2>&1', '/usr/bin/uftpd']);
    expect(a).toEqual(expect.arrayContaining(['-d', '-U', clientId(3), '-D', '/w/run/rx3', '-t', '-M', '239.72.0.1']));
    expect(clientId(3)).toBe('0x00000004');
    const s = tx!.procs[0]!;
    expect(s.driver).toBe(true);
    expect(s.argv).toEqual(expect.arrayContaining(['-C', `tfmcc:init=${uftpRateKbps(t, UFTP_DEFAULTS, 'tfmcc')}:max=${uftpRateKbps(t, UFTP_DEFAULTS, 'tfmcc')}`, '-H', '@/w/run/uftp-clients.txt', '-P', '239.72.0.2', '-b', '1400', '-r', '0.01:0.001:1', '-s', '10']));
    expect(s.argv.at(-1)).toBe('/w/src.bin');
    const fixed = uftp.phases({ ...ctx, variant: 'fixed' })[1]!.procs[0]!.argv;
    expect(fixed).toEqual(expect.arrayContaining(['-R', String(uftpRateKbps(t, UFTP_DEFAULTS, 'fixed'))]));
    expect(fixed).not.toContain('-C');
  });
});
