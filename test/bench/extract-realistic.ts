// Builds the realistic infill suite test/bench/realistic/{docs,tasks}.jsonl from held-out corpus
// documents, deterministically (same documents, seed, tokenizer, Python and TypeScript versions -> the
// same files, byte for byte). The gaps are the ones editors and people make, not token-aligned spans:
//
//   line-start        a whole non-blank line deleted with its indentation and line break
//   after-indent      the cursor after a line's indentation, the rest of the line missing
//   mid-line          1-40 characters inside a line, cut anywhere (identifiers too), code after it
//   end-of-line       the cursor at any character of a line, the rest of the line missing
//   end-of-document   the document cut after a line, the cursor at any character of it (or its start)
//   block             2-10 whole consecutive lines, as line-start
//   blank-identifier  a name, as Fill Blanks sees it (`___` in its place)
//   blank-args        a call's arguments between its parentheses (one line)
//   blank-expression  an assignment's right side, a return value, an if/while condition (one line)
//
// Python and TypeScript/JavaScript for every kind, Markdown too for the five line kinds. Each document
// is stored once (docs.jsonl); a task names it by index with the gap's offsets (JavaScript string
// indices), so the bench can parse the whole document with the answer written in.
//
//   node --import tsx test/bench/extract-realistic.ts [--corpus data/corpus/heldout.jsonl] [--out test/bench/realistic]
//
// The corpus is data/corpus/heldout.jsonl (scripts/corpus/heldout.py) or the full build's test.jsonl;
// a folder of files (test/fixtures/corpus) works too. The Python spans come from
// test/bench/realistic-spans.py run by python3 (or $PYTHON).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type * as TS from 'typescript';
import { Prng } from '../../server/engine/prng';
import { Tokenizer } from '../../server/engine/tokenizer';
import { loadTypeScript, parseSourceFile } from '../../server/src/commands/bench-parse';
import type { RealisticTask as SuiteTask, SuiteDoc } from '../../server/src/commands/bench-realistic-suite';

const ROOT = resolve(__dirname, '..', '..');

export const SEED = 20261201;
/** Documents larger than this (UTF-8 bytes) are not used: every task carries its whole document. */
export const MAX_DOC_BYTES = 20_000;
const MIN_DOC_CHARS = 400;
const MIN_DOC_LINES = 10;
/** Python is most of the held-out split; a deterministic share of it keeps the suite near 6 MB. */
const PYTHON_POOL_BYTES = 4_500_000;

export const KINDS = [
  'line-start',
  'after-indent',
  'mid-line',
  'end-of-line',
  'end-of-document',
  'block',
  'blank-identifier',
  'blank-args',
  'blank-expression',
] as const;
export type Kind = (typeof KINDS)[number];

/** Kinds that make sense in prose as well as code (Markdown tasks too). */
export const PROSE_KINDS: ReadonlySet<Kind> = new Set(['line-start', 'mid-line', 'end-of-line', 'end-of-document', 'block']);

type Group = 'python' | 'script' | 'markdown';
const GROUP_OF: Record<string, Group> = { python: 'python', typescript: 'script', javascript: 'script', markdown: 'markdown' };

export interface Targets {
  python: number;
  script: number;
  markdown: number;
}
export const DEFAULT_TARGETS: Targets = { python: 115, script: 115, markdown: 40 };

export type { SuiteDoc };

/** A task line as written; the reader's type (bench-realistic-suite.ts) documents the fields. */
export interface RealisticTask extends Omit<SuiteTask, 'kind'> {
  kind: Kind;
}

interface Gap {
  start: number;
  end: number;
  docEnd: number;
}

interface Spans {
  idents: Array<[number, number]>;
  args: Array<[number, number]>;
  exprs: Array<[number, number]>;
}

export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

// --- lines -----------------------------------------------------------------------------------------

interface Line {
  /** First character. */
  start: number;
  /** After the indentation. */
  body: number;
  /** The line break's index, or the text's length for a last line without one. */
  end: number;
  /** The next line's start (end + 1), or the text's length. */
  next: number;
}

export function splitLines(text: string): Line[] {
  const out: Line[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    let body = start;
    while (body < end && (text[body] === ' ' || text[body] === '\t')) body++;
    out.push({ start, body, end, next: Math.min(end + 1, text.length) });
    start = end + 1;
  }
  return out;
}

const blank = (text: string, l: Line) => text.slice(l.body, l.end).trim() === '';
const WORD = /[\p{L}\p{N}_$]/u;
const isWord = (ch: string | undefined) => ch !== undefined && WORD.test(ch);
const pick = <T>(xs: readonly T[], rng: Prng): T => xs[Math.floor(rng.uniform() * xs.length)]!;
const int = (lo: number, hi: number, rng: Prng) => lo + Math.floor(rng.uniform() * (hi - lo + 1)); // [lo, hi]

