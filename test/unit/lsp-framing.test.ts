// Broken input over real stdio (the built server): a malformed header never leaves the connection
// deaf (the message after it is answered, and the problem is logged), a body that is not JSON gets a
// JSON-RPC Parse error (-32700), a message that is not a JSON-RPC request gets InvalidRequest
// (-32600), and params that do not fit a method's schema get InvalidParams (-32602) naming the field,
// never an InternalError with a TypeError. Build first (`npm run build`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes } from 'vscode-languageserver/node';
import { frame, LspProcess, type ServerMessage } from '../helpers/lsp-process';
import { tinyModelDir } from '../helpers/tiny-model';

const URI = 'file:///project/sum.py';
const BODY = '{"jsonrpc":"2.0","id":"lost","method":"diffill/finetune/cancel","params":{}}';
const len = (s: string) => Buffer.byteLength(s, 'utf8');

let server: LspProcess;
let next = 0;
// Each answer comes in milliseconds; the timeout only stops a test whose answer never comes.
const T = { timeout: 60_000 };

before(async () => {
  server = new LspProcess(['--model', tinyModelDir()]);
  await server.initialize({ maxTokens: 2, contextTokens: 32 });
  server.notify('textDocument/didOpen', { textDocument: { uri: URI, languageId: 'python', version: 1, text: 'total = ___\n' } });
});

after(() => server?.kill());

/** Sends `bytes`, then a good request; resolves with that request's response and the log lines between. */
async function thenAGoodRequest(bytes: string | Buffer): Promise<{ response: ServerMessage; logs: string[] }> {
  const from = server.received.length;
  const id = `good-${++next}`;
  server.raw(bytes);
  server.request(id, 'diffill/finetune/cancel', {});
  const response = await server.response(id);
  const logs = server.received
    .slice(from)
    .filter((m) => m.method === 'window/logMessage')
    .map((m) => (m.params as { message: string }).message);
  return { response, logs };
}

const BROKEN_HEADERS: Array<[string, string, RegExp]> = [
  ['no Content-Length', `Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n${BODY}`, /no Content-Length/],
  ['a Content-Length that is not a number', `Content-Length: abc\r\n\r\n${BODY}`, /must be a number of bytes/],
  ['a negative Content-Length', `Content-Length: -5\r\n\r\n${BODY}`, /must be a number of bytes/],
  ['a huge Content-Length', `Content-Length: 99999999999\r\n\r\n${BODY}`, /must be a number of bytes|over the/],
  ['no blank line after the header', `Content-Length: ${len(BODY)}\r\n${BODY}`, /missing the blank line/],
  ['bare line feeds', `Content-Length: ${len(BODY)}\n\n${BODY}`, /bare line feed/],
  ['a header line without a colon', `Content-Length ${len(BODY)}\r\n\r\n${BODY}`, /not "Name: value"/],
  ['garbage before a header', `hello there\r\n\r\n`, /not "Name: value"/],
  ['two different Content-Lengths', `Content-Length: ${len(BODY)}\r\nContent-Length: 3\r\n\r\n${BODY}`, /two different Content-Length/],
  ['a charset other than utf-8', `Content-Length: ${len(BODY)}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-16\r\n\r\n${BODY}`, /charset utf-16/],
  ['a header that never ends', `X-Padding: ${'a'.repeat(5000)}`, /no blank line ends the header/],
];

for (const [name, bytes, logged] of BROKEN_HEADERS) {
  test(`a header with ${name} is logged and the next message is answered`, T, async () => {
    const { response, logs } = await thenAGoodRequest(bytes);
    assert.deepEqual(response.result, { cancelled: false }, JSON.stringify(response));
    assert.ok(
      logs.some((l) => /unreadable input/.test(l) && logged.test(l)),
      `expected a log line matching ${logged}, got ${JSON.stringify(logs)}`,
    );
  });
}

test('a Content-Length too small: the rest is skipped, the cut body gets a Parse error, the next message is answered', T, async () => {
  const { response, logs } = await thenAGoodRequest(`Content-Length: 20\r\n\r\n${BODY}`);
  assert.deepEqual(response.result, { cancelled: false });
  assert.ok(server.received.some((m) => m.id === null && m.error?.code === ErrorCodes.ParseError));
  assert.ok(logs.some((l) => /Parse error/.test(l)), JSON.stringify(logs));
});

test('a Content-Length too large does not swallow the next message: it is cut where that message starts', T, async () => {
  // The client sends nothing more after the good request: the server must not wait for 500 bytes.
  const { response, logs } = await thenAGoodRequest(`Content-Length: 500\r\n\r\n${BODY}`);
  assert.deepEqual(response.result, { cancelled: false });
  assert.ok(logs.some((l) => /another message starts inside it/.test(l)), JSON.stringify(logs));
});

test('a body that is not JSON gets a Parse error (-32700, id null) and a log line', T, async () => {
  const from = server.received.length;
  const { response, logs } = await thenAGoodRequest(`Content-Length: 12\r\n\r\n{"id": 7, x}`);
  assert.deepEqual(response.result, { cancelled: false });
  const parseError = server.received.slice(from).find((m) => m.error?.code === ErrorCodes.ParseError);
  assert.ok(parseError !== undefined, 'a Parse error response');
  assert.equal(parseError.id, null);
  assert.ok(logs.some((l) => /Parse error: the message is not JSON/.test(l)), JSON.stringify(logs));
});

