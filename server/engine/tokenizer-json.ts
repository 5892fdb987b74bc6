// Loading tokenizer.json: the checks that it is a family we reproduce exactly, and the tables built
// from it. Two families:
// - byte-level BPE (our own, Qwen2's): no normalizer or NFC, Split(regex, Isolated) pre-tokenizers
//   followed by ByteLevel(use_regex=false, add_prefix_space=false), a BPE model, a ByteLevel decoder;
// - SentencePiece BPE with byte_fallback (Llama-2, TinyLlama): checked in tokenizer-sp.ts.
// Anything else is refused with a TokenizerError that names what is unsupported, rather than
// silently tokenized differently. Load errors say where, never quote the file's content
// (docs/security.md).
//
// The Split pre-tokenizer comes from @huggingface/tokenizers: its value is the translation of the
// Oniguruma regex in tokenizer.json into an equivalent JavaScript RegExp (e.g. `\s` becomes
// `\p{White_Space}`, because JavaScript's `\s` also matches U+FEFF and misses U+0085; Qwen2's
// `(?i:'s|...)` becomes explicit case classes). Known limits of exact parity: `\p{L}`, `\p{N}`...
// and NFC come from V8's Unicode tables here and from Oniguruma's and the unicode-normalization
// crate's in Rust, so a code point assigned in a Unicode version only one of them knows can be
// split or composed differently. Everything in the parity vectors agrees.
import * as fs from 'node:fs';
import * as hf from '@huggingface/tokenizers';
import { jsonSyntaxProblem, TokenizerError } from './errors';
import { BpeMerges, MAX_MERGES } from './tokenizer-bpe';
import { BYTE_CHARS } from './tokenizer-bytes';
import { type SentencePieceRules, sentencePieceRules } from './tokenizer-sp';

export type Json = Record<string, unknown>;

export interface PreTokenizerStep {
  pre_tokenize(text: string | string[]): string[];
}

// The package's .d.ts files re-export with extensionless ESM paths that NodeNext resolution cannot
// follow, so the class we use is typed here by hand (the runtime export exists in both builds).
const SplitPreTokenizer = (hf as unknown as { SplitPreTokenizer: new (config: object) => PreTokenizerStep }).SplitPreTokenizer;

/** What the Tokenizer class is built from. */
export interface TokenizerTables {
  /** Highest id + 1. */
  vocabSize: number;
  /** Special tokens (content -> id), as declared in added_tokens. */
  specialTokens: Map<string, number>;
  /** Every added token, special or not (content -> id). */
  addedTokens: Map<string, number>;
  /** Byte-level family: text is NFC-normalized first (Qwen2's normalizer). */
  nfc: boolean;
  /** Byte-level family: the Split steps, in order, before the byte-level mapping. */
  splits: PreTokenizerStep[];
  /** SentencePiece family: its rules (undefined for the byte-level family). */
  sentencePiece?: SentencePieceRules;
  /** Vocabulary string (byte-level characters, or SentencePiece's form) -> id. */
  vocab: Map<string, number>;
  /** Id -> vocabulary string (undefined for ids only in added_tokens). */
  idToToken: (string | undefined)[];
  merges: BpeMerges;
  /** BPE ignore_merges: a pre-token that is itself in the vocabulary is one id. */
  ignoreMerges: boolean;
}

/** The text of a tokenizer.json file. */
export function readTokenizerFile(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TokenizerError(
      code === 'ENOENT' ? `tokenizer file not found: ${path}` : `cannot read tokenizer file ${path}: ${(err as Error).message}`,
    );
  }
}

/** Checks tokenizer.json content (text or parsed) and builds its tables. `source` names it in errors. */
export function parseTokenizerJson(json: string | object, source: string): TokenizerTables {
  let parsed: unknown = json;
  if (typeof json === 'string') {
    try {
      parsed = JSON.parse(json);
    } catch (err) {
      // Never the parser's message itself: it may quote the file's bytes.
      throw new TokenizerError(`${source} is ${jsonSyntaxProblem(err)}`);
    }
  }
  if (!isObject(parsed)) throw new TokenizerError(`${source}: expected a JSON object`);
  return buildTables(parsed, source);
}

