// The sampler and the tasks on real tiny ONNX models from the project's trainer: token-for-token parity
// with the PyTorch reference sampler, guidance, cancellation, time budget, multi-blank and reverse.
// The task tests whose answer must be specific (fill, before) run on the shipped model, on inputs
// whose answer it knows: the noisy tiny model writes arbitrary tokens.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { SamplerOptions } from '../../server/engine/api';
import { createDenoiser } from '../../server/engine/denoiser';
import { type Engine, loadModel } from '../../server/engine/engine';
import { AbortError, RequestError } from '../../server/engine/errors';
import { resolveSampler } from '../../server/engine/options';
import { sample } from '../../server/engine/sampler';
import { pythonJson, ROOT, sharpModelDir } from '../helpers/tiny-model';

let engine: Engine;
let shipped: Engine;
before(async () => {
  engine = await loadModel(sharpModelDir(), { threads: 1 });
  shipped = await loadModel(join(ROOT, 'models', 'default'), { threads: 1 });
});
after(async () => {
  await engine.dispose();
  await shipped.dispose();
});

const REFERENCE = `
import json, sys
from diffill_trainer.sample import main
sys.exit(main(["--model", sys.argv[1], "--ids-json", "-"]))
`;

interface RefResult {
  tokens: number[];
  forwards: number;
  trace: Array<Array<[number, number]>>;
}

function ids(text: string): number[] {
  return Array.from(engine.model.tokenizer.encode(text));
}

// The reference sampler has no repetition guard (an engine-side rule over parallel commits), so parity
// is checked with it off; engine-heal.test.ts checks the guard itself.
test('greedy threshold decoding matches the PyTorch reference sampler token for token', async () => {
  const { bos, eos, mask } = engine.model.config.special;
  const cases = [
    { prefix: [bos, ...ids('export function add(a: number, b: number) {\n  return ')], suffix: [...ids(';\n}\n'), eos], n: 12, threshold: 1.0 },
    { prefix: ids('import { x } from'), suffix: ids('\nconst y = 2;\n'), n: 16, threshold: 0.5 },
    { prefix: ids('for (let i = 0; i < n; i++) {'), suffix: ids('}'), n: 24, threshold: 0.1 },
    { prefix: [], suffix: ids('return x;\n}'), n: 8, threshold: 0.05 },
    { prefix: ids('# Title\n\n'), suffix: [], n: 10, threshold: 0.9 },
    { prefix: ids('x = '), suffix: ids(';'), n: 30, threshold: 0.3 },
    // Length decided on the first forward (the engine's default rule), at two levels.
    { prefix: ids('import { x } from'), suffix: ids('\nconst y = 2;\n'), n: 20, threshold: 1.0, length_threshold: 0.2 },
    { prefix: ids('def f(x):\n    return '), suffix: ids('\n'), n: 20, threshold: 0.9, length_threshold: 0.01 },
  ];
  const ref = pythonJson<RefResult[]>(REFERENCE, [sharpModelDir()], cases);
  let multi = 0;
  for (const [i, c] of cases.entries()) {
    const canvas = { ids: Int32Array.from([...c.prefix, ...new Array(c.n).fill(mask), ...c.suffix]), spans: [{ start: c.prefix.length, length: c.n }] };
    const trace: Array<Array<[number, number]>> = [];
    const got = await sample(engine.model, canvas, resolveSampler({ threshold: c.threshold, steps: 1000, cache: false, lengthThreshold: c.length_threshold ?? 0, repeatGuard: false }), undefined, (_s, commits) => trace.push(commits));
    assert.deepEqual(got.spans[0], ref[i]!.tokens, `case ${i}: tokens`);
    assert.equal(got.forwards, ref[i]!.forwards, `case ${i}: forwards`);
    assert.deepEqual(trace, ref[i]!.trace, `case ${i}: per-step commits`);
    if (trace.some((t) => t.length > 1)) multi++;
  }
  // The comparison must cover steps that commit several tokens, not only one-per-step decoding.
  assert.ok(multi >= 3, `only ${multi} cases committed several tokens in a step`);
  assert.ok(ref.some((r) => r.tokens.length < cases[ref.indexOf(r)]!.n), 'no case ended early with [PAD]');
  // The length rule must change the first step of both its cases (else their parity proves nothing).
  for (const i of [6, 7]) {
    const c = cases[i]!;
    const canvas = { ids: Int32Array.from([...c.prefix, ...new Array(c.n).fill(mask), ...c.suffix]), spans: [{ start: c.prefix.length, length: c.n }] };
    const first: Array<Array<[number, number]>> = [];
    await sample(engine.model, canvas, resolveSampler({ threshold: c.threshold, steps: 1000, cache: false, lengthThreshold: 0, repeatGuard: false }), undefined, (_s, commits) => first.push(commits));
    assert.notDeepEqual(first[0], ref[i]!.trace[0], `case ${i}: the length rule did not change the first step`);
  }
});

