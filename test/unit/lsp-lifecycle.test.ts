// The language server's lifecycle over real stdio (the built server): it ends when its client closes
// stdin (an editor that crashed leaves no orphan holding a model), refuses requests before
// `initialize` (ServerNotInitialized) and after `shutdown` (InvalidRequest), drops notifications
// before `initialize`, and accepts `initialize` once. Build first (`npm run build`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes } from 'vscode-languageserver/node';
import { LspProcess } from '../helpers/lsp-process';

const URI = 'file:///project/a.py';

// Generous: the process ends within a second of stdin closing; the timeout only stops a hung test.
const EXIT = { timeout: 60_000 };

test('the server exits when its client closes stdin without shutdown (code 1) and says why', EXIT, async () => {
  const server = new LspProcess();
  try {
    await server.initialize();
    server.notify('textDocument/didOpen', { textDocument: { uri: URI, languageId: 'python', version: 1, text: 'x = ___\n' } });
    server.child.stdin.end();
    assert.equal(await server.exited, 1);
    assert.match(server.stderr, /closed the connection without shutdown/);
  } finally {
    server.kill();
  }
});

test('after shutdown, stdin closing ends the server with code 0', EXIT, async () => {
  const server = new LspProcess();
  try {
    await server.initialize();
    server.request(1, 'shutdown');
    assert.equal((await server.response(1)).error, undefined);
    server.child.stdin.end();
    assert.equal(await server.exited, 0);
  } finally {
    server.kill();
  }
});

test('requests before initialize get ServerNotInitialized; notifications then are dropped; exit still works', EXIT, async () => {
  const server = new LspProcess();
  try {
    server.request(1, 'diffill/fillBlanks', { textDocument: { uri: URI } });
    server.request(2, 'shutdown');
    // Dropped, not kept: after initialize the document is unknown.
    server.notify('textDocument/didOpen', { textDocument: { uri: URI, languageId: 'python', version: 1, text: 'x = ___\n' } });
    const early = await server.response(1);
    assert.equal(early.error?.code, ErrorCodes.ServerNotInitialized);
    assert.match(early.error!.message, /not initialized/);
    assert.equal((await server.response(2)).error?.code, ErrorCodes.ServerNotInitialized);

    await server.initialize();
    server.request(3, 'diffill/fillBlanks', { textDocument: { uri: URI } });
    assert.match((await server.response(3)).error?.message ?? '', /is not open/);
    // The refusals before initialize went to stderr (the client may not be sent log messages yet).
    assert.match(server.stderr, /fillBlanks: the server is not initialized/);
    server.notify('exit');
    assert.equal(await server.exited, 1, 'exit without shutdown ends with code 1');
  } finally {
    server.kill();
  }
});

test('exit before initialize ends the server', EXIT, async () => {
  const server = new LspProcess();
  try {
    server.notify('exit');
    assert.equal(await server.exited, 1);
  } finally {
    server.kill();
  }
});

test('initialize is accepted once; after shutdown every request gets InvalidRequest and exit ends with 0', EXIT, async () => {
  const server = new LspProcess();
  try {
    await server.initialize();
    server.request(1, 'initialize', { processId: null, rootUri: null, capabilities: {} });
    const again = await server.response(1);
    assert.equal(again.error?.code, ErrorCodes.InvalidRequest);
    assert.match(again.error!.message, /already initialized/);

    server.notify('textDocument/didOpen', { textDocument: { uri: URI, languageId: 'python', version: 1, text: 'x = ___\n' } });
    server.request(2, 'shutdown');
    assert.equal((await server.response(2)).result, null);
    server.request(3, 'diffill/fillBlanks', { textDocument: { uri: URI } });
    server.request(4, 'textDocument/inlineCompletion', { textDocument: { uri: URI }, position: { line: 0, character: 4 }, context: { triggerKind: 1 } });
    server.request(5, 'shutdown');
    for (const id of [3, 4, 5]) {
      const late = await server.response(id);
      assert.equal(late.error?.code, ErrorCodes.InvalidRequest, `request ${id} after shutdown`);
      assert.match(late.error!.message, /shutting down/);
    }
    // Logged to the client, which may still read its log.
    await server.waitFor('a log line about the refusal', (m) => m.method === 'window/logMessage' && /fillBlanks: the server is shutting down/.test(JSON.stringify(m.params)));
    server.notify('exit');
    assert.equal(await server.exited, 0);
  } finally {
    server.kill();
  }
});
