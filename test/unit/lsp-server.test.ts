// The language server driven in-process by a plain JSON-RPC test client, with a fake engine whose
// answers and timing the test controls. Covers the wiring (dynamic registration, settings pull,
// status), every handler, cancellation, pre-emption, caching and failure paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import {
  CancellationTokenSource,
  createConnection,
  createMessageConnection,
  InlineCompletionRequest,
  StreamMessageReader,
  StreamMessageWriter,
  type InlineCompletionList,
  type MessageConnection,
  type TextDocumentEdit,
} from 'vscode-languageserver/node';
import { startServer } from '../../server/src/lsp/server';
import type { FillRequest, InfillEngine, InfillRequest, InfillResult, BeforeRequest } from '../../server/src/lsp/engine-adapter';
import { FillBlanksRequest, SetSamplerOptionsRequest, StatusNotification, WriteBeforeRequest, type StatusParams } from '../../server/src/protocol';

const STATS = { latencyMs: 1, forwards: 1, tokens: 1, truncated: false };

class FakeEngine implements InfillEngine {
  readonly name = 'fake-model';
  infills: InfillRequest[] = [];
  fills: FillRequest[] = [];
  befores: BeforeRequest[] = [];
  disposed = false;
  /** Answers for successive infill calls (the last one repeats). */
  answers: string[] = ['x'];
  /** When set, infill waits for this promise or for its signal to fire. */
  gate: Promise<void> | null = null;
  abortedSignals = 0;

  async infill(request: InfillRequest): Promise<InfillResult> {
    const answer = this.answers[Math.min(this.infills.length, this.answers.length - 1)]!;
    this.infills.push(request);
    if (this.gate !== null) {
      const signal = request.signal!;
      await Promise.race([this.gate, new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))]);
      if (signal.aborted) {
        this.abortedSignals++;
        const err = new Error('the request was cancelled');
        err.name = 'AbortError';
        throw err;
      }
    }
    return { text: answer, ...STATS };
  }

  async fill(request: FillRequest) {
    this.fills.push(request);
    return { fills: request.blanks.map((_, i) => `fill${i}`), ...STATS };
  }

  async before(request: BeforeRequest) {
    this.befores.push(request);
    return { text: '// written above\n\n', ...STATS };
  }

  async dispose() {
    this.disposed = true;
  }
}

interface Harness {
  client: MessageConnection;
  engine: FakeEngine;
  loads: string[];
  statuses: StatusParams[];
  logs: string[];
  registrations: string[];
  unregistrations: string[];
  settings: Record<string, unknown>;
  open(uri: string, text: string, languageId?: string): Promise<void>;
  change(uri: string, version: number, text: string): Promise<void>;
  inline(uri: string, line: number, character: number, explicit?: boolean, token?: CancellationTokenSource): Promise<InlineCompletionList | null>;
  waitFor<T>(what: string, check: () => T | undefined): Promise<T>;
  close(): void;
}

/** `holdConfiguration`: the client answers workspace/configuration only once this resolves (start() then returns at once). */
async function start(options: { settings?: Record<string, unknown>; loadError?: string; holdConfiguration?: Promise<void> } = {}): Promise<Harness> {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const serverConnection = createConnection(new StreamMessageReader(toServer), new StreamMessageWriter(toClient));
  const engine = new FakeEngine();
  const loads: string[] = [];
  startServer(serverConnection, {
    defaultModelDir: '/models/default',
    version: 'test',
    loader: async (dir) => {
      loads.push(dir);
      if (options.loadError !== undefined) throw new Error(options.loadError);
      return engine;
    },
  });
  serverConnection.listen();

  const client = createMessageConnection(new StreamMessageReader(toClient), new StreamMessageWriter(toServer));
  const h: Harness = {
    client,
    engine,
    loads,
    statuses: [],
    logs: [],
    registrations: [],
    unregistrations: [],
    settings: { debounceMs: 0, ...options.settings },
    async open(uri, text, languageId = 'typescript') {
      await client.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId, version: 1, text } });
    },
    async change(uri, version, text) {
      await client.sendNotification('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [{ text }] });
    },
    inline(uri, line, character, explicit = false, source) {
      const params = { textDocument: { uri }, position: { line, character }, context: { triggerKind: explicit ? 1 : 2 } } as const;
      const pending = source ? client.sendRequest(InlineCompletionRequest.type, params, source.token) : client.sendRequest(InlineCompletionRequest.type, params);
      return pending as Promise<InlineCompletionList | null>;
    },
    async waitFor(what, check) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const v = check();
        if (v !== undefined && v !== false) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    close() {
      client.dispose();
      serverConnection.dispose();
    },
  };
  client.onRequest('workspace/configuration', async () => {
    await options.holdConfiguration;
    return [h.settings];
  });
  client.onRequest('client/registerCapability', (p: { registrations: Array<{ method: string }> }) => {
    for (const r of p.registrations) h.registrations.push(r.method);
    return null;
  });
  client.onRequest('client/unregisterCapability', (p: { unregisterations: Array<{ method: string }> }) => {
    for (const r of p.unregisterations) h.unregistrations.push(r.method);
    return null;
  });
  client.onNotification(StatusNotification, (s) => void h.statuses.push(s));
  client.onNotification('window/logMessage', (m: unknown) => void h.logs.push((m as { message: string }).message));
  client.listen();
  await client.sendRequest('initialize', {
    processId: null,
    rootUri: null,
    capabilities: {
      workspace: { configuration: true, didChangeConfiguration: { dynamicRegistration: true } },
      textDocument: { inlineCompletion: { dynamicRegistration: true } },
    },
  });
  await client.sendNotification('initialized', {});
  if (options.holdConfiguration !== undefined) return h;
  await h.waitFor('inline completion registration', () => h.registrations.includes('textDocument/inlineCompletion') || undefined);
  return h;
}

