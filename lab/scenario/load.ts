/**
 * Reading a scenario file from disk: the only part of lab/scenario that touches the file system.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../types.js';
import { ScenarioError } from './errors.js';
import { parseScenario } from './parse.js';
import type { ScenarioCaps } from './schema.js';

/**
 * Reads, parses and checks the scenario at `filePath`. A relative `file.path` inside it is resolved
 * against the scenario's folder and must exist (and hold at least one byte per receiver).
 * Throws ScenarioError listing every problem, prefixed with `filePath`.
 */
export function loadScenario(filePath: string, caps: ScenarioCaps): Topology {
  let text: string;
  try {
    text = fs.readFileSync(filePath, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a folder, not a file' : err.message;
    throw new ScenarioError(filePath, [{ path: '', message: `cannot read the scenario: ${why}` }]);
  }
  return parseScenario(text, caps, filePath, {
    baseDir: path.dirname(path.resolve(filePath)),
    fileSizeOf: regularFileSize,
  });
}

/** The size of a regular file, or throws why it is not one (`file.path` checks use it). */
export function regularFileSize(p: string): number {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(err.code === 'ENOENT' ? 'no such file' : err.message);
  }
  if (!st.isFile()) throw new Error('not a regular file');
  return st.size;
}
