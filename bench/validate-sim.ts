/**
 * npm run validate:sim [-- --reference FILE] [--from DIR ...] [--update-reference] [scenarios...]
 *
 * Simulates every shipped scenario (scenarios/*.yaml) under each strategy and prints the table
 * scenario x strategy: simulated makespan, median emulated (netns) makespan, ratio. Exit 1 when a
 * row differs by more than 10 %, 2 on bad input. Emulated runs flagged CPU-starved are left out of
 * the median; a row with no other run is void (printed, not a miss).
 *
 *   --reference FILE     emulated medians (default lab/sim/netns-reference.json)
 *   --from DIR           use these netns results folders (or folders of them) instead of the file
 *   --update-reference   with --from: rewrite the reference file from those folders, then validate
 *   --merge              with --update-reference: keep the file's other scenarios (a scenario in the
 *                        folders replaces its entry)
 */
import { readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ValidationInputError,
  findSummaries,
  formatValidation,
  misses,
  referenceFromResults,
  validate,
  type Reference,
} from '../lab/sim/validate.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEFAULT_REFERENCE = join(ROOT, 'lab', 'sim', 'netns-reference.json');

function main(): number {
  const { values, positionals } = parseArgs({
    options: {
      reference: { type: 'string', default: DEFAULT_REFERENCE },
      from: { type: 'string', multiple: true },
      'update-reference': { type: 'boolean', default: false },
      merge: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(
      'Usage: npm run validate:sim [-- --reference FILE] [--from DIR ...] [--update-reference [--merge]] [SCENARIO.yaml ...]\n' +
        'Simulated against emulated (netns) makespans for every shipped scenario; exit 1 on a miss beyond 10 %.\n' +
        'Emulated runs the lab flagged as starved of CPU are left out; a row with no other run is void (not a miss).\n' +
        '  --reference FILE     the emulated figures (default lab/sim/netns-reference.json)\n' +
        '  --from DIR           netns results folders (or folders of them) instead of the reference file\n' +
        '  --update-reference   with --from: rewrite the reference file from those folders\n' +
        '  --merge              with --update-reference: keep the file\'s other scenarios\n',
    );
    return 0;
  }
  let ref: Reference;
  if (values.from && values.from.length > 0) {
    ref = referenceFromResults(values.from.flatMap(findSummaries));
    if (values.merge) {
      if (!values['update-reference']) throw new ValidationInputError('--merge goes with --update-reference');
      const old = readReference(values.reference);
      ref = { source: [...old.source, ...ref.source], scenarios: { ...old.scenarios, ...ref.scenarios } };
    }
    if (values['update-reference']) {
      const tmp = `${values.reference}.tmp`;
      writeFileSync(tmp, JSON.stringify(ref, null, 2) + '\n');
      renameSync(tmp, values.reference);
      console.log(`wrote ${values.reference} from ${ref.source.length} results folder(s)`);
    }
  } else {
    if (values['update-reference']) throw new ValidationInputError('--update-reference needs --from DIR (netns results folders)');
    if (values.merge) throw new ValidationInputError('--merge goes with --update-reference and --from');
    ref = readReference(values.reference);
  }
  const scenarios =
    positionals.length > 0
      ? positionals
      : readdirSync(join(ROOT, 'scenarios'))
          .filter((f) => f.endsWith('.yaml'))
          .sort()
          .map((f) => join(ROOT, 'scenarios', f));
  const rows = validate(scenarios, ref);
  if (rows.length === 0) throw new ValidationInputError('no scenario had emulated figures in the reference');
  const when = [...new Set(ref.source.map((s) => `${s.backend} ${s.startedAt.slice(0, 10)} ${s.gitCommit?.slice(0, 8) ?? '?'} (${s.cpus} cpus, ${s.kernel})`))];
  console.log(`emulated figures: ${when.join('; ')}\n`);
  console.log(formatValidation(rows));
  return misses(rows).length === 0 ? 0 : 1;
}

function readReference(path: string): Reference {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Reference;
  } catch (err) {
    throw new ValidationInputError(`cannot read the reference ${path}: ${(err as Error).message}`);
  }
}

try {
  process.exitCode = main();
} catch (err) {
  if (err instanceof ValidationInputError || (err as Error).name === 'ScenarioError') {
    console.error(`validate:sim: ${(err as Error).message}`);
    process.exitCode = 2;
  } else {
    throw err;
  }
}
