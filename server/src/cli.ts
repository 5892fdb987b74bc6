// Entry point of the `diffill` command. Sub-commands are loaded lazily so that
// `diffill --help` and `diffill tokenize` do not pay for ONNX Runtime start-up.
import type { Command } from './command';
import { UsageError } from './command';

type Loader = () => Promise<Command>;

const commands: ReadonlyArray<readonly [string, string, Loader]> = [
  ['tokenize', 'Tokenize a file: token count, characters per token, tokens/second', async () => (await import('./commands/tokenize')).default],
];

function help(): string {
  const width = Math.max(...commands.map(([name]) => name.length));
  const lines = commands.map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`);
  return [
    'Usage: diffill <command> [options]',
    '',
    'Local code and text infilling with a masked diffusion language model.',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `diffill <command> --help` for the options of one command.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help() + '\n');
    return name === undefined ? 1 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const entry = commands.find(([n]) => n === name);
  if (entry === undefined) {
    process.stderr.write(`diffill: unknown command '${name}'\n\n${help()}\n`);
    return 2;
  }
  const command = await entry[2]();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.usage + '\n');
    return 0;
  }
  return command.run(rest);
}

declare const __DIFFILL_VERSION__: string | undefined;
const VERSION = typeof __DIFFILL_VERSION__ === 'string' ? __DIFFILL_VERSION__ : '0.0.0-dev';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`diffill: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof Error && err.name !== 'Error' && !process.env['DIFFILL_DEBUG']) {
      // Typed errors (ModelError, TrainerError, ...) carry a message written for the user.
      process.stderr.write(`diffill: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`diffill: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
