// Every request is bounded, and one slow command never keeps ghost text waiting:
// - over real stdio with the shipped model, an inline completion sent while a long Fill Blanks runs
//   is answered first (the order of the answers, not a clock, decides);
// - sampler overrides beyond the settings schema, more ranges than one Fill Blanks fills, and a
//   document with too many ___ blanks get InvalidParams saying what the limit is;
// - a command that runs past its time limit is stopped with RequestFailed (a fake engine that never
//   finishes on its own; the limit is set short for the test).
// Build first (`npm run build`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createConnection, createMessageConnection, ErrorCodes, LSPErrorCodes, ResponseError, StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver/node';
import { SAMPLER_BOUNDS } from '../../server/src/limits';
import type { FillRequest, InfillEngine } from '../../server/src/lsp/engine-adapter';
import { startServer } from '../../server/src/lsp/server';
import { FillBlanksRequest, REQUEST_LIMITS, WriteBeforeRequest } from '../../server/src/protocol';
import { LspProcess, type ServerMessage } from '../helpers/lsp-process';
import { ROOT } from '../helpers/tiny-model';

const URI = 'file:///project/stats.py';
// Three blanks of 128 tokens each on the shipped model, with guidance and the most steps allowed:
// tens of seconds of work on 2 cores, far longer than one ghost-text completion.
const TEXT = [
  'def mean(values):',
  '    total = ____',
  '    for v in values:',
  '        total += ____',
  '    return ____',
  '',
  'def main():',
  '    print(mean([1, 2, 3]))',
  '',
].join('\n');

const LONG = { timeout: 600_000 };

test('an inline completion sent during a long Fill Blanks is answered before it (stdio, shipped model)', LONG, async () => {
  const server = new LspProcess(['--model', join(ROOT, 'models', 'default')]);
  try {
    await server.initialize({ debounceMs: 0 });
    server.notify('textDocument/didOpen', { textDocument: { uri: URI, languageId: 'python', version: 1, text: TEXT } });
    server.request('slow', 'diffill/setSamplerOptions', { guidance: SAMPLER_BOUNDS.guidance.max, steps: SAMPLER_BOUNDS.steps.max });
    assert.equal((await server.response('slow')).error, undefined);

    server.request('fill', FillBlanksRequest.method, { textDocument: { uri: URI } });
    // The Fill Blanks holds the model once the server says it is busy.
    await server.waitFor('the busy status of the Fill Blanks', (m) => m.method === 'diffill/status' && (m.params as { state: string }).state === 'busy');
    server.request('ghost', 'textDocument/inlineCompletion', {
      textDocument: { uri: URI },
      position: { line: 7, character: 10 },
      context: { triggerKind: 2 },
    });
    const ghost = await server.response('ghost');
    assert.equal(ghost.error, undefined, JSON.stringify(ghost));
    const answered = (id: string) => server.received.findIndex((m) => m.method === undefined && m.id === id);
    assert.equal(answered('fill'), -1, 'the Fill Blanks was still running when the inline completion was answered');

    // The Fill Blanks was paused, not lost: cancelling it now ends it as cancelled.
    server.notify('$/cancelRequest', { id: 'fill' });
    const fill: ServerMessage = await server.response('fill');
    assert.ok(fill.result !== undefined || fill.error?.code === LSPErrorCodes.RequestCancelled, JSON.stringify(fill));
    assert.ok(answered('ghost') < answered('fill'));
    server.request('bye', 'shutdown');
    await server.response('bye');
    server.notify('exit');
    assert.equal(await server.exited, 0);
  } finally {
    server.kill();
  }
});

