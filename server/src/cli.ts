// Entry point of the `diffill` command. Sub-commands are loaded lazily so that
// `diffill --help` and `diffill tokenize` do not pay for ONNX Runtime start-up.
import type { Command } from './command';
import { UsageError } from './command';

type Loader = () => Promise<Command>;

const commands: ReadonlyArray<readonly [string, string, Loader]> = [
  ['tokenize', 'Tokenize a file: token count, characters per token, tokens/second', async () => (await import('./commands/tokenize.js')).command],
  ['train', 'Train a model with the Python trainer (progress bar, Ctrl-C to stop)', async () => (await import('./commands/train.js')).command],
  ['import', 'Convert a published checkpoint (SMDM, Qwen2-style) into a model directory', async () => (await import('./commands/import.js')).command],
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
    '',
    'Exit status: 0 done, 1 the command failed (a file, the model or the trainer), 2 the command line',
    'is wrong (an unknown option, a value out of range), 130 stopped with Ctrl-C.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const entry = commands.find(([n]) => n === name);
  if (entry === undefined) {
    process.stderr.write(`diffill: unknown command '${name}' (see diffill --help)\n`);
    return 2;
  }
  if (name !== 'lsp') {
    // An error event nobody listens for (a stream, a child process) would print Node's stack trace;
    // a command reports it in one line instead. The language server keeps Node's default: its
    // stderr is the editor's log, where the trace helps.
    process.on('uncaughtException', (err) => {
      report(err);
      process.exit(process.exitCode);
    });
  }
  const command = await entry[2]();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.usage + '\n');
    return 0;
  }
  return command.run(rest);
}

/** Prints an error in one line (the stack only with DIFFILL_DEBUG set) and sets the exit status. */
function report(err: unknown): void {
  const debug = Boolean(process.env['DIFFILL_DEBUG']);
  if (err instanceof UsageError) {
    process.stderr.write(`diffill: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  process.exitCode = 1;
  if (debug) {
    process.stderr.write(`diffill: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  } else if (err instanceof Error && err.name !== 'Error') {
    // Typed errors (CommandError, ModelError, TrainerError, ...) carry a message written for the user.
    process.stderr.write(`diffill: ${err.message}\n`);
  } else {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`diffill: ${message.split('\n')[0]} (an unexpected error; DIFFILL_DEBUG=1 shows where it happened)\n`);
  }
}

declare const __DIFFILL_VERSION__: string | undefined;
const VERSION = typeof __DIFFILL_VERSION__ === 'string' ? __DIFFILL_VERSION__ : '0.0.0-dev';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  report,
);