test('bytes that are not UTF-8 get a Parse error', T, async () => {
  const bad = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
  const from = server.received.length;
  const { response } = await thenAGoodRequest(Buffer.concat([Buffer.from(`Content-Length: ${bad.length}\r\n\r\n`), bad]));
  assert.deepEqual(response.result, { cancelled: false });
  assert.match(server.received.slice(from).find((m) => m.error?.code === ErrorCodes.ParseError)?.error?.message ?? '', /UTF-8/);
});

test('line breaks between messages are tolerated', T, async () => {
  const { response, logs } = await thenAGoodRequest(Buffer.concat([frame({ jsonrpc: '2.0', method: '$/setTrace', params: { value: 'off' } }), Buffer.from('\r\n\n')]));
  assert.deepEqual(response.result, { cancelled: false });
  assert.deepEqual(logs, []);
});

const INVALID_REQUESTS: Array<[string, unknown, string | number | null]> = [
  ['a batch', [{ jsonrpc: '2.0', id: 1, method: 'shutdown' }], null],
  ['a number', 42, null],
  ['no method, no result', { jsonrpc: '2.0', id: 'r1' }, 'r1'],
  ['a method that is not a string', { jsonrpc: '2.0', id: 'r2', method: 7 }, 'r2'],
  ['an id that is an object', { jsonrpc: '2.0', id: { a: 1 }, method: 'diffill/finetune/cancel' }, null],
  ['an id that is a fraction', { jsonrpc: '2.0', id: 1.5, method: 'diffill/finetune/cancel' }, null],
  ['no "jsonrpc": "2.0"', { id: 'r3', method: 'diffill/finetune/cancel', params: {} }, 'r3'],
];

for (const [name, message, id] of INVALID_REQUESTS) {
  test(`${name} gets InvalidRequest with id ${JSON.stringify(id)}`, T, async () => {
    const from = server.received.length;
    const { response } = await thenAGoodRequest(frame(message));
    assert.deepEqual(response.result, { cancelled: false });
    const refusal = server.received.slice(from).find((m) => m.error?.code === ErrorCodes.InvalidRequest);
    assert.ok(refusal !== undefined, `no InvalidRequest among ${JSON.stringify(server.received.slice(from))}`);
    assert.equal(refusal.id, id);
  });
}

const BAD_PARAMS: Array<[string, unknown, RegExp]> = [
  ['diffill/fillBlanks', undefined, /params is required/],
  ['diffill/fillBlanks', { textDocument: 'x' }, /params\.textDocument must be an object/],
  ['diffill/fillBlanks', { textDocument: { uri: 5 } }, /params\.textDocument\.uri must be a string/],
  ['diffill/fillBlanks', { textDocument: { uri: URI }, ranges: 'all' }, /params\.ranges must be an array/],
  ['diffill/fillBlanks', { textDocument: { uri: URI }, ranges: [{ start: { line: -1, character: 0 }, end: { line: 0, character: 0 } }] }, /params\.ranges\[0\]\.start\.line must be an integer/],
  ['diffill/fillBlanks', { textDocument: { uri: URI }, ranges: [null] }, /params\.ranges\[0\] is required/],
  ['diffill/writeBefore', { textDocument: { uri: URI }, line: '2' }, /params\.line must be an integer/],
  ['diffill/writeBefore', { textDocument: { uri: URI } }, /params\.line is required/],
  ['textDocument/inlineCompletion', { textDocument: { uri: URI }, position: { line: 0, character: 0 } }, /params\.context is required/],
  ['textDocument/inlineCompletion', { textDocument: { uri: URI }, position: { line: 0 }, context: { triggerKind: 1 } }, /params\.position\.character is required/],
  ['textDocument/inlineCompletion', { textDocument: { uri: URI }, position: { line: 0, character: 0 }, context: { triggerKind: 9 } }, /triggerKind must be an integer in \[1, 2\]/],
  ['diffill/setSamplerOptions', { guidance: 'high' }, /params\.guidance must be a number/],
  ['diffill/setSamplerOptions', [1, 2], /params must be an object/],
  ['diffill/finetune', { steps: -1 }, /params\.steps must be an integer/],
  ['diffill/finetune', { device: 'tpu' }, /params\.device must be one of auto, cpu, cuda/],
  ['diffill/finetune', { filesExclude: { '**/x': 'yes' } }, /filesExclude\["\*\*\/x"\]/],
  ['diffill/usePreviousModel', { workspace: 5 }, /params\.workspace must be a string/],
];

for (const [method, params, expected] of BAD_PARAMS) {
  test(`${method} with params ${JSON.stringify(params)} gets InvalidParams naming the field`, T, async () => {
    const id = `bad-${++next}`;
    server.request(id, method, params);
    const response = await server.response(id);
    assert.equal(response.error?.code, ErrorCodes.InvalidParams, JSON.stringify(response));
    assert.match(response.error!.message, expected);
    assert.doesNotMatch(response.error!.message, /TypeError|Cannot read/);
  });
}

test('a notification with bad params is dropped with a log line, and the document state is intact', T, async () => {
  const { logs } = await thenAGoodRequest(frame({ jsonrpc: '2.0', method: 'textDocument/didChange', params: { textDocument: { uri: URI, version: 2 }, contentChanges: 'all' } }));
  assert.ok(logs.some((l) => /ignored the notification textDocument\/didChange: params\.contentChanges must be an array/.test(l)), JSON.stringify(logs));
  // The document is still version 1 with its blank: a Fill Blanks sees it.
  server.request('after-change', 'diffill/fillBlanks', { textDocument: { uri: URI }, ranges: [{ start: { line: 0, character: 8 }, end: { line: 0, character: 11 } }] });
  const filled = await server.response('after-change');
  assert.equal(filled.error, undefined, JSON.stringify(filled));
  assert.equal((filled.result as { version: number }).version, 1);
});