function buildTables(json: Json, source: string): TokenizerTables {
  const fail = (what: string): never => {
    throw new TokenizerError(`${source}: ${what}`);
  };

  const model = json['model'];
  if (!isObject(model) || (model['type'] !== undefined && model['type'] !== 'BPE')) fail('the model must be BPE');
  const m = model as Json;
  // Qwen2 writes "" for both: no prefix or suffix.
  if ((m['continuing_subword_prefix'] ?? '') !== '' || (m['end_of_word_suffix'] ?? '') !== '') {
    fail('BPE subword prefixes/suffixes are not supported');
  }
  if (m['dropout'] != null && m['dropout'] !== 0) fail('BPE dropout must be off for deterministic ids');
  const ignoreMerges = m['ignore_merges'] === true;

  const vocabJson = m['vocab'];
  if (!isObject(vocabJson)) fail('model.vocab must be an object');
  const vocab = new Map<string, number>();
  let maxId = -1;
  let entry = 0;
  for (const [token, id] of Object.entries(vocabJson as Json)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) fail(`vocab entry #${entry} has an id that is not a non-negative integer`);
    entry++;
    vocab.set(token, id as number);
    maxId = Math.max(maxId, id as number);
  }

  // Added tokens are never looked for in the text (see tokenizer.ts); non-special ones (Qwen2's
  // <|fim_prefix|>...) are kept for their ids and decode to their content.
  const specialTokens = new Map<string, number>();
  const addedTokens = new Map<string, number>();
  const added = json['added_tokens'] ?? [];
  if (!Array.isArray(added)) fail('added_tokens must be an array');
  for (const entry of added as unknown[]) {
    if (!isObject(entry) || typeof entry['content'] !== 'string' || typeof entry['id'] !== 'number' || !Number.isInteger(entry['id']) || entry['id'] < 0) {
      fail('every added token needs a string content and a non-negative integer id');
    }
    const e = entry as Json;
    addedTokens.set(e['content'] as string, e['id'] as number);
    if (e['special'] === true) specialTokens.set(e['content'] as string, e['id'] as number);
    maxId = Math.max(maxId, e['id'] as number);
  }

  const vocabSize = maxId + 1;
  const idToToken: (string | undefined)[] = new Array(vocabSize);
  for (const [token, id] of vocab) idToToken[id] = token;

  let nfc = false;
  let splits: PreTokenizerStep[] = [];
  let sentencePiece: SentencePieceRules | undefined;
  let byteIds: Uint32Array;
  if (m['byte_fallback'] === true) {
    sentencePiece = sentencePieceRules(json, m, vocab, fail);
    byteIds = sentencePiece.byteTokens;
  } else {
    const normalizer = json['normalizer'];
    if (normalizer != null) {
      if (!isObject(normalizer) || normalizer['type'] !== 'NFC') {
        fail(`the normalizer ${knownName(isObject(normalizer) ? normalizer['type'] : undefined, NORMALIZERS)}is not supported (none, or NFC)`);
      }
      nfc = true;
    }
    splits = buildPreTokenizer(json['pre_tokenizer'], fail);
    const decoder = json['decoder'];
    if (!isObject(decoder) || decoder['type'] !== 'ByteLevel') fail('the decoder must be ByteLevel');
    byteIds = new Uint32Array(256);
    for (let b = 0; b < 256; b++) {
      const id = vocab.get(BYTE_CHARS[b]!);
      if (id === undefined) fail(`the vocabulary lacks byte 0x${b.toString(16).padStart(2, '0')}; some text could not be encoded`);
      byteIds[b] = id as number;
    }
  }

  const merges = buildMerges(m['merges'], vocab, vocabSize, byteIds, new Set(specialTokens.values()), fail);
  return { vocabSize, specialTokens, addedTokens, nfc, splits, sentencePiece, vocab, idToToken, merges, ignoreMerges };
}

