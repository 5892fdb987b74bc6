// Integration: the real Python trainer, driven by the orchestrator exactly as `diffill train
// --preset tiny --data test/fixtures/corpus --out <tmp> --steps 40` drives it. The loss must fall
// and the model directory must be complete (docs/model-format.md). Takes minutes on a busy CPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseTrainArgs } from '../../server/src/commands/train';
import { train } from '../../server/training/orchestrator';
import type { StepEvent } from '../../server/training/trainer-process';
import { Tokenizer } from '../../server/engine/tokenizer';
import { TrainerError } from '../../server/training/trainer-error';

const ROOT = path.resolve(__dirname, '../..');
const STEPS = 40;

test('diffill train --preset tiny --steps 40 lowers the loss and writes a complete model', { timeout: 15 * 60_000 }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'diffill-train-'));
  const out = path.join(tmp, 'model');
  try {
    const request = parseTrainArgs(['--preset', 'tiny', '--data', path.join(ROOT, 'test/fixtures/corpus'), '--out', out, '--steps', String(STEPS)]);
    const steps: StepEvent[] = [];
    const stderr: string[] = [];
    const result = await train(request, {
      root: ROOT,
      onProgress: (e) => e.event === 'step' && steps.push(e),
      onLog: (line) => stderr.push(line),
    });

    assert.equal(result.done.steps, STEPS);
    assert.equal(path.resolve(result.done.model_dir), out);
    assert.equal(steps.at(-1)?.step, STEPS);
    // Every step on CPU; every 25 steps on CUDA (each report is a host sync), so compare quarters.
    const losses = steps.map((s) => s.loss).filter((l): l is number => l !== null);
    assert.ok(losses.length >= 2, `too few step events with a loss: ${losses.length}`);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const quarter = Math.max(1, Math.floor(losses.length / 4));
    const first = mean(losses.slice(0, quarter));
    const last = mean(losses.slice(-quarter));
    assert.ok(last < first, `loss did not fall: first steps ${first.toFixed(3)}, last steps ${last.toFixed(3)}`);

    for (const file of ['config.json', 'tokenizer.json', 'model.onnx', 'model.safetensors', 'loss.svg']) {
      const stat = fs.statSync(path.join(out, file), { throwIfNoEntry: false });
      assert.ok(stat?.isFile() && stat.size > 0, `${file} is missing or empty in ${out}`);
    }
    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as {
      format: string;
      preset: string;
      architecture: { vocab_size: number };
      special_tokens: Record<string, number>;
    };
    assert.equal(config.format, 'diffill-mdm');
    assert.equal(config.preset, 'tiny');
    assert.match(fs.readFileSync(path.join(out, 'loss.svg'), 'utf8'), /<svg[\s>]/);
    // The model's tokenizer loads in the engine and agrees with config.json on the special ids.
    const tok = Tokenizer.fromFile(path.join(out, 'tokenizer.json'));
    assert.ok(tok.vocabSize <= config.architecture.vocab_size);
    assert.equal(tok.specialTokenId('<|mask|>'), config.special_tokens['mask']);
    // Written atomically: nothing temporary is left beside the model.
    assert.deepEqual(fs.readdirSync(tmp).filter((f) => f !== 'model' && !f.startsWith('model.ckpt')), []);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('the real trainer\'s refusal of an empty corpus arrives as one bad_data error', { timeout: 5 * 60_000 }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'diffill-train-'));
  try {
    fs.mkdirSync(path.join(tmp, 'empty'));
    const request = parseTrainArgs(['--preset', 'tiny', '--data', path.join(tmp, 'empty'), '--out', path.join(tmp, 'model'), '--steps', '2']);
    await assert.rejects(train(request, { root: ROOT }), (err: unknown) => {
      assert.ok(err instanceof TrainerError, String(err));
      assert.equal(err.kind, 'bad_data');
      assert.match(err.summary, /^the trainer failed: .*empty/);
      return true;
    });
    assert.equal(fs.existsSync(path.join(tmp, 'model')), false);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
