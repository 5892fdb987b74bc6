// The trainer's held-out split, reproduced here so the summary can tell the user exactly which files
// are trained on and which are held out before training starts. The trainer (server/training/python/
// diffill_trainer/data.py) holds out whole files of a plain-text folder, ordered by CRC-32 of the
// relative path, until about 5% of the characters; these functions follow it to the byte: zlib's
// CRC-32 of the UTF-8 path, Python's string order and Python's character count. A parity test runs
// the trainer's own loader on our output and compares.

/** The trainer ignores larger text files (data.py MAX_TEXT_FILE_BYTES), so none is written. */
export const TRAINER_MAX_FILE_BYTES = 4 << 20;

/** Share of the text's characters the trainer holds out, by whole files (data.py VAL_FRACTION). */
export const TRAINER_VAL_FRACTION = 0.05;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (zlib's, as Python's zlib.crc32) of the UTF-8 bytes of `text`. */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (const byte of Buffer.from(text, 'utf8')) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Length in code points, as Python's len(str) counts. */
export function codePointLength(text: string): number {
  let pairs = 0;
  for (let i = 0; i < text.length - 1; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        pairs++;
        i++;
      }
    }
  }
  return text.length - pairs;
}

/** Python's str ordering (by code point), which is the order of the UTF-8 bytes. */
const comparePython = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/**
 * The trainer's held-out split of a plain-text folder, reproduced (data.py `_held_out`): files in
 * the order of (CRC-32 of the data path, data path) are held out until they hold `fraction` of all
 * characters; at least one file and never all of them, so a single file is not held out at all
 * (the trainer then validates on the training text). `chars` counts code points.
 * Returns the held-out data paths.
 */
export function trainerSplit(docs: ReadonlyArray<{ dataPath: string; chars: number }>, fraction = TRAINER_VAL_FRACTION): Set<string> {
  const held = new Set<string>();
  if (docs.length < 2) return held;
  const order = docs
    .map((d) => ({ d, crc: crc32(d.dataPath) }))
    .sort((a, b) => a.crc - b.crc || comparePython(a.d.dataPath, b.d.dataPath));
  const target = fraction * docs.reduce((sum, d) => sum + d.chars, 0);
  let size = 0;
  for (const { d } of order.slice(0, -1)) {
    if (size >= target) break;
    held.add(d.dataPath);
    size += d.chars;
  }
  return held;
}
