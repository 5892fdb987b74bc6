// file:// URIs (LSP) to file-system paths, for the workspace folder the model store belongs to.
import { fileURLToPath } from 'node:url';

/** The path of a file:// URI, or null for any other scheme or a malformed URI. */
export function uriToPath(uri: string): string | null {
  if (!uri.startsWith('file:')) return null;
  try {
    return fileURLToPath(uri);
  } catch {
    return null;
  }
}
