// The bench's end-to-end row (server/src/commands/bench-lsp.ts): the built language server
// (`node bin/diffill lsp --stdio`) asked for ghost text on two real single-line bench tasks with the
// tiny model. Build first (`npm run build`); `npm test` does.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { benchLsp, LSP_ROW_NAME, scoreInsert } from '../../server/src/commands/bench-lsp';
import type { Task } from '../../server/src/commands/bench-metrics';
import { ROOT, tinyModelDir } from '../helpers/tiny-model';

const CLI = join(ROOT, 'dist', 'cli.js');

function singleLineTasks(n: number): Task[] {
  const lines = readFileSync(join(ROOT, 'test', 'bench', 'tasks.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '');
  return lines.map((l) => JSON.parse(l) as Task).filter((t) => t.kind === 'single-line').slice(0, n);
}

test('the LSP row: two tasks through the built server, timed and scored per request', { timeout: 120_000 }, async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before this test`);
  const tasks = singleLineTasks(2);
  const row = await benchLsp({ model: tinyModelDir(), threads: 1, tasks });
  assert.equal(row.setting, LSP_ROW_NAME);
  assert.equal(row.transport, 'stdio');
  assert.equal(row.tasks, 2);
  assert.equal(row.warmup_requests, 2);
  assert.equal(row.context, 512);
  assert.equal(row.server_settings['debounceMs'], 0);
  assert.equal(row.overhead, null, 'the bench command fills in the overhead, not the client');
  assert.ok(row.p50_ms > 0 && row.p95_ms >= row.p50_ms, `p50 ${row.p50_ms}, p95 ${row.p95_ms}`);
  assert.equal(row.single_line_p50_ms, row.p50_ms);
  assert.ok(Number.isFinite(row.server_model_p50_ms) && Number.isFinite(row.outside_model_p50_ms));
  assert.ok(row.exact_match >= 0 && row.exact_match <= 1);
  assert.ok(row.edit_similarity >= 0 && row.edit_similarity <= 1);
  assert.deepEqual(
    row.requests.map((r) => r.task_id),
    tasks.map((t) => t.task_id),
  );
  for (const [i, r] of row.requests.entries()) {
    assert.ok(r.ms > 0);
    // The warm-up asked for these same tasks: a number here means the model ran for this request
    // (the server reports its model time only then), i.e. no cache answered it.
    assert.equal(typeof r.server_ms, 'number', `request ${r.task_id} was not run by the model`);
    assert.ok(r.ms >= r.server_ms! - 1, 'the round trip contains the model time');
    assert.equal(typeof r.text, 'string');
    const again = scoreInsert(r.text === '' ? undefined : { insertText: r.text, range: { start: { line: 0, character: 0 }, end: { line: 0, character: r.replace_chars } } }, tasks[i]!);
    assert.equal(r.exact_match, again.em);
    assert.equal(r.edit_similarity, again.es);
  }
  assert.equal(row.exact_match, row.requests.filter((r) => r.exact_match).length / 2);
});

test('scoring an item: trimmed exact match, and replaced closers count as part of the gap', () => {
  const task: Task = { task_id: 't', kind: 'single-line', prompt: 'f(', suffix: ')\n', middle: 'x, y', max_tokens: 8 };
  const at = (insertText: string, replace: number) => ({ insertText, range: { start: { line: 0, character: 2 }, end: { line: 0, character: 2 + replace } } });
  assert.deepEqual(scoreInsert(at('x, y ', 0), task), { text: 'x, y ', replaceChars: 0, em: true, es: 1 });
  // Accepting "x, y)" over the auto-closed ")" leaves f(x, y)\n: the held-out line.
  assert.equal(scoreInsert(at('x, y)', 1), task).em, true);
  assert.equal(scoreInsert(at('x, y)', 0), task).em, false);
  const none = scoreInsert(undefined, task);
  assert.equal(none.text, '');
  assert.equal(none.em, false);
  assert.equal(none.es, 0);
});
