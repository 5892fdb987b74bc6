// The realistic bench suite: the extractor (test/bench/extract-realistic.ts) on the small fixture corpus
// (deterministic, gaps shaped as each kind promises), the committed suite's consistency, and the
// metrics of server/src/commands/bench-realistic-*.ts and bench-parse.ts (parse checks, repetition).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Tokenizer } from '../../server/engine/tokenizer';
import { command as bench } from '../../server/src/commands/bench';
import { checkParses, pythonParses } from '../../server/src/commands/bench-parse';
import { addsRepetition, repeatedUnits, summarize, type TaskResult } from '../../server/src/commands/bench-realistic-score';
import { loadSuite, selectTasks, taskParts } from '../../server/src/commands/bench-realistic-suite';
import { buildSuite, KINDS, PROSE_KINDS, readCorpus, suiteFiles, type RealisticTask } from '../bench/extract-realistic';

const ROOT = join(__dirname, '..', '..');
const tok = Tokenizer.fromFile(join(ROOT, 'models', 'default', 'tokenizer.json'));
const targets = { python: 12, script: 12, markdown: 4 };

function lineOf(text: string, at: number): { start: number; end: number } {
  const start = text.lastIndexOf('\n', at - 1) + 1;
  const nl = text.indexOf('\n', at);
  return { start, end: nl === -1 ? text.length : nl };
}

test('the extractor is deterministic and every gap has its kind\'s shape', () => {
  const corpus = readCorpus(join(ROOT, 'test', 'fixtures', 'corpus'));
  const a = buildSuite(corpus, tok, { targets });
  const b = buildSuite(corpus.slice().reverse(), tok, { targets });
  assert.deepEqual(suiteFiles(a), suiteFiles(b), 'same documents in any order give the same files');
  assert.notDeepEqual(suiteFiles(buildSuite(corpus, tok, { targets, seed: 1 })).tasks, suiteFiles(a).tasks, 'the seed matters');
  assert.equal(new Set(a.tasks.map((t) => t.id)).size, a.tasks.length, 'task ids are unique');
  for (const kind of KINDS) {
    const ts = a.tasks.filter((t) => t.kind === kind);
    const want = targets.python + targets.script + (PROSE_KINDS.has(kind) ? targets.markdown : 0);
    assert.equal(ts.length, want, kind);
    assert.ok(ts.some((t) => t.language === 'python') && ts.some((t) => t.language === 'typescript' || t.language === 'javascript'), kind);
    assert.equal(ts.some((t) => t.language === 'markdown'), PROSE_KINDS.has(kind), kind);
  }
  let cutWords = 0;
  for (const t of a.tasks) checkShape(t, a.docs[t.doc]!.text, () => cutWords++);
  const midLine = a.tasks.filter((t) => t.kind === 'mid-line').length;
  assert.ok(cutWords >= midLine / 3, `mid-line gaps cutting a word: ${cutWords} of ${midLine}`);
});

function checkShape(t: RealisticTask, stored: string, cutWord: () => void): void {
  const doc = stored.slice(0, t.doc_end);
  const ref = t.reference;
  const what = `${t.id} ${JSON.stringify(ref)}`;
  assert.equal(doc.slice(t.start, t.end), ref, what);
  assert.notEqual(ref.trim(), '', what);
  assert.equal(t.ref_tokens, tok.encode(ref).length, what);
  assert.equal(t.mode, t.kind.startsWith('blank-') ? 'fill' : 'infill', what);
  assert.equal(t.max_tokens, t.kind === 'block' ? 96 : Math.max(32, t.ref_tokens + 8), what);
  assert.ok(t.ref_tokens + 8 <= t.max_tokens, what);
  if (t.kind !== 'end-of-document') assert.equal(t.doc_end, stored.length, what);
  const line = lineOf(doc, t.start);
  const suffix = doc.slice(t.end);
  switch (t.kind) {
    case 'line-start':
    case 'block': {
      assert.equal(doc[t.start - 1], '\n', `${what}: the prefix ends with a line break`);
      assert.ok(ref.endsWith('\n'), `${what}: the line break goes with the gap`);
      const n = ref.split('\n').length - 1;
      if (t.kind === 'line-start') assert.equal(n, 1, what);
      else assert.ok(n >= 2 && n <= 10, what);
      assert.ok(suffix.length > 0, `${what}: the next line follows`);
      break;
    }
    case 'after-indent':
      assert.match(doc.slice(line.start, t.start), /^[ \t]*$/, what);
      assert.doesNotMatch(ref, /^[ \t]|\n/, what);
      assert.ok(suffix.startsWith('\n'), what);
      break;
    case 'mid-line':
      assert.ok(ref.length >= 1 && ref.length <= 40 && !ref.includes('\n'), what);
      assert.notEqual(doc.slice(t.end, lineOf(doc, t.end).end).trim(), '', `${what}: code goes on after the gap`);
      if (t.cuts_word!.start || t.cuts_word!.end) cutWord();
      break;
    case 'end-of-line':
      assert.ok(!ref.includes('\n') && suffix.startsWith('\n'), what);
      assert.notEqual(doc.slice(line.start, t.start).trim(), '', `${what}: the cursor is past the indentation`);
      break;
    case 'end-of-document':
      assert.equal(t.end, t.doc_end, what);
      assert.equal(suffix, '', what);
      assert.ok(!ref.includes('\n'), what);
      break;
    case 'blank-identifier':
      assert.match(ref, /^[\p{L}_$][\p{L}\p{N}_$]*$/u, what);
      break;
    case 'blank-args':
      assert.equal(doc[t.start - 1], '(', what);
      assert.equal(doc[t.end], ')', what);
      assert.ok(!ref.includes('\n'), what);
      break;
    case 'blank-expression':
      assert.ok(!ref.includes('\n'), what);
      break;
    default:
      assert.fail(`unknown kind ${t.kind}`);
  }
}