/** Lines that can hold a gap: not blank, followed by a line break. */
function contentLines(text: string, lines: Line[], from = 1): Line[] {
  return lines.slice(from).filter((l) => !blank(text, l) && l.end < text.length);
}

// --- one gap per kind ------------------------------------------------------------------------------

type Picker = (text: string, lines: Line[], rng: Prng, spans: Spans | null) => Gap | null;

const whole = (text: string): Gap => ({ start: 0, end: 0, docEnd: text.length });

const PICKERS: Record<Kind, Picker> = {
  'line-start': (text, lines, rng) => {
    const ls = contentLines(text, lines).filter((l) => l.next < text.length);
    if (ls.length === 0) return null;
    const l = pick(ls, rng);
    return { ...whole(text), start: l.start, end: l.next };
  },
  'after-indent': (text, lines, rng) => {
    const ls = contentLines(text, lines);
    if (ls.length === 0) return null;
    const l = pick(ls, rng);
    return { ...whole(text), start: l.body, end: l.end };
  },
  'mid-line': (text, lines, rng) => {
    const ls = contentLines(text, lines, 0).filter((l) => l.end - l.body >= 3);
    if (ls.length === 0) return null;
    const l = pick(ls, rng);
    const s = int(l.body, l.end - 2, rng);
    const e = s + int(1, Math.min(40, l.end - 1 - s), rng);
    if (text.slice(e, l.end).trim() === '') return null; // code must go on after the gap
    return { ...whole(text), start: s, end: e };
  },
  'end-of-line': (text, lines, rng) => {
    const ls = contentLines(text, lines, 0).filter((l) => l.end - l.body >= 2);
    if (ls.length === 0) return null;
    const l = pick(ls, rng);
    return { ...whole(text), start: int(l.body + 1, l.end - 1, rng), end: l.end };
  },
  'end-of-document': (text, lines, rng) => {
    const ls = lines.slice(3).filter((l) => !blank(text, l));
    if (ls.length === 0) return null;
    const l = pick(ls, rng);
    return { start: int(l.start, l.end - 1, rng), end: l.end, docEnd: l.end };
  },
  block: (text, lines, rng) => {
    if (lines.length < 4) return null;
    const i = int(1, lines.length - 3, rng);
    const k = int(2, 10, rng);
    const last = lines[i + k - 1];
    if (last === undefined || last.next >= text.length) return null;
    const ls = lines.slice(i, i + k);
    if (ls.filter((l) => !blank(text, l)).length < 2 || blank(text, ls[0]!)) return null;
    return { ...whole(text), start: ls[0]!.start, end: last.next };
  },
  'blank-identifier': (text, _lines, rng, spans) => fromSpans(text, spans?.idents, rng),
  'blank-args': (text, _lines, rng, spans) => fromSpans(text, spans?.args, rng),
  'blank-expression': (text, _lines, rng, spans) => fromSpans(text, spans?.exprs, rng),
};

function fromSpans(text: string, xs: Array<[number, number]> | undefined, rng: Prng): Gap | null {
  if (xs === undefined || xs.length === 0) return null;
  const [start, end] = pick(xs, rng);
  return { ...whole(text), start, end };
}

// --- syntax spans ----------------------------------------------------------------------------------

