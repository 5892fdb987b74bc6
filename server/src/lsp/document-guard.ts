// Refuses documents the model should not see: very large ones (tokenizing them on every keystroke
// would make typing lag) and binary ones (NUL bytes mean it is not text).
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { MAX_DOCUMENT_CHARS, oversizedLength } from './document-store';
import { InvalidRequestError } from './request-errors';

export { MAX_DOCUMENT_CHARS };

/** Why the document is refused, or null when it may be used. */
export function refusal(doc: TextDocument): string | null {
  // The store keeps an oversized document without its text (document-store.ts), only its length.
  const length = oversizedLength(doc) ?? doc.getText().length;
  if (length > MAX_DOCUMENT_CHARS) {
    return `${doc.uri} is too large for Diffill (${length} characters, limit ${MAX_DOCUMENT_CHARS})`;
  }
  const text = doc.getText();
  if (text.includes('\u0000')) {
    return `${doc.uri} looks binary (it contains NUL characters)`;
  }
  return null;
}

/**
 * The open document a custom request names, or an InvalidRequestError (answered as InvalidParams)
 * when it is not open or is refused.
 */
export function requireDocument(documents: { get(uri: string): TextDocument | undefined }, uri: string): TextDocument {
  const doc = documents.get(uri);
  if (doc === undefined) throw new InvalidRequestError(`${uri} is not open`);
  const why = refusal(doc);
  if (why !== null) throw new InvalidRequestError(why);
  return doc;
}

/** Characters of context kept on each side of the cursor before the engine's token budget applies. */
export function contextChars(contextTokens: number): number {
  // Source code averages 3-4 characters per token; 8 leaves ample room for the engine to trim.
  return contextTokens * 8;
}