test('the committed suite: every task matches its document and its kind\'s shape, at least 200 per kind', () => {
  const suite = loadSuite(join(ROOT, 'test', 'bench', 'realistic'));
  for (const kind of KINDS) assert.ok(suite.tasks.filter((t) => t.kind === kind).length >= 200, kind);
  const picked = selectTasks(suite.tasks, 3, ['mid-line', 'blank-args']);
  assert.deepEqual([...new Set(picked.map((t) => t.kind))], ['mid-line', 'blank-args']);
  assert.equal(picked.length, 6);
  for (const t of suite.tasks) checkShape(t as RealisticTask, suite.docs[t.doc]!.text, () => undefined);
  const eod = suite.tasks.find((t) => t.kind === 'end-of-document')!;
  assert.equal(taskParts(eod, suite.docs).suffix, '');
});

test('parse checks: Python through python3, TypeScript/JavaScript through the compiler, prose unchecked', () => {
  const r = checkParses([
    { language: 'python', path: 'a.py', text: 'def f(x):\n    return x + 1\n' },
    { language: 'python', path: 'a.py', text: 'def f(x):\n    return x +\n' },
    { language: 'typescript', path: 'a.ts', text: 'const x: number = f(1);\n' },
    { language: 'typescript', path: 'a.ts', text: 'const x: number = f(1;\n' },
    { language: 'javascript', path: 'a.js', text: 'const x = f(1);\n' },
    { language: 'javascript', path: 'a.js', text: 'const x: number = 1;\n' },
    { language: 'typescript', path: 'lib.d.ts', text: 'declare function f(x: number): void;\n' },
    { language: 'markdown', path: 'a.md', text: '# Title\n' },
  ]);
  assert.deepEqual(r.results, [true, false, true, false, true, false, true, null]);
  assert.deepEqual(r.notes, []);
  assert.match(r.python ?? '', /^3\./);
  const none = pythonParses(['x = 1\n'], join(ROOT, 'no-such-python'));
  assert.deepEqual(none.results, [null], 'no interpreter: n/a, not a guess');
  assert.ok(none.error !== null);
});

test('repetition: a token or an n-gram of up to 8 tokens 3+ times in a row, unless the reference has it', () => {
  assert.deepEqual([...repeatedUnits([1, 2, 2, 2, 3])], ['2']);
  assert.equal(repeatedUnits([1, 2, 2, 3]).size, 0, 'twice is not a run');
  assert.deepEqual([...repeatedUnits([5, 1, 2, 1, 2, 1, 2, 9])], ['1,2']);
  assert.deepEqual([...repeatedUnits([7, 7, 7, 7, 7, 7])], ['7'], 'a periodic unit counts as its period');
  const eight = [1, 2, 3, 4, 5, 6, 7, 8];
  assert.equal(repeatedUnits([...eight, ...eight, ...eight]).size, 1);
  const nine = [...eight, 9];
  assert.equal(repeatedUnits([...nine, ...nine, ...nine]).size, 0, 'units longer than 8 tokens are not looked for');
  assert.deepEqual(repeatedUnits([2, 1, 2, 1, 2, 1]), repeatedUnits([1, 2, 1, 2, 1, 2]), 'rotations are one unit');
  assert.equal(addsRepetition([4, 4, 4], [1, 2]), true);
  assert.equal(addsRepetition([4, 4, 4, 4], [0, 4, 4, 4]), false, 'the reference repeats it too');
  assert.equal(addsRepetition([1, 2, 3], [1, 2, 3]), false);
});

test('summaries: parse rate only over tasks whose own document parses; empty means blank', () => {
  const base: TaskResult = {
    id: 'x', kind: 'k', language: 'python', answer: 'a', ms: 10, forwards: 2, error: null, exact: false, exact_trimmed: false,
    edit_similarity: 0.5, answer_tokens: 4, reference_tokens: 2, repetition: false, empty: false, original_parses: true, parses: true,
  };
  const s = summarize([
    base,
    { ...base, parses: false, answer_tokens: 2, exact: true, exact_trimmed: true },
    { ...base, original_parses: false, parses: null, answer: ' ', empty: true, answer_tokens: 1 },
    { ...base, language: 'markdown', original_parses: null, parses: null, ms: 30 },
  ]);
  assert.equal(s.tasks, 4);
  assert.equal(s.parse_checked, 2);
  assert.equal(s.parse_rate, 0.5);
  assert.equal(s.exact_match, 0.25);
  assert.equal(s.empty, 0.25);
  assert.equal(s.longer_than_1_5x, 0.5);
  assert.equal(s.length_ratio, (2 + 1 + 0.5 + 2) / 4);
  assert.equal(summarize([{ ...base, language: 'markdown', original_parses: null, parses: null }]).parse_rate, null, 'n/a without checkable tasks');
});

test('bench --suite: an unknown suite is a usage error', async () => {
  await assert.rejects(bench.run(['--suite', 'nope']), /unknown suite 'nope'/);
});