/** Python spans from realistic-spans.py (one python3 process for all documents). */
export function pythonSpans(texts: readonly string[], python = process.env['PYTHON'] ?? 'python3'): Array<Spans | null> {
  if (texts.length === 0) return [];
  const script = join(__dirname, 'realistic-spans.py');
  const input = texts.map((text, i) => JSON.stringify({ i, text })).join('\n') + '\n';
  const r = spawnSync(python, [script], { input, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error !== undefined || r.status !== 0) throw new Error(`${python} ${script} failed: ${r.error?.message ?? r.stderr}`);
  const out: Array<Spans | null> = texts.map(() => null);
  for (const line of r.stdout.split('\n')) {
    if (line.trim() === '') continue;
    const o = JSON.parse(line) as { i: number; parses: boolean } & Spans;
    out[o.i] = o.parses ? { idents: o.idents, args: o.args, exprs: o.exprs } : null;
  }
  return out;
}

/** TypeScript/JavaScript spans from the compiler's syntax tree (the same three sorts as for Python). */
export function scriptSpans(ts: NonNullable<ReturnType<typeof loadTypeScript>>, path: string, text: string): Spans {
  const sf = parseSourceFile(ts, path, text);
  const spans: Spans = { idents: [], args: [], exprs: [] };
  const oneLine = (s: number, e: number) => e > s && !text.slice(s, e).includes('\n');
  const expr = (n: TS.Node | undefined) => {
    if (n === undefined) return;
    const s = n.getStart(sf);
    if (oneLine(s, n.end)) spans.exprs.push([s, n.end]);
  };
  const visit = (n: TS.Node): void => {
    if (ts.isIdentifier(n)) {
      const s = n.getStart(sf);
      if (oneLine(s, n.end) && text.slice(s, n.end) === n.text) spans.idents.push([s, n.end]);
    } else if ((ts.isCallExpression(n) || ts.isNewExpression(n)) && n.arguments !== undefined && n.arguments.length > 0) {
      const first = n.arguments[0]!.getStart(sf);
      const open = text.lastIndexOf('(', first);
      const close = n.end - 1;
      if (open >= n.expression.end && text.slice(open + 1, first).trim() === '' && text[close] === ')' && oneLine(open, close) && text.slice(open + 1, close).trim() !== '') {
        spans.args.push([open + 1, close]);
      }
    } else if (ts.isVariableDeclaration(n) || ts.isPropertyDeclaration(n)) {
      expr(n.initializer);
    } else if (ts.isBinaryExpression(n) && n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && n.operatorToken.kind <= ts.SyntaxKind.LastAssignment) {
      expr(n.right);
    } else if (ts.isReturnStatement(n)) {
      expr(n.expression);
    } else if (ts.isIfStatement(n) || ts.isWhileStatement(n) || ts.isDoStatement(n)) {
      expr(n.expression);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  for (const xs of [spans.idents, spans.args, spans.exprs]) xs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return spans;
}

// --- the suite -------------------------------------------------------------------------------------

export interface BuildOptions {
  seed?: number;
  targets?: Targets;
  pythonPoolBytes?: number;
  python?: string;
}

export interface Suite {
  docs: SuiteDoc[];
  tasks: RealisticTask[];
}

const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** Documents the suite may use: a known language, no CR (offsets and line logic stay simple), 400 chars to MAX_DOC_BYTES. */
export function usable(d: SuiteDoc): boolean {
  return (
    GROUP_OF[d.language] !== undefined &&
    typeof d.text === 'string' &&
    d.text.length >= MIN_DOC_CHARS &&
    utf8Bytes(d.text) <= MAX_DOC_BYTES &&
    !d.text.includes('\r') &&
    splitLines(d.text).length >= MIN_DOC_LINES
  );
}

/** Takes packages in turn (in a seeded order), each package's documents in a seeded order. */
function roundRobin(docs: SuiteDoc[], key: string): SuiteDoc[] {
  const byQueue = new Map<string, SuiteDoc[]>();
  for (const d of docs) {
    const q = `${d.language}\0${d.package ?? ''}`;
    if (!byQueue.has(q)) byQueue.set(q, []);
    byQueue.get(q)!.push(d);
  }
  const queues = [...byQueue.entries()]
    .sort((a, b) => fnv1a(`${key}\0${a[0]}`) - fnv1a(`${key}\0${b[0]}`) || cmp(a[0], b[0]))
    .map(([, ds]) => ds.slice().sort((a, b) => fnv1a(`${key}\0${a.path}`) - fnv1a(`${key}\0${b.path}`) || cmp(a.path, b.path)));
  const out: SuiteDoc[] = [];
  for (let i = 0; out.length < docs.length; i++) for (const q of queues) if (i < q.length) out.push(q[i]!);
  return out;
}

function canvas(kind: Kind, refTokens: number): number | null {
  if (kind === 'block') return refTokens <= 88 ? 96 : null;
  return refTokens <= 56 ? Math.max(32, refTokens + 8) : null;
}

function cutsWord(text: string, g: Gap): { start: boolean; end: boolean } {
  return { start: isWord(text[g.start - 1]) && isWord(text[g.start]), end: isWord(text[g.end - 1]) && isWord(text[g.end]) };
}

export function buildSuite(corpus: readonly SuiteDoc[], tok: Tokenizer, options: BuildOptions = {}): Suite {
  const seed = options.seed ?? SEED;
  const targets = options.targets ?? DEFAULT_TARGETS;
  const candidates = corpus.filter(usable).slice().sort((a, b) => cmp(a.path, b.path));
  // The document pool per group; Python is capped by bytes, in a seeded package-by-package order.
  const pool: Record<Group, SuiteDoc[]> = { python: [], script: [], markdown: [] };
  for (const g of ['python', 'script', 'markdown'] as const) {
    const ds = candidates.filter((d) => GROUP_OF[d.language] === g);
    if (g !== 'python') {
      pool[g] = ds;
      continue;
    }
    let bytes = 0;
    for (const d of roundRobin(ds, `${seed}:pool`)) {
      const n = utf8Bytes(d.text);
      if (bytes + n > (options.pythonPoolBytes ?? PYTHON_POOL_BYTES)) continue;
      bytes += n;
      pool.python.push(d);
    }
  }
  const ts = loadTypeScript();
  if (ts === null && pool.script.length > 0) throw new Error('the typescript package is needed for TypeScript/JavaScript spans');
  const pySpans = new Map<SuiteDoc, Spans | null>();
  pythonSpans(pool.python.map((d) => d.text), options.python).forEach((s, i) => pySpans.set(pool.python[i]!, s));
  const spansOf = (d: SuiteDoc): Spans | null => (d.language === 'python' ? (pySpans.get(d) ?? null) : GROUP_OF[d.language] === 'script' ? scriptSpans(ts!, d.path, d.text) : null);
  const spanCache = new Map<SuiteDoc, Spans | null>();
  const linesCache = new Map<SuiteDoc, Line[]>();

  interface Draft {
    kind: Kind;
    d: SuiteDoc;
    g: Gap;
    refTokens: number;
    maxTokens: number;
  }
  const drafts: Draft[] = [];
  for (const kind of KINDS) {
    const groups: Group[] = PROSE_KINDS.has(kind) ? ['python', 'script', 'markdown'] : ['python', 'script'];
    const perGroup: Draft[][] = [];
    for (const group of groups) {
      const want = targets[group];
      const order = roundRobin(pool[group], `${seed}:${kind}`);
      const got: Draft[] = [];
      const seen = new Set<string>();
      // One task per document first; scarce groups (few documents) take a second, third, ... pass.
      for (let pass = 0; pass < 4 && got.length < want; pass++) {
        for (const d of order) {
          if (got.length >= want) break;
          if (!linesCache.has(d)) linesCache.set(d, splitLines(d.text));
          if (kind.startsWith('blank-') && !spanCache.has(d)) spanCache.set(d, spansOf(d));
          const rng = new Prng(fnv1a(`${seed}:${kind}:${pass}:${d.path}`));
          for (let tries = 0; tries < 20; tries++) {
            const g = PICKERS[kind](d.text, linesCache.get(d)!, rng, spanCache.get(d) ?? null);
            if (g === null) continue;
            const ref = d.text.slice(g.start, g.end);
            if (ref.trim() === '' || seen.has(`${d.path}\0${g.start}\0${g.end}\0${g.docEnd}`)) continue;
            const refTokens = tok.encode(ref).length;
            const maxTokens = canvas(kind, refTokens);
            if (maxTokens === null) continue;
            seen.add(`${d.path}\0${g.start}\0${g.end}\0${g.docEnd}`);
            got.push({ kind, d, g, refTokens, maxTokens });
            break;
          }
        }
      }
      perGroup.push(got);
    }
    // Interleave the groups in proportion, so the first N tasks of a kind (--limit) mix its languages.
    const keyed = perGroup.flatMap((ds, gi) => ds.map((x, j) => ({ x, key: (j + 0.5) / ds.length, gi })));
    keyed.sort((a, b) => a.key - b.key || a.gi - b.gi);
    drafts.push(...keyed.map((k) => k.x));
  }

  const used = [...new Set(drafts.map((x) => x.d))].sort((a, b) => cmp(a.path, b.path));
  const index = new Map(used.map((d, i) => [d, i]));
  const ids = new Set<string>();
  const tasks = drafts.map(({ kind, d, g, refTokens, maxTokens }): RealisticTask => {
    let id = `${kind}/${fnv1a(`${seed}:${kind}:${d.path}:${g.start}:${g.end}:${g.docEnd}`).toString(16).padStart(8, '0')}`;
    for (let k = 2; ids.has(id); k++) id = `${id.split('~')[0]}~${k}`;
    ids.add(id);
    return {
      id,
      kind,
      mode: kind.startsWith('blank-') ? 'fill' : 'infill',
      language: d.language,
      doc: index.get(d)!,
      start: g.start,
      end: g.end,
      doc_end: g.docEnd,
      reference: d.text.slice(g.start, g.end),
      ref_tokens: refTokens,
      max_tokens: maxTokens,
      ...(kind === 'mid-line' || kind === 'end-of-line' ? { cuts_word: cutsWord(d.text, g) } : {}),
      source: { package: d.package, version: d.version, path: d.path, license: d.license },
    };
  });
  return { docs: used, tasks };
}

// --- files -----------------------------------------------------------------------------------------

const LANGUAGE_BY_EXT: Record<string, string> = {
  '.py': 'python', '.pyi': 'python', '.ts': 'typescript', '.tsx': 'typescript', '.mts': 'typescript', '.cts': 'typescript',
  '.js': 'javascript', '.jsx': 'javascript', '.mjs': 'javascript', '.cjs': 'javascript', '.md': 'markdown', '.markdown': 'markdown',
};

/** Corpus documents from JSON lines, or from a folder of files (with a PROVENANCE.json like test/fixtures/corpus). */
export function readCorpus(corpus: string): SuiteDoc[] {
  if (corpus.endsWith('.jsonl')) {
    return readFileSync(corpus, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as SuiteDoc);
  }
  const prov = new Map<string, { package: string; version: string; license: string; source_path: string }>();
  const pf = join(corpus, 'PROVENANCE.json');
  if (existsSync(pf)) for (const f of (JSON.parse(readFileSync(pf, 'utf8')) as { files: Array<{ file: string; package: string; version: string; license: string; source_path: string }> }).files) prov.set(f.file, f);
  const out: SuiteDoc[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) {
        walk(p);
        continue;
      }
      const rel = relative(corpus, p).split('\\').join('/');
      const ext = rel.endsWith('.d.ts') ? '.ts' : rel.slice(rel.lastIndexOf('.')).toLowerCase();
      const language = LANGUAGE_BY_EXT[ext];
      if (language === undefined) continue;
      const pv = prov.get(rel);
      out.push({
        path: pv ? `${pv.package}@${pv.version}/${pv.source_path}` : rel,
        package: pv?.package ?? null,
        version: pv?.version ?? null,
        license: pv?.license ?? null,
        language,
        text: readFileSync(p, 'utf8'),
      });
    }
  };
  walk(corpus);
  return out;
}

export function suiteFiles(suite: Suite): { docs: string; tasks: string } {
  return {
    docs: suite.docs.map((d) => JSON.stringify({ path: d.path, package: d.package, version: d.version, license: d.license, language: d.language, text: d.text })).join('\n') + '\n',
    tasks: suite.tasks.map((t) => JSON.stringify(t)).join('\n') + '\n',
  };
}

function main(): void {
  const { values } = parseArgs({
    options: { corpus: { type: 'string' }, out: { type: 'string' }, tokenizer: { type: 'string' }, seed: { type: 'string' }, python: { type: 'string' } },
  });
  const heldout = join(ROOT, 'data', 'corpus', 'heldout.jsonl');
  const test = join(ROOT, 'data', 'corpus', 'test.jsonl');
  const corpus = values.corpus ?? (existsSync(heldout) ? heldout : test);
  if (!existsSync(corpus)) throw new Error(`no corpus at ${corpus} (make it with scripts/corpus/heldout.py)`);
  const tok = Tokenizer.fromFile(values.tokenizer ?? join(ROOT, 'models', 'default', 'tokenizer.json'));
  const suite = buildSuite(readCorpus(corpus), tok, {
    ...(values.seed !== undefined ? { seed: Number(values.seed) } : {}),
    ...(values.python !== undefined ? { python: values.python } : {}),
  });
  const out = values.out ?? join(ROOT, 'test', 'bench', 'realistic');
  mkdirSync(out, { recursive: true });
  const files = suiteFiles(suite);
  writeFileSync(join(out, 'docs.jsonl'), files.docs);
  writeFileSync(join(out, 'tasks.jsonl'), files.tasks);
  const lines = KINDS.map((kind) => {
    const ts = suite.tasks.filter((t) => t.kind === kind);
    const by = (l: string) => ts.filter((t) => t.language === l).length;
    const cut = ts.filter((t) => t.cuts_word && (t.cuts_word.start || t.cuts_word.end)).length;
    return `  ${kind.padEnd(17)} ${String(ts.length).padStart(4)}  python ${by('python')}, typescript ${by('typescript')}, javascript ${by('javascript')}, markdown ${by('markdown')}` +
      (ts[0]?.cuts_word ? `; a word cut at an edge in ${cut}` : '');
  });
  const bytes = Buffer.byteLength(files.docs) + Buffer.byteLength(files.tasks);
  process.stdout.write(
    `${suite.tasks.length} tasks over ${suite.docs.length} documents of ${relative(ROOT, corpus)} -> ${relative(ROOT, out)} (${(bytes / 1e6).toFixed(2)} MB)\n${lines.join('\n')}\n`,
  );
}

if (require.main === module) main();
