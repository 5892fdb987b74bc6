// Reverse knowledge on the tiny preset (the CI version of scripts/bench-reverse.mjs): invented facts
// are taught forward only through facts-mode fine-tuning, then asked forward and in reverse through
// the engine's fill and write-before. The tiny model is far too small to memorise names, so the
// accuracies are only checked to be measured; the bounds are on what it can do: the facts' loss
// falls well below the base model's, and the fine-tuned model answers every probe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardStatement, makeFacts, matches, scoreFacts, type FactEngine } from '../bench/reverse-facts';
import { runReverseExperiment } from '../bench/reverse-experiment';
import { tinyModelDir } from '../helpers/tiny-model';

test('the facts generator is seeded, invented and collision-free', () => {
  const a = makeFacts(50, 3);
  assert.deepEqual(a, makeFacts(50, 3));
  assert.notDeepEqual(a, makeFacts(50, 4));
  assert.equal(new Set(a.map((f) => f.name)).size, 50);
  assert.equal(new Set(a.map((f) => f.title)).size, 50);
  assert.match(forwardStatement(a[0]!), /^[A-Z][a-z]+ [A-Z][a-z]+ is the author of The [A-Z][a-z]+ of [A-Z][a-z]+\.$/);
  assert.throws(() => makeFacts(0, 1), RangeError);
});

test('exact match is a case-insensitive substring, and the probes ask the right questions', async () => {
  assert.ok(matches(' the Ledru of Nisix, a novel', 'The Ledru of Nisix'));
  assert.ok(!matches(' The Ledru', 'The Ledru of Nisix'));
  const [fact] = makeFacts(1, 1);
  const asked: string[] = [];
  // A stand-in that knows the fact, to check the scoring, not a model.
  const oracle: FactEngine = {
    async fill(r) {
      asked.push(r.text);
      return { fills: [r.text.startsWith('The author') ? ` ${fact!.name}` : ` ${fact!.title}`], latencyMs: 0, forwards: 1, tokens: 1, truncated: false };
    },
    async before(r) {
      asked.push(`[before]${r.suffix}`);
      return { text: `${fact!.name.toUpperCase()}`, latencyMs: 0, forwards: 1, tokens: 1, truncated: false };
    },
  };
  const s = await scoreFacts(oracle, [fact!]);
  assert.deepEqual([s.forward, s.reverseFill, s.reverseBefore], [1, 1, 1]);
  assert.deepEqual(asked, [`${fact!.name} is the author of ___.`, `The author of ${fact!.title} is ___.`, `[before] is the author of ${fact!.title}.`]);
});

test('facts-mode fine-tuning of the tiny model learns the forward statements (loss) and is scored both ways', async () => {
  process.env['OMP_NUM_THREADS'] = '1';
  const r = await runReverseExperiment({ base: tinyModelDir(), facts: 4, seed: 7, steps: 150, lr: 0.01, batchSize: 16, device: 'cpu', maxTokens: 8, threads: 1 });
  const { baseEval, candidateEval } = r.finetune;
  assert.ok(candidateEval.valLoss < 0.8 * baseEval.valLoss, `facts loss ${baseEval.valLoss} -> ${candidateEval.valLoss}`);
  assert.equal(r.finetune.trainer.done.steps, 150);
  for (const s of [r.before, r.after]) {
    assert.equal(s.facts, 4);
    assert.equal(s.answers.length, 4);
    for (const v of [s.forward, s.reverseFill, s.reverseBefore]) assert.ok(v >= 0 && v <= 1);
  }
  // The fine-tuned model writes text for every probe (an empty answer would score as a miss silently).
  assert.ok(r.after.answers.every((a) => a.forward.trim() !== '' && a.reverseFill.trim() !== ''));
});
