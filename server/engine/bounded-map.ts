// A memo with a fixed number of entries: when a new one would exceed it, the oldest goes. The
// engine's memos (tokenizer pieces, healing masks) use it so that a long editing session, which
// keeps bringing new text, cannot make them grow without end. A hit does not move an entry to the
// back (least-recently-used order): that costs a Map delete and set per hit, which doubled the
// tokenizer's time on the server's pattern (the same few kilobytes re-encoded on every keystroke),
// and an entry still in use is simply added again after it went.
export class BoundedMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as K);
  }
}