const URI = 'file:///work/a.ts';

test('inline completion: dynamic registration, lazy load, post-processed item, status', async () => {
  const h = await start();
  try {
    assert.equal(h.loads.length, 0, 'the model must not load before the first request');
    h.engine.answers = ['"hi")'];
    await h.open(URI, 'print()\n');
    const list = await h.inline(URI, 0, 6);
    assert.deepEqual(list?.items, [{ insertText: '"hi")', range: { start: { line: 0, character: 6 }, end: { line: 0, character: 7 } } }]);
    assert.deepEqual(h.loads, ['/models/default']);
    const req = h.engine.infills[0]!;
    assert.equal(req.prefix, 'print(');
    assert.equal(req.suffix, ')\n');
    assert.equal(req.maxTokens, 32);
    assert.ok(req.signal instanceof AbortSignal);
    const final = await h.waitFor('ready status', () => h.statuses.find((s) => s.state === 'ready' && s.lastLatencyMs !== null));
    assert.equal(final.model, 'fake-model');
    assert.ok(h.statuses.some((s) => s.state === 'loading'));
    assert.ok(h.statuses.some((s) => s.state === 'busy'));
  } finally {
    h.close();
  }
});

test('inline completion: explicit trigger gives distinct alternatives with other seeds', async () => {
  const h = await start();
  try {
    h.engine.answers = ['a + b;', 'a - b;', 'a + b;'];
    await h.open(URI, 'const x = \n');
    const list = await h.inline(URI, 0, 10, true);
    assert.deepEqual(list?.items.map((i) => i.insertText), ['a + b;', 'a - b;']);
    assert.deepEqual(h.engine.infills.map((r) => r.sampler?.seed), [0, 1, 2]);
    assert.equal(h.engine.infills[0]!.sampler?.temperature, 0);
    assert.ok((h.engine.infills[1]!.sampler?.temperature ?? 0) > 0, 'alternatives must be sampled');
    h.engine.infills = [];
    await h.change(URI, 2, 'const y = \n');
    const auto = await h.inline(URI, 0, 10, false);
    assert.equal(auto?.items.length, 1);
    assert.equal(h.engine.infills.length, 1, 'automatic requests run the model once');
  } finally {
    h.close();
  }
});

test('inline completion: cache hit and typed-ahead reuse skip the model', async () => {
  const h = await start();
  try {
    h.engine.answers = ['return a + b;'];
    await h.open(URI, 'function f(a, b) {\n  \n}\n');
    const first = await h.inline(URI, 1, 2);
    assert.equal(first?.items[0]?.insertText, 'return a + b;');
    await h.inline(URI, 1, 2);
    assert.equal(h.engine.infills.length, 1, 'same position and text: served from cache');
    await h.change(URI, 2, 'function f(a, b) {\n  ret\n}\n');
    const typed = await h.inline(URI, 1, 5);
    assert.equal(typed?.items[0]?.insertText, 'urn a + b;');
    assert.equal(h.engine.infills.length, 1, 'typed-ahead: served from cache');
    await h.change(URI, 3, 'function f(a, b) {\n  rex\n}\n');
    await h.inline(URI, 1, 5);
    assert.equal(h.engine.infills.length, 2, 'diverged from the cached completion: model runs');
  } finally {
    h.close();
  }
});

