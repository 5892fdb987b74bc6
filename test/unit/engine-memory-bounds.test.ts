// The engine's memos are bounded, however much new text a session brings: the tokenizer's piece memo
// and the healing masks (the soak in `npm run bench -- --suite soak` measures the whole server).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { BoundedMap } from '../../server/engine/bounded-map';
import { ALLOWED_MEMO_BYTES, allowedMemoSize, allowedNext } from '../../server/engine/heal';
import { PIECE_CACHE_ENTRIES, Tokenizer } from '../../server/engine/tokenizer';
import { ROOT } from '../helpers/tiny-model';

const TOKENIZER = join(ROOT, 'models', 'default', 'tokenizer.json');

test('BoundedMap holds at most its capacity; the oldest entry goes first', () => {
  const m = new BoundedMap<string, number>(3);
  for (let i = 0; i < 10; i++) {
    m.set(`k${i}`, i);
    assert.ok(m.size <= 3);
  }
  assert.equal(m.size, 3);
  assert.equal(m.get('k6'), undefined);
  assert.deepEqual(['k7', 'k8', 'k9'].map((k) => m.get(k)), [7, 8, 9]);
  m.set('k7', 70); // set again: now the newest
  m.set('k10', 10);
  assert.equal(m.get('k8'), undefined);
  assert.equal(m.get('k7'), 70);
  assert.throws(() => new BoundedMap(0), RangeError);
});

test('the tokenizer remembers at most PIECE_CACHE_ENTRIES pieces, and forgetting changes no ids', () => {
  const tok = Tokenizer.fromFile(TOKENIZER);
  const words = Array.from({ length: PIECE_CACHE_ENTRIES * 2 }, (_, i) => ` w${i.toString(36)}x${(i * 7919).toString(36)}`);
  const first = tok.encode(words.slice(0, 50).join(''));
  for (let i = 0; i < words.length; i += 500) {
    tok.encode(words.slice(i, i + 500).join(''));
    assert.ok(tok.cachedPieces <= PIECE_CACHE_ENTRIES, `${tok.cachedPieces} pieces remembered`);
  }
  assert.equal(tok.cachedPieces, PIECE_CACHE_ENTRIES, 'the memo was filled');
  assert.deepEqual(tok.encode(words.slice(0, 50).join('')), first, 'the same ids after the first pieces were forgotten');
});

test('healing masks: at most ALLOWED_MEMO_BYTES of them per tokenizer, the same mask when computed again', () => {
  const tok = Tokenizer.fromFile(TOKENIZER);
  const cap = Math.max(16, Math.floor(ALLOWED_MEMO_BYTES / tok.vocabSize));
  const rems = Array.from({ length: cap * 2 }, (_, i) => new TextEncoder().encode(`v${i}`));
  const firstMask = Uint8Array.from(allowedNext(tok, tok.vocabSize, rems[0]!, false));
  for (const rem of rems) {
    allowedNext(tok, tok.vocabSize, rem, false);
    assert.ok(allowedMemoSize(tok) <= cap, `${allowedMemoSize(tok)} masks remembered`);
  }
  assert.equal(allowedMemoSize(tok), cap);
  assert.ok(cap * tok.vocabSize <= ALLOWED_MEMO_BYTES);
  assert.deepEqual(allowedNext(tok, tok.vocabSize, rems[0]!, false), firstMask);
});
