// The byte-level BPE tokenizer shared by the engine, the CLI and (through the same tokenizer.json)
// the Python trainer. Token ids must be identical on both sides, so this file is written to
// reproduce the Rust `tokenizers` library exactly for the tokenizer family we ship
// (scripts/corpus/train_tokenizer.py): no normalizer, Split(regex, Isolated) pre-tokenizers
// followed by ByteLevel(use_regex=false, add_prefix_space=false), a BPE model and a ByteLevel
// decoder. Anything else is refused at load time with a TokenizerError rather than silently
// tokenized differently. test/fixtures/tokenizer-vectors.json (made by Python) pins the parity.
//
// What comes from @huggingface/tokenizers and what does not:
// - The Split pre-tokenizer comes from the library: its value is the translation of the
//   Oniguruma regex in tokenizer.json into an equivalent JavaScript RegExp (e.g. `\s` becomes
//   `\p{White_Space}`, because JavaScript's `\s` also matches U+FEFF and misses U+0085).
//   Known limit of exact parity: `\p{L}`, `\p{N}`... come from V8's Unicode tables here and from
//   Oniguruma's in Rust, so a code point assigned in a Unicode version only one of them knows can
//   be split differently. Everything in test/fixtures/tokenizer-vectors.json agrees.
// - The BPE merge loop is our own. The library's version is linear but slow on long pre-tokens
//   (about 13 s for a 1 MB run of spaces, where Python takes 1-2 s), and the merge order is the
//   contract, so we implement the Rust algorithm directly: repeatedly apply the lowest-ranked
//   adjacent pair, leftmost first, with a binary heap and lazily discarded stale entries. That is
//   O(n log n) in the pre-token length and gives the same ids as Rust by construction.
// - encode() never looks for added/special tokens in the text. The library's Tokenizer.encode
//   always splits them out (it has no `encode_special_tokens` switch) and also maps output token
//   *strings* back to ids through the added-token table. Text that merely contains "<|mask|>"
//   must stay ordinary text, so we run the pre-tokenizer and the model ourselves. The Python
//   side matches this with `tokenizer.encode_special_tokens = True` and
//   `encode(text, add_special_tokens=False)`.
// - decode() is our own too: the library's decode applies `clean_up_tokenization_spaces` by
//   default (it rewrites " ." to "."), which would break decode(encode(s)) === s.
//
// Text contract:
// - decode(encode(s)) === s for every well-formed string (any code point, CRLF, NUL, BOM, ...):
//   pre-tokenization partitions the text, the byte-level alphabet covers all 256 bytes, and
//   BPE merges only concatenate.
// - Lone surrogates (UTF-16 halves without their partner, which are not Unicode scalar values and
//   have no UTF-8 encoding) are replaced by U+FFFD before encoding, so for such strings the
//   round trip gives the string with each lone surrogate replaced by U+FFFD, the substitution
//   TextEncoder makes. (Python text read from UTF-8 files never holds lone surrogates, and the
//   Rust library refuses them, so the trainer never sees one.)
// - decode() of an arbitrary id sequence may cut a multi-byte character; each invalid UTF-8
//   sequence then decodes to U+FFFD (use decodeBytes() to join pieces at the byte level).
import * as fs from 'node:fs';
import * as hf from '@huggingface/tokenizers';
import { jsonSyntaxProblem } from './errors';
import { BoundedMap } from './bounded-map';

// The package's .d.ts files re-export with extensionless ESM paths that NodeNext resolution cannot
// follow, so the class we use is typed here by hand (the runtime export exists in both builds).
const SplitPreTokenizer = (hf as unknown as { SplitPreTokenizer: new (config: object) => PreTokenizerStep }).SplitPreTokenizer;

/** A tokenizer.json that cannot be loaded, or an id that is not in the vocabulary. */
export class TokenizerError extends Error {
  override readonly name = 'TokenizerError';
}

type Json = Record<string, unknown>;

interface PreTokenizerStep {
  pre_tokenize(text: string | string[]): string[];
}

/** GPT-2's byte-level alphabet: every byte is shown as one printable code point. */
function byteLevelAlphabet(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const chars: string[] = new Array(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    chars[b] = String.fromCharCode(printable(b) ? b : 256 + shifted++);
  }
  return chars;
}

