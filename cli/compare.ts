/** `fanout compare`: results folders side by side. */
import { parseArgs } from 'node:util';
import { CompareInputError, loadFolders } from '../lab/compare/load.js';
import { buildComparison, comparisonJson } from '../lab/compare/model.js';
import { formatComparison } from '../lab/compare/text.js';
import { CompareOutputError, REPORT_HTML, writeComparisonReport } from '../lab/compare/write.js';
import { shellQuote } from '../lab/commander.js';
import { EXIT, fail } from './exit.js';

export const COMPARE_HELP = `Usage: fanout compare RESULTS_DIR RESULTS_DIR... [--out DIR] [--json]

Puts two or more results folders (as \`npm run lab\` writes them; only summary.json is read)
side by side. Folders are grouped by scenario; per scenario, a table of strategy by run with
the median makespan, efficiency (makespan / lower bound) and p50/p95 receiver completion over
the repeats, each with its difference from the reference (absolute and %). The reference is
the first folder given (for a scenario the first folder lacks: the first folder that has it).
Runs are named after their folders (the basename, lengthened when two are equal) and shown
with the backend and git commit their summary records.

Options:
  --out DIR     also write a report folder: comparison.csv, comparison.json,
                makespan-<scenario>.png and cdf-<scenario>.png (each run's completion CDFs
                overlaid, a panel per strategy), and report.html, one self-contained page with
                the tables and charts embedded (no external resources), written last
  --json        print the comparison as JSON instead of the table (null where a value is
                undefined or a percentile never happened)
  -h, --help    this text

Exit status: 0 done; 2 bad input (fewer than two folders, a folder without a valid
summary.json, an --out that cannot be written; nothing is written then).
Example: fanout compare results/one-slow/A results/one-slow/B --out report/
`;

export async function compareCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(COMPARE_HELP);
    return EXIT.ok;
  }
  if (positionals.length < 2) {
    fail(`expected at least two results folders to compare, got ${positionals.length} (fanout compare --help)`);
  }
  if (values.out === '') fail('--out: expected a folder');
  let folders;
  try {
    folders = await loadFolders(positionals);
  } catch (err) {
    if (err instanceof CompareInputError) fail(err.message, EXIT.usage);
    throw err;
  }
  const comparison = buildComparison(folders);
  let written: string[] = [];
  let warnings: string[] = [];
  if (values.out !== undefined) {
    try {
      ({ files: written, warnings } = await writeComparisonReport(comparison, folders, values.out, {
        generatedAt: new Date().toISOString(),
        command: shellQuote(['fanout', 'compare', ...argv]),
      }));
    } catch (err) {
      if (err instanceof CompareOutputError) fail(err.message, EXIT.usage);
      throw err;
    }
  }
  process.stdout.write(values.json ? `${JSON.stringify(comparisonJson(comparison), null, 2)}\n` : formatComparison(comparison));
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  if (written.length > 0) {
    const report = written.find((f) => f.endsWith(REPORT_HTML))!;
    process.stderr.write(`wrote ${written.length} files; open ${report}\n`);
  }
  return EXIT.ok;
}
