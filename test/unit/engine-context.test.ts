import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TextCodec } from '../../server/engine/codec';
import { takePrefix, takeSuffix, takeWindow } from '../../server/engine/context';
import { Tokenizer } from '../../server/engine/tokenizer';
import * as path from 'node:path';

// One token per character: token counts are exact, so cut points can be checked precisely.
const chars: TextCodec = {
  encode: (t) => Array.from(t, (c) => c.codePointAt(0)!),
  decode: (ids) => String.fromCodePoint(...Array.from(ids)),
};
const text = (s: { ids: number[] }) => chars.decode(s.ids);

test('a prefix that fits is kept whole and marked complete (BOS goes in front)', () => {
  const p = takePrefix(chars, 'ab\ncd', 10);
  assert.equal(text(p), 'ab\ncd');
  assert.equal(p.complete, true);
});

test('a long prefix is cut at a line start, keeping the lines nearest the gap', () => {
  const doc = 'line one\nline two\nline three\nnow: ';
  const p = takePrefix(chars, doc, 20);
  assert.equal(text(p), 'line three\nnow: ');
  assert.equal(p.complete, false);
  // The line holding the gap alone is too long: keep its last tokens.
  assert.equal(text(takePrefix(chars, 'x\n0123456789', 4)), '6789');
});

test('a long suffix is cut at a line end', () => {
  const s = takeSuffix(chars, ');\n}\nfunction next() {\n', 6);
  assert.equal(text(s), ');\n}\n');
  assert.equal(s.complete, false);
  assert.equal(takeSuffix(chars, 'end', 5).complete, true);
});

test('one side leaves what it does not need to the other', () => {
  const prefix = 'a\n'.repeat(50);
  const w = takeWindow(chars, 'x = ', prefix, 40, { maxContextTokens: 40, prefixShare: 0.75 });
  assert.equal(text(w.prefix), 'x = ');
  assert.equal(w.suffix.ids.length, 36);
  const w2 = takeWindow(chars, prefix, 'end', 40, { maxContextTokens: 40, prefixShare: 0.25 });
  assert.equal(w2.suffix.complete, true);
  assert.equal(w2.prefix.ids.length, 36);
  assert.equal(text(w2.prefix), 'a\n'.repeat(18));
});

test('windows grow until the budget is met even for very dense text', () => {
  // 8 characters per budget token are looked at first; one long line of 1-char tokens needs more.
  const long = 'y'.repeat(5000);
  const p = takePrefix(chars, long, 1000);
  assert.equal(p.ids.length, 1000);
});

test('with a SentencePiece tokenizer a prefix from the document start is encoded as a document begins, a cut one is not', () => {
  const tok = Tokenizer.fromFile(path.join(__dirname, '../fixtures/tokenizer-families/sp-bpe.tokenizer.json'));
  const doc = 'import os\nprint(os.getcwd())\nvalue = ';
  const whole = takePrefix(tok, doc, 1000);
  assert.equal(whole.complete, true);
  assert.deepEqual(whole.ids, Array.from(tok.encodeDocument(doc)));
  // The dummy prefix makes the document's first word another token than the same word mid-document.
  assert.notDeepEqual(whole.ids, Array.from(tok.encode(doc)));
  // Cut at a line start, the kept text is a piece of the document: no dummy prefix.
  const lastTwo = 'print(os.getcwd())\nvalue = ';
  const cut = takePrefix(tok, doc, tok.encode(lastTwo).length);
  assert.equal(cut.complete, false);
  assert.deepEqual(cut.ids, Array.from(tok.encode(lastTwo)));
  // A byte-level codec without encodeDocument is unchanged.
  assert.deepEqual(takePrefix(chars, 'ab', 10).ids, [97, 98]);
});