test('inline completion: $/cancelRequest aborts the sampler and answers null', async () => {
  const h = await start();
  try {
    let open!: () => void;
    h.engine.gate = new Promise<void>((r) => (open = r));
    await h.open(URI, 'let v = \n');
    const source = new CancellationTokenSource();
    const pending = h.inline(URI, 0, 8, false, source);
    await h.waitFor('the engine to start', () => h.engine.infills.length === 1 || undefined);
    source.cancel();
    const result = await pending.catch((e: unknown) => e);
    // vscode-jsonrpc may answer a cancelled request with null or a RequestCancelled error.
    assert.ok(result === null || (result as { code?: number }).code === -32800, `unexpected ${JSON.stringify(result)}`);
    await h.waitFor('the sampler to observe the abort', () => h.engine.abortedSignals === 1 || undefined);
    open();
  } finally {
    h.close();
  }
});

test('inline completion: a newer request pre-empts the older one', async () => {
  const h = await start();
  try {
    let open!: () => void;
    h.engine.gate = new Promise<void>((r) => (open = r));
    h.engine.answers = ['old', 'new'];
    await h.open(URI, 'x\n');
    const older = h.inline(URI, 0, 1);
    await h.waitFor('the first request to run', () => h.engine.infills.length === 1 || undefined);
    await h.change(URI, 2, 'xy\n');
    const newer = h.inline(URI, 0, 2);
    assert.equal(await older, null);
    assert.equal(h.engine.abortedSignals, 1);
    open();
    const list = await newer;
    assert.equal(list?.items[0]?.insertText, 'new');
  } finally {
    h.close();
  }
});

test('disabling unregisters the capability, frees the model and stops model work', async () => {
  const h = await start();
  try {
    await h.open(URI, 'a\n');
    await h.inline(URI, 0, 1);
    assert.equal(h.engine.disposed, false);
    h.settings = { ...h.settings, enable: false };
    await h.client.sendNotification('workspace/didChangeConfiguration', { settings: null });
    await h.waitFor('unregistration', () => h.unregistrations.includes('textDocument/inlineCompletion') || undefined);
    await h.waitFor('disabled status', () => h.statuses.at(-1)?.state === 'disabled' || undefined);
    assert.equal(h.engine.disposed, true, 'the model must be released when disabled');
    const calls = h.engine.infills.length;
    assert.equal(await h.inline(URI, 0, 1), null);
    assert.equal(h.engine.infills.length, calls);
    await assert.rejects(h.client.sendRequest(FillBlanksRequest.method, { textDocument: { uri: URI } }), /disabled/);
  } finally {
    h.close();
  }
});

test('per-language switch: a disabled language gets no completions', async () => {
  const h = await start({ settings: { enabledLanguages: { '*': true, markdown: false } } });
  try {
    await h.open('file:///work/readme.md', '# Title\n', 'markdown');
    assert.equal(await h.inline('file:///work/readme.md', 0, 7), null);
    assert.equal(h.engine.infills.length, 0);
  } finally {
    h.close();
  }
});

test('fill blanks: underscore runs by default, explicit ranges, overlap rejected', async () => {
  const h = await start();
  try {
    const text = 'const a = ___;\nconst b = _____;\n';
    await h.open(URI, text);
    const result = (await h.client.sendRequest(FillBlanksRequest.method, { textDocument: { uri: URI } })) as {
      edit: { documentChanges: TextDocumentEdit[] };
      blanks: Array<{ text: string }>;
    };
    assert.deepEqual(h.engine.fills[0]!.blanks, [
      { start: 10, end: 13 },
      { start: 25, end: 30 },
    ]);
    assert.equal(h.engine.fills[0]!.text, text);
    const change = result.edit.documentChanges[0]!;
    assert.equal(change.textDocument.version, 1);
    assert.deepEqual(change.edits, [
      { range: { start: { line: 0, character: 10 }, end: { line: 0, character: 13 } }, newText: 'fill0' },
      { range: { start: { line: 1, character: 10 }, end: { line: 1, character: 15 } }, newText: 'fill1' },
    ]);
    await h.client.sendRequest(FillBlanksRequest.method, {
      textDocument: { uri: URI },
      ranges: [
        { start: { line: 1, character: 6 }, end: { line: 1, character: 7 } },
        { start: { line: 0, character: 6 }, end: { line: 0, character: 6 } },
      ],
    });
    assert.deepEqual(h.engine.fills[1]!.blanks, [
      { start: 6, end: 6 },
      { start: 21, end: 22 },
    ]);
    await assert.rejects(
      h.client.sendRequest(FillBlanksRequest.method, {
        textDocument: { uri: URI },
        ranges: [
          { start: { line: 0, character: 0 }, end: { line: 0, character: 5 } },
          { start: { line: 0, character: 3 }, end: { line: 0, character: 8 } },
        ],
      }),
      (err: { code: number; message: string }) => err.code === -32602 && /overlap/.test(err.message),
    );
  } finally {
    h.close();
  }
});

