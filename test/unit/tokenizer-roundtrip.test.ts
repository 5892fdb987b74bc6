// decode(encode(s)) === s for every well-formed string, checked on seeded random strings drawn from
// the character classes most likely to break a tokenizer, on a 1 MB line, and on lone surrogates
// (which are not Unicode scalar values: they come back as U+FFFD).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Tokenizer, toWellFormed } from '../../server/engine/tokenizer';

const tok = Tokenizer.fromFile(path.resolve(__dirname, '../../models/default/tokenizer.json'));
const specialIds = new Set(tok.specialTokens.values());

/** xorshift32: small, seeded, reproducible; a failing case is reproduced from its seed and index. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const CLASSES: number[][] = [
  range(0x20, 0x7e), // printable ASCII
  [0x09, 0x0a, 0x0d, 0x20, 0x20, 0x20, 0x0b, 0x0c], // whitespace
  [...range(0x00, 0x1f), 0x7f, ...range(0x80, 0x9f)], // C0, DEL, C1 controls
  [0x85, 0xa0, 0x1680, 0x2000, 0x200a, 0x200b, 0x200c, 0x200d, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff],
  range(0x300, 0x36f), // combining marks
  [...range(0x4e00, 0x4eff), ...range(0x3040, 0x30ff), ...range(0xac00, 0xac7f)], // CJK, kana, hangul
  [...range(0x5d0, 0x5ea), ...range(0x620, 0x64a), 0x200e, 0x200f, 0x202a, 0x202e], // RTL and bidi controls
  [...range(0x1f300, 0x1f64f), ...range(0x1f3fb, 0x1f3ff), 0x200d, 0xfe0f, ...range(0x1f1e6, 0x1f1ff)], // emoji
  [0x10000, 0x1d518, 0x10ffff, 0xe000, 0xf8ff, 0xfffd, 0xfffe, 0xffff, 0xfdd0], // astral, private use, nonchars
  range(0x600, 0x6ff).concat(range(0x900, 0x97f), range(0xe00, 0xe7f)), // Arabic, Devanagari, Thai
  [...'<|>_\'"\\/`$'].map((c) => c.codePointAt(0)!), // fragments of special tokens, quotes, escapes
];
const WORDS = ['<|mask|>', '<|pad|>', '<|bos|>', '<|eos|>', '\r\n', '    ', '\t\t', "'ll", 'function ', '=>', '👨‍👩‍👧‍👦', '\u0000'];

function randomText(next: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  let s = '';
  const parts = Math.floor(next() * 20);
  for (let p = 0; p < parts; p++) {
    if (next() < 0.15) {
      s += pick(WORDS);
    } else {
      const cls = pick(CLASSES);
      const len = 1 + Math.floor(next() * (next() < 0.1 ? 200 : 12));
      for (let i = 0; i < len; i++) s += String.fromCodePoint(pick(cls));
    }
  }
  return s;
}

test('seeded random texts round-trip exactly and never yield special ids', () => {
  const seed = 0x5eed1;
  const next = rng(seed);
  for (let i = 0; i < 4000; i++) {
    const text = randomText(next);
    const ids = tok.encode(text);
    for (const id of ids) {
      if (specialIds.has(id)) assert.fail(`seed ${seed} case ${i}: special id ${id} from ${JSON.stringify(text)}`);
    }
    const back = tok.decode(ids);
    if (back !== text) assert.fail(`seed ${seed} case ${i}: ${JSON.stringify(text)} came back as ${JSON.stringify(back)}`);
  }
});

test('a 1 MB line round-trips', () => {
  const unit = "const v = compute(α[42], 'β', 0x2a); ";
  const line = unit.repeat(Math.ceil((1 << 20) / unit.length));
  const ids = tok.encode(line);
  assert.ok(ids.length > 1000 && ids.length < line.length);
  assert.equal(tok.decode(ids), line);
});

test('lone surrogates become U+FFFD; surrogate pairs are kept', () => {
  const cases: [string, string][] = [
    ['a\uD800b', 'a\uFFFDb'],
    ['\uDC00', '\uFFFD'],
    ['end\uD83D', 'end\uFFFD'],
    ['\uDE00\uD83D', '\uFFFD\uFFFD'], // a pair in the wrong order is two lone halves
    ['\uD83D\uDE00', '\uD83D\uDE00'], // 😀
    ['x\uD800\uD800\uDC00', 'x\uFFFD\uD800\uDC00'],
  ];
  for (const [input, expected] of cases) {
    assert.equal(toWellFormed(input), expected);
    assert.equal(tok.decode(tok.encode(input)), expected, JSON.stringify(input));
    assert.deepEqual(tok.encode(input), tok.encode(expected));
  }
});
