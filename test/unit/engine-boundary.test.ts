import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerAfterMove, banLoneSpace, moveSpaceIntoGap } from '../../server/engine/boundary';
import { buildCanvas } from '../../server/engine/canvas';
import { loadModel } from '../../server/engine/engine';
import { resolveContext, resolveSampler } from '../../server/engine/options';
import { sample } from '../../server/engine/sampler';
import { sharpModelDir } from '../helpers/tiny-model';

test('a space before the gap moves into it; indentation and tabs stay', () => {
  assert.deepEqual(moveSpaceIntoGap('return '), { text: 'return', moved: ' ' });
  assert.deepEqual(moveSpaceIntoGap('x =  '), { text: 'x = ', moved: ' ' });
  assert.deepEqual(moveSpaceIntoGap('if (a) {\n    '), { text: 'if (a) {\n    ', moved: '' });
  assert.deepEqual(moveSpaceIntoGap('a\t'), { text: 'a\t', moved: '' });
  assert.deepEqual(moveSpaceIntoGap(''), { text: '', moved: '' });
  assert.deepEqual(moveSpaceIntoGap(' '), { text: '', moved: ' ' });
  assert.equal(answerAfterMove(' value;', ' '), 'value;');
  assert.equal(answerAfterMove('(value);', ' '), '(value);');
  assert.equal(answerAfterMove(' value;', ''), ' value;');
});

// With token healing off (heal.ts generalises this rule), a trailing space moves into the gap.
test('infill and fill build the canvas without the space and take it off the answer', async () => {
  const engine = await loadModel(sharpModelDir(), { threads: 1 });
  try {
    const { tokenizer } = engine.model;
    // The tokenizer would end "return " with a lone space token; the canvas must not hold it.
    const lone = Array.from(tokenizer.encode('return '));
    const word = Array.from(tokenizer.encode('return'));
    assert.equal(lone.length, word.length + 1, 'the trailing space is a token of its own');
    // infill after "return " == the canvas built on "return" (space moved), decoded, space taken off.
    const prefix = 'function f(a) {\n  return ';
    const suffix = ';\n}\n';
    const got = await engine.infill({ prefix, suffix, maxTokens: 6, fit: { heal: false, scope: false } });
    const canvas = banLoneSpace(tokenizer, engine.model.config.vocabSize, buildCanvas(engine.model, [prefix.slice(0, -1), suffix], [6], resolveContext({})), [' ']);
    const banned = canvas.spans[0]!.bannedFirst ?? [];
    assert.ok(banned.includes(Array.from(tokenizer.encode(' '))[0]!), 'the lone space token is banned');
    assert.ok(banned.every((id) => /^[ \t]+$/.test(tokenizer.decode([id]))), 'only blank tokens are banned');
    const raw = tokenizer.decode((await sample(engine.model, canvas, resolveSampler({}))).spans[0]!);
    assert.equal(got.text, raw.startsWith(' ') ? raw.slice(1) : raw);
    const plain = buildCanvas(engine.model, [prefix, suffix], [6], resolveContext({}));
    assert.notDeepEqual(Array.from(plain.ids), Array.from(canvas.ids), 'the moved space must change the canvas');
  } finally {
    await engine.dispose();
  }
});

test('a banned first token is never committed at the span start', async () => {
  const engine = await loadModel(sharpModelDir(), { threads: 1 });
  try {
    const m = engine.model;
    const { mask } = m.config.special;
    const prefix = Array.from(m.tokenizer.encode('const total = '));
    const base = { ids: Int32Array.from([...prefix, ...new Array(5).fill(mask), ...Array.from(m.tokenizer.encode(';\n'))]), spans: [{ start: prefix.length, length: 5 }] };
    const opts = resolveSampler({ threshold: 1, lengthThreshold: 0, minTokens: 1, cache: false });
    const first = async (c: typeof base & { spans: Array<{ start: number; length: number; bannedFirst?: number[] }> }) => {
      let at = -1;
      await sample(m, c, opts, undefined, (_s, commits) => {
        for (const [p, t] of commits) if (p === c.spans[0]!.start) at = t;
      });
      return at;
    };
    const free = await first(base);
    const banned = await first({ ...base, spans: [{ ...base.spans[0]!, bannedFirst: [free] }] });
    assert.notEqual(banned, free, `token ${free} was banned at the span start but committed there`);
  } finally {
    await engine.dispose();
  }
});

test('fill tries several length rules unless one is given, before leaves it off; infill uses the default', async () => {
  const engine = await loadModel(sharpModelDir(), { threads: 1 });
  try {
    const text = 'import os\n___\nprint(os.name)\n';
    const blanks = [{ start: 10, end: 13 }];
    const base = { text, blanks, maxTokensPerBlank: 20, sampler: { threshold: 1 } };
    const plain = await engine.fill(base);
    const off = await engine.fill({ ...base, sampler: { threshold: 1, lengthThreshold: 0 } });
    const on = await engine.fill({ ...base, sampler: { threshold: 1, lengthThreshold: 0.2 } });
    // Without a rule, Fill Blanks decodes once per candidate rule and keeps each blank's best fill.
    assert.ok(plain.forwards >= off.forwards + on.forwards, `forwards ${plain.forwards} vs ${off.forwards} + ${on.forwards}`);
    assert.notEqual(plain.fills[0]!.trim(), '', 'a marked blank is never filled with nothing');
    assert.notEqual(on.forwards, off.forwards, 'the case must tell the rule on from off');
    const req = { prefix: 'import os\n', suffix: '\nprint(os.name)\n', maxTokens: 20, sampler: { threshold: 1 } };
    const before = await engine.before(req);
    const beforeOff = await engine.before({ ...req, sampler: { threshold: 1, lengthThreshold: 0 } });
    assert.equal(before.text, beforeOff.text);
    assert.equal(before.forwards, beforeOff.forwards);
    const beforeOn = await engine.before({ ...req, sampler: { threshold: 1, lengthThreshold: 0.2 } });
    assert.notEqual(beforeOn.forwards, beforeOff.forwards, 'the case must tell the rule on from off');
    const infillDefault = await engine.infill(req);
    const infillOn = await engine.infill({ ...req, sampler: { threshold: 1, lengthThreshold: 0.2 } });
    assert.equal(infillDefault.forwards, infillOn.forwards);
  } finally {
    await engine.dispose();
  }
});
