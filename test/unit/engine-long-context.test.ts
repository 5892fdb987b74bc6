// A model trained at 1024 positions is served with more than 512 tokens of context: the trainer makes a
// tiny model at --seq-len 1024 (its config says max_position 1024), and an infill with
// maxContextTokens 1024 feeds the model a canvas of over 512 positions (read off the positions the
// engine passes to its forwards). The shipped model, at 512, still gets at most 512 whatever is asked.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { infill } from '../../server/engine/infill';
import { type ForwardInput, type Model, openModel } from '../../server/engine/model';
import { ROOT, runTrainer } from '../helpers/tiny-model';

let work: string;
let longModel: string;

before(() => {
  work = mkdtempSync(join(tmpdir(), 'diffill-long-'));
  longModel = join(work, 'tiny-1024');
  // A few steps are enough: the test is about positions, not about what the model says.
  runTrainer([
    '-m', 'diffill_trainer.train', '--preset', 'tiny', '--seq-len', '1024', '--batch-size', '1', '--steps', '3',
    '--device', 'cpu', '--no-compile', '--no-quantize', '--weights-dtype', 'float32', '--char-fim-fraction', '0',
    '--eval-cases', '1', '--eval-windows', '1', '--data', join(ROOT, 'test', 'fixtures', 'corpus'),
    '--tokenizer', join(ROOT, 'models', 'default', 'tokenizer.json'), '--out', longModel,
  ]);
});

after(() => {
  rmSync(work, { recursive: true, force: true });
});

/** A document of ~40 tokens per line, far longer than 1024 tokens on each side of the gap. */
function document(): { prefix: string; suffix: string } {
  const lines = Array.from({ length: 300 }, (_, i) => `    total_${i} = compute_value(items[${i}], scale=${i % 7}) + offset_${i}\n`);
  return { prefix: `def build(items, offset):\n${lines.slice(0, 150).join('')}    result = `, suffix: `\n${lines.slice(150).join('')}    return result\n` };
}

/** The infill's largest position and the length of its first (whole-canvas) forward. */
async function positionsUsed(model: Model, maxContextTokens: number): Promise<{ maxPosition: number; canvas: number }> {
  const seen: ForwardInput[] = [];
  const forward = model.forward.bind(model);
  model.forward = (input: ForwardInput) => {
    seen.push(input);
    return forward(input);
  };
  try {
    const { prefix, suffix } = document();
    await infill(model, { prefix, suffix, maxTokens: 8, sampler: { steps: 2 }, context: { maxContextTokens } });
  } finally {
    model.forward = forward;
  }
  assert.ok(seen.length > 0, 'the infill ran no forward');
  let maxPosition = -1;
  for (const input of seen) for (const p of input.positions) maxPosition = Math.max(maxPosition, Number(p));
  return { maxPosition, canvas: seen[0]!.positions.length };
}

test('a model trained at 1024 positions reads over 512 tokens of context', async () => {
  const cfg = JSON.parse(readFileSync(join(longModel, 'config.json'), 'utf8')) as { architecture: { max_position: number }; training: { seq_len: number } };
  assert.equal(cfg.architecture.max_position, 1024);
  assert.equal(cfg.training.seq_len, 1024);
  const model = await openModel(longModel, { threads: 1 });
  try {
    assert.equal(model.config.maxPosition, 1024);
    const wide = await positionsUsed(model, 1024);
    // BOS/EOS are absent (both sides are cut), so the canvas is the 8-token gap and up to 1016 of context,
    // cut at line boundaries: well over 512.
    assert.ok(wide.canvas > 900 && wide.canvas <= 1024, `canvas of ${wide.canvas} positions`);
    assert.equal(wide.maxPosition, wide.canvas - 1);
    // The setting still decides: 512 asked, at most 512 fed.
    const narrow = await positionsUsed(model, 512);
    assert.ok(narrow.canvas <= 512 && narrow.canvas > 400, `canvas of ${narrow.canvas} positions`);
  } finally {
    await model.dispose();
  }
});

test('the shipped model, at 512 positions, gets at most 512 when 1024 are asked', async () => {
  const model = await openModel(join(ROOT, 'models', 'default'), { threads: 1 });
  try {
    assert.equal(model.config.maxPosition, 512);
    const used = await positionsUsed(model, 1024);
    assert.ok(used.canvas <= 512 && used.canvas > 400, `canvas of ${used.canvas} positions`);
    assert.ok(used.maxPosition <= 511);
  } finally {
    await model.dispose();
  }
});
