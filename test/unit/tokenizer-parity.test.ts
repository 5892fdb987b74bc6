// The TypeScript tokenizer must give exactly the ids Python `tokenizers` gives (the trainer packs
// data with Python; the engine encodes prompts with TypeScript). test/fixtures/tokenizer-vectors.json
// holds Python's ids for tricky texts; regenerate it with `npm run gen:tokenizer-vectors`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '../../server/engine/tokenizer';

const ROOT = path.resolve(__dirname, '../..');

interface Vectors {
  tokenizer: string;
  tokenizer_sha256: string;
  vocab_size: number;
  special_tokens: Record<string, number>;
  cases: { name: string; text: string; ids: number[] }[];
}

const vectors = JSON.parse(fs.readFileSync(path.join(ROOT, 'test/fixtures/tokenizer-vectors.json'), 'utf8')) as Vectors;
const tokenizerPath = path.join(ROOT, vectors.tokenizer);
const tok = Tokenizer.fromFile(tokenizerPath);

test('the vectors were made from the current tokenizer.json', () => {
  const digest = crypto.createHash('sha256').update(fs.readFileSync(tokenizerPath)).digest('hex');
  assert.equal(digest, vectors.tokenizer_sha256, `${vectors.tokenizer} changed since the vectors were made: run \`npm run gen:tokenizer-vectors\``);
});

test('vocabulary size and special ids agree with Python', () => {
  assert.equal(tok.vocabSize, vectors.vocab_size);
  assert.deepEqual(Object.fromEntries(tok.specialTokens), vectors.special_tokens);
  for (const [content, id] of Object.entries(vectors.special_tokens)) assert.equal(tok.specialTokenId(content), id);
});

test('every case encodes to Python\'s ids and decodes back to its text', () => {
  assert.ok(vectors.cases.length > 100, 'the vectors file looks truncated');
  for (const c of vectors.cases) {
    const ids = Array.from(tok.encode(c.text));
    if (ids.length !== c.ids.length || ids.some((id, i) => id !== c.ids[i])) {
      const at = ids.findIndex((id, i) => id !== c.ids[i]);
      assert.fail(`case ${c.name}: ids differ from Python at index ${at} (TS ${ids.length} ids, Python ${c.ids.length})\n` +
        `  TS:     ${JSON.stringify(ids.slice(Math.max(0, at - 3), at + 5))}\n  Python: ${JSON.stringify(c.ids.slice(Math.max(0, at - 3), at + 5))}`);
    }
    assert.equal(tok.decode(c.ids), c.text, `case ${c.name}: decode`);
  }
});

test('literal special-token strings in text are ordinary text', () => {
  const specialIds = new Set(Object.values(vectors.special_tokens));
  const withSpecials = vectors.cases.filter((c) => Object.keys(vectors.special_tokens).some((s) => c.text.includes(s)));
  assert.ok(withSpecials.length >= 4, 'the vectors must contain literal special-token strings');
  for (const c of withSpecials) {
    const ids = Array.from(tok.encode(c.text));
    assert.ok(!ids.some((id) => specialIds.has(id)), `case ${c.name}: a special id came out of text`);
    assert.equal(tok.decode(ids), c.text);
  }
});
