// The bounded document store (server/src/lsp/document-store.ts): an oversized document is kept without
// its text, and the reader skims a body that could hold such a text as it arrives, never holding it whole.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PassThrough } from 'node:stream';
import { BodySkimmer, boundedDocuments, markedLength, MAX_DOCUMENT_CHARS, oversizedLength } from '../../server/src/lsp/document-store';
import { FramedMessageReader } from '../../server/src/lsp/framing';
import { refusal } from '../../server/src/lsp/document-guard';
import { Prng } from '../../server/engine/prng';
import { LspProcess } from '../helpers/lsp-process';
import { tinyModelDir } from '../helpers/tiny-model';

const utf8 = (s: string) => Buffer.from(s, 'utf8');
const decode = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');

/** The skeleton of `json` fed to a skimmer in pieces of random sizes. */
function skim(json: string | Buffer, limit: number, rand: (n: number) => number): BodySkimmer {
  const bytes = typeof json === 'string' ? utf8(json) : json;
  const s = new BodySkimmer(limit);
  for (let at = 0; at < bytes.length; ) {
    const n = 1 + rand(12);
    s.feed(bytes.subarray(at, at + n));
    at += n;
  }
  return s;
}

test('skimmer: exactly the strings longer than the limit become markers of their JSON.parse length, however the body is cut', () => {
  // Characters of every UTF-8 width, escapes, and a character outside the BMP (a surrogate pair,
  // written raw and as two \u escapes): the count must agree with JSON.parse's string length.
  const alphabet = ['a', ' ', '\n', '"', '\\', '\u0001', 'é', '€', '日', '😀', '\u2028', '/'];
  const rng = new Prng(12345);
  const rand = (n: number) => Math.floor(rng.uniform() * n);
  const limit = 30; // over the method's name, which is a string too
  for (let round = 0; round < 300; round++) {
    const strings = Array.from({ length: 1 + rand(4) }, () => Array.from({ length: rand(45) }, () => alphabet[rand(alphabet.length)]).join(''));
    const value = { jsonrpc: '2.0', method: 'textDocument/didChange', params: { list: strings, n: 3 } };
    // JSON.stringify writes U+0001 as \u0001 and leaves the rest raw; the escaped form of the emoji
    // is tried too, by hand.
    let json = JSON.stringify(value);
    if (round % 2 === 1) json = json.replace(/😀/g, '\\ud83d\\ude00');
    const s = skim(json, limit, rand);
    const parsed = s.parse(decode) as typeof value;
    const long = strings.filter((x) => x.length > limit);
    assert.equal(s.replaced, long.length, json);
    assert.deepEqual(
      parsed.params.list.map((x) => markedLength(x) ?? x),
      strings.map((x) => (x.length > limit ? x.length : x)),
      json,
    );
    assert.equal(parsed.params.n, 3);
    if (long.length === 0) assert.deepEqual(parsed, JSON.parse(json));
  }
});

test('skimmer: a long string outside document text is refused; a string left open stays unparseable', () => {
  const rand = () => 3;
  const other = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'workspace/executeCommand', params: { arguments: ['x'.repeat(40)] } });
  assert.throws(() => skim(other, 10, rand).parse(decode), SyntaxError);
  assert.throws(() => skim('{"a": "xxxxxxxxxxxxxxxxxxxxxxxxxxx', 5, rand).parse(decode), SyntaxError);
});

