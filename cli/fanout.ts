#!/usr/bin/env node
/** `fanout`: the one command-line entry point. Only this layer turns errors into exit codes. */
import { readFileSync } from 'node:fs';
import { CliError, EXIT } from './exit.js';

const HELP = `Usage: fanout <command> [options]

Commands:
  send      send one file as fragments to many receivers (fanout send --help)
  receive   receive fragments (fanout receive --help)
  coded     coded cooperative distribution over UDP: coded serve, coded join (fanout coded --help)
  flood     FloodClone: the whole file to many nodes that relay it (fanout flood serve|join --help)
  lab       run a scenario on an emulated network (fanout lab --help)
  doctor    what this machine can emulate, and why
  clean     remove whatever a crashed lab run left behind
  lab-check the makespan regression gate over scenarios/ci (npm run lab:check; fanout lab-check --help)
  compare   results folders side by side, with differences and charts (fanout compare --help)
  p2mp      P2MP-FTP over UDP: server/client (stop-and-wait, the specification's programs), send/receive (NAK)

  fanout --version
`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  send: async () => (await import('./send.js')).sendCommand,
  receive: async () => (await import('./receive.js')).receiveCommand,
  coded: async () => (await import('./coded.js')).codedCommand,
  flood: async () => (await import('./flood.js')).floodCommand,
  lab: async () => (await import('./lab.js')).labCommand,
  doctor: async () => (await import('./lab.js')).doctorCommand,
  clean: async () => (await import('./lab.js')).cleanCommand,
  'lab-check': async () => (await import('./check.js')).checkCommand,
  compare: async () => (await import('./compare.js')).compareCommand,
  p2mp: async () => {
    const [{ p2mpCommand }, { P2mpUsageError }] = await Promise.all([import('./p2mp.js'), import('../p2mp/io.js')]);
    return async (argv) => {
      try {
        return await p2mpCommand(argv);
      } catch (err) {
        if (err instanceof P2mpUsageError) throw new CliError(err.message);
        throw err;
      }
    };
  },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(HELP);
    return cmd === undefined ? EXIT.usage : EXIT.ok;
  }
  if (cmd === '--version' || cmd === '-V') {
    process.stdout.write(`fanout ${version()}\n`);
    return EXIT.ok;
  }
  const load = COMMANDS[cmd];
  if (!load) throw new CliError(`unknown command "${cmd}" (fanout --help lists them)`);
  return (await load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof CliError) {
      process.stderr.write(`fanout: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else if (err instanceof Error && 'code' in err && String((err as { code: unknown }).code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`fanout: ${err.message}\n`);
      process.exitCode = EXIT.usage;
    } else {
      process.stderr.write(`fanout: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = EXIT.failed;
    }
  },
);
