// The built language server (`node dist/cli.js lsp --stdio`) driven as a plain LSP client over
// stdio against the shipped model: initialize, open documents, inline completion, fill blanks, write
// before, shutdown, exit. The inputs are ones whose answer the shipped model knows (`b` after
// `return a + `, `total` after `return `), so an empty or wrong answer fails instead of slipping
// through. Build first (`npm run build`); `npm test` does.
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
import { ROOT } from '../helpers/tiny-model';

const CLI = join(ROOT, 'dist', 'cli.js');
const MODEL = join(ROOT, 'models', 'default');
const URI = 'file:///project/sum.ts';
const ADD_URI = 'file:///project/add.py';
const ADD = 'def add(a, b):\n    return a + \n';
const BEFORE_URI = 'file:///project/point.py';
const BEFORE = 'class Point:\n        self.x = x\n        self.y = y\n';
const TEXT = ['function sum(xs: number[]): number {', '  let total = 0;', '  for (const x of xs) total += ___;', '  return ___;', '}', ''].join('\n');

let child: ChildProcessWithoutNullStreams;
let conn: MessageConnection;
let stderr = '';
let modelDir = '';
const statuses: StatusParams[] = [];

before(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before this test`);
  modelDir = MODEL;
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

test('the built server speaks LSP over stdio with the shipped model', async () => {
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
  await conn.sendNotification('textDocument/didOpen', { textDocument: { uri: ADD_URI, languageId: 'python', version: 1, text: ADD } });
  await conn.sendNotification('textDocument/didOpen', { textDocument: { uri: BEFORE_URI, languageId: 'python', version: 1, text: BEFORE } });

  // Cursor after "    return a + ": the answer is `b`.
  const list = (await withStderr(
    conn.sendRequest(InlineCompletionRequest.type, {
      textDocument: { uri: ADD_URI },
      position: { line: 1, character: 15 },
      context: { triggerKind: 2 },
    }),
  )) as InlineCompletionList | null;
  assert.ok(list !== null && Array.isArray(list.items), `expected an inline completion list, got ${JSON.stringify(list)}\n${stderr}`);
  assert.equal(list.items.length, 1, 'an automatic request answers with one item');
  assert.equal(list.items[0]!.insertText, 'b');
  assert.deepEqual(list.items[0]!.range?.start, { line: 1, character: 15 });
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
  // `total` is what the function returns; the first blank may be `x` or another term, but never
  // nothing and never more than its line.
  assert.equal(edits[1]!.newText, 'total');
  assert.ok(edits[0]!.newText.trim() !== '' && !edits[0]!.newText.includes('\n'), JSON.stringify(edits[0]!.newText));
  assert.equal(filled.edit.documentChanges[0]!.textDocument.version, 1);

  // Line 1 sets fields x and y in a method that is not there yet: what comes before is its header.
  const written = (await withStderr(conn.sendRequest(WriteBeforeRequest, { textDocument: { uri: BEFORE_URI }, line: 1 }))) as {
    text: string;
    edit: { documentChanges: TextDocumentEdit[] };
  };
  assert.match(written.text, /^ {4}def __init__\(self, x, y\).*:\n$/);
  assert.deepEqual(written.edit.documentChanges[0]!.edits[0]!.range.start, { line: 1, character: 0 });

  // A request for an unknown document is answered with an error, and the server lives on.
  await assert.rejects(conn.sendRequest(FillBlanksRequest, { textDocument: { uri: 'file:///nope.ts' } }), /is not open/);

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await withStderr(conn.sendRequest('shutdown'));
  await conn.sendNotification('exit');
  assert.equal(await exited, 0, `server exit code; stderr:\n${stderr}`);
});
