// Builds the fixed benchmark suite test/bench/tasks.jsonl from the corpus test split, deterministically
// (same corpus + tokenizer -> same file, byte for byte).
//
//   node --import tsx test/bench/extract-tasks.ts [--corpus data/corpus/test.jsonl] [--out test/bench/tasks.jsonl] [--per-kind 80]
//
// Three kinds of held-out infill task, `per-kind` of each, at most one per document and kind:
//   single-line  the code of one line (after its indentation), canvas 32 tokens
//   multi-line   2-4 consecutive whole lines, canvas 64 tokens
//   random-span  a span of 8-64 characters between whitespace boundaries, canvas 32 tokens
// Each task keeps up to CONTEXT_CHARS of text on either side (cut at line boundaries), enough for the
// 1024-token context setting, and its provenance (path, package, version, license, language, offset).
// Without data/corpus/test.jsonl the documents of test/fixtures/corpus are used (and `source` says so).
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Prng } from '../../server/engine/prng';
import { Tokenizer } from '../../server/engine/tokenizer';

const ROOT = resolve(__dirname, '..', '..');
const CONTEXT_CHARS = 6000;
const MIN_DOC_CHARS = 400;

interface Doc {
  path: string;
  package?: string;
  version?: string;
  license?: string;
  language?: string;
  text: string;
}

export interface BenchTask {
  task_id: string;
  kind: 'single-line' | 'multi-line' | 'random-span';
  prompt: string;
  suffix: string;
  middle: string;
  max_tokens: number;
  middle_tokens: number;
  source: { corpus: string; path: string; package: string | null; version: string | null; license: string | null; language: string | null; offset: number };
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function readDocs(corpus: string): Doc[] {
  if (corpus.endsWith('.jsonl')) {
    return readFileSync(corpus, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Doc);
  }
  const out: Doc[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push({ path: relative(corpus, p), text: readFileSync(p, 'utf8') });
    }
  };
  walk(corpus);
  return out;
}

function lineStarts(text: string): number[] {
  const s = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) if (i + 1 < text.length) s.push(i + 1);
  return s;
}

/** Keeps at most CONTEXT_CHARS before/after, cut at a line boundary. */
function clip(prompt: string, suffix: string): [string, string] {
  let p = prompt;
  if (p.length > CONTEXT_CHARS) {
    const from = p.indexOf('\n', p.length - CONTEXT_CHARS);
    p = from === -1 ? p.slice(-CONTEXT_CHARS) : p.slice(from + 1);
  }
  let s = suffix;
  if (s.length > CONTEXT_CHARS) {
    const to = s.lastIndexOf('\n', CONTEXT_CHARS);
    s = to <= 0 ? s.slice(0, CONTEXT_CHARS) : s.slice(0, to + 1);
  }
  return [p, s];
}

type Candidate = { start: number; end: number } | null;

function singleLine(text: string, rng: Prng): Candidate {
  const starts = lineStarts(text).slice(1);
  for (let tries = 0; tries < 20 && starts.length > 0; tries++) {
    const ls = starts[Math.floor(rng.uniform() * starts.length)]!;
    let le = text.indexOf('\n', ls);
    if (le === -1) le = text.length;
    const line = text.slice(ls, le);
    const indent = line.length - line.trimStart().length;
    const body = line.trim();
    if (body.length >= 8 && body.length <= 120) return { start: ls + indent, end: ls + indent + line.trimStart().trimEnd().length };
  }
  return null;
}

function multiLine(text: string, rng: Prng): Candidate {
  const starts = lineStarts(text);
  for (let tries = 0; tries < 20 && starts.length > 6; tries++) {
    const i = 1 + Math.floor(rng.uniform() * (starts.length - 5));
    const k = 2 + Math.floor(rng.uniform() * 3);
    const s = starts[i]!;
    const next = starts[i + k];
    if (next === undefined) continue;
    const e = next - 1; // the last line's break stays in the suffix
    const lines = text.slice(s, e).split('\n');
    if (lines.filter((l) => l.trim() !== '').length >= 2 && e - s <= 300) return { start: s, end: e };
  }
  return null;
}

