import { describe, expect, it } from 'vitest';
import { COMPLETION_COLUMNS, completionsCsv, RUN_COLUMNS, runsCsv } from '../../lab/results/csv.js';
import { formatPercent, formatRateBps, formatSeconds } from '../../lab/results/format.js';
import {
  completionCdf,
  completionPercentileS,
  computeMedians,
  median,
  medianRun,
  percentile,
  StatsError,
  strategiesOf,
} from '../../lab/results/stats.js';
import { formatSummaryTable, summaryRows } from '../../lab/results/table.js';
import { tinyResults } from './results-fixtures.js';
import { probeNote } from '../../lab/run.js';

describe('median', () => {
  it('takes the middle value, or the mean of the two middle values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([5, Infinity])).toBe(Infinity);
    expect(median([Infinity, Infinity])).toBe(Infinity);
  });
  it('throws StatsError for no values or NaN', () => {
    expect(() => median([])).toThrow(StatsError);
    expect(() => median([])).toThrow('median of no values');
    expect(() => median([1, NaN])).toThrow('median of values containing NaN');
  });
  it('does not reorder its input', () => {
    const values = [3, 1, 2];
    median(values);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe('percentile (nearest rank)', () => {
  const ten = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5];
  it('returns an observed value: the smallest with at least p % at or below it', () => {
    expect(percentile(ten, 95)).toBe(10);
    expect(percentile(ten, 90)).toBe(9);
    expect(percentile(ten, 50)).toBe(5);
    expect(percentile(ten, 10)).toBe(1);
    expect(percentile(ten, 11)).toBe(2);
  });
  it('p0 is the minimum and p100 the maximum', () => {
    expect(percentile(ten, 0)).toBe(1);
    expect(percentile(ten, 100)).toBe(10);
  });
  it('p50 of an even count is the lower middle value, unlike median', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(median([1, 2, 3, 4])).toBe(2.5);
  });
  it('a single value is every percentile', () => {
    for (const p of [0, 1, 50, 95, 100]) expect(percentile([4.2], p)).toBe(4.2);
  });
  it('is Infinity once more than 100 - p % of the values are infinite', () => {
    const twenty = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(percentile([...twenty.slice(0, 19), Infinity], 95)).toBe(19);
    expect(percentile([...twenty.slice(0, 18), Infinity, Infinity], 95)).toBe(Infinity);
  });
  it('rejects p outside [0, 100], NaN p, no values', () => {
    expect(() => percentile(ten, -1)).toThrow('percentile p must be in [0, 100], got -1');
    expect(() => percentile(ten, 100.5)).toThrow(StatsError);
    expect(() => percentile(ten, NaN)).toThrow(StatsError);
    expect(() => percentile([], 95)).toThrow('p95 of no values');
  });
});

describe('completion statistics of a run', () => {
  const results = tinyResults();
  const [rr1, , , seq2] = results.runs;

  it('completionCdf: origin, then one step per receiver done, fraction over all receivers', () => {
    expect(completionCdf(rr1!.receivers)).toEqual([
      { timeS: 0, done: 0, fraction: 0 },
      { timeS: 1, done: 1, fraction: 0.25 },
      { timeS: 2, done: 2, fraction: 0.5 },
      { timeS: 3.5, done: 3, fraction: 0.75 },
      { timeS: 4, done: 4, fraction: 1 },
    ]);
  });
  it('completionCdf: a failed receiver keeps the curve below 1', () => {
    const cdf = completionCdf(seq2!.receivers);
    expect(cdf[cdf.length - 1]).toEqual({ timeS: 10, done: 3, fraction: 0.75 });
  });
  it('completionCdf: receivers done at the same time make one step', () => {
    const receivers = rr1!.receivers.map((r) => ({ ...r, doneS: r.index < 3 ? 2 : 3 }));
    expect(completionCdf(receivers)).toEqual([
      { timeS: 0, done: 0, fraction: 0 },
      { timeS: 2, done: 3, fraction: 0.75 },
      { timeS: 3, done: 4, fraction: 1 },
    ]);
  });
  it('completionCdf of no receivers is the origin alone', () => {
    expect(completionCdf([])).toEqual([{ timeS: 0, done: 0, fraction: 0 }]);
  });
  it('completionPercentileS counts a failed receiver as never done', () => {
    expect(completionPercentileS(rr1!, 95)).toBe(4);
    expect(completionPercentileS(rr1!, 50)).toBe(2);
    expect(completionPercentileS(seq2!, 50)).toBe(4);
    expect(completionPercentileS(seq2!, 95)).toBe(Infinity);
  });
});

describe('computeMedians and medianRun', () => {
  const results = tinyResults();
  it('gives per strategy the medians over repeats, efficiency as median of ratios', () => {
    expect(computeMedians(results.runs)).toEqual({
      'round-robin': { makespanS: 4.5, lowerBoundS: 3.2, efficiency: (4 / 3.2 + 5 / 3.2) / 2 },
      sequential: { makespanS: 9, lowerBoundS: 3.2, efficiency: (8 / 3.2 + 10 / 3.2) / 2 },
    });
  });
  it('leaves out strategies without runs', () => {
    expect(computeMedians([])).toEqual({});
    expect(Object.keys(computeMedians(results.runs.slice(2)))).toEqual(['sequential']);
  });
  it('keeps first-seen strategy order', () => {
    expect(strategiesOf([...results.runs].reverse())).toEqual(['sequential', 'round-robin']);
  });
  it('medianRun picks the lower-middle makespan', () => {
    expect(medianRun(results.runs, 'sequential')?.repeat).toBe(1);
    const three = [...results.runs, { ...results.runs[3]!, repeat: 3, makespanS: 9.5 }];
    expect(medianRun(three, 'sequential')?.repeat).toBe(3);
    expect(medianRun(results.runs, 'static-split')).toBeUndefined();
  });
});

describe('completionsCsv', () => {
  const csv = completionsCsv(tinyResults());
  const lines = csv.split('\n');

  it('starts with the header row', () => {
    expect(lines[0]).toBe(
      'scenario,backend,strategy,repeat,receiver,address,down_bps,up_bps,fragment_bytes,bytes,start_s,first_byte_s,done_s,verified,error,run_makespan_s,run_lower_bound_s,protocol,variant,up_bytes,counters,control_bytes,duplicate_chunks',
    );
    expect(lines[0]!.split(',')).toEqual([...COMPLETION_COLUMNS]);
  });
  it('has one row per strategy, repeat and receiver, ending with a newline', () => {
    expect(lines).toHaveLength(1 + 2 * 2 * 4 + 1);
    expect(lines[lines.length - 1]).toBe('');
  });
  it('writes exact cells: numbers as printed, booleans as words, empty error', () => {
    expect(lines[1]).toBe('tiny,sim,round-robin,1,0,198.18.0.2,10000000,5000000,1000000,1000000,0.01,0.03,4,true,,4,3.2,fragments,round-robin,,,,');
  });
  it('writes a failed receiver with empty done_s and its error quoted', () => {
    expect(lines[15]).toBe('tiny,sim,sequential,2,2,198.18.0.4,5000000,2500000,1000000,250000,0.03,0.05,,false,"reset, by peer",10,3.2,fragments,sequential,,,,');
  });
});

describe('runsCsv', () => {
  it('has a header and one row per run with every scalar figure', () => {
    const lines = runsCsv(tinyResults()).trimEnd().split('\n');
    expect(lines[0]!.split(',')).toEqual([...RUN_COLUMNS]);
    expect(lines).toHaveLength(5);
    expect(lines[4]).toBe('tiny,sim,sequential,2,10,3.2,3.125,0.003,0.05,3250000,3412500,0.5,0.25,80000000,1,4,fragments,sequential,,,,,,,,,,,,,,,,,,');
  });
  it('carries what probing cost (probe-prioritise runs)', () => {
    const results = tinyResults();
    results.runs[0] = { ...results.runs[0]!, probe: { parks: 12, extraSetups: 12, probeBytes: 1048576, setupMs: 1.5 } };
    const lines = runsCsv(results).trimEnd().split('\n');
    const header = lines[0]!.split(',');
    const row = lines[1]!.split(',');
    expect(row[header.indexOf('probe_parks')]).toBe('12');
    expect(row[header.indexOf('probe_extra_setups')]).toBe('12');
    expect(row[header.indexOf('probe_bytes')]).toBe('1048576');
    expect(probeNote(results.runs[0]!)).toBe(', probes: 12 parks (12 set-ups again), 1.0 MiB probe bytes, set-up 1.5 ms');
    expect(probeNote(results.runs[1]!)).toBe('');
  });
  it('has just the header when there are no runs', () => {
    expect(runsCsv({ ...tinyResults(), runs: [] })).toBe(`${RUN_COLUMNS.join(',')}\n`);
  });
});

describe('format', () => {
  it('formats rates, seconds and percentages', () => {
    expect(formatRateBps(20e6)).toBe('20 Mbit/s');
    expect(formatRateBps(1.5e9)).toBe('1.5 Gbit/s');
    expect(formatRateBps(750e3)).toBe('750 kbit/s');
    expect(formatRateBps(93_600_000)).toBe('93.6 Mbit/s');
    expect(formatRateBps(500)).toBe('500 bit/s');
    expect(formatSeconds(0.0521)).toBe('0.052');
    expect(formatSeconds(3.414)).toBe('3.41');
    expect(formatSeconds(123.45)).toBe('123.5');
    expect(formatSeconds(Infinity)).toBe('inf');
    expect(formatSeconds(null)).toBe('-');
    expect(formatPercent(0.004)).toBe('0.4%');
  });
});

describe('formatSummaryTable', () => {
  it('prints a heading, one aligned row per strategy and the warnings', () => {
    expect(formatSummaryTable(tinyResults())).toBe(
      [
        'tiny on sim (chosen: --backend sim): 4 receivers, 2 repeats, medians over repeats',
        'strategy     makespan (s)  bound (s)  efficiency  p95 done (s)  failed  peak 1s/limit',
        '-------------------------------------------------------------------------------------',
        'round-robin          4.50       3.20       1.41x          4.50     0/8         100.4%',
        'sequential           9.00       3.20       2.81x           inf     1/8         101.0%',
        'warning: fidelity: example warning',
        '',
      ].join('\n'),
    );
  });
  it('prefers the medians stored in the results', () => {
    const results = tinyResults();
    results.medians['round-robin'] = { makespanS: 1, lowerBoundS: 1, efficiency: 1 };
    expect(summaryRows(results)[0]?.slice(0, 4)).toEqual(['round-robin', '1.00', '1.00', '1.00x']);
  });
  it('says so when there are no runs', () => {
    expect(formatSummaryTable({ ...tinyResults(), runs: [], medians: {}, warnings: [] })).toBe(
      'tiny on sim (chosen: --backend sim): 4 receivers, 0 repeats, medians over repeats\n(no runs)\n',
    );
  });
});
