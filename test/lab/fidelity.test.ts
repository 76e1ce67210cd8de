import { describe, expect, it } from 'vitest';
import { busyShare, cpuPressureUs, cpuTimes, judge, medianOf, runQueueWaitS, STARVED_WAIT_SHARE } from '../../lab/fidelity.js';

const base = { quietWaitS: 0.4, busyAtStart: 0.05, cpuPressure: 0.1, startLagMedianS: 0.05, startLagMaxS: 0.08 };

describe('fidelity guard', () => {
  it('reads busy and total jiffies from /proc/stat, iowait counted idle', () => {
    const t = cpuTimes(() => 'cpu  100 5 50 800 40 1 2 0 0 0\ncpu0 1 1 1 1\n');
    expect(t).toEqual({ busy: 158, total: 998 });
    expect(cpuTimes(() => 'nothing here')).toBeNull();
    expect(cpuTimes(() => {
      throw new Error('no /proc');
    })).toBeNull();
  });

  it('busy share between two readings, clamped', () => {
    expect(busyShare({ busy: 100, total: 1000 }, { busy: 150, total: 1100 })).toBeCloseTo(0.5);
    expect(busyShare({ busy: 100, total: 1000 }, { busy: 100, total: 1000 })).toBe(0);
  });

  it('reads PSI and the main thread run-queue wait', () => {
    expect(cpuPressureUs(() => 'some avg10=1.00 avg60=0.50 avg300=0.10 total=123456\nfull avg10=0 avg60=0 avg300=0 total=0\n')).toBe(123456);
    expect(cpuPressureUs(() => 'garbage')).toBeNull();
    expect(runQueueWaitS(1, () => '178359148 2500000000 554\n')).toBeCloseTo(2.5);
    expect(runQueueWaitS(1, () => {
      throw new Error('gone');
    })).toBeNull();
    // This process is real: its own wait is a number.
    expect(runQueueWaitS(process.pid)).not.toBeNull();
  });

  it('flags a run whose source waited more than the threshold for a core, and not one under it', () => {
    const ok = judge({ ...base, sourceWaitS: 0.04 }, 2);
    expect(ok.starved).toBe(false);
    expect(ok.sourceWaitShare).toBeCloseTo(0.02);
    const bad = judge({ ...base, sourceWaitS: (STARVED_WAIT_SHARE + 0.01) * 2 }, 2);
    expect(bad.starved).toBe(true);
    expect(bad.reasons[0]).toMatch(/waited .* for a core/);
  });

  it('flags a run that had to start on a busy machine, only when the runner waited for quiet', () => {
    const f = { ...base, sourceWaitS: 0, busyAtStart: 0.9, quietWaitS: 15 };
    expect(judge(f, 2, { checked: true, quiet: false }).reasons[0]).toMatch(/still 90 % busy after 15.0 s/);
    expect(judge(f, 2, { checked: false, quiet: false }).starved).toBe(false);
    expect(judge({ ...f, sourceWaitS: null }, 2).sourceWaitShare).toBeNull();
  });

  it('medians ignore nulls', () => {
    expect(medianOf([null, 3, 1, 2])).toBe(2);
    expect(medianOf([4, 1, 2, 3])).toBe(2.5);
    expect(medianOf([null])).toBeNull();
  });
});
