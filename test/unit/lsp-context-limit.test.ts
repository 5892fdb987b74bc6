// diffill.contextTokens above what the model reads: the built server (over stdio, the shipped model,
// whose max_position is 512) still answers, and says once in its log how much context a request
// really gets; a setting that fits says nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMessageConnection, InlineCompletionRequest, StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver/node';
import { contextRoom } from '../../server/src/lsp/context-limit';
import { ROOT } from '../helpers/tiny-model';

const CLI = join(ROOT, 'dist', 'cli.js');
const MODEL = join(ROOT, 'models', 'default');
const URI = 'file:///project/add.py';

/** Starts the server with `settings`, asks for two inline completions, shuts down; returns the warnings logged. */
async function warningsWith(settings: Record<string, unknown>): Promise<string[]> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before this test`);
  const child = spawn(process.execPath, [CLI, 'lsp', '--stdio', '--model', MODEL], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  const warnings: string[] = [];
  // window/logMessage type 2 is a warning.
  conn.onNotification('window/logMessage', (p: { type: number; message: string }) => void (p.type === 2 && warnings.push(p.message)));
  conn.listen();
  try {
    await conn.sendRequest('initialize', { processId: process.pid, rootUri: null, capabilities: {}, initializationOptions: { settings: { debounceMs: 0, ...settings } } });
    await conn.sendNotification('initialized', {});
    await conn.sendNotification('textDocument/didOpen', { textDocument: { uri: URI, languageId: 'python', version: 1, text: 'def add(a, b):\n    return a + \n' } });
    for (let i = 0; i < 2; i++) {
      const list = await conn.sendRequest(InlineCompletionRequest.type, { textDocument: { uri: URI }, position: { line: 1, character: 15 }, context: { triggerKind: 1 } });
      assert.ok(list !== null, `no answer; stderr:\n${stderr}`);
    }
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await conn.sendRequest('shutdown');
    await conn.sendNotification('exit');
    await exited;
  } finally {
    conn.dispose();
    if (child.exitCode === null) child.kill();
  }
  return warnings;
}

test('a context setting beyond the model is cut, and the log says to what, once', async () => {
  const maxPosition = (JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')) as { architecture: { max_position: number } }).architecture.max_position;
  const room = contextRoom(maxPosition, 8);
  assert.equal(room, maxPosition - 2 - 8, 'BOS, EOS and the 8-token gap come out of max_position');
  const cut = (await warningsWith({ maxTokens: 8, contextTokens: 1024 })).filter((w) => /contextTokens/.test(w));
  assert.deepEqual(cut, [`diffill.contextTokens is 1024, but the model default reads ${maxPosition} tokens in all: an inline completion (8 tokens) gets at most ${room} tokens of context`]);
  const fits = (await warningsWith({ maxTokens: 8, contextTokens: room })).filter((w) => /contextTokens/.test(w));
  assert.deepEqual(fits, []);
  // The defaults: a window of the model's own size, of which the gap takes its share, is no cut.
  const whole = (await warningsWith({ maxTokens: 8, contextTokens: maxPosition })).filter((w) => /contextTokens/.test(w));
  assert.deepEqual(whole, []);
});
