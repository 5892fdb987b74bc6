// `diffill lsp`: the language server, over stdio (any LSP editor) or Node IPC (the VS Code
// extension). The model loads lazily on the first request, so starting the server is instant.
import { resolve } from 'node:path';
import { type Command, UsageError } from '../command';
import { loadEngine } from '../lsp/engine-adapter';
import { startServer, type DiffillServer } from '../lsp/server';
import { createServerConnection } from '../lsp/transport';

const usage = `Usage: diffill lsp (--stdio | --node-ipc) [--model DIR] [--python PATH]

Runs the Diffill language server.

Options:
  --stdio        Speak LSP over standard input/output (Neovim, Helix, Emacs...).
  --node-ipc     Speak LSP over the Node IPC channel (the VS Code extension).
  --model DIR    Model directory used when the diffill.modelPath setting is empty
                 (default: the model shipped in models/default).
  --python PATH  Python interpreter for fine-tuning requests that name none
                 (default: $DIFFILL_PYTHON, then .venv/bin/python, then python3).
                 The server never takes it from settings it reads from the editor.`;

declare const __DIFFILL_VERSION__: string | undefined;

interface LspArgs {
  transport: 'stdio' | 'ipc';
  model: string | null;
  python: string | null;
}

export function parseLspArgs(argv: readonly string[]): LspArgs {
  let transport: LspArgs['transport'] | null = null;
  let model: string | null = null;
  let python: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--stdio' || arg === '--node-ipc') {
      const t = arg === '--stdio' ? 'stdio' : 'ipc';
      if (transport !== null && transport !== t) throw new UsageError('lsp: choose one of --stdio and --node-ipc');
      transport = t;
    } else if (arg === '--model' || arg.startsWith('--model=')) {
      const value = arg === '--model' ? argv[++i] : arg.slice('--model='.length);
      if (value === undefined || value === '') throw new UsageError('lsp: --model needs a directory');
      model = resolve(value);
    } else if (arg === '--python' || arg.startsWith('--python=')) {
      const value = arg === '--python' ? argv[++i] : arg.slice('--python='.length);
      if (value === undefined || value === '') throw new UsageError('lsp: --python needs an interpreter');
      // A path is taken relative to where the server was started; a bare name is looked up on PATH.
      python = value.includes('/') ? resolve(value) : value;
    } else if (arg.startsWith('--clientProcessId')) {
      // Added by some clients (vscode-languageclient); the connection watches the parent itself.
      if (!arg.includes('=')) i++;
    } else {
      throw new UsageError(`lsp: unknown option '${arg}'\n\n${usage}`);
    }
  }
  if (transport === null) throw new UsageError(`lsp: choose a transport\n\n${usage}`);
  return { transport, model, python };
}

export const command: Command = {
  name: 'lsp',
  summary: 'Run the language server (--stdio or --node-ipc)',
  usage,
  async run(argv) {
    const args = parseLspArgs(argv);
    if (args.transport === 'stdio') {
      // stdout carries the protocol: anything printed by accident would corrupt it.
      console.log = console.error;
      console.info = console.error;
    }
    // When the client goes away without `exit` (an editor that crashed closes our stdin), the server
    // ends too instead of living on as an orphan holding its model.
    let server: DiffillServer | null = null;
    const { connection } = createServerConnection(args.transport === 'stdio' ? { input: process.stdin, output: process.stdout } : 'ipc', {
      onClientGone: (shutdown) => {
        process.stderr.write(`diffill lsp: the client closed the connection${shutdown ? '' : ' without shutdown'}; exiting\n`);
        server?.stop();
        process.exit(shutdown ? 0 : 1);
      },
    });
    // A stray rejected promise must not take the server (and every open editor's completions) down.
    process.on('unhandledRejection', (reason) => {
      connection.console.error(`unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);
    });
    server = startServer(connection, {
      // Bundled as dist/cli.js, so the shipped model sits at ../models/default.
      defaultModelDir: args.model ?? resolve(__dirname, '..', 'models', 'default'),
      loader: loadEngine,
      version: typeof __DIFFILL_VERSION__ === 'string' ? __DIFFILL_VERSION__ : '0.0.0-dev',
      ...(args.python !== null ? { python: args.python } : {}),
    });
    connection.listen();
    // The connection ends the process on `exit`; until then keep the event loop alive.
    return new Promise<number>(() => undefined);
  },
};
