// The length rules of config.json (docs/model-format.md) on the noisy tiny model, whose [PAD] (id 0)
// is strong: the same graph served under other configs. "fixed" (no [PAD]): every canvas position is a
// real token and the canvas is the answer's length; "eos": the id the model ends answers with is EOS,
// the answer ends at its first EOS and the positions after it are EOS; a model without BOS gets
// nothing prepended. Through the engine API and the `diffill` CLI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildCanvas } from '../../server/engine/canvas';
import { type Engine, loadModel } from '../../server/engine/engine';
import { DEFAULT_CONTEXT, FIXED_CANVAS, resolveSampler } from '../../server/engine/options';
import { sample } from '../../server/engine/sampler';
import { ROOT, sharpModelDir } from '../helpers/tiny-model';

const work = mkdtempSync(join(tmpdir(), 'diffill-length-rule-'));

/** A copy of the sharp tiny model with config.json edited (same graph, tokenizer and weights). */
function variant(name: string, edit: (c: { special_tokens: Record<string, unknown> } & Record<string, unknown>) => void): string {
  const dir = join(work, name);
  cpSync(sharpModelDir(), dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  edit(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

let fixedDir: string;
let eosDir: string;
let fixed: Engine;
let fixedWithPad: Engine;
let eos: Engine;
before(async () => {
  fixedDir = variant('fixed', (c) => {
    c.special_tokens.pad = null;
    c.length_rule = 'fixed';
  });
  // The trained [PAD] id plays EOS: the model ends its answers with it. No BOS either.
  eosDir = variant('eos', (c) => {
    c.special_tokens = { pad: null, bos: null, eos: 0, mask: 3 };
    c.length_rule = 'eos';
  });
  fixed = await loadModel(fixedDir, { threads: 1 });
  fixedWithPad = await loadModel(variant('fixed-pad', (c) => void (c.length_rule = 'fixed')), { threads: 1 });
  eos = await loadModel(eosDir, { threads: 1 });
});
after(async () => {
  await Promise.all([fixed?.dispose(), fixedWithPad?.dispose(), eos?.dispose()]);
  rmSync(work, { recursive: true, force: true });
});

const GAPS = [
  { prefix: 'export function add(a: number, b: number) {\n  return ', suffix: ';\n}\n' },
  { prefix: 'import { x } from', suffix: '\nconst y = 2;\n' },
  { prefix: 'def f(x):\n    return ', suffix: '\n' },
  { prefix: '# Title\n\nSome text ', suffix: ' and more.\n' },
];

function canvasOf(engine: Engine, prefix: string, suffix: string, n: number) {
  return buildCanvas(engine.model, [prefix, suffix], [n], DEFAULT_CONTEXT);
}

test('fixed: every canvas position becomes a token, never [PAD], whatever the length threshold', async () => {
  for (const engine of [fixed, fixedWithPad]) {
    for (const { prefix, suffix } of GAPS) {
      const canvas = canvasOf(engine, prefix, suffix, 10);
      const commits: number[] = [];
      const out = await sample(engine.model, canvas, resolveSampler({ lengthThreshold: 0.2 }), undefined, (_, c) => commits.push(...c.map(([, t]) => t)));
      assert.equal(out.spans[0]!.length, 10, `${engine.name}: the answer is the canvas's length`);
      assert.equal(commits.length, 10, `${engine.name}: one commit per position, none broadcast`);
      // Served as "fixed" with its [PAD] id still named, the model's [PAD] is no text: never emitted.
      if (engine === fixedWithPad) assert.ok(!commits.includes(0), "the model's [PAD] (id 0) is never emitted");
    }
  }
  // The same gaps on the same graph with its [PAD] rule end early: the test above is not vacuous.
  const padModel = await loadModel(sharpModelDir(), { threads: 1 });
  try {
    let shorter = 0;
    for (const { prefix, suffix } of GAPS) {
      const out = await sample(padModel.model, canvasOf(padModel, prefix, suffix, 10), resolveSampler({ lengthThreshold: 0.2 }));
      if (out.spans[0]!.length < 10) shorter++;
    }
    assert.ok(shorter > 0, 'the [PAD] model ends some of these answers early');
  } finally {
    await padModel.dispose();
  }
});

test('fixed: ghost text and Fill Blanks use the whole canvas before the scope cuts what is shown', async () => {
  for (const { prefix, suffix } of GAPS) {
    // Without a maxTokens the canvas is one line's worth; with one, at most that.
    const ghost = await fixed.infill({ prefix, suffix, fit: { scope: false } });
    assert.equal(ghost.tokens, FIXED_CANVAS.line);
    const short = await fixed.infill({ prefix, suffix, maxTokens: 5, fit: { scope: false } });
    assert.equal(short.tokens, 5);
    const scoped = await fixed.infill({ prefix, suffix, maxTokens: 12 });
    assert.equal(scoped.tokens, 12, 'the scope cuts the text, not the decoding');
    assert.ok(!/\n./.test(scoped.text.replace(/\n$/, '')) || prefix.endsWith('\n'), 'a mid-line gap shows one line');
  }
  const text = 'x = ___\ny = ___\nprint(x + y)\n';
  const r = await fixed.fill({ text, blanks: [{ start: 4, end: 7 }, { start: 12, end: 15 }], maxTokensPerBlank: 4 });
  assert.equal(r.fills.length, 2);
  // Candidate lengths 1, 2 and 4 (FIXED_CANVAS.blankLengths within 4): each a full joint decode.
  const best = r.fills.map((f) => f);
  assert.ok(r.tokens >= 2 && r.tokens <= 8, `each blank keeps one candidate of 1 to 4 tokens (got ${r.tokens} tokens)`);
  assert.ok(best.every((f) => !f.includes('\n')), 'a blank inside a line is filled within its line');
});

test('eos: the answer ends at its first EOS, the positions after it are EOS and are dropped', async () => {
  let ended = 0;
  for (const { prefix, suffix } of GAPS) {
    for (const lengthThreshold of [0, 0.2]) {
      const n = 12;
      const canvas = canvasOf(eos, prefix, suffix, n);
      const at = new Map<number, number>();
      const stepOf = new Map<number, number>();
      const out = await sample(eos.model, canvas, resolveSampler({ lengthThreshold }), undefined, (step, c) => {
        for (const [p, t] of c) {
          at.set(p, t);
          stepOf.set(p, step);
        }
      });
      const start = canvas.spans[0]!.start;
      const span = Array.from({ length: n }, (_, i) => at.get(start + i)!);
      const first = span.indexOf(0);
      if (first >= 0) {
        ended++;
        // Every position still masked when the first EOS came became EOS at once: nothing right of it
        // is decoded later (commits of that same step or earlier ones may stand there).
        const when = stepOf.get(start + first)!;
        for (let i = first + 1; i < n; i++) assert.ok(stepOf.get(start + i)! <= when, `position ${i} decoded after the first EOS (${span.join(' ')})`);
      }
      assert.deepEqual(out.spans[0], first >= 0 ? span.slice(0, first) : span, 'the answer is what comes before the first EOS');
    }
  }
  assert.ok(ended > 0, 'some answers end at an EOS');
  // Nothing is prepended without BOS: the canvas starts with the text's own first token.
  const canvas = canvasOf(eos, 'import os\n', '', 4);
  assert.equal(canvas.ids[0], eos.model.tokenizer.encode('import os\n')[0]);
  assert.equal(canvas.ids[canvas.ids.length - 1], 0, 'the document end is EOS');
  // Through the engine's task: ghost text on the same gap ends where the sampler's EOS does.
  const r = await eos.infill({ prefix: GAPS[0]!.prefix, suffix: GAPS[0]!.suffix, maxTokens: 12, fit: { scope: false, heal: false } });
  assert.ok(r.tokens <= 12);
});

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'src', 'cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('diffill infill, fill and before serve models without [PAD]', () => {
  const tasks = join(work, 'tasks.jsonl');
  writeFileSync(tasks, GAPS.map((g, i) => JSON.stringify({ task_id: `t${i}`, prompt: g.prefix, suffix: g.suffix })).join('\n') + '\n');
  const out = join(work, 'out.jsonl');
  const r = cli(['infill', '--input', tasks, '--output', out, '--model', fixedDir, '--threads', '1', '--max-tokens', '6']);
  assert.equal(r.code, 0, r.stderr);
  const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { tokens: number });
  assert.equal(rows.length, GAPS.length);
  assert.ok(rows.every((row) => row.tokens === 6), `fixed: every answer is 6 tokens long (${rows.map((x) => x.tokens).join(', ')})`);

  const doc = join(work, 'doc.txt');
  writeFileSync(doc, 'x = ___\ny = ___\nprint(x + y)\n');
  for (const dir of [fixedDir, eosDir]) {
    const f = cli(['fill', doc, '--model', dir, '--threads', '1', '--max-tokens', '4']);
    assert.equal(f.code, 0, f.stderr);
    assert.match(f.stdout, /^x = [^\n_]*\ny = [^\n_]*\nprint\(x \+ y\)\n$/);
    const b = cli(['before', doc, '--line', '3', '--model', dir, '--threads', '1', '--max-tokens', '6']);
    assert.equal(b.code, 0, b.stderr);
    assert.ok(b.stdout === '' || b.stdout.endsWith('\n'));
  }
});
