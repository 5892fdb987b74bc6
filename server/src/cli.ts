// Entry point of the `diffill` command. Sub-commands are loaded lazily so that
// `diffill --help` and `diffill tokenize` do not pay for ONNX Runtime start-up.
import type { Command } from './command';
import { UsageError } from './command';

type Loader = () => Promise<Command>;

const commands: ReadonlyArray<readonly [string, string, Loader]> = [
  ['tokenize', 'Tokenize a file: token count, characters per token, tokens/second', async () => (await import('./commands/tokenize.js')).command],
  ['train', 'Train a model with the Python trainer (progress bar, Ctrl-C to stop)', async () => (await import('./commands/train.js')).command],
  ['finetune', 'Fine-tune the model on a workspace (or a facts file) and make it the active model', async () => (await import('./commands/finetune.js')).command],
  ['lsp', 'Run the language server (--stdio or --node-ipc)', async () => (await import('./commands/lsp.js')).command],
  ['infill', 'Fill the gap of each JSON-lines task (prompt + suffix)', async () => (await import('./commands/infill.js')).command],
  ['fill', 'Fill every blank (___) of a document jointly', async () => (await import('./commands/fill.js')).command],
  ['before', 'Write what comes before line N of a file', async () => (await import('./commands/before.js')).command],
  ['bench', 'Benchmark the sampler settings on the fixed infill task suite', async () => (await import('./commands/bench.js')).command],
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
