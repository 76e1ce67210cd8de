/**
 * A scenario file's problems, all of them at once, each with its path in the YAML.
 */

/** One problem: `path` is where in the YAML (`receivers.groups[1].down`; "" for the whole file). */
export interface ScenarioIssue {
  path: string;
  message: string;
  /** 1-based line in the file, when known. */
  line?: number;
}

/**
 * Thrown by parseScenario/loadScenario when a scenario file is not valid. `message` lists every
 * issue, one per line, as `<source>:<line>: <path>: <message>` (`:<line>` only when known).
 */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';

  constructor(
    /** The file name (or whatever the caller named the text). */
    readonly source: string,
    readonly issues: readonly ScenarioIssue[],
  ) {
    super(issues.map((i) => formatIssue(source, i)).join('\n'));
  }
}

export function formatIssue(source: string, issue: ScenarioIssue): string {
  const where = issue.line === undefined ? source : `${source}:${issue.line}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** Collects issues while a scenario is checked. */
export class Issues {
  readonly list: ScenarioIssue[] = [];

  add(path: string, message: string): void {
    this.list.push({ path, message });
  }

  get count(): number {
    return this.list.length;
  }
}