test('guidance: w = 0 is the unguided batch-of-one path; the batched rows equal separate forwards', async () => {
  const base = { prefix: 'let total = 0;\nfor (const x of xs) {\n  total ', suffix: ';\n}\nreturn total;\n', maxTokens: 10 };
  const off = await engine.infill({ ...base, sampler: { guidance: 0 } });
  const tiny = await engine.infill({ ...base, sampler: { guidance: 1e-9 } });
  assert.equal(tiny.text, off.text, 'w -> 0 through the batched CFG path must equal no guidance');

  // The batched (B=2) forward against two single forwards: cond canvas, and the canvas with context masked.
  const m = engine.model;
  const mask = m.config.special.mask!;
  const canvas = Int32Array.from([...ids('a = b + '), mask, mask, mask, ...ids(' * c;\n')]);
  const spanPositions = [8, 9, 10].map((p) => p - 8 + ids('a = b + ').length);
  const contextPositions = Array.from({ length: canvas.length }, (_, i) => i).filter((i) => !spanPositions.includes(i));
  const layout = { length: canvas.length, spanPositions, contextPositions };
  canvas[spanPositions[1]!] = ids('x')[0]!; // one committed span token stays visible in both rows
  const masked = [spanPositions[0]!, spanPositions[2]!];
  const w = 0.7;
  const guided = await createDenoiser(m, layout, { guidance: w, cache: false, cacheRefresh: 0 }).logits(canvas, masked, 0);
  const plain = createDenoiser(m, layout, { guidance: 0, cache: false, cacheRefresh: 0 });
  const cond = Float32Array.from(await plain.logits(canvas, masked, 0));
  const unCanvas = canvas.map((t, i) => (contextPositions.includes(i) ? mask : t));
  const un = await plain.logits(unCanvas, masked, 0);
  let diff = 0;
  for (let i = 0; i < cond.length; i++) diff = Math.max(diff, Math.abs(guided[i]! - (un[i]! + (1 + w) * (cond[i]! - un[i]!))));
  assert.ok(diff < 1e-3, `max diff ${diff}`);
});

test('cancellation: an aborted signal rejects with AbortError between forwards', async () => {
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(engine.infill({ prefix: 'x = ', suffix: '\n', signal: pre.signal }), AbortError);
  const mid = new AbortController();
  const m = engine.model;
  const mask = m.config.special.mask!;
  let steps = 0;
  const run = sample(
    m,
    { ids: Int32Array.from([...ids('x = '), ...new Array(12).fill(mask)]), spans: [{ start: ids('x = ').length, length: 12 }] },
    // No [PAD] may end the span early: the abort must find masks left to decode.
    resolveSampler({ threshold: 1, cache: true, lengthThreshold: 0, minTokens: 12 }),
    mid.signal,
    () => {
      if (++steps === 2) mid.abort();
    },
  );
  await assert.rejects(run, AbortError);
  assert.equal(steps, 2);
});

test('a newer pre-empting request of the same group aborts the older one', async () => {
  const slow: Partial<SamplerOptions> = { threshold: 1, cache: false };
  const first = engine.infill({ prefix: 'a', suffix: 'b', maxTokens: 30, sampler: slow, group: 'doc' });
  const second = engine.infill({ prefix: 'a', suffix: 'b', maxTokens: 4, group: 'doc', preempt: true });
  await assert.rejects(first, AbortError);
  assert.equal(typeof (await second).text, 'string');
});

test('time budget: decoding stops early with a complete answer, never a half-decoded canvas', async () => {
  const m = engine.model;
  const mask = m.config.special.mask!;
  const prefix = ids('function f() {\n');
  const canvas = { ids: Int32Array.from([...prefix, ...new Array(20).fill(mask), ...ids('\n}\n')]), spans: [{ start: prefix.length, length: 20 }] };
  // One token per step, no length rule and no guard, so the only early end is the budget's.
  const knobs = { threshold: 1, lengthThreshold: 0, repeatGuard: false, cache: false };
  const full = await sample(m, canvas, resolveSampler(knobs));
  assert.equal(full.truncated, false);
  assert.ok(full.forwards > 1);
  // The budget runs out during the first step, by construction rather than by a slow forward: the
  // observer sees that step's commits after the sampler read its start time, and holds the step until
  // the clock has moved past that time plus the 1 ms budget. The sampler's next look at the clock is
  // past its deadline.
  const cut = await sample(m, canvas, resolveSampler({ ...knobs, timeBudgetMs: 1 }), undefined, (step) => {
    if (step !== 0) return;
    const seen = Date.now();
    while (Date.now() <= seen) {
      // wait for the millisecond to change
    }
  });
  assert.equal(cut.truncated, true);
  assert.equal(cut.forwards, 1);
  assert.ok(!cut.spans[0]!.includes(mask));
  // The rest is finished greedily from that first forward: the same answer as committing every
  // position at once on it.
  const atOnce = await sample(m, canvas, resolveSampler({ ...knobs, threshold: 1e-9 }));
  assert.equal(atOnce.forwards, 1);
  assert.deepEqual(cut.spans, atOnce.spans);
  assert.ok(cut.tokens > 0 && cut.tokens <= 20);
});

