// The imported tokenizer families give exactly Python's ids: a SentencePiece BPE with byte fallback
// (Llama-2 / TinyLlama, in both of Hugging Face's spellings) and Qwen2's byte-level BPE (NFC, its
// regex, added tokens special and not). test/fixtures/tokenizer-families/ holds tiny tokenizers of
// each and Python's ids (scripts/gen-tokenizer-family-vectors.py; regenerate with
// `npm run gen:tokenizer-family-vectors`). encode() is the engine's form (added tokens are text, no
// SentencePiece dummy prefix), encodeDocument() Python's unmodified ids (SentencePiece's own).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Tokenizer, TokenizerError } from '../../server/engine/tokenizer';

const ROOT = path.resolve(__dirname, '../..');
const DIR = path.join(ROOT, 'test/fixtures/tokenizer-families');
const PYTHON = path.join(ROOT, '.venv/bin/python');

interface Entry {
  file: string;
  sha256: string;
  vocab_size: number;
  base?: string;
  ids?: number[][];
  document_ids?: number[][];
  ids_except?: Record<string, number[]>;
  document_ids_except?: Record<string, number[]>;
}
interface Vectors {
  names: string[];
  texts: string[];
  tokenizers: Record<string, Entry>;
}

const vectors = JSON.parse(fs.readFileSync(path.join(DIR, 'vectors.json'), 'utf8')) as Vectors;

/** The recorded ids of one field, with a `base` tokenizer's where the entry does not repeat them. */
function recorded(name: string, field: 'ids' | 'document_ids'): number[][] {
  const e = vectors.tokenizers[name]!;
  if (e.base === undefined) return e[field] ?? e.ids!;
  const base = recorded(e.base, field);
  const except = e[`${field}_except`] ?? {};
  return base.map((ids, i) => except[String(i)] ?? ids);
}

function load(name: string): Tokenizer {
  return Tokenizer.fromFile(path.join(DIR, vectors.tokenizers[name]!.file));
}

function sameIds(actual: ArrayLike<number>, expected: number[], what: string): void {
  const a = Array.from(actual);
  if (a.length === expected.length && a.every((id, i) => id === expected[i])) return;
  const at = a.findIndex((id, i) => id !== expected[i]);
  assert.fail(`${what}: ids differ from Python at index ${at} (TS ${a.length} ids, Python ${expected.length})\n` +
    `  TS:     ${JSON.stringify(a.slice(Math.max(0, at - 3), at + 5))}\n  Python: ${JSON.stringify(expected.slice(Math.max(0, at - 3), at + 5))}`);
}

/** What decode(encode(text)) gives: the family's normalizer is the only change. */
function roundTrip(tok: Tokenizer, text: string): string {
  return tok.family === 'sentencepiece-bpe' ? text.replaceAll('\u2581', ' ') : text.normalize('NFC');
}

test('the vectors were made from the current fixture files', () => {
  assert.ok(vectors.texts.length > 100, 'the vectors file looks truncated');
  for (const [name, e] of Object.entries(vectors.tokenizers)) {
    const digest = crypto.createHash('sha256').update(fs.readFileSync(path.join(DIR, e.file))).digest('hex');
    assert.equal(digest, e.sha256, `${e.file} changed since the vectors were made: run \`npm run gen:tokenizer-family-vectors\``);
    assert.equal(load(name).vocabSize, e.vocab_size, name);
  }
});

for (const name of Object.keys(vectors.tokenizers)) {
  test(`${name}: every text encodes to Python's ids, in both forms, and decodes back`, () => {
    const tok = load(name);
    const ids = recorded(name, 'ids');
    const doc = recorded(name, 'document_ids');
    vectors.texts.forEach((text, i) => {
      const what = `${name} case ${vectors.names[i]}`;
      sameIds(tok.encode(text), ids[i]!, what);
      sameIds(tok.encodeDocument(text), doc[i]!, `${what} (document form)`);
      assert.equal(tok.decode(ids[i]!), roundTrip(tok, text), `${what}: decode`);
    });
  });

  test(`${name}: pieces encoded one by one concatenate to the whole`, () => {
    const tok = load(name);
    for (const [i, text] of vectors.texts.entries()) {
      const pieces = tok.pieces(text);
      const joined = pieces.flatMap((p) => Array.from(tok.encode(p)));
      sameIds(joined, Array.from(tok.encode(text)), `${name} case ${vectors.names[i]} by pieces`);
      if (tok.family === 'sentencepiece-bpe') assert.equal(pieces.join(''), text);
    }
  });

  test(`${name}: added tokens written in the text are ordinary text`, () => {
    const tok = load(name);
    const added = new Set(tok.addedTokens.values());
    const cases = vectors.texts.filter((t) => [...tok.addedTokens.keys()].some((s) => t.includes(s)));
    assert.ok(cases.length >= 3, 'the vectors must contain literal added-token strings');
    for (const text of cases) {
      const ids = Array.from(tok.encode(text));
      assert.ok(!ids.some((id) => added.has(id)), `an added token's id came out of ${JSON.stringify(text)}`);
      assert.equal(tok.decode(ids), roundTrip(tok, text));
    }
  });
}

