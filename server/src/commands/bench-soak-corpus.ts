// What the soak edits: documents of the realistic suite (2,000 to 200,000 characters), and an open
// document as the soak's editor keeps it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { packageRoot } from '../../common/paths';
import { UsageError } from '../command';

export interface SoakDoc {
  uri: string;
  doc: TextDocument;
  cursor: number;
}

export interface Corpus {
  texts: Array<{ text: string; language: string }>;
}

export function loadCorpus(): Corpus {
  const file = join(packageRoot(), 'test', 'bench', 'realistic', 'docs.jsonl');
  if (!existsSync(file)) throw new UsageError(`no documents at ${file} (the soak edits the realistic suite's documents)`);
  const texts = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { text: string; language: string })
    .filter((d) => d.text.length >= 2_000 && d.text.length <= 200_000);
  if (texts.length === 0) throw new UsageError(`${file} has no document of 2,000 to 200,000 characters`);
  return { texts };
}
