/**
 * A sweep scenario -> one checked Topology per point. Each point is the scenario's own YAML
 * document with `sweep:` removed and the parameter's value written at its path (so a point is
 * exactly the scenario a person would write by hand), then parsed and checked by lab/scenario like
 * any scenario. Every point is checked before anything runs; all problems come back together, each
 * prefixed with its point (`[receivers.count = 7] receivers.groups[0].select.index: ...`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { MAX_FLOW_NESTING, flowNestingDepth } from '../scenario/parse.js';
import type { Topology } from '../types.js';
import { Issues, ScenarioError, type ScenarioIssue } from '../scenario/errors.js';
import { regularFileSize } from '../scenario/load.js';
import { parseScenario, type ParseOptions } from '../scenario/parse.js';
import type { ScenarioCaps } from '../scenario/schema.js';
import { rawSweepOf, readSweep, SWEEP_KEY, type SweepSpec, type SweepValue } from './schema.js';

export interface SweepPoint {
  /** 0-based. */
  index: number;
  value: SweepValue;
  /** The point's scenario text (what a person would have written for it). */
  text: string;
  topology: Topology;
}

export interface Sweep {
  spec: SweepSpec;
  points: SweepPoint[];
}

/** `receivers.count = 3`. */
export function pointName(spec: SweepSpec, value: SweepValue): string {
  return `${spec.param} = ${String(value)}`;
}

/** True when the YAML text has a top-level `sweep:` (checked or not). */
export function hasSweep(text: string): boolean {
  // Too deep to parse safely: not a sweep; parseScenario refuses it with a message.
  if (flowNestingDepth(text) > MAX_FLOW_NESTING) return false;
  // The scenario parser's own options: with them, a hostile nesting (5,000 `[`) is a parse error;
  // without them yaml's error formatting ran V8's regexp compiler out of memory (a crash, not exit 2).
  const doc = parseDocument(text, { lineCounter: new LineCounter(), prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) return false;
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch {
    return false;
  }
  return rawSweepOf(data) !== undefined;
}

/** A point before it is checked: the value and the scenario text with it written in. */
export interface SweepPointText {
  index: number;
  value: SweepValue;
  text: string;
}

/**
 * The sweep's points as scenario texts, unchecked (null: no `sweep:`). Throws ScenarioError for a
 * bad `sweep:` (and for YAML errors, through parseScenario's messages).
 */
export function expandSweepTexts(text: string, caps: ScenarioCaps, sourceName = 'scenario', options: ParseOptions = {}): { spec: SweepSpec; points: SweepPointText[] } | null {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) parseScenario(text, caps, sourceName, options); // throws the YAML errors, with lines
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch {
    parseScenario(text, caps, sourceName, options); // throws the alias-bomb error
    return null;
  }
  const raw = rawSweepOf(data);
  if (raw === undefined) return null;
  const issues = new Issues();
  const spec = readSweep(raw, issues, SWEEP_KEY);
  if (!spec) throw new ScenarioError(sourceName, issues.list);
  const points = spec.values.map((value, index) => {
    const point = doc.clone();
    point.deleteIn([SWEEP_KEY]);
    point.setIn(spec.path, value);
    return { index, value, text: String(point) };
  });
  return { spec, points };
}

/**
 * Expands a sweep scenario's text and checks every point. Returns null when it has no `sweep:`
 * (an ordinary scenario). Throws ScenarioError with every problem of the sweep and of every point.
 */
export function expandSweep(text: string, caps: ScenarioCaps, sourceName = 'scenario', options: ParseOptions = {}): Sweep | null {
  const texts = expandSweepTexts(text, caps, sourceName, options);
  if (!texts) return null;
  const { spec } = texts;
  const all: ScenarioIssue[] = [];
  const points: SweepPoint[] = [];
  for (const p of texts.points) {
    try {
      points.push({ ...p, topology: parseScenario(p.text, caps, sourceName, options) });
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      // Line numbers refer to the point's text, not the file: leave them out.
      for (const i of e.issues) all.push({ path: i.path, message: `[${pointName(spec, p.value)}] ${i.message}` });
    }
  }
  if (all.length > 0) throw new ScenarioError(sourceName, all);
  return { spec, points };
}

/** Reads a scenario file and expands its sweep (null: the file has no `sweep:`). */
export function loadSweep(filePath: string, caps: ScenarioCaps): Sweep | null {
  let text: string;
  try {
    text = fs.readFileSync(filePath, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ScenarioError(filePath, [{ path: '', message: `cannot read the scenario: ${err.code === 'ENOENT' ? 'no such file' : err.message}` }]);
  }
  return expandSweep(text, caps, filePath, { baseDir: path.dirname(path.resolve(filePath)), fileSizeOf: regularFileSize });
}

/** True when the file holds a `sweep:` (unreadable files: false; loading reports why). */
export function isSweepFile(filePath: string): boolean {
  try {
    return hasSweep(fs.readFileSync(filePath, 'utf8'));
  } catch {
    return false;
  }
}
