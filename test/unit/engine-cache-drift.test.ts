// The cached sampler path (the default) against exact decoding (full recompute every step) on a
// slice of the bench suites, with the shipped model. They agree on the first step by construction
// (engine-model.test.ts) and may part after commits, since the cached context never sees the
// committed span. The figures for the whole measurement are in docs/benchmarks.md (test/bench/
// cache-drift.ts); this slice holds the agreement to what was measured on it, so a change that makes
// the default path drift further from exact decoding fails here.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Engine, loadModel } from '../../server/engine/engine';
import { fixedTasks, measureDrift, realisticTasks } from '../bench/cache-drift';
import { ROOT } from '../helpers/tiny-model';

// Measured on this slice (the shipped model, threads 1): 4 of 9 answers identical, 43.8% of the answers'
// tokens in place. Decoding is greedy and deterministic, so these are the figures, not a margin.
const FLOOR = { sameAnswers: 4, tokenAgreement: 0.438 };

let engine: Engine;
before(async () => {
  engine = await loadModel(join(ROOT, 'models', 'default'), { threads: 1 });
});
after(async () => {
  await engine.dispose();
});

test('the cached path drifts from exact decoding no further than measured', async () => {
  // The first task of each kind, infill kinds only (a Fill Blanks task decodes six times).
  const tasks = [...fixedTasks(1), ...realisticTasks(1).filter((t) => t.mode === 'infill')];
  assert.equal(tasks.length, 9);
  const r = await measureDrift(engine, tasks);
  assert.ok(r.sameAnswers >= FLOOR.sameAnswers, `${r.sameAnswers} of ${r.tasks} answers identical (measured: ${FLOOR.sameAnswers})`);
  assert.ok(r.tokenAgreement >= FLOOR.tokenAgreement - 5e-4, `token agreement ${r.tokenAgreement.toFixed(3)} (measured: ${FLOOR.tokenAgreement})`);
});
