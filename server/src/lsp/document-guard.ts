// Refuses documents the model should not see: very large ones (tokenizing them on every keystroke
// would make typing lag) and binary ones (NUL bytes mean it is not text).
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { InvalidRequestError } from './request-errors';

/** About 2 MB of text; beyond this the editor itself turns off most features too. */
export const MAX_DOCUMENT_CHARS = 2_000_000;

/** Why the document is refused, or null when it may be used. */
export function refusal(doc: TextDocument): string | null {
  const text = doc.getText();
  if (text.length > MAX_DOCUMENT_CHARS) {
    return `${doc.uri} is too large for Diffill (${text.length} characters, limit ${MAX_DOCUMENT_CHARS})`;
  }
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