const BYTE_CHARS = byteLevelAlphabet();
const CHAR_TO_BYTE = new Map<string, number>(BYTE_CHARS.map((c, b) => [c, b]));

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Replaces each lone surrogate with U+FFFD (see the text contract above). */
export function toWellFormed(text: string): string {
  const s = text as string & { isWellFormed?: () => boolean };
  if (typeof s.isWellFormed === 'function' && s.isWellFormed()) return text;
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

/** Min-heap of merge candidates keyed by rank * 2^32 + position (lowest rank, then leftmost). */
class MergeHeap {
  private keys = new Float64Array(64);
  size = 0;

  clear(): void {
    this.size = 0;
  }

  push(key: number): void {
    if (this.size === this.keys.length) {
      const grown = new Float64Array(this.keys.length * 2);
      grown.set(this.keys);
      this.keys = grown;
    }
    const k = this.keys;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (k[parent]! <= key) break;
      k[i] = k[parent]!;
      i = parent;
    }
    k[i] = key;
  }

  pop(): number {
    const k = this.keys;
    const top = k[0]!;
    const last = k[--this.size]!;
    let i = 0;
    const n = this.size;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && k[child + 1]! < k[child]!) child++;
      if (k[child]! >= last) break;
      k[i] = k[child]!;
      i = child;
    }
    k[i] = last;
    return top;
  }
}

const POS_SPAN = 2 ** 32;
const MAX_MERGES = 2 ** 20; // keeps rank * 2^32 + pos below 2^53 (exact in a double)
const CACHE_MAX_CHARS = 64;
/**
 * Pieces remembered (the oldest out): about 300 bytes each, so under 3 MB. The server
 * re-encodes the few kilobytes around the cursor on every keystroke, whose pieces stay in; a bound
 * of 50,000 that was cleared when full held up to 15 MB and grew all through a long session.
 */
export const PIECE_CACHE_ENTRIES = 8192;

export class Tokenizer {
  /** Number of ids (the embedding rows a model needs): highest id + 1. */
  readonly vocabSize: number;
  /** Special tokens (content -> id), as declared in tokenizer.json's added_tokens. */
  readonly specialTokens: ReadonlyMap<string, number>;

  private readonly splits: PreTokenizerStep[];
  private readonly vocab: Map<string, number>;
  private readonly idToToken: (string | undefined)[];
  private readonly specialIds: Set<number>;
  /** Token id of each byte value. */
  private readonly byteIds: Uint32Array;
  /** Merge (left id, right id) -> rank; the merged id is mergeResult[rank]. */
  private readonly mergeRank: Map<number, number>;
  private readonly mergeResult: Int32Array;
  private readonly ignoreMerges: boolean;
  private readonly tokenBytesCache: (Uint8Array | undefined)[];
  private readonly pieceCache = new BoundedMap<string, Uint32Array>(PIECE_CACHE_ENTRIES);
  private readonly heap = new MergeHeap();
  private readonly utf8 = new TextEncoder();

  /** Pieces in the encoding memo (at most PIECE_CACHE_ENTRIES). */
  get cachedPieces(): number {
    return this.pieceCache.size;
  }

  /** Loads a tokenizer.json file. */
  static fromFile(path: string): Tokenizer {
    let text: string;
    try {
      text = fs.readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new TokenizerError(
        code === 'ENOENT' ? `tokenizer file not found: ${path}` : `cannot read tokenizer file ${path}: ${(err as Error).message}`,
      );
    }
    return Tokenizer.fromJSON(text, path);
  }

  /** Builds a tokenizer from tokenizer.json content (text or parsed). `source` names it in errors. */
  static fromJSON(json: string | object, source = 'tokenizer.json'): Tokenizer {
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
    return new Tokenizer(parsed, source);
  }