test('sampler overrides beyond the settings schema, too many ranges or blanks get InvalidParams', LONG, async () => {
  const server = new LspProcess(['--model', join(ROOT, 'models', 'default')]);
  try {
    await server.initialize();
    // The bounds are the settings schema's where a setting exists (guidance), and steps stop at the
    // schema's maxTokens maximum.
    const schema = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).contributes.configuration.properties;
    assert.equal(SAMPLER_BOUNDS.guidance.max, schema['diffill.guidance'].maximum);
    assert.equal(SAMPLER_BOUNDS.steps.max, schema['diffill.maxTokens'].maximum);
    const overrides: Array<[Record<string, unknown>, RegExp]> = [
      [{ guidance: SAMPLER_BOUNDS.guidance.max + 1 }, /params\.guidance must be a number in \[0, 5\], got 6/],
      [{ steps: 1024 }, /params\.steps must be an integer in \[1, 256\], got 1024/],
      [{ temperature: 99 }, /params\.temperature must be a number in \[0, 5\], got 99/],
      [{ steps: 2.5 }, /params\.steps must be an integer/],
    ];
    for (const [i, [params, expected]] of overrides.entries()) {
      server.request(`o${i}`, 'diffill/setSamplerOptions', params);
      const r = await server.response(`o${i}`);
      assert.equal(r.error?.code, ErrorCodes.InvalidParams, `${JSON.stringify(params)}: ${JSON.stringify(r)}`);
      assert.match(r.error!.message, expected);
    }
    server.request('o-ok', 'diffill/setSamplerOptions', { steps: SAMPLER_BOUNDS.steps.max, guidance: SAMPLER_BOUNDS.guidance.max });
    assert.deepEqual((await server.response('o-ok')).result, { guidance: 5, temperature: 0, steps: 256 });

    server.notify('textDocument/didOpen', { textDocument: { uri: URI, languageId: 'python', version: 1, text: TEXT } });
    // The shape: a huge list of ranges on a few points.
    const point = { line: 1, character: 12 };
    const ranges = Array.from({ length: 100_000 }, () => ({ start: point, end: point }));
    server.request('many', FillBlanksRequest.method, { textDocument: { uri: URI }, ranges });
    const many = await server.response('many');
    assert.equal(many.error?.code, ErrorCodes.InvalidParams);
    assert.match(many.error!.message, new RegExp(`params\\.ranges has 100000 items, at most ${REQUEST_LIMITS.blanks} are allowed`));

    const underscores = Array.from({ length: REQUEST_LIMITS.blanks + 1 }, (_, i) => `x${i} = ___`).join('\n');
    server.notify('textDocument/didOpen', { textDocument: { uri: 'file:///project/many.py', languageId: 'python', version: 1, text: underscores } });
    server.request('blanks', FillBlanksRequest.method, { textDocument: { uri: 'file:///project/many.py' } });
    const blanks = await server.response('blanks');
    assert.equal(blanks.error?.code, ErrorCodes.InvalidParams);
    assert.match(blanks.error!.message, /has 65 blanks .* at most 64/);
  } finally {
    server.kill();
  }
});

test('a command that runs past its time limit is stopped with RequestFailed and logged; the server goes on', async () => {
  // An engine that finishes only when its request is aborted.
  const fills: FillRequest[] = [];
  const engine: InfillEngine = {
    name: 'never-done',
    infill: async () => ({ text: 'x', latencyMs: 1, forwards: 1, tokens: 1, truncated: false }),
    fill: (request) => {
      fills.push(request);
      return new Promise((_, reject) =>
        request.signal!.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), { once: true }),
      );
    },
    before: (request) =>
      new Promise((_, reject) => request.signal!.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), { once: true })),
    dispose: async () => undefined,
  };
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const connection = createConnection(new StreamMessageReader(toServer), new StreamMessageWriter(toClient));
  startServer(connection, { defaultModelDir: '/models/none', version: 'test', loader: async () => engine, timeLimits: { command: 50 } });
  connection.listen();
  const client = createMessageConnection(new StreamMessageReader(toClient), new StreamMessageWriter(toServer));
  const logs: string[] = [];
  client.onNotification('window/logMessage', (m: { message: string }) => void logs.push(m.message));
  client.listen();
  try {
    await client.sendRequest('initialize', { processId: null, rootUri: null, capabilities: {}, initializationOptions: { settings: { debounceMs: 0 } } });
    await client.sendNotification('initialized', {});
    await client.sendNotification('textDocument/didOpen', { textDocument: { uri: URI, languageId: 'python', version: 1, text: TEXT } });
    for (const [method, params] of [
      [FillBlanksRequest.method, { textDocument: { uri: URI } }],
      [WriteBeforeRequest.method, { textDocument: { uri: URI }, line: 4 }],
    ] as const) {
      const err = await client.sendRequest(method, params).then(
        () => assert.fail(`${method} should have been stopped`),
        (e: unknown) => e as ResponseError<void>,
      );
      assert.equal(err.code, LSPErrorCodes.RequestFailed, `${method}: ${err.message}`);
      assert.match(err.message, /longer than the limit of 0\.05 s for one request and was stopped/);
    }
    assert.equal(fills.length, 1);
    assert.ok(logs.some((l) => /fill blanks: it ran longer than the limit/.test(l)), JSON.stringify(logs));
    // The inline lane was not held up by the stopped commands.
    const list = await client.sendRequest('textDocument/inlineCompletion', { textDocument: { uri: URI }, position: { line: 1, character: 12 }, context: { triggerKind: 2 } });
    assert.ok(list !== null);
  } finally {
    client.dispose();
    connection.dispose();
  }
});
