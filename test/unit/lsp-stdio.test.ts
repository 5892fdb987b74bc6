// The built language server (`node dist/cli.js lsp --stdio`) driven as a plain LSP client over
// stdio against the real tiny model: initialize, open a document, inline completion, fill blanks,
// write before, shutdown, exit. Build first (`npm run build`); `npm test` does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  createMessageConnection,
  InlineCompletionRequest,
  StreamMessageReader,
  StreamMessageWriter,
  type InitializeResult,
  type InlineCompletionList,
  type MessageConnection,
  type TextDocumentEdit,
  type TextEdit,
} from 'vscode-languageserver/node';
import { FillBlanksRequest, StatusNotification, WriteBeforeRequest, type StatusParams } from '../../server/src/protocol';
import { ROOT, tinyModelDir } from '../helpers/tiny-model';

const CLI = join(ROOT, 'dist', 'cli.js');
const URI = 'file:///project/sum.ts';
const TEXT = ['function sum(xs: number[]): number {', '  let total = 0;', '  for (const x of xs) total += ___;', '  return ___;', '}', ''].join('\n');

let child: ChildProcessWithoutNullStreams;
let conn: MessageConnection;
let stderr = '';
let modelDir = '';
const statuses: StatusParams[] = [];

before(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before this test`);
  modelDir = tinyModelDir();
  child = spawn(process.execPath, [CLI, 'lsp', '--stdio', '--model', modelDir], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  conn.onNotification(StatusNotification, (s) => void statuses.push(s));
  conn.listen();
});

after(() => {
  conn?.dispose();
  if (child !== undefined && child.exitCode === null) child.kill();
});

/** Fails with the server's stderr attached, so a crash explains itself. */
async function withStderr<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nserver stderr:\n${stderr}`);
  }
}

test('the built server speaks LSP over stdio with the real tiny model', async () => {
  const init = await withStderr(
    conn.sendRequest('initialize', {
      processId: process.pid,
      rootUri: null,
      // A minimal client: no workspace/configuration, no dynamic registration; settings come
      // through initializationOptions as a Neovim user would pass them.
      capabilities: {},
      initializationOptions: { settings: { debounceMs: 0, maxTokens: 8, contextTokens: 128 } },
    }) as Promise<InitializeResult>,
  );
  assert.equal(init.serverInfo?.name, 'diffill');
  assert.equal(init.capabilities.inlineCompletionProvider, true, 'static inline-completion capability for clients without dynamic registration');
  await conn.sendNotification('initialized', {});
  await conn.sendNotification('textDocument/didOpen', { textDocument: { uri: URI, languageId: 'typescript', version: 1, text: TEXT } });

  // Cursor at the end of line 1 ("  let total = 0;|").
  const list = (await withStderr(
    conn.sendRequest(InlineCompletionRequest.type, {
      textDocument: { uri: URI },
      position: { line: 1, character: 16 },
      context: { triggerKind: 2 },
    }),
  )) as InlineCompletionList | null;
  assert.ok(list !== null && Array.isArray(list.items), `expected an inline completion list, got ${JSON.stringify(list)}\n${stderr}`);
  for (const item of list.items) {
    assert.equal(typeof item.insertText, 'string');
    assert.ok((item.insertText as string).length > 0);
    assert.equal(item.range?.start.line, 1);
  }
  const ready = statuses.filter((s) => s.state === 'ready').at(-1);
  assert.ok(ready !== undefined, `no ready status; got ${JSON.stringify(statuses)}`);
  assert.equal(ready.model, basename(modelDir));
  assert.equal(typeof ready.lastLatencyMs, 'number');

  const filled = (await withStderr(conn.sendRequest(FillBlanksRequest, { textDocument: { uri: URI } }))) as {
    edit: { documentChanges: TextDocumentEdit[] };
    blanks: Array<{ text: string }>;
  };
  const edits = filled.edit.documentChanges[0]!.edits as TextEdit[];
  assert.deepEqual(
    edits.map((e) => e.range),
    [
      { start: { line: 2, character: 31 }, end: { line: 2, character: 34 } },
      { start: { line: 3, character: 9 }, end: { line: 3, character: 12 } },
    ],
  );
  for (const e of edits) {
    assert.equal(typeof e.newText, 'string');
    assert.ok(!e.newText.includes('\n'), 'a blank inside a line is filled with one line');
  }
  assert.equal(filled.edit.documentChanges[0]!.textDocument.version, 1);

  const written = (await withStderr(conn.sendRequest(WriteBeforeRequest, { textDocument: { uri: URI }, line: 0 }))) as {
    text: string;
    edit: { documentChanges: TextDocumentEdit[] };
  };
  assert.equal(typeof written.text, 'string');
  if (written.text.length > 0) {
    assert.ok(written.text.endsWith('\n'));
    assert.deepEqual(written.edit.documentChanges[0]!.edits[0]!.range.start, { line: 0, character: 0 });
  }

  // A request for an unknown document is answered with an error, and the server lives on.
  await assert.rejects(conn.sendRequest(FillBlanksRequest, { textDocument: { uri: 'file:///nope.ts' } }), /is not open/);

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await withStderr(conn.sendRequest('shutdown'));
  await conn.sendNotification('exit');
  assert.equal(await exited, 0, `server exit code; stderr:\n${stderr}`);
});
