// What a client may ask the language server to read and write for fine-tuning (docs/security.md).
//
// The server works on the editor's word about which folders are open: the workspace folders (or
// root) of `initialize`, the folder and storage folder of `initializationOptions.finetune`, and
// `workspace/didChangeWorkspaceFolders`. A fine-tuning or "Use Previous Model" request may then name
//  - as its workspace: one of those folders, or a folder inside one;
//  - as its facts file: a regular file inside one of those folders;
//  - as its store (`storageDir`): only the storage folder announced at initialize, for its workspace;
//    without one, the CLI's per-workspace store under ~/.diffill.
// Everything else is refused with InvalidParams before anything is created, read or run. Paths are
// compared after resolving symbolic links, so a link inside a folder cannot lead out of it.
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { ErrorCodes, ResponseError } from 'vscode-languageserver';
import { uriToPath } from './uri-path';

export interface ScopedRequest {
  workspace: string;
  /** The store root the request may use; undefined: the workspace's default store. */
  storageDir: string | undefined;
}

const inside = (folder: string, path: string): boolean => {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

async function real(path: string): Promise<string | null> {
  try {
    return await realpath(path);
  } catch {
    return null;
  }
}

export class WorkspaceScope {
  /** Announced folders, in announcement order (the first is the default workspace). */
  private readonly folders: string[] = [];
  private announcedStorage: { workspace: string; dir: string } | null = null;

  /** Folders the client opened (absolute paths; anything else is ignored). */
  add(paths: ReadonlyArray<string | null | undefined>): void {
    for (const p of paths) {
      if (typeof p === 'string' && p !== '' && isAbsolute(p) && !this.folders.includes(resolve(p))) this.folders.push(resolve(p));
    }
  }

  remove(paths: ReadonlyArray<string | null | undefined>): void {
    for (const p of paths) {
      if (typeof p !== 'string') continue;
      const i = this.folders.indexOf(resolve(p));
      if (i >= 0) this.folders.splice(i, 1);
    }
  }

  /** Folders from LSP workspace folder objects (file:// URIs only). */
  static paths(folders: ReadonlyArray<{ uri: string }> | null | undefined): string[] {
    return (folders ?? []).map((f) => uriToPath(f.uri)).filter((p): p is string => p !== null);
  }

  /** The storage folder the editor gave at initialize for `workspace` (VS Code: the extension's workspace storage). */
  setStorage(workspace: string, dir: string): void {
    if (isAbsolute(workspace) && isAbsolute(dir)) this.announcedStorage = { workspace: resolve(workspace), dir: resolve(dir) };
  }

  /** The first announced folder: where a request without `workspace` goes. */
  get defaultWorkspace(): string | null {
    return this.folders[0] ?? null;
  }

  get announced(): readonly string[] {
    return this.folders;
  }

  /** The workspace and store a request may use; throws InvalidParams (prefixed with `what`) otherwise. */
  async check(what: string, params: { workspace?: unknown; storageDir?: unknown }): Promise<ScopedRequest> {
    const bad = (m: string): never => {
      throw new ResponseError(ErrorCodes.InvalidParams, `${what}: ${m}`);
    };
    let workspace: string;
    if (params.workspace === undefined || params.workspace === null || params.workspace === '') {
      const first = this.defaultWorkspace;
      if (first === null) bad('no workspace: the editor announced no workspace folder (initialize workspaceFolders or rootUri)');
      workspace = first!;
    } else if (typeof params.workspace !== 'string' || !isAbsolute(params.workspace)) {
      bad(`workspace must be an absolute folder path, got ${JSON.stringify(params.workspace)}`);
      workspace = '';
    } else {
      workspace = resolve(params.workspace);
    }
    const realWorkspace = await real(workspace);
    if (realWorkspace === null || !(await stat(realWorkspace)).isDirectory()) bad(`the workspace ${workspace} is not a folder`);
    if (!(await this.within(realWorkspace!))) {
      bad(`the workspace ${workspace} is not one of the folders open in the editor (${this.folders.join(', ') || 'none'})`);
    }

    let storageDir: string | undefined;
    const announced = this.announcedStorage;
    const sameWorkspace = announced !== null && (await real(announced.workspace)) === realWorkspace;
    if (params.storageDir === undefined || params.storageDir === null || params.storageDir === '') {
      storageDir = sameWorkspace ? announced!.dir : undefined;
    } else if (typeof params.storageDir !== 'string' || !sameWorkspace || resolve(params.storageDir) !== announced!.dir) {
      bad(`storageDir may only be the storage folder the editor announced at initialize for this workspace, got ${JSON.stringify(params.storageDir)}`);
    } else {
      storageDir = announced!.dir;
    }
    return { workspace, storageDir };
  }

  /** A facts file: relative paths are taken from the workspace; it must be a file inside an announced folder. */
  async facts(what: string, facts: unknown, workspace: string): Promise<string> {
    const bad = (m: string): never => {
      throw new ResponseError(ErrorCodes.InvalidParams, `${what}: ${m}`);
    };
    if (typeof facts !== 'string' || facts === '') bad(`facts must be a file path, got ${JSON.stringify(facts)}`);
    const path = resolve(workspace, facts as string);
    const realFacts = await real(path);
    if (realFacts === null || !(await stat(realFacts)).isFile()) bad(`the facts file ${path} is not a file`);
    if (!(await this.within(realFacts!))) bad(`the facts file ${path} is not inside a folder open in the editor`);
    return path;
  }

  private async within(realPath: string): Promise<boolean> {
    for (const folder of this.folders) {
      const r = await real(folder);
      if (r !== null && inside(r, realPath)) return true;
    }
    return false;
  }
}
