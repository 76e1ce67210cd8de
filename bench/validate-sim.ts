/**
 * npm run validate:sim [-- --reference FILE] [--from DIR ...] [--update-reference] [scenarios...]
 *
 * Simulates every shipped scenario (scenarios/*.yaml) under each strategy and prints the table
 * scenario x strategy: simulated makespan, median emulated (netns) makespan, ratio. Exit 1 when a
 * row differs by more than 10 %, 2 on bad input.
 *
 *   --reference FILE     emulated medians (default lab/sim/netns-reference.json)
 *   --from DIR           use these netns results folders (or folders of them) instead of the file
 *   --update-reference   with --from: rewrite the reference file from those folders, then validate
 */
import { readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ValidationInputError,
  findSummaries,
  formatValidation,
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
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(
      'Usage: npm run validate:sim [-- --reference FILE] [--from DIR ...] [--update-reference] [SCENARIO.yaml ...]\n' +
        'Simulated against emulated (netns) makespans for every shipped scenario; exit 1 on a miss beyond 10 %.\n',
    );
    return 0;
  }
  let ref: Reference;
  if (values.from && values.from.length > 0) {
    ref = referenceFromResults(values.from.flatMap(findSummaries));
    if (values['update-reference']) {
      const tmp = `${values.reference}.tmp`;
      writeFileSync(tmp, JSON.stringify(ref, null, 2) + '\n');
      renameSync(tmp, values.reference);
      console.log(`wrote ${values.reference} from ${ref.source.length} results folder(s)`);
    }
  } else {
    if (values['update-reference']) throw new ValidationInputError('--update-reference needs --from DIR (netns results folders)');
    try {
      ref = JSON.parse(readFileSync(values.reference, 'utf8')) as Reference;
    } catch (err) {
      throw new ValidationInputError(`cannot read the reference ${values.reference}: ${(err as Error).message}`);
    }
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
  return rows.every((r) => r.ok) ? 0 : 1;
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
