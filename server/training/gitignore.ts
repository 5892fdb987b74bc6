// .gitignore semantics for the workspace walker (gitignore(5)):
//  - blank lines and '#' lines are ignored; '\#' and '\!' start a literal pattern; trailing spaces are
//    dropped unless escaped ('\ ').
//  - '!' negates: a later match re-includes what an earlier one excluded. A file inside an excluded
//    directory cannot be re-included: the walker never enters excluded directories, which gives
//    exactly git's behaviour.
//  - a trailing '/' matches directories only.
//  - a pattern with a '/' at the start or in the middle is anchored to the .gitignore's directory;
//    otherwise it matches a name at any depth below it.
//  - '**/', '/**/' and a trailing '/**' span directories; any other '*' stays within one name.
//  - the last matching pattern wins; deeper .gitignore files come later than their ancestors, and
//    `.git/info/exclude` comes before the root .gitignore.

import { globToRegexSource } from './path-glob';

export interface IgnoreRule {
  /** Directory of the file that holds the rule, workspace-relative ('' for the root). */
  readonly base: string;
  /** The pattern as written (for diagnostics). */
  readonly source: string;
  readonly negate: boolean;
  readonly directoryOnly: boolean;
  /** Anchored rules match the path relative to `base`; the others match the last name only. */
  readonly anchored: boolean;
  readonly regex: RegExp;
}

/** Parses one .gitignore file's text into rules that apply below `base`. */
export function parseGitignore(text: string, base: string, caseInsensitive = false): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const rawLine of text.split('\n')) {
    let line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line === '' || line.startsWith('#')) continue;
    line = trimTrailingSpaces(line);
    if (line === '') continue;
    let negate = false;
    if (line.startsWith('!')) {
      negate = true;
      line = line.slice(1);
    }
    let directoryOnly = false;
    if (line.endsWith('/') && !line.endsWith('\\/')) {
      directoryOnly = true;
      line = line.replace(/\/+$/, '');
    }
    if (line === '') continue;
    const anchored = line.includes('/');
    if (line.startsWith('/')) line = line.replace(/^\/+/, '');
    if (line === '') continue;
    const regex = new RegExp(`^${globToRegexSource(line, 'gitignore')}$`, caseInsensitive ? 'i' : '');
    rules.push({ base, source: rawLine.trim(), negate, directoryOnly, anchored, regex });
  }
  return rules;
}

/** Drops trailing spaces except those escaped with a backslash ('foo\ ' keeps one space). */
function trimTrailingSpaces(line: string): string {
  let end = line.length;
  while (end > 0 && line[end - 1] === ' ') {
    let backslashes = 0;
    for (let k = end - 2; k >= 0 && line[k] === '\\'; k--) backslashes++;
    if (backslashes % 2 === 1) break;
    end--;
  }
  return line.slice(0, end);
}

/**
 * The rules in force in one directory: its ancestors' rules followed by its own. Immutable, so each
 * directory of the walk extends its parent's stack without copying on every lookup.
 */
export class IgnoreStack {
  static readonly empty = new IgnoreStack([]);

  private constructor(private readonly rules: readonly IgnoreRule[]) {}

  /** A stack with `rules` appended (they take precedence over the current ones). */
  with(rules: readonly IgnoreRule[]): IgnoreStack {
    return rules.length === 0 ? this : new IgnoreStack([...this.rules, ...rules]);
  }

  get size(): number {
    return this.rules.length;
  }

  /**
   * The rule that decides `path` (workspace-relative, '/'-separated), or null when none matches.
   * The path is ignored when the returned rule is not a negation.
   */
  decidingRule(path: string, isDirectory: boolean): IgnoreRule | null {
    const slash = path.lastIndexOf('/');
    const name = slash < 0 ? path : path.slice(slash + 1);
    for (let i = this.rules.length - 1; i >= 0; i--) {
      const rule = this.rules[i]!;
      if (rule.directoryOnly && !isDirectory) continue;
      let subject: string;
      if (rule.anchored) {
        if (rule.base === '') subject = path;
        else if (path.startsWith(rule.base + '/')) subject = path.slice(rule.base.length + 1);
        else continue;
      } else {
        if (rule.base !== '' && !path.startsWith(rule.base + '/')) continue;
        subject = name;
      }
      if (rule.regex.test(subject)) return rule;
    }
    return null;
  }

  isIgnored(path: string, isDirectory: boolean): boolean {
    const rule = this.decidingRule(path, isDirectory);
    return rule !== null && !rule.negate;
  }
}