test('a request sent right after initialized waits for the settings instead of failing', async () => {
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const h = await start({ holdConfiguration: held });
  try {
    await h.open(URI, 'const a = ___;\n');
    let settled = false;
    const pending = h.client.sendRequest(FillBlanksRequest, { textDocument: { uri: URI } });
    void pending.finally(() => (settled = true)).catch(() => undefined);
    // An event instead of a pause: the server reads messages in order, so once it has answered a
    // request sent after the fill (an unknown method, refused at once), it has taken up the fill too.
    await assert.rejects(h.client.sendRequest('diffill/noSuchRequest', {}), (err: { code: number }) => err.code === -32601);
    assert.equal(settled, false, 'the fill may not be answered before the settings are known');
    assert.deepEqual(h.loads, [], 'no model may load before the settings are known');
    release();
    const result = await pending;
    assert.deepEqual(result.blanks.map((b) => b.text), ['fill0']);
    assert.deepEqual(h.loads, ['/models/default']);
  } finally {
    h.close();
  }
});

test('write before: inserts the written text above the line, conditioned on what follows', async () => {
  const h = await start();
  try {
    await h.open(URI, 'import x from "x";\nfunction f() {}\n');
    const result = (await h.client.sendRequest(WriteBeforeRequest.method, { textDocument: { uri: URI }, line: 1 })) as {
      text: string;
      edit: { documentChanges: TextDocumentEdit[] };
    };
    assert.equal(result.text, '// written above\n');
    assert.equal(h.engine.befores[0]!.prefix, 'import x from "x";\n');
    assert.equal(h.engine.befores[0]!.suffix, 'function f() {}\n');
    assert.deepEqual(result.edit.documentChanges[0]!.edits, [
      { range: { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } }, newText: '// written above\n' },
    ]);
    await assert.rejects(h.client.sendRequest(WriteBeforeRequest.method, { textDocument: { uri: URI }, line: 99 }), /outside the document/);
  } finally {
    h.close();
  }
});

test('sampler options: guidance reaches the engine and the status; bad values are rejected', async () => {
  const h = await start();
  try {
    const effective = await h.client.sendRequest(SetSamplerOptionsRequest.method, { guidance: 1.5 });
    assert.deepEqual(effective, { guidance: 1.5, temperature: 0, steps: null });
    await h.waitFor('guidance in status', () => h.statuses.find((s) => s.guidance === 1.5));
    await h.open(URI, 'a\n');
    await h.inline(URI, 0, 1);
    assert.equal(h.engine.infills[0]!.sampler?.guidance, 1.5);
    await assert.rejects(h.client.sendRequest(SetSamplerOptionsRequest.method, { guidance: -1 }), /guidance must be/);
    assert.ok(h.logs.some((l) => /guidance 1\.5/.test(l)));
  } finally {
    h.close();
  }
});

test('a model that fails to load is an error status, not a crash; the server keeps answering', async () => {
  const h = await start({ loadError: 'model file /models/default/config.json: missing' });
  try {
    await h.open(URI, 'a ___\n');
    assert.equal(await h.inline(URI, 0, 1), null);
    const err = await h.waitFor('error status', () => h.statuses.find((s) => s.state === 'error'));
    assert.match(err.message ?? '', /config\.json: missing/);
    await assert.rejects(h.client.sendRequest(FillBlanksRequest.method, { textDocument: { uri: URI } }), /config\.json: missing/);
    assert.equal(h.loads.length, 1, 'a failed load is not retried on every keystroke');
    h.settings = { ...h.settings, modelPath: '/elsewhere' };
    await h.client.sendNotification('workspace/didChangeConfiguration', { settings: null });
    await h.waitFor('settings applied', () => h.statuses.at(-1)?.state === 'idle' || undefined);
    await h.inline(URI, 0, 1);
    assert.deepEqual(h.loads, ['/models/default', '/elsewhere'], 'a new model path is tried');
  } finally {
    h.close();
  }
});

test('binary and unknown documents are refused with a clear answer', async () => {
  const h = await start();
  try {
    await h.open(URI, 'abc\u0000def ___\n');
    assert.equal(await h.inline(URI, 0, 3), null);
    await assert.rejects(h.client.sendRequest(FillBlanksRequest.method, { textDocument: { uri: URI } }), /looks binary/);
    await assert.rejects(h.client.sendRequest(FillBlanksRequest.method, { textDocument: { uri: 'file:///nope.ts' } }), /is not open/);
    assert.equal(h.loads.length, 0);
  } finally {
    h.close();
  }
});