test('fill: several blanks decoded jointly in one canvas', async () => {
  // The first blank is named only far below it (os.getcwd()), the second by the function's name.
  const text = 'import ___\n\n\ndef add(a, b):\n    return a ___ b\n\n\nprint(os.getcwd())\n';
  const blanks = [...text.matchAll(/___/g)].map((m) => ({ start: m.index, end: m.index + 3 }));
  // One length rule (lengthThreshold given): one decode; without it Fill Blanks tries several (engine-heal.test.ts).
  const r = await shipped.fill({ text, blanks, maxTokensPerBlank: 6, sampler: { threshold: 1, lengthThreshold: 0 } });
  assert.deepEqual(r.fills, ['os', '+']);
  // One canvas for both: at most one forward per mask of the two spans together (a [PAD] may end one early).
  assert.ok(r.forwards >= 1 && r.forwards <= 12, `forwards ${r.forwards}`);
  assert.ok(r.tokens <= 12);
  await assert.rejects(engine.fill({ text, blanks: [{ start: 5, end: 3 }] }), /out of order/);
  // Gaps that cannot fit the model's positions are refused up front, with the sizes in the message.
  const max = engine.model.config.maxPosition;
  await assert.rejects(engine.fill({ text, blanks, maxTokensPerBlank: max }), (e: unknown) => e instanceof RequestError && /the model reads at most/.test(e.message));
  await assert.rejects(engine.infill({ prefix: 'a', suffix: 'b', maxTokens: 0 }), RequestError);
});

test('before: writes the line that the following lines need above them', async () => {
  // Fields set from x and y, indented as a method body in a class: what comes before is the constructor.
  const r = await shipped.before({ prefix: 'class Point:\n', suffix: '        self.x = x\n        self.y = y\n', maxTokens: 32 });
  assert.match(r.text, /^ {4}def __init__\(self, x, y\).*:\n$/);
  assert.ok(r.forwards >= 1 && r.forwards <= 32);
});

test('variable length: a committed [PAD] ends the span and is dropped', async () => {
  // Decode with threshold 1 and watch the commits: after the first [PAD], every position to its right
  // that was still masked is [PAD] too, and the returned tokens are the non-[PAD] ones in order.
  const m = engine.model;
  const { mask, pad } = m.config.special;
  const prefix = ids('x');
  let padSeen = -1;
  let broadcastOk = true;
  const committed = new Map<number, number>();
  const out = await sample(
    m,
    { ids: Int32Array.from([...prefix, ...new Array(40).fill(mask)]), spans: [{ start: prefix.length, length: 40 }] },
    resolveSampler({ threshold: 0.3, cache: false }),
    undefined,
    (_s, commits) => {
      for (const [p, t] of commits) committed.set(p, t);
      const firstPad = commits.find(([, t]) => t === pad);
      if (firstPad && padSeen < 0) {
        padSeen = firstPad[0];
        for (let q = padSeen + 1; q < prefix.length + 40; q++) if (!committed.has(q)) broadcastOk = false;
      }
    },
  );
  const span = Array.from({ length: 40 }, (_, i) => committed.get(prefix.length + i)!);
  assert.ok(padSeen >= 0, 'the model never committed [PAD] here');
  assert.deepEqual(out.spans[0], span.filter((t) => t !== pad));
  assert.equal(out.tokens, span.filter((t) => t !== pad).length);
  assert.ok(out.tokens < 40);
  assert.ok(broadcastOk);
});

