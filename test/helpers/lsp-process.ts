// The built language server (`node dist/cli.js lsp --stdio`) as a child process, driven with raw
// bytes: tests write exactly what a client (or a broken one) would send, and read every message the
// server writes back, in order. Build first (`npm run build`); `npm test` does.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { StreamMessageReader } from 'vscode-languageserver/node';
import { ROOT } from './tiny-model';

export const CLI = join(ROOT, 'dist', 'cli.js');

export interface ServerMessage {
  id?: number | string | null;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { code: number; message: string };
}

export class LspProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Every message the server wrote, in order. */
  readonly received: ServerMessage[] = [];
  stderr = '';
  /** Resolves with the exit code (or the signal) once the process has ended. */
  readonly exited: Promise<number | string>;
  private waiters: Array<() => void> = [];
  private closed = false;

  constructor(args: string[] = ['--model', join(ROOT, 'models', 'default')]) {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before this test`);
    this.child = spawn(process.execPath, [CLI, 'lsp', '--stdio', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      this.wake();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
    // 'close' comes after the last of its output has been read.
    this.child.once('close', () => {
      this.closed = true;
      this.wake();
    });
    // The server's own output is well framed: the library's reader parses it.
    new StreamMessageReader(this.child.stdout).listen((m) => {
      this.received.push(m as ServerMessage);
      this.wake();
    });
  }

  /** Writes raw bytes to the server's stdin. */
  raw(bytes: string | Buffer): void {
    this.child.stdin.write(bytes);
  }

  /** Writes one correctly framed message. */
  send(message: unknown): void {
    this.raw(frame(message));
  }

  request(id: number | string, method: string, params?: unknown): void {
    this.send({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) });
  }

  notify(method: string, params?: unknown): void {
    this.send({ jsonrpc: '2.0', method, ...(params !== undefined ? { params } : {}) });
  }

  /** The first message that `match` accepts, waiting for it as long as the process lives. */
  async waitFor(what: string, match: (m: ServerMessage) => boolean): Promise<ServerMessage> {
    for (;;) {
      const found = this.received.find(match);
      if (found !== undefined) return found;
      if (this.closed) throw new Error(`the server exited before ${what}; stderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** The response to request `id`. */
  response(id: number | string | null): Promise<ServerMessage> {
    return this.waitFor(`the response to ${JSON.stringify(id)}`, (m) => m.method === undefined && m.id === id);
  }

  /** Sends initialize (a minimal client, settings in initializationOptions) and initialized. */
  async initialize(settings: Record<string, unknown> = {}): Promise<void> {
    this.request('init', 'initialize', { processId: process.pid, rootUri: null, capabilities: {}, initializationOptions: { settings } });
    const answer = await this.response('init');
    if (answer.error !== undefined) throw new Error(`initialize failed: ${answer.error.message}`);
    this.notify('initialized', {});
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export function frame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
}
