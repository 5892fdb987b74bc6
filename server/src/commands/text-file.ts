// Reading a FILE argument as text, for the commands that take a document (tokenize, fill, before):
// a binary or non-UTF-8 file is refused in one line rather than decoded into replacement characters
// and echoed back.
import * as fs from 'node:fs';

/** A FILE argument that cannot be read as text (missing, a directory, binary, not UTF-8). */
export class InputFileError extends Error {
  override readonly name = 'InputFileError';
}

/** Like git, a NUL byte in the first 8000 bytes marks a file as binary. */
const BINARY_SNIFF_BYTES = 8000;

/** Reads FILE as UTF-8 text, refusing what is not text. The BOM, if any, is kept as text. */
export function readTextFile(file: string, purpose = 'only text files can be read'): string {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InputFileError(`no such file: ${file}`);
    if (code === 'EISDIR') throw new InputFileError(`${file} is a directory, not a file`);
    throw new InputFileError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const nul = data.subarray(0, BINARY_SNIFF_BYTES).indexOf(0);
  if (nul >= 0) throw new InputFileError(`${file} looks binary (NUL byte at offset ${nul}); ${purpose}`);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(data);
  } catch {
    throw new InputFileError(`${file} is not valid UTF-8 text; ${purpose}`);
  }
}
