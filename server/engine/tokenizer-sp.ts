// The SentencePiece BPE family (Llama-2, TinyLlama, the SMDM models) as Hugging Face writes it in
// tokenizer.json, reproduced exactly:
// - spaces become "▁" (U+2581): the normalizer Sequence[Prepend("▁"), Replace(" ", "▁")], or, in
//   newer files, no normalizer and a Metaspace("▁") pre-tokenizer with prepend_scheme first/always
//   and split false. Either way the whole text is one BPE word; there is no other pre-tokenizer.
// - the BPE model starts from characters, not bytes: a character with a vocabulary entry is that
//   token, any other becomes the <0xNN> tokens of its UTF-8 bytes (byte_fallback), then the merges
//   run as in the byte-level family (tokenizer-bpe.ts).
// - the decoder Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)] turns "▁" back
//   into spaces and <0xNN> into bytes; Strip takes off the dummy prefix.
//
// The dummy prefix: Hugging Face (and SentencePiece) put a "▁" in front of every encoded text, so
// "x" alone is "▁x" while "x" after "a " is "x": pieces encoded separately would not concatenate.
// The engine encodes text as pieces of a document, so Tokenizer.encode() leaves the prefix out
// (Python's ids with the Prepend step removed, or prepend_scheme "never"), and decode() keeps every
// space (no Strip). encodeDocument() is the form with the prefix, Python's unmodified ids, for text
// that starts a document as the model saw documents in training. Metaspace adds no prefix to a text
// that already starts with a space; Prepend always does.
//
// Speed: one BPE word per text would make every keystroke re-run the merges over the whole window.
// When no vocabulary token has "▁" right after another character (true of SentencePiece's own
// vocabularies, which never merge across the start of a word), no merge can cross the start of a
// "▁" run, so the text is cut there into words that are encoded (and remembered) one by one, with
// exactly the ids of the whole. A vocabulary without that property is encoded whole.
import { type Json, knownName } from './tokenizer-json';

/** A TextEncoder (the engine's lib settings have no DOM types). */
interface Utf8 {
  encode(text: string): Uint8Array;
}

/** SentencePiece's visible space. */
export const SPACE_MARK = '\u2581';

export interface SentencePieceRules {
  /** How the document form adds "▁": Prepend (any non-empty text) or Metaspace (unless it starts with "▁"). */
  prefix: 'prepend' | 'metaspace';
  /** Id of the <0xNN> token of each byte value. */
  byteTokens: Uint32Array;
  /** Merges never cross the start of a "▁" run, so words can be encoded one by one. */
  wordsSplit: boolean;
}

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;
const MARK_AFTER_OTHER = /[^\u2581]\u2581/u;
const WORD_STARTS = /(?<=[^\u2581])(?=\u2581)/u;

/** Checks that the file is exactly this family; returns its rules or calls `fail` with what is unsupported. */
export function sentencePieceRules(json: Json, model: Json, vocab: ReadonlyMap<string, number>, fail: (what: string) => never): SentencePieceRules {
  if (model['ignore_merges'] === true) fail('BPE ignore_merges with byte_fallback is not supported');
  const byteTokens = new Uint32Array(256);
  for (let b = 0; b < 256; b++) {
    const name = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
    const id = vocab.get(name);
    if (id === undefined) fail(`byte_fallback needs all 256 byte tokens; ${name} is missing`);
    byteTokens[b] = id as number;
  }

  const normalizer = json['normalizer'];
  const pre = json['pre_tokenizer'];
  let prefix: SentencePieceRules['prefix'];
  if (normalizer != null) {
    const steps = isObject(normalizer) && normalizer['type'] === 'Sequence' ? normalizer['normalizers'] : undefined;
    const ok = Array.isArray(steps) && steps.length === 2 &&
      same(steps[0], { type: 'Prepend', prepend: SPACE_MARK }) &&
      same(steps[1], { type: 'Replace', pattern: { String: ' ' }, content: SPACE_MARK });
    if (!ok) fail('with byte_fallback, the normalizer must be Sequence[Prepend("▁"), Replace(" ", "▁")]');
    if (pre != null) fail('with the Prepend/Replace normalizer, a pre-tokenizer is not supported');
    prefix = 'prepend';
  } else {
    if (!isObject(pre) || pre['type'] !== 'Metaspace') fail('with byte_fallback, a "▁" normalizer or a Metaspace pre-tokenizer is required');
    const p = pre as Json;
    if (p['replacement'] !== SPACE_MARK) fail('the Metaspace replacement must be "▁"');
    const scheme = p['prepend_scheme'] ?? (p['add_prefix_space'] === false ? 'never' : 'always');
    if (scheme !== 'first' && scheme !== 'always') fail(`Metaspace prepend_scheme ${knownName(scheme, ['never'])}is not supported (first or always)`);
    // Older files have no `split` and split at every "▁"; that family is not reproduced.
    if (p['split'] !== false) fail('Metaspace with split is not supported (split must be false)');
    prefix = 'metaspace';
  }

  const decoder = json['decoder'];
  const steps = isObject(decoder) && decoder['type'] === 'Sequence' ? decoder['decoders'] : undefined;
  const head = [{ type: 'Replace', pattern: { String: SPACE_MARK }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }];
  const strip = { type: 'Strip', content: ' ', start: 1, stop: 0 };
  const decoderOk = Array.isArray(steps) && (steps.length === 3 || (steps.length === 4 && same(steps[3], strip))) &&
    head.every((h, i) => same(steps[i], h));
  if (!decoderOk) fail('with byte_fallback, the decoder must be Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)]');

  let wordsSplit = true;
  for (const token of vocab.keys()) {
    if (MARK_AFTER_OTHER.test(token)) {
      wordsSplit = false;
      break;
    }
  }
  return { prefix, byteTokens, wordsSplit };
}

/** The text as the model spells it: every space is "▁" (the same length in UTF-16, so offsets agree). */
export function markSpaces(text: string): string {
  return text.replaceAll(' ', SPACE_MARK);
}

/** `marked` (from markSpaces) with the dummy prefix of a document start. */
export function withDummyPrefix(marked: string, rules: SentencePieceRules): string {
  if (marked === '') return marked;
  if (rules.prefix === 'metaspace' && marked.startsWith(SPACE_MARK)) return marked;
  return SPACE_MARK + marked;
}

/** The words of `marked` that are encoded separately: one whole when words cannot be split. */
export function words(marked: string, rules: SentencePieceRules): string[] {
  if (marked === '') return [];
  return rules.wordsSplit ? marked.split(WORD_STARTS) : [marked];
}

/** The initial BPE symbols of one word: a character's own token, else its bytes' <0xNN> tokens. */
export function initialSymbols(word: string, vocab: ReadonlyMap<string, number>, byteTokens: Uint32Array, utf8: Utf8): Int32Array {
  const out: number[] = [];
  for (const ch of word) {
    const id = vocab.get(ch);
    if (id !== undefined) out.push(id);
    else for (const b of utf8.encode(ch)) out.push(byteTokens[b]!);
  }
  return Int32Array.from(out);
}

/** The bytes a vocabulary token of this family stands for ("▁" is a space, <0xNN> is a byte). */
export function sentencePieceTokenBytes(token: string, utf8: Utf8): Uint8Array {
  const byte = BYTE_TOKEN.exec(token);
  if (byte) return Uint8Array.of(parseInt(byte[1]!, 16));
  return utf8.encode(token.replaceAll(SPACE_MARK, ' '));
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep equality of JSON values. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!isObject(a) || !isObject(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => same(a[k], b[k]));
}
