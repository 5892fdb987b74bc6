// Which paths the user's own tools leave out, applied by the workspace walk: version-control folders
// (always), .gitignore files and .git/info/exclude (gitignore.ts), VS Code's `files.exclude` setting,
// and the include/exclude globs of the fine-tuning request (path-glob.ts, VS Code's glob syntax).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IgnoreStack, parseGitignore } from './gitignore';
import { compileGlob, compileGlobs, type PathMatcher } from './path-glob';

/**
 * VS Code `files.exclude`: glob -> true/false, or a sibling clause `{ when: "$(basename).ts" }` that
 * excludes a file only when a sibling with that name exists.
 */
export type FilesExclude = Readonly<Record<string, boolean | { when: string }>>;

/** Folders nobody writes by hand; replaced (not extended) by the `exclude` option. */
export const DEFAULT_EXCLUDE: readonly string[] = [
  '**/node_modules',
  '**/bower_components',
  '**/__pycache__',
  '**/.venv',
  '**/.tox',
  '**/.mypy_cache',
  '**/.pytest_cache',
  '**/.ruff_cache',
  '**/.DS_Store',
];

const VCS_DIRS = new Set(['.git', '.hg', '.svn']);

/** .git, .hg and .svn: left out always, whatever the options say. */
export function isVcsDir(name: string): boolean {
  return VCS_DIRS.has(name);
}

export interface IgnoreOptions {
  include?: readonly string[] | undefined;
  exclude?: readonly string[] | undefined;
  filesExclude?: FilesExclude | undefined;
  respectGitignore?: boolean | undefined;
  caseInsensitive?: boolean | undefined;
}

/** The compiled rules; .gitignore files are read during the walk, one folder at a time. */
export interface IgnoreRules {
  /** Null when no include globs were given (every file is included). */
  readonly include: PathMatcher | null;
  readonly exclude: PathMatcher;
  readonly filesExclude: (rel: string, siblings: ReadonlySet<string>) => boolean;
  readonly respectGitignore: boolean;
  readonly caseInsensitive: boolean;
}

/** Compiles the options' globs; throws GlobError for a pattern that does not parse. */
export function compileIgnoreRules(options: IgnoreOptions): IgnoreRules {
  const caseInsensitive = options.caseInsensitive ?? (process.platform === 'darwin' || process.platform === 'win32');
  const globOptions = { dialect: 'vscode' as const, caseInsensitive };
  const include = options.include && options.include.length > 0 ? compileGlobs(options.include, globOptions) : null;
  const exclude = compileGlobs(options.exclude ?? DEFAULT_EXCLUDE, globOptions);
  const filesExclude = compileFilesExclude(options.filesExclude ?? {}, caseInsensitive);
  const respectGitignore = options.respectGitignore ?? true;
  return { include, exclude, filesExclude, respectGitignore, caseInsensitive };
}

/**
 * The ignore stack for the files of one folder: the parent's, plus .git/info/exclude at the root and
 * the folder's own .gitignore (`names` are the folder's entries).
 */
export async function gitignoreFor(rules: IgnoreRules, parent: IgnoreStack, dirAbs: string, dirRel: string, names: ReadonlySet<string>): Promise<IgnoreStack> {
  let stack = parent;
  if (rules.respectGitignore) {
    if (dirRel === '') stack = stack.with(await readIgnoreFile(join(dirAbs, '.git', 'info', 'exclude'), '', rules.caseInsensitive));
    if (names.has('.gitignore')) stack = stack.with(await readIgnoreFile(join(dirAbs, '.gitignore'), dirRel, rules.caseInsensitive));
  }
  return stack;
}

/** A missing or unreadable ignore file has no rules. */
async function readIgnoreFile(path: string, base: string, caseInsensitive: boolean) {
  try {
    return parseGitignore(await readFile(path, 'utf8'), base, caseInsensitive);
  } catch {
    return [];
  }
}

/**
 * `files.exclude` as VS Code applies it: globs relative to the workspace folder, a match on a folder
 * hides everything in it, and `{ when: "$(basename).ts" }` applies only when that sibling exists.
 */
function compileFilesExclude(setting: FilesExclude, caseInsensitive: boolean): (rel: string, siblings: ReadonlySet<string>) => boolean {
  const rules: Array<{ match: PathMatcher; when: string | null }> = [];
  for (const [pattern, value] of Object.entries(setting)) {
    if (value === false || pattern.trim() === '') continue;
    const when = typeof value === 'object' && value !== null && typeof value.when === 'string' ? value.when : null;
    rules.push({ match: compileGlob(pattern, { dialect: 'vscode', caseInsensitive }), when });
  }
  return (rel, siblings) => {
    for (const rule of rules) {
      if (!rule.match(rel)) continue;
      if (rule.when === null) return true;
      const name = rel.slice(rel.lastIndexOf('/') + 1);
      const dot = name.lastIndexOf('.');
      const basename = dot > 0 ? name.slice(0, dot) : name;
      if (siblings.has(rule.when.replace(/\$\(basename\)/g, basename))) return true;
    }
    return false;
  };
}
