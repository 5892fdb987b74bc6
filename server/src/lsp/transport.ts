// The language server's connection over stdio (any LSP editor) or Node IPC (the VS Code extension):
// the strict framing reader for byte streams (framing.ts), the protocol guard in front of the
// handlers (protocol-guard.ts), and the end of the process when the client goes away.
import {
  createConnection,
  IPCMessageReader,
  IPCMessageWriter,
  StreamMessageWriter,
  type Connection,
  type MessageReader,
  type MessageWriter,
} from 'vscode-languageserver/node';
import { FramedMessageReader } from './framing';
import { ProtocolGuard } from './protocol-guard';

export interface ServerConnection {
  connection: Connection;
  guard: ProtocolGuard;
}

export interface TransportOptions {
  /** Where log lines go while the client may not be sent any (before initialize). Default: stderr. */
  stderr?: (line: string) => void;
  /**
   * The client closed the connection (stdin ended) without `exit`: the caller ends the process, with
   * code 0 after `shutdown` and 1 otherwise, as for `exit`.
   */
  onClientGone: (shutdownReceived: boolean) => void;
}

/** A connection over `input`/`output` byte streams (stdio), or the IPC channel of this process. */
export function createServerConnection(
  transport: { input: NodeJS.ReadableStream; output: NodeJS.WritableStream } | 'ipc',
  options: TransportOptions,
): ServerConnection {
  const stderr = options.stderr ?? ((line: string) => void process.stderr.write(`${line}\n`));
  let connection: Connection | null = null;
  // Before initialize the client may not be sent log messages (LSP), and a client that cannot frame its
  // messages may not read ours either: those lines go to stderr, which editors keep in their LSP log.
  const log = (message: string, initialized: boolean, level: 'warn' | 'error'): void => {
    if (initialized && connection !== null) connection.console[level](message);
    else stderr(`diffill lsp: ${message}`);
  };
  let reader: MessageReader;
  let writer: MessageWriter;
  let guard: ProtocolGuard | null = null;
  if (transport === 'ipc') {
    reader = new IPCMessageReader(process);
    writer = new IPCMessageWriter(process);
  } else {
    reader = new FramedMessageReader(transport.input, (problem) => {
      if (problem.kind === 'json') guard?.parseError(problem.message);
      else log(`unreadable input: ${problem.message}`, guard !== null && guard.state !== 'new', 'error');
    });
    writer = new StreamMessageWriter(transport.output);
  }
  const replyWriter = writer;
  guard = new ProtocolGuard(reader, (response) => void replyWriter.write(response).catch(() => undefined), log);
  connection = createConnection(guard, writer);
  const watched = guard;
  reader.onClose(() => options.onClientGone(watched.state === 'shutdown'));
  return { connection, guard };
}
