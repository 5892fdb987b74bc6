// Loading: special ids come from the file, unsupported tokenizer.json shapes are refused with a
// TokenizerError (never tokenized differently from Python), bad ids in decode() are errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Tokenizer, TokenizerError } from '../../server/engine/tokenizer';

const FILE = path.resolve(__dirname, '../../models/default/tokenizer.json');
const base = JSON.parse(fs.readFileSync(FILE, 'utf8')) as Record<string, any>;
const variant = (edit: (j: Record<string, any>) => void) => {
  const j = structuredClone(base);
  edit(j);
  return j;
};

test('special ids are read from the file, not assumed', () => {
  // The id of byte 0x00's token: an ordinary token, but no merge builds it (a merge that built a
  // special token is refused). The edited file is inconsistent for encoding but fine for lookup.
  const byteToken = base.model.vocab['Ā'] as number;
  const moved = variant((j) => {
    for (const t of j.added_tokens) if (t.content === '<|mask|>') t.id = j.model.vocab['<|mask|>'] = byteToken;
  });
  const tok = Tokenizer.fromJSON(moved);
  assert.equal(tok.specialTokenId('<|mask|>'), byteToken);
  assert.ok(tok.isSpecial(byteToken));
  assert.throws(() => tok.specialTokenId('<|nope|>'), TokenizerError);
});

test('decode skips special tokens and rejects unknown ids', () => {
  const tok = Tokenizer.fromFile(FILE);
  const ids = Array.from(tok.encode('a b'));
  const pad = tok.specialTokenId('<|pad|>');
  assert.equal(tok.decode([pad, ...ids, pad, tok.specialTokenId('<|mask|>')]), 'a b');
  assert.equal(tok.decode([]), '');
  assert.throws(() => tok.decode([tok.vocabSize]), TokenizerError);
  assert.throws(() => tok.decode([-1]), TokenizerError);
  assert.throws(() => tok.decode([1.5]), TokenizerError);
});

test('decodeBytes joins pieces that split a multi-byte character', () => {
  const tok = Tokenizer.fromFile(FILE);
  const ids = Array.from(tok.encode('日本語😀'));
  const bytes = Buffer.concat(ids.map((id) => tok.decodeBytes([id])));
  assert.equal(bytes.toString('utf8'), '日本語😀');
});

test('unsupported or broken files are refused with a TokenizerError', () => {
  const bad: [string, unknown][] = [
    ['normalizer', variant((j) => (j.normalizer = { type: 'NFKC' }))],
    ['normalizer sequence', variant((j) => (j.normalizer = { type: 'Sequence', normalizers: [{ type: 'NFC' }] }))],
    ['prefix space', variant((j) => (j.pre_tokenizer.pretokenizers.at(-1).add_prefix_space = true))],
    ['ByteLevel regex', variant((j) => (j.pre_tokenizer.pretokenizers.at(-1).use_regex = true))],
    ['no ByteLevel', variant((j) => (j.pre_tokenizer = j.pre_tokenizer.pretokenizers[0]))],
    ['merged split', variant((j) => (j.pre_tokenizer.pretokenizers[0].behavior = 'MergedWithPrevious'))],
    ['decoder', variant((j) => (j.decoder = { type: 'BPEDecoder' }))],
    ['model type', variant((j) => (j.model.type = 'Unigram'))],
    ['added token without an id', variant((j) => j.added_tokens.push({ content: 'TODO', special: false }))],
    ['merge building a special token', variant((j) => {
      j.model.vocab['<|mask|>'] = j.added_tokens.find((t: { content: string }) => t.content === '<|mask|>').id;
      j.model.vocab['<|'] ??= 9999;
      j.model.vocab['mask|>'] ??= 9998;
      j.model.merges.push(['<|', 'mask|>']);
    })],
    ['byte fallback with byte-level pieces', variant((j) => (j.model.byte_fallback = true))],
    ['subword prefix', variant((j) => (j.model.continuing_subword_prefix = '##'))],
    ['missing byte', variant((j) => delete j.model.vocab['Ā'])],
    ['merge outside vocab', variant((j) => j.model.merges.push(['zzzq', 'qzzz']))],
    ['not JSON', '{"model": '],
    ['not an object', '[]'],
  ];
  for (const [name, json] of bad) {
    assert.throws(() => Tokenizer.fromJSON(json as object), TokenizerError, name);
  }
});

test('a missing file is a TokenizerError naming the path', () => {
  const missing = path.join(os.tmpdir(), 'diffill-no-such-dir', 'tokenizer.json');
  assert.throws(() => Tokenizer.fromFile(missing), (err: unknown) => err instanceof TokenizerError && err.message.includes(missing));
});
