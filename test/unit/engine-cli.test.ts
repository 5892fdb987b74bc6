// The engine's CLI commands (infill, fill, before, bench) end to end on the tiny model.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { UsageError } from '../../server/src/command';
import { command as bench, editSimilarity, exactMatch, levenshtein } from '../../server/src/commands/bench';
import { command as before, lineOffset } from '../../server/src/commands/before';
import { command as fill } from '../../server/src/commands/fill';
import { output } from '../../server/src/commands/engine-flags';
import { command as infill } from '../../server/src/commands/infill';
import { ROOT, sharpModelDir } from '../helpers/tiny-model';

const work = mkdtempSync(join(tmpdir(), 'diffill-cli-'));

/** Runs a command in this process (no start-up cost), capturing what it prints. */
async function inProcess(run: () => Promise<number>): Promise<{ code: number; stdout: string }> {
  const write = output.write;
  let stdout = '';
  output.write = (text: string) => {
    stdout += text;
  };
  try {
    return { code: await run(), stdout };
  } finally {
    output.write = write;
  }
}

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'src', 'cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('infill: one JSON line out per task line in, with the documented fields', () => {
  const input = join(work, 'tasks.jsonl');
  const output = join(work, 'out.jsonl');
  writeFileSync(input, [{ task_id: 'a', prompt: 'def f(x):\n    return ', suffix: '\n' }, { task_id: 7, prompt: '', suffix: 'end' }].map((t) => JSON.stringify(t)).join('\n') + '\n');
  const r = cli(['infill', '--input', input, '--output', output, '--model', sharpModelDir(), '--threads', '1', '--max-tokens', '6', '--guidance', '0.5', '--seed', '3', '--steps', '6']);
  assert.equal(r.code, 0, r.stderr);
  const rows = readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((x) => x.task_id), ['a', 7]);
  for (const x of rows) {
    assert.deepEqual(Object.keys(x).sort(), ['completion', 'forwards', 'latency_ms', 'task_id', 'tokens']);
    assert.equal(typeof x.completion, 'string');
    assert.ok(x.forwards >= 1 && x.forwards <= 6);
  }
});

test('infill: bad input and bad models are reported, not crashed on', () => {
  const input = join(work, 'bad.jsonl');
  writeFileSync(input, '{"task_id": 1}\n');
  const r = cli(['infill', '--input', input, '--model', sharpModelDir(), '--threads', '1']);
  assert.equal(r.code, 1); // the command line is fine; the input file is not
  assert.match(r.stderr, /input line 1/);
  const m = cli(['infill', '--input', input, '--model', join(work, 'nope')]);
  assert.equal(m.code, 1);
  assert.match(m.stderr, /model file .*nope: model directory not found/);
});

test('usage errors', async () => {
  await assert.rejects(infill.run(['--steps', 'x', '--input', join(work, 'tasks.jsonl')]), UsageError);
  await assert.rejects(infill.run(['--bogus']), UsageError);
  await assert.rejects(before.run([join(work, 'doc.txt')]), /--line N/);
  await assert.rejects(fill.run([]), /expected one FILE/);
});

test('fill prints the document with every blank filled; before prints text for above line N', async () => {
  const doc = join(work, 'doc.txt');
  writeFileSync(doc, 'x = ___\ny = ___\nprint(x + y)\n');
  const r = await inProcess(() => fill.run([doc, '--model', sharpModelDir(), '--threads', '1', '--max-tokens', '4']));
  assert.equal(r.code, 0);
  assert.ok(!r.stdout.includes('___'));
  assert.match(r.stdout, /^x = [^]*\ny = [^]*\nprint\(x \+ y\)\n$/);
  const b = await inProcess(() => before.run([doc, '--line', '3', '--model', sharpModelDir(), '--threads', '1', '--max-tokens', '6']));
  assert.equal(b.code, 0);
  assert.ok(b.stdout === '' || b.stdout.endsWith('\n'));
  await assert.rejects(before.run([doc, '--line', '9', '--model', sharpModelDir()]), /--line 9 is out of range/);
});

test('bench runs the suite and writes JSON with the baseline first', async () => {
  const tasks = join(work, 'bench.jsonl');
  const mk = (kind: string, i: number) => ({ task_id: `${kind}/${i}`, kind, prompt: `let v${i} = `, suffix: ';\n', middle: `${i}`, max_tokens: 4 });
  writeFileSync(tasks, [mk('single-line', 0), mk('single-line', 1), mk('multi-line', 0)].map((t) => JSON.stringify(t)).join('\n') + '\n');
  const out = join(work, 'bench.json');
  // --no-lsp: the language-server row (test/unit/bench-lsp.test.ts) needs the built bundle.
  const r = await inProcess(() => bench.run(['--quick', '--limit', '1', '--tasks', tasks, '--json', out, '--model', sharpModelDir(), '--threads', '1', '--no-lsp']));
  assert.equal(r.code, 0);
  const j = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(j.lsp, null);
  assert.doesNotMatch(r.stdout, /LSP inlineCompletion/);
  assert.match(j.rows[0].setting, /baseline/);
  assert.equal(j.rows[0].tasks, 2);
  assert.ok(j.rows.every((x: { p50_ms: number }) => x.p50_ms > 0));
  assert.match(r.stdout, /\| setting \| ctx \|/);
});

test('metrics and line offsets', () => {
  assert.equal(levenshtein('kitten', 'sitting'), 3);
  assert.equal(editSimilarity(' abc ', 'abc'), 1);
  assert.ok(Math.abs(editSimilarity('abcd', 'abxd') - 0.75) < 1e-12);
  assert.ok(exactMatch('x + 1 \n', 'x + 1'));
  assert.equal(lineOffset('a\nb\nc', 1), 0);
  assert.equal(lineOffset('a\nb\nc', 3), 4);
  assert.equal(lineOffset('a\nb', 3), 3);
});
