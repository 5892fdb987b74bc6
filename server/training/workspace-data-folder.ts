// Writing the data folder the trainer reads (server/training/python/diffill_trainer/data.py, "a
// folder of plain text"): one file per document, at its workspace-relative path, each written as soon
// as it is accepted so nothing is held in memory. On failure or abort the folder is left as it was
// found: removed when it was created here, emptied when it was given empty.
//
// Two renames keep the trainer from dropping or misreading files: it skips any path with a part
// that starts with '.', so '.github/ci.yml' is written as '_.github/ci.yml'; and a top-level
// 'meta.json' would make it read the folder as a packed corpus, so it is written as '_meta.json'.

import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { codePointLength } from './workspace-data-split';
import { WorkspaceDataError, type CollectedFile, type TokenCounter } from './workspace-data-types';

/** Where a workspace file goes in the data folder (see the renames in the header comment). */
export function dataPathFor(relativePath: string): string {
  const parts = relativePath.split('/').map((part) => (part.startsWith('.') ? `_${part}` : part));
  if (parts.length === 1 && parts[0] === 'meta.json') parts[0] = '_meta.json';
  return parts.join('/');
}

export class DataFolder {
  /** The files written so far, in walk order; all 'train' until the split is applied. */
  readonly files: CollectedFile[] = [];
  private readonly chars = new Map<string, number>();
  private readonly dataPaths = new Set<string>();

  private constructor(
    readonly dir: string,
    private readonly created: boolean,
    private readonly countTokens: TokenCounter | null,
  ) {}

  /**
   * Opens `outDir` (created when absent; WorkspaceDataError 'out_dir_not_empty' when it holds
   * anything), or a new folder in the OS temp dir when it is undefined.
   */
  static async open(outDir: string | undefined, countTokens: TokenCounter | null): Promise<DataFolder> {
    if (outDir === undefined) return new DataFolder(await mkdtemp(join(tmpdir(), 'diffill-finetune-data-')), true, countTokens);
    const dir = resolve(outDir);
    try {
      const existing = await readdir(dir);
      if (existing.length > 0) {
        throw new WorkspaceDataError('out_dir_not_empty', `output folder '${dir}' is not empty`);
      }
      return new DataFolder(dir, false, countTokens);
    } catch (err) {
      if (err instanceof WorkspaceDataError) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true });
      return new DataFolder(dir, true, countTokens);
    }
  }

  /** Whether a file was already written at this data path (two workspace paths can map to one). */
  has(dataPath: string): boolean {
    return this.dataPaths.has(dataPath);
  }

  async write(rel: string, dataPath: string, text: string, bytes: number): Promise<void> {
    const tokens = this.countTokens === null ? null : this.countTokens(text);
    const destination = join(this.dir, ...dataPath.split('/'));
    await mkdir(dirname(destination), { recursive: true });
    await writeFile(destination, text, 'utf8');
    this.dataPaths.add(dataPath);
    this.chars.set(dataPath, codePointLength(text));
    this.files.push({ path: rel, dataPath, split: 'train', bytes, tokens });
  }

  /** Each written file's data path and length in code points, as the trainer's split counts them. */
  documents(): Array<{ dataPath: string; chars: number }> {
    return this.files.map((f) => ({ dataPath: f.dataPath, chars: this.chars.get(f.dataPath)! }));
  }

  /** Leaves no partial data behind: the folder was created here, or was empty when we started. */
  async discard(): Promise<void> {
    if (this.created) await rm(this.dir, { recursive: true, force: true });
    else for (const name of await readdir(this.dir)) await rm(join(this.dir, name), { recursive: true, force: true });
  }
}