test('sampling knobs: seeded temperature, random order, blocks and re-masking all finish within `steps`', async () => {
  const m = engine.model;
  const mask = m.config.special.mask!;
  const prefix = ids('const items = [');
  const n = 16;
  const canvas = { ids: Int32Array.from([...prefix, ...new Array(n).fill(mask), ...ids('];\n')]), spans: [{ start: prefix.length, length: n }] };
  const run = async (o: Partial<SamplerOptions>, observe?: (s: number, c: Array<[number, number]>) => void) =>
    sample(m, canvas, resolveSampler({ cache: false, ...o }), undefined, observe);

  const a = await run({ temperature: 1, seed: 5, topK: 50 });
  const b = await run({ temperature: 1, seed: 5, topK: 50 });
  const c = await run({ temperature: 1, seed: 6, topK: 50 });
  assert.deepEqual(a.spans, b.spans, 'same seed, same answer');
  assert.notDeepEqual(a.spans, c.spans, 'another seed, another answer');

  const r = await run({ order: 'random', steps: 4, seed: 1 });
  assert.ok(r.forwards <= 4, `random order took ${r.forwards} forwards`);

  // Blocks of 4: a step may only commit inside the leftmost block that still has masks.
  const blockOf = (p: number) => Math.floor((p - prefix.length) / 4);
  let firstBadStep = -1;
  const open = new Set(Array.from({ length: n }, (_, i) => prefix.length + i));
  await run({ blockLength: 4, threshold: 0.01 }, (step, commits) => {
    const current = Math.min(...[...open].map(blockOf));
    for (const [p, t] of commits) {
      if (blockOf(p) !== current && !(t === m.config.special.pad) && firstBadStep < 0) firstBadStep = step;
      open.delete(p);
    }
  });
  assert.equal(firstBadStep, -1, 'a commit left its block');

  const re = await run({ remask: 0.5, threshold: 0.05, steps: 12 });
  assert.ok(re.forwards <= 12);
  assert.ok(re.spans[0]!.every((t) => t !== mask));
});

test('minTokens: [PAD] is never chosen at a span\'s first positions, so a marked blank is never empty', async () => {
  // Find a canvas where the model, left alone, answers with nothing at the first position, then check
  // that minTokens = 2 keeps the first two positions as real tokens and changes nothing else's rules.
  const m = engine.model;
  const { mask, pad } = m.config.special;
  const prefix = ids('x');
  const canvas = { ids: Int32Array.from([...prefix, ...new Array(12).fill(mask)]), spans: [{ start: prefix.length, length: 12 }] };
  const first = new Map<number, number>();
  await sample(m, canvas, resolveSampler({ threshold: 1, cache: false }), undefined, (_s, commits) => {
    for (const [p, t] of commits) if (!first.has(p)) first.set(p, t);
  });
  const forced = new Map<number, number>();
  const out = await sample(m, canvas, resolveSampler({ threshold: 1, cache: false, minTokens: 2 }), undefined, (_s, commits) => {
    for (const [p, t] of commits) forced.set(p, t);
  });
  assert.notEqual(forced.get(prefix.length), pad);
  assert.notEqual(forced.get(prefix.length + 1), pad);
  assert.ok(out.tokens >= 2, `expected at least 2 tokens, got ${out.tokens}`);
  assert.equal(first.size, 12, 'the unconstrained run decoded every position');
  assert.throws(() => resolveSampler({ minTokens: -1 }), RequestError);
});

test('re-masked positions keep every ban: the time budget\'s final commit fills them by the same rules', async () => {
  const m = engine.model;
  const { mask, pad, bos, eos } = m.config.special;
  const n = 12;
  const opts = resolveSampler({ cache: false, remask: 0.99, minTokens: n, lengthThreshold: 0, steps: 4, threshold: 1, timeBudgetMs: 1000 });
  let broken = 0;
  let remasked = 0;
  for (const text of ['x = [', 'def f(a, b):\n    return ', 'print(', 'import ', 'for i in range(', 'y = f(']) {
    const prefix = ids(text);
    const start = prefix.length;
    const base = { ids: Int32Array.from([...prefix, ...new Array(n).fill(mask), ...ids('\n')]), spans: [{ start, length: n }] };
    // The token the model wants first is banned there: the span's start takes its second choice.
    const free = (await sample(m, base, resolveSampler({ cache: false, steps: 1, minTokens: n, lengthThreshold: 0 }))).spans[0]![0]!;
    const canvas = { ...base, spans: [{ start, length: n, bannedFirst: [free] }] };
    const seen = new Map<number, number>();
    // The sampler's clock is stood still, then moved past the budget during the step in which
    // re-masking takes earlier commits back: the final commit fills the re-masked positions from that
    // step's rows, whatever the machine's speed.
    const realNow = Date.now;
    let now = realNow();
    Date.now = () => now;
    let out;
    try {
      out = await sample(m, canvas, opts, undefined, (step, commits) => {
        for (const [p, t] of commits) {
          if (seen.has(p)) remasked++;
          seen.set(p, t);
        }
        if (step === 1) now += 10_000;
      });
    } finally {
      Date.now = realNow;
    }
    const span = out.spans[0]!;
    if (span.length !== n || span[0] === free || span.some((t) => t === pad || t === bos || t === eos)) broken++;
  }
  assert.ok(remasked > 0, 'the cases must re-mask');
  assert.equal(broken, 0);
});