test('the reader skims a body over the limit as it arrives; the messages around it come whole', async () => {
  const big = 'x'.repeat(MAX_DOCUMENT_CHARS + 1);
  const open = { jsonrpc: '2.0', method: 'textDocument/didOpen', params: { textDocument: { uri: 'file:///big.txt', languageId: 'plaintext', version: 1, text: big } } };
  const near = 'é'.repeat(MAX_DOCUMENT_CHARS - 5); // over the limit in bytes, not in characters: kept
  const change = { jsonrpc: '2.0', method: 'textDocument/didChange', params: { textDocument: { uri: 'file:///a.txt', version: 2 }, contentChanges: [{ text: near }] } };
  const small = { jsonrpc: '2.0', id: 7, method: 'shutdown' };
  const frame = (m: unknown) => {
    const body = utf8(JSON.stringify(m));
    return Buffer.concat([utf8(`Content-Length: ${body.length}\r\n\r\n`), body]);
  };
  const wire = Buffer.concat([frame(small), frame(open), frame(change), frame(small)]);
  const input = new PassThrough();
  const problems: string[] = [];
  const got: unknown[] = [];
  const reader = new FramedMessageReader(input, (p) => problems.push(p.message));
  reader.listen((m) => got.push(m));
  const rng = new Prng(7);
  for (let at = 0; at < wire.length; ) {
    const n = 1 + Math.floor(rng.uniform() * 200_000);
    input.write(wire.subarray(at, at + n));
    at += n;
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.deepEqual(problems, []);
  assert.equal(got.length, 4);
  assert.deepEqual(got[0], small);
  const gotOpen = got[1] as typeof open;
  assert.equal(markedLength(gotOpen.params.textDocument.text), MAX_DOCUMENT_CHARS + 1);
  assert.equal(gotOpen.params.textDocument.uri, 'file:///big.txt');
  assert.equal((got[2] as typeof change).params.contentChanges[0]!.text, near);
  assert.deepEqual(got[3], small);
});

test('an oversized document is kept as a stub: no text, refused, brought back only by a whole-text change', () => {
  const uri = 'file:///big.txt';
  const big = boundedDocuments.create(uri, 'plaintext', 1, 'y'.repeat(MAX_DOCUMENT_CHARS + 10));
  assert.equal(big.getText(), '');
  assert.equal(oversizedLength(big), MAX_DOCUMENT_CHARS + 10);
  assert.match(refusal(big) ?? '', /too large/);
  // From the reader's marker, the same.
  const marked = boundedDocuments.create(uri, 'plaintext', 1, '\u0000diffill:oversized:5000000');
  assert.equal(oversizedLength(marked), 5_000_000);
  assert.match(refusal(marked) ?? '', /5000000 characters/);

  const edited = boundedDocuments.update(big, [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: 'z' }], 2);
  assert.equal(edited.version, 2);
  assert.equal(oversizedLength(edited), MAX_DOCUMENT_CHARS + 10, 'an edit of a range cannot be applied to a dropped text');
  const back = boundedDocuments.update(edited, [{ text: 'hello\n' }, { range: { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } }, text: 'world' }], 3);
  assert.equal(oversizedLength(back), undefined);
  assert.equal(back.getText(), 'hello\nworld');
  assert.equal(back.version, 3);
  assert.equal(refusal(back), null);
});

test('a document that grows over the limit becomes a stub; a pasted marker too', () => {
  const uri = 'file:///a.txt';
  const doc = boundedDocuments.create(uri, 'plaintext', 1, 'abc');
  const at = { start: { line: 0, character: 3 }, end: { line: 0, character: 3 } };
  const grown = boundedDocuments.update(doc, [{ range: at, text: 'q'.repeat(MAX_DOCUMENT_CHARS) }], 2);
  assert.equal(grown.getText(), '');
  assert.equal(oversizedLength(grown), MAX_DOCUMENT_CHARS + 3);
  const doc2 = boundedDocuments.create(uri, 'plaintext', 1, 'abc');
  const pasted = boundedDocuments.update(doc2, [{ range: at, text: '\u0000diffill:oversized:3000000' }], 2);
  assert.equal(oversizedLength(pasted), 3_000_003);
  const doc3 = boundedDocuments.create(uri, 'plaintext', 1, 'abc');
  const fine = boundedDocuments.update(doc3, [{ range: at, text: 'def' }], 2);
  assert.equal(fine.getText(), 'abcdef');
  assert.equal(oversizedLength(fine), undefined);
});

test('over stdio: a document of 3 million characters is refused with a log line, Fill Blanks says why, the server answers on', { timeout: 120_000 }, async () => {
  const server = new LspProcess(['--model', tinyModelDir()]);
  try {
    await server.initialize({ maxTokens: 2, contextTokens: 32, debounceMs: 0 });
    const big = 'total = ___\n'.repeat(250_000);
    server.notify('textDocument/didOpen', { textDocument: { uri: 'file:///big.py', languageId: 'python', version: 1, text: big } });
    server.notify('textDocument/didChange', { textDocument: { uri: 'file:///big.py', version: 2 }, contentChanges: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: 'x' }] });
    server.request(1, 'textDocument/inlineCompletion', { textDocument: { uri: 'file:///big.py' }, position: { line: 0, character: 9 }, context: { triggerKind: 1 } });
    const inline = await server.response(1);
    assert.equal(inline.error, undefined);
    assert.ok(inline.result === null || (inline.result as { items: unknown[] }).items.length === 0, JSON.stringify(inline.result));
    // 3000000, the length it had when opened: the server dropped the text, so the edit was not applied.
    await server.waitFor('the refusal in the log', (m) => m.method === 'window/logMessage' && /big\.py is too large for Diffill \(3000000 characters/.test((m.params as { message: string }).message));
    server.request(2, 'diffill/fillBlanks', { textDocument: { uri: 'file:///big.py' } });
    const fill = await server.response(2);
    assert.match(fill.error?.message ?? '', /too large/);
    server.notify('textDocument/didClose', { textDocument: { uri: 'file:///big.py' } });
    server.notify('textDocument/didOpen', { textDocument: { uri: 'file:///small.py', languageId: 'python', version: 1, text: 'total = ___\n' } });
    server.request(3, 'diffill/fillBlanks', { textDocument: { uri: 'file:///small.py' } });
    const small = await server.response(3);
    assert.equal(small.error, undefined, JSON.stringify(small.error));
  } finally {
    server.kill();
  }
});