function randomSpan(text: string, rng: Prng): Candidate {
  for (let tries = 0; tries < 20; tries++) {
    let s = 1 + Math.floor(rng.uniform() * (text.length - 80));
    while (s < text.length && !/\s/.test(text[s - 1]!)) s++;
    while (s < text.length && /\s/.test(text[s]!)) s++;
    let e = s + 8 + Math.floor(rng.uniform() * 57);
    while (e < text.length && !/\s/.test(text[e]!)) e++;
    if (e <= text.length && e - s >= 8 && e - s <= 64) return { start: s, end: e };
  }
  return null;
}

const KINDS = [
  { kind: 'single-line', pick: singleLine, maxTokens: 32, budget: 24 },
  { kind: 'multi-line', pick: multiLine, maxTokens: 64, budget: 56 },
  { kind: 'random-span', pick: randomSpan, maxTokens: 32, budget: 24 },
] as const;

function main(): void {
  const { values } = parseArgs({
    options: { corpus: { type: 'string' }, out: { type: 'string' }, 'per-kind': { type: 'string' }, tokenizer: { type: 'string' } },
  });
  const main = join(ROOT, 'data', 'corpus', 'test.jsonl');
  const fallback = join(ROOT, 'test', 'fixtures', 'corpus');
  const corpus = values.corpus ?? (existsSync(main) ? main : fallback);
  if (!existsSync(corpus)) throw new Error(`no corpus at ${corpus}`);
  const tok = Tokenizer.fromFile(values.tokenizer ?? join(ROOT, 'models', 'default', 'tokenizer.json'));
  const perKind = Number(values['per-kind'] ?? 80);
  const docs = readDocs(corpus)
    .filter((d) => typeof d.text === 'string' && d.text.length >= MIN_DOC_CHARS)
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const corpusName = relative(ROOT, corpus);
  const tasks: BenchTask[] = [];
  for (const { kind, pick, maxTokens, budget } of KINDS) {
    // A per-kind shuffle seeded by the kind's name only, taking packages in turn so that one big
    // package cannot fill the suite.
    const byPackage = new Map<string, Doc[]>();
    for (const d of docs) {
      const k = d.package ?? '';
      if (!byPackage.has(k)) byPackage.set(k, []);
      byPackage.get(k)!.push(d);
    }
    const key = (d: Doc) => fnv1a(`${kind}\0${d.package ?? ''}\0${d.path}`);
    const queues = [...byPackage.entries()]
      .sort((a, b) => fnv1a(`${kind}\0${a[0]}`) - fnv1a(`${kind}\0${b[0]}`) || (a[0] < b[0] ? -1 : 1))
      .map(([, ds]) => ds.slice().sort((a, b) => key(a) - key(b) || (a.path < b.path ? -1 : 1)));
    const order: Doc[] = [];
    for (let i = 0; order.length < docs.length; i++) for (const q of queues) if (i < q.length) order.push(q[i]!);
    let n = 0;
    for (const d of order) {
      if (n >= perKind) break;
      const rng = new Prng(fnv1a(`${kind}:${d.path}`));
      const c = pick(d.text, rng);
      if (c === null) continue;
      const middle = d.text.slice(c.start, c.end);
      const middleTokens = tok.encode(middle).length;
      if (middleTokens === 0 || middleTokens > budget) continue;
      const [prompt, suffix] = clip(d.text.slice(0, c.start), d.text.slice(c.end));
      tasks.push({
        task_id: `${kind}/${String(n).padStart(3, '0')}`,
        kind,
        prompt,
        suffix,
        middle,
        max_tokens: maxTokens,
        middle_tokens: middleTokens,
        source: { corpus: corpusName, path: d.path, package: d.package ?? null, version: d.version ?? null, license: d.license ?? null, language: d.language ?? null, offset: c.start },
      });
      n++;
    }
  }
  const out = values.out ?? join(ROOT, 'test', 'bench', 'tasks.jsonl');
  writeFileSync(out, tasks.map((t) => JSON.stringify(t)).join('\n') + '\n');
  const counts = KINDS.map(({ kind }) => `${kind} ${tasks.filter((t) => t.kind === kind).length}`).join(', ');
  process.stdout.write(`${tasks.length} tasks (${counts}) from ${docs.length} documents of ${corpusName} -> ${relative(ROOT, out)}\n`);
}

main();