test('the SentencePiece family: its special tokens, the dummy prefix, byte fallback', () => {
  for (const name of ['sp-bpe', 'sp-metaspace']) {
    const tok = load(name);
    assert.equal(tok.family, 'sentencepiece-bpe');
    assert.deepEqual(Object.fromEntries(tok.specialTokens), { '<unk>': 0, '<s>': 1, '</s>': 2 });
    assert.equal(tok.documentPrefix, ' ');
    assert.equal(tok.decode(tok.encodeDocument('x = 1')), ' x = 1');
    assert.equal(tok.decode([1, ...tok.encode('a b'), 2]), 'a b');
    // A character outside the vocabulary is its UTF-8 bytes' <0xNN> tokens.
    const ids = Array.from(tok.encode('\u65e5'));
    assert.deepEqual(ids.map((id) => tok.idToTokenString(id)), ['<0xE6>', '<0x97>', '<0xA5>']);
  }
  // Prepend adds the prefix to any text; Metaspace not to one that starts with a space.
  assert.notDeepEqual(Array.from(load('sp-bpe').encodeDocument(' x')), Array.from(load('sp-metaspace').encodeDocument(' x')));
  assert.deepEqual(Array.from(load('sp-metaspace').encodeDocument(' x')), Array.from(load('sp-metaspace').encode(' x')));
});

test('the Qwen2 family: special and non-special added tokens, NFC', () => {
  const tok = load('qwen2-bpe');
  assert.equal(tok.family, 'byte-level-bpe');
  assert.equal(tok.documentPrefix, '');
  assert.deepEqual([...tok.specialTokens.keys()], ['<|endoftext|>', '<|im_start|>', '<|im_end|>']);
  const fim = tok.addedTokens.get('<|fim_prefix|>')!;
  assert.ok(fim !== undefined && !tok.isSpecial(fim));
  // A non-special added token decodes to its content; a special one to nothing.
  assert.equal(tok.decode([fim, ...tok.encode('x'), tok.specialTokenId('<|endoftext|>')]), '<|fim_prefix|>x');
  assert.deepEqual(Array.from(tok.encode('cafe\u0301')), Array.from(tok.encode('caf\u00e9')));
});

test('files of these families that are not reproduced exactly are refused, naming what', () => {
  const sp = JSON.parse(fs.readFileSync(path.join(DIR, 'sp-bpe.tokenizer.json'), 'utf8')) as Record<string, any>;
  const meta = JSON.parse(fs.readFileSync(path.join(DIR, 'sp-metaspace.tokenizer.json'), 'utf8')) as Record<string, any>;
  const qwen = JSON.parse(fs.readFileSync(path.join(DIR, 'qwen2-bpe.tokenizer.json'), 'utf8')) as Record<string, any>;
  const edit = (base: Record<string, any>, change: (j: Record<string, any>) => void) => {
    const j = structuredClone(base);
    change(j);
    return j;
  };
  const bad: [string, Record<string, any>, RegExp][] = [
    ['missing byte token', edit(sp, (j) => delete j.model.vocab['<0x41>']), /<0x41> is missing/],
    ['no Replace', edit(sp, (j) => j.normalizer.normalizers.pop()), /normalizer must be/],
    ['NFKC before the spaces', edit(sp, (j) => j.normalizer.normalizers.unshift({ type: 'NFKC' })), /normalizer must be/],
    ['a pre-tokenizer with the normalizer', edit(sp, (j) => (j.pre_tokenizer = meta.pre_tokenizer)), /pre-tokenizer is not supported/],
    ['no prefix at all', edit(meta, (j) => (j.pre_tokenizer.prepend_scheme = 'never')), /prepend_scheme never is not supported/],
    ['Metaspace split', edit(meta, (j) => (j.pre_tokenizer.split = true)), /split/],
    ['old Metaspace', edit(meta, (j) => (j.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', add_prefix_space: true })), /split/],
    ['other replacement', edit(meta, (j) => (j.pre_tokenizer.replacement = '_')), /replacement/],
    ['decoder', edit(sp, (j) => (j.decoder = { type: 'Metaspace', replacement: '\u2581' })), /decoder must be/],
    ['ignore_merges', edit(sp, (j) => (j.model.ignore_merges = true)), /ignore_merges/],
    ['merge into <s>', edit(sp, (j) => {
      j.model.vocab['<s'] ??= 9000;
      j.model.merges.push(['<s', '>']);
    }), /special token/],
    ['NFKC', edit(qwen, (j) => (j.normalizer = { type: 'NFKC' })), /normalizer NFKC is not supported/],
    ['unknown normalizer, not quoted', edit(qwen, (j) => (j.normalizer = { type: 'Secret text' })), /the normalizer is not supported/],
    ['subword prefix', edit(qwen, (j) => (j.model.continuing_subword_prefix = '##')), /prefixes/],
    ['Metaspace before ByteLevel', edit(qwen, (j) => j.pre_tokenizer.pretokenizers.unshift(meta.pre_tokenizer)), /only Split/],
  ];
  for (const [what, json, message] of bad) {
    assert.throws(() => Tokenizer.fromJSON(json, 'tokenizer.json'), (err: unknown) => err instanceof TokenizerError && message.test(err.message), what);
  }
});

const sentencePieceReady = fs.existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import sentencepiece, tokenizers'], { cwd: ROOT }).status === 0;

test('a SentencePiece model trained now, converted: TypeScript gives SentencePiece\'s own ids', {
  skip: !sentencePieceReady && 'no .venv with sentencepiece: run npm run setup:python',
}, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffill-sp-'));
  try {
    const run = spawnSync(PYTHON, ['scripts/gen-tokenizer-family-vectors.py', '--fresh-sentencepiece', dir], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' }, maxBuffer: 64 << 20,
    });
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { tokenizer: string; texts: string[]; sentencepiece_ids: number[][] };
    const tok = Tokenizer.fromFile(out.tokenizer);
    assert.equal(tok.family, 'sentencepiece-bpe');
    assert.ok(out.texts.length > 100);
    out.texts.forEach((text, i) => {
      sameIds(tok.encodeDocument(text), out.sentencepiece_ids[i]!, `text #${i}`);
      assert.equal(tok.decode(tok.encode(text)), text.replaceAll('\u2581', ' '));
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