  private constructor(json: Json, source: string) {
    const fail = (what: string): never => {
      throw new TokenizerError(`${source}: ${what}`);
    };

    if (json['normalizer'] != null) fail('a normalizer is not supported (it would break the exact round trip)');
    this.splits = buildPreTokenizer(json['pre_tokenizer'], fail);
    const decoder = json['decoder'];
    if (!isObject(decoder) || decoder['type'] !== 'ByteLevel') fail('the decoder must be ByteLevel');

    const model = json['model'];
    if (!isObject(model) || (model['type'] !== undefined && model['type'] !== 'BPE')) fail('the model must be BPE');
    const m = model as Json;
    if (m['continuing_subword_prefix'] != null || m['end_of_word_suffix'] != null) {
      fail('BPE subword prefixes/suffixes are not supported by a byte-level tokenizer');
    }
    if (m['byte_fallback'] === true) fail('BPE byte_fallback is not supported (the byte-level alphabet already covers all bytes)');
    if (m['dropout'] != null && m['dropout'] !== 0) fail('BPE dropout must be off for deterministic ids');
    this.ignoreMerges = m['ignore_merges'] === true;

    const vocabJson = m['vocab'];
    if (!isObject(vocabJson)) fail('model.vocab must be an object');
    this.vocab = new Map();
    let maxId = -1;
    // Load errors say where, never quote the file's content (docs/security.md).
    let entry = 0;
    for (const [token, id] of Object.entries(vocabJson as Json)) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) fail(`vocab entry #${entry} has an id that is not a non-negative integer`);
      entry++;
      this.vocab.set(token, id as number);
      maxId = Math.max(maxId, id as number);
    }

    const specials = new Map<string, number>();
    const added = json['added_tokens'] ?? [];
    if (!Array.isArray(added)) fail('added_tokens must be an array');
    for (const [index, entry] of (added as unknown[]).entries()) {
      if (!isObject(entry) || typeof entry['content'] !== 'string' || typeof entry['id'] !== 'number') {
        fail('every added token needs a string content and a numeric id');
      }
      const e = entry as Json;
      // Non-special added tokens are matched inside user text by the Rust library even with
      // encode_special_tokens on; we do not reproduce that matcher, so we refuse such files.
      if (e['special'] !== true) fail(`added token #${index} (id ${String(e['id'])}) is not special (unsupported)`);
      specials.set(e['content'] as string, e['id'] as number);
      maxId = Math.max(maxId, e['id'] as number);
    }
    this.specialTokens = specials;
    this.specialIds = new Set(specials.values());

    this.vocabSize = maxId + 1;
    this.idToToken = new Array(this.vocabSize);
    for (const [token, id] of this.vocab) this.idToToken[id] = token;
    for (const [token, id] of specials) this.idToToken[id] ??= token;
    this.tokenBytesCache = new Array(this.vocabSize);

    this.byteIds = new Uint32Array(256);
    for (let b = 0; b < 256; b++) {
      const id = this.vocab.get(BYTE_CHARS[b]!);
      if (id === undefined) fail(`the vocabulary lacks byte 0x${b.toString(16).padStart(2, '0')}; some text could not be encoded`);
      this.byteIds[b] = id as number;
    }

    const merges = m['merges'];
    if (!Array.isArray(merges)) fail('model.merges must be an array');
    const list = merges as unknown[];
    if (list.length >= MAX_MERGES) fail(`too many merges (${list.length})`);
    this.mergeRank = new Map();
    this.mergeResult = new Int32Array(list.length);
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
      const left = this.vocab.get(a);
      const right = this.vocab.get(b);
      const merged = this.vocab.get(a + b);
      if (left === undefined || right === undefined || merged === undefined) {
        fail(`merge #${rank} uses a token missing from the vocabulary`);
      }
      // A repeated pair keeps its last rank, as the Rust loader does when it collects into a map.
      this.mergeRank.set((left as number) * this.vocabSize + (right as number), rank);
      this.mergeResult[rank] = merged as number;
    }
  }

  /** Token ids of `text`, with no special tokens added or recognised (see the header comment). */
  encode(text: string): Uint32Array {
    let out = new Uint32Array(Math.max(16, text.length >> 1));
    let n = 0;
    for (const piece of this.preTokenize(toWellFormed(text))) {
      const ids = this.encodePiece(piece);
      if (n + ids.length > out.length) {
        const grown = new Uint32Array(Math.max(out.length * 2, n + ids.length));
        grown.set(out.subarray(0, n));
        out = grown;
      }
      out.set(ids, n);
      n += ids.length;
    }
    return out.slice(0, n);
  }

  /** Text of `ids`. Special tokens (pad, mask, ...) produce no text. Unknown ids throw. */
  decode(ids: ArrayLike<number>): string {
    return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(this.decodeBytes(ids));
  }

  /** UTF-8 bytes of `ids` (special tokens skipped), for joining partial decodes without U+FFFD. */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.tokenBytes(ids[i]!);
      parts.push(bytes);
      total += bytes.length;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /** UTF-8 bytes one id stands for (empty for special tokens). */
  tokenBytes(id: number): Uint8Array {
    const cached = this.tokenBytesCache[id];
    if (cached !== undefined) return cached;
    const token = Number.isInteger(id) && id >= 0 ? this.idToToken[id] : undefined;
    if (token === undefined) throw new TokenizerError(`token id ${id} is not in the vocabulary (size ${this.vocabSize})`);
    let bytes: Uint8Array;
    if (this.specialIds.has(id)) {
      bytes = new Uint8Array(0);
    } else {
      bytes = new Uint8Array(token.length);
      for (let i = 0; i < token.length; i++) {
        const b = CHAR_TO_BYTE.get(token[i]!);
        if (b === undefined) throw new TokenizerError(`token ${id} (${JSON.stringify(token)}) is not a byte-level token`);
        bytes[i] = b;
      }
    }
    this.tokenBytesCache[id] = bytes;
    return bytes;
  }

  /** Id of a special token by its content, e.g. "<|mask|>". Throws if the tokenizer lacks it. */
  specialTokenId(content: string): number {
    const id = this.specialTokens.get(content);
    if (id === undefined) {
      throw new TokenizerError(`the tokenizer has no special token ${JSON.stringify(content)} (it has ${[...this.specialTokens.keys()].join(', ')})`);
    }
    return id;
  }

  /** True for ids of special tokens (they never come out of encode()). */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** The raw vocabulary string of an id (byte-level characters), or undefined. */
  idToTokenString(id: number): string | undefined {
    return this.idToToken[id];
  }

  /** The pre-tokenizer's pieces of `text`: BPE merges never cross their boundaries. */
  pieces(text: string): string[] {
    return this.preTokenize(toWellFormed(text));
  }

  private preTokenize(text: string): string[] {
    let pieces = [text];
    for (const step of this.splits) pieces = step.pre_tokenize(pieces);
    return pieces;
  }

  private encodePiece(piece: string): Uint32Array {
    const cacheable = piece.length <= CACHE_MAX_CHARS;
    if (cacheable) {
      const hit = this.pieceCache.get(piece);
      if (hit !== undefined) return hit;
    }
    const bytes = this.utf8.encode(piece);
    let ids: Uint32Array;
    const whole = this.ignoreMerges ? this.vocab.get(byteLevelString(bytes)) : undefined;
    if (whole !== undefined) ids = Uint32Array.of(whole);
    else ids = this.bpe(bytes);
    if (cacheable) this.pieceCache.set(piece, ids);
    return ids;
  }

  /** The Rust BPE merge loop over one pre-token (see the header comment). */
  private bpe(bytes: Uint8Array): Uint32Array {
    const n = bytes.length;
    if (n === 0) return new Uint32Array(0);
    const sym = new Int32Array(n);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      sym[i] = this.byteIds[bytes[i]!]!;
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const V = this.vocabSize;
    const ranks = this.mergeRank;
    const heap = this.heap;
    heap.clear();
    for (let i = 0; i + 1 < n; i++) {
      const r = ranks.get(sym[i]! * V + sym[i + 1]!);
      if (r !== undefined) heap.push(r * POS_SPAN + i);
    }
    while (heap.size > 0) {
      const key = heap.pop();
      const rank = Math.floor(key / POS_SPAN);
      const pos = key - rank * POS_SPAN;
      if (sym[pos]! < 0) continue; // absorbed into its left neighbour
      const right = next[pos]!;
      if (right < 0) continue;
      // Stale entry: one side has changed since it was queued (a pair has exactly one rank).
      if (ranks.get(sym[pos]! * V + sym[right]!) !== rank) continue;
      sym[pos] = this.mergeResult[rank]!;
      sym[right] = -1;
      const after = next[right]!;
      next[pos] = after;
      if (after >= 0) prev[after] = pos;
      const before = prev[pos]!;
      if (before >= 0) {
        const r = ranks.get(sym[before]! * V + sym[pos]!);
        if (r !== undefined) heap.push(r * POS_SPAN + before);
      }
      if (after >= 0) {
        const r = ranks.get(sym[pos]! * V + sym[after]!);
        if (r !== undefined) heap.push(r * POS_SPAN + pos);
      }
    }
    let count = 0;
    for (let i = 0; i >= 0; i = next[i]!) count++;
    const out = new Uint32Array(count);
    for (let i = 0, k = 0; i >= 0; i = next[i]!) out[k++] = sym[i]!;
    return out;
  }
}

function byteLevelString(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_CHARS[bytes[i]!];
  return s;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Accepts `ByteLevel` or `Sequence[Split..., ByteLevel]` and returns the Split steps; the
 * byte-level mapping itself is done in encodePiece(). ByteLevel's own GPT-2 regex (use_regex)
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
