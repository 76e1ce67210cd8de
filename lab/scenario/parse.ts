/**
 * Scenario text -> Topology: YAML syntax, then every check of validate.ts, then the draws of
 * build.ts. Nothing else happens before the whole file is known to be valid; all problems come
 * back together in one ScenarioError, each with its path and (when known) its line.
 */
import path from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import type { Topology } from '../types.js';
import { buildTopology } from './build.js';
import { Issues, ScenarioError } from './errors.js';
import { at, isPlainObject, item } from './read.js';
import type { ScenarioCaps } from './schema.js';
import { validateScenario, type ValidateOptions } from './validate.js';

export interface ParseOptions {
  /**
   * Folder a relative `file.path` is resolved against. Default: the folder of `sourceName` when
   * given, else the path is kept as written.
   */
  baseDir?: string;
  /** Checks a `file.path` file: returns its size in bytes or throws (loadScenario passes fs.statSync). */
  fileSizeOf?: (filePath: string) => number;
}

/** A scenario needs a few levels; a hostile file may have thousands. */
export const MAX_FLOW_NESTING = 64;

/**
 * How deep `[` and `{` nest in YAML text (outside quoted scalars and comments), in one linear pass
 * that stops counting once past the limit. Block nesting needs indentation, which grows the file
 * with the square of the depth, so flow collections are the cheap way to nest deeply.
 */
export function flowNestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === '"') {
      if (c === '\\') i++;
      else if (c === '"') quote = null;
      continue;
    }
    if (quote === "'") {
      if (c === "'") {
        if (text[i + 1] === "'") i++;
        else quote = null;
      }
      continue;
    }
    if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '[' || c === '{') {
      if (++depth > max) max = depth;
      if (max > MAX_FLOW_NESTING) return max;
    } else if ((c === ']' || c === '}') && depth > 0) {
      depth--;
    }
  }
  return max;
}

/**
 * Parses and checks a scenario's YAML text. `sourceName` names it in error messages (the file
 * name). Throws ScenarioError listing every problem; returns a Topology with all draws made.
 */
export function parseScenario(text: string, caps: ScenarioCaps, sourceName?: string, options: ParseOptions = {}): Topology {
  const source = sourceName ?? 'scenario';
  const depth = flowNestingDepth(text);
  if (depth > MAX_FLOW_NESTING) {
    // yaml recurses per level: thousands of `[` overflowed the stack, and on a deep enough stack V8's
    // regexp compiler then failed with a fatal out-of-memory (a crash, not bad input). Refuse first.
    throw new ScenarioError(source, [{ path: '', message: `YAML: flow collections nested ${depth} deep (at most ${MAX_FLOW_NESTING})` }]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ScenarioError(
      source,
      doc.errors.map((e) => {
        const line = e.linePos?.[0].line;
        // prettyErrors appends a code excerpt after the first line; keep the first line only.
        const message = `YAML: ${e.message.split('\n')[0] ?? e.message}`;
        return line === undefined ? { path: '', message } : { path: '', message, line };
      }),
    );
  }
  const issues = new Issues();
  const validateOptions: ValidateOptions = {};
  const baseDir = options.baseDir ?? (sourceName !== undefined ? path.dirname(sourceName) : undefined);
  if (baseDir !== undefined) validateOptions.baseDir = baseDir;
  if (options.fileSizeOf) validateOptions.fileSizeOf = options.fileSizeOf;
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    // yaml throws a ReferenceError for an alias bomb (billion laughs): bad input, not a crash.
    throw new ScenarioError(source, [{ path: '', message: `YAML: ${(e as Error).message} (more than 1000 alias expansions)` }]);
  }
  if (isPlainObject(data) && data['sweep'] !== undefined) {
    // A sweep is many scenarios: lab/sweep expands it (removing `sweep:`) before each point gets here.
    issues.add('sweep', 'this file is a sweep (one parameter, many values): `fanout lab` runs it point by point (lab/sweep/schema.ts); here one scenario is expected');
    const { sweep: _sweep, ...rest } = data;
    data = rest;
  }
  const plan = validateScenario(data, caps, issues, validateOptions);
  if (issues.count > 0 || !plan) {
    const lineOf = lineMap(doc.contents, lines);
    throw new ScenarioError(
      source,
      issues.list.map((i) => {
        const line = nearestLine(lineOf, i.path);
        return line === undefined ? i : { ...i, line };
      }),
    );
  }
  return buildTopology(plan);
}

/** path -> 1-based line of the key (for mapping entries) or item (for list items) there. */
function lineMap(root: unknown, lines: LineCounter): Map<string, number> {
  const out = new Map<string, number>();
  const lineAt = (offset: number | undefined): number | undefined =>
    offset === undefined ? undefined : lines.linePos(offset).line;
  const walk = (node: unknown, p: string): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const keyNode = pair.key as YamlNode | null;
        const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
        const kp = at(p, key);
        const line = lineAt(keyNode?.range?.[0]);
        if (line !== undefined) out.set(kp, line);
        walk(pair.value, kp);
      }
    } else if (isSeq(node)) {
      node.items.forEach((child, i) => {
        const ip = item(p, i);
        const line = lineAt((child as YamlNode | null)?.range?.[0]);
        if (line !== undefined) out.set(ip, line);
        walk(child, ip);
      });
    }
  };
  walk(root, '');
  return out;
}

/** The line of `p`, or of its nearest ancestor that has one (a missing key points at its parent). */
function nearestLine(lineOf: Map<string, number>, p: string): number | undefined {
  for (let q = p; q !== ''; q = q.replace(/(\.[^.[\]]*|\[\d+\]|^[^.[\]]*)$/, '')) {
    const line = lineOf.get(q);
    if (line !== undefined) return line;
  }
  return undefined;
}
