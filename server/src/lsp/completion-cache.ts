// Inline-completion results keyed on (document, version, prefix, suffix), with typed-ahead reuse:
// when the user types the first characters of a cached completion, the rest is served without
// running the model again. Prefix and suffix are stored as hashes so that a hundred entries for a
// large file cost a few kilobytes, not a hundred copies of the file.
import { createHash } from 'node:crypto';
import type { InlineInsert } from './postprocess';

export interface CacheKey {
  uri: string;
  version: number;
  prefix: string;
  suffix: string;
}

interface Entry {
  uri: string;
  version: number;
  prefixHash: string;
  prefixLength: number;
  suffixHash: string;
  items: InlineInsert[];
}

/** Longest run of typed characters that is still matched against an earlier completion. */
const MAX_TYPED_AHEAD = 256;

function hash(text: string): string {
  return createHash('sha1').update(text).digest('base64');
}

export class CompletionCache {
  /** Insertion-ordered: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly capacity = 100) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`cache capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.entries.size;
  }

  set(key: CacheKey, items: InlineInsert[]): void {
    const prefixHash = hash(key.prefix);
    const suffixHash = hash(key.suffix);
    const id = `${key.uri}\u0000${key.version}\u0000${prefixHash}\u0000${suffixHash}`;
    this.entries.delete(id);
    this.entries.set(id, { uri: key.uri, version: key.version, prefixHash, prefixLength: key.prefix.length, suffixHash, items });
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /**
   * Items for this exact position, or the remainders of an earlier completion that the user has
   * since typed into (same document and suffix, prefix extended by a start of that completion).
   */
  get(key: CacheKey): InlineInsert[] | undefined {
    const prefixHash = hash(key.prefix);
    const suffixHash = hash(key.suffix);
    const id = `${key.uri}\u0000${key.version}\u0000${prefixHash}\u0000${suffixHash}`;
    const exact = this.entries.get(id);
    if (exact !== undefined) {
      this.touch(id, exact);
      return exact.items;
    }
    // Newest first: the latest completion is the one being typed through.
    const candidates = [...this.entries].reverse();
    for (const [entryId, e] of candidates) {
      if (e.uri !== key.uri || e.suffixHash !== suffixHash) continue;
      const typedLength = key.prefix.length - e.prefixLength;
      if (typedLength <= 0 || typedLength > MAX_TYPED_AHEAD) continue;
      if (hash(key.prefix.slice(0, e.prefixLength)) !== e.prefixHash) continue;
      const typed = key.prefix.slice(e.prefixLength);
      const rest = e.items
        .filter((item) => item.insertText.length > typed.length && item.insertText.startsWith(typed))
        .map((item) => ({ insertText: item.insertText.slice(typed.length), replaceChars: item.replaceChars }));
      if (rest.length > 0) {
        this.touch(entryId, e);
        return rest;
      }
    }
    return undefined;
  }

  /** Forgets a document (closed) or everything (model or settings changed). */
  clear(uri?: string): void {
    if (uri === undefined) {
      this.entries.clear();
      return;
    }
    for (const [id, e] of this.entries) if (e.uri === uri) this.entries.delete(id);
  }

  private touch(id: string, e: Entry): void {
    this.entries.delete(id);
    this.entries.set(id, e);
  }
}