function buildMerges(
  merges: unknown,
  vocab: ReadonlyMap<string, number>,
  vocabSize: number,
  byteIds: Uint32Array,
  specialIds: ReadonlySet<number>,
  fail: (what: string) => never,
): BpeMerges {
  if (!Array.isArray(merges)) fail('model.merges must be an array');
  const list = merges as unknown[];
  if (list.length >= MAX_MERGES) fail(`too many merges (${list.length})`);
  const mergeRank = new Map<number, number>();
  const mergeResult = new Int32Array(list.length);
  for (let rank = 0; rank < list.length; rank++) {
    const entry = list[rank];
    let pair: unknown[] | undefined;
    if (Array.isArray(entry)) pair = entry;
    else if (typeof entry === 'string') {
      const space = entry.indexOf(' ');
      if (space > 0) pair = [entry.slice(0, space), entry.slice(space + 1)];
    }
    if (pair === undefined || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      fail(`merge #${rank} is malformed`);
    }
    const [a, b] = pair as [string, string];
    const left = vocab.get(a);
    const right = vocab.get(b);
    const merged = vocab.get(a + b);
    if (left === undefined || right === undefined || merged === undefined) {
      fail(`merge #${rank} uses a token missing from the vocabulary`);
    }
    // A special token made from text would decode to nothing (SentencePiece never builds one; a
    // merge list generated from the vocabulary can, e.g. "<" + "s>").
    if (specialIds.has(merged as number)) fail(`merge #${rank} builds the special token with id ${merged as number} (unsupported)`);
    // A repeated pair keeps its last rank, as the Rust loader does when it collects into a map.
    mergeRank.set((left as number) * vocabSize + (right as number), rank);
    mergeResult[rank] = merged as number;
  }
  return new BpeMerges(vocabSize, byteIds, mergeRank, mergeResult);
}

/** The normalizer types of Hugging Face `tokenizers`: the only file values an error may repeat. */
const NORMALIZERS = ['BertNormalizer', 'Lowercase', 'NFD', 'NFKC', 'NFKD', 'Nmt', 'Precompiled', 'Prepend', 'Replace', 'Sequence', 'Strip', 'StripAccents', 'ByteLevel'];

/** `value` and a space when it is one of `known`, else "" (errors never quote a file's own text). */
export function knownName(value: unknown, known: readonly string[]): string {
  return typeof value === 'string' && known.includes(value) ? `${value} ` : '';
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Accepts `ByteLevel` or `Sequence[Split..., ByteLevel]` and returns the Split steps; the
 * byte-level mapping itself is done by the Tokenizer. ByteLevel's own GPT-2 regex (use_regex)
 * is refused: the library runs it with JavaScript's `\s`, which differs from Rust's on U+FEFF
 * and U+0085. add_prefix_space is refused because it would add a space the text did not have.
 */
function buildPreTokenizer(config: unknown, fail: (what: string) => never): PreTokenizerStep[] {
  if (!isObject(config)) return fail('a pre_tokenizer ending in ByteLevel is required');
  const steps = config['type'] === 'Sequence' ? config['pretokenizers'] : [config];
  if (!Array.isArray(steps) || steps.length === 0) return fail('pre_tokenizer.pretokenizers must be a non-empty array');
  const last = steps[steps.length - 1] as unknown;
  if (!isObject(last) || last['type'] !== 'ByteLevel') return fail('the last pre-tokenizer must be ByteLevel');
  if (last['use_regex'] !== false) return fail('ByteLevel pre-tokenizer must have use_regex: false (put the split regex in a Split step)');
  if (last['add_prefix_space'] === true) return fail('ByteLevel add_prefix_space would break the exact round trip');
  const splits: PreTokenizerStep[] = [];
  for (const step of steps.slice(0, -1) as unknown[]) {
    if (!isObject(step) || step['type'] !== 'Split') return fail('unsupported pre-tokenizer (only Split steps before ByteLevel)');
    if (step['behavior'] !== 'Isolated' || step['invert'] === true) return fail('Split pre-tokenizers must use behavior Isolated without invert');
    const pattern = step['pattern'];
    if (!isObject(pattern) || (typeof pattern['Regex'] !== 'string' && typeof pattern['String'] !== 'string')) {
      return fail('Split pattern must be {Regex} or {String}');
    }
    try {
      splits.push(new SplitPreTokenizer({ ...step, invert: false }));
    } catch (err) {
      return fail(`cannot translate the Split regex: ${(err as Error).message}`);
    }
  }
  return splits;
}
