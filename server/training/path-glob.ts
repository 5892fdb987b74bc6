// Glob patterns over workspace-relative paths ('/'-separated, no leading slash), compiled to RegExp.
//
// Two dialects share one translator because they differ only at the edges:
//  - 'vscode': the syntax of VS Code's `files.exclude` and of our include/exclude options: `*`, `?`,
//    `**`, `[...]`, `[!...]`, `{a,b}`; a backslash is a path separator, as VS Code treats it.
//  - 'gitignore': git's wildmatch as used by .gitignore: no braces, a backslash escapes the next
//    character, and POSIX classes such as `[[:digit:]]` are allowed in brackets.
// In both, `*` and `?` never match '/', and `**` is special only as a whole path segment.

export type GlobDialect = 'vscode' | 'gitignore';

export interface GlobOptions {
  dialect?: GlobDialect;
  caseInsensitive?: boolean;
}

/** A pattern that cannot be compiled (for example an unbalanced brace). */
export class GlobError extends Error {
  override readonly name = 'GlobError';
  constructor(readonly pattern: string, reason: string) {
    super(`invalid glob pattern '${pattern}': ${reason}`);
  }
}

const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: 'a-zA-Z0-9',
  alpha: 'a-zA-Z',
  blank: ' \\t',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '\\x21-\\x7e',
  lower: 'a-z',
  print: '\\x20-\\x7e',
  punct: '!-\\/:-@\\[-`{-~',
  space: ' \\t\\n\\r\\f\\v',
  upper: 'A-Z',
  xdigit: '0-9a-fA-F',
};

const escapeRegex = (c: string): string => c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

/**
 * Translates a bracket expression starting at `pattern[start] === '['`.
 * Returns the regex class and the index after the closing ']', or null when the bracket is not
 * closed (then '[' is an ordinary character, as in git and most shells).
 */
function translateBracket(pattern: string, start: number, dialect: GlobDialect): [string, number] | null {
  let i = start + 1;
  let negate = false;
  if (pattern[i] === '!' || pattern[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === ']' && !first) {
      // A class never matches the separator, negated or not: '*'-like tokens stay inside a segment.
      return [negate ? `[^/${body}]` : `(?!/)[${body}]`, i + 1];
    }
    first = false;
    if (c === '[' && dialect === 'gitignore' && pattern[i + 1] === ':') {
      const end = pattern.indexOf(':]', i + 2);
      const name = end < 0 ? '' : pattern.slice(i + 2, end);
      const cls = POSIX_CLASSES[name];
      if (cls !== undefined) {
        body += cls;
        i = end + 2;
        continue;
      }
    }
    if (c === '\\' && dialect === 'gitignore' && i + 1 < pattern.length) {
      body += escapeRegex(pattern[i + 1]!);
      i += 2;
      continue;
    }
    if (c === '-' && body !== '' && pattern[i + 1] !== ']' && i + 1 < pattern.length) {
      body += '-';
      i++;
      continue;
    }
    body += escapeRegex(c);
    i++;
  }
  return null;
}

/** Splits the inside of a `{...}` group on its top-level commas. */
function splitAlternatives(inner: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of inner) {
    if (c === '{') depth++;
    if (c === '}') depth--;
    if (c === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

function translate(pattern: string, dialect: GlobDialect, whole: string): string {
  let out = '';
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '*') {
      let j = i;
      while (pattern[j] === '*') j++;
      const run = j - i;
      const segmentStart = i === 0 || pattern[i - 1] === '/';
      const segmentEnd = j === pattern.length || pattern[j] === '/';
      if (run >= 2 && segmentStart && segmentEnd) {
        if (j === pattern.length) {
          // Trailing '**': everything below (or everything, when it is the whole pattern).
          out += '.*';
          i = j;
        } else {
          // '**/': zero or more whole directories.
          out += '(?:[^/]*/)*';
          i = j + 1;
        }
      } else {
        out += '[^/]*';
        i = j;
      }
      continue;
    }
    if (c === '?') {
      out += '[^/]';
      i++;
      continue;
    }
    if (c === '[') {
      const bracket = translateBracket(pattern, i, dialect);
      if (bracket !== null) {
        out += bracket[0];
        i = bracket[1];
        continue;
      }
      out += '\\[';
      i++;
      continue;
    }
    if (c === '\\' && dialect === 'gitignore') {
      if (i + 1 < pattern.length) out += escapeRegex(pattern[i + 1]!);
      i += 2;
      continue;
    }
    if (c === '{' && dialect === 'vscode') {
      let depth = 0;
      let j = i;
      for (; j < pattern.length; j++) {
        if (pattern[j] === '{') depth++;
        else if (pattern[j] === '}' && --depth === 0) break;
      }
      if (j >= pattern.length) throw new GlobError(whole, "unbalanced '{'");
      const alternatives = splitAlternatives(pattern.slice(i + 1, j)).map((alt) => translate(alt, dialect, whole));
      out += `(?:${alternatives.join('|')})`;
      i = j + 1;
      continue;
    }
    out += escapeRegex(c);
    i++;
  }
  return out;
}

/** Regex source (without anchors) for a glob that must match a whole relative path. */
export function globToRegexSource(pattern: string, dialect: GlobDialect = 'vscode'): string {
  return translate(pattern, dialect, pattern);
}

export type PathMatcher = (relativePath: string) => boolean;

/**
 * Compiles a glob matched against a whole workspace-relative path. VS Code globs are relative to the
 * workspace folder: `*.js` matches only top-level files, `**\/*.js` matches at any depth. A leading
 * './' or '/' is dropped.
 */
export function compileGlob(pattern: string, options: GlobOptions = {}): PathMatcher {
  const dialect = options.dialect ?? 'vscode';
  let p = dialect === 'vscode' ? pattern.replace(/\\/g, '/') : pattern;
  p = p.replace(/^\.\//, '').replace(/^\/+/, '');
  if (p.endsWith('/') && p.length > 1) p = p.slice(0, -1);
  const re = new RegExp(`^${globToRegexSource(p, dialect)}$`, options.caseInsensitive ? 'i' : '');
  return (path) => re.test(path);
}

/** A set of globs: true when any matches. An empty set matches nothing. */
export function compileGlobs(patterns: readonly string[], options: GlobOptions = {}): PathMatcher {
  const matchers = patterns.filter((p) => p.trim() !== '').map((p) => compileGlob(p, options));
  return (path) => matchers.some((m) => m(path));
}
