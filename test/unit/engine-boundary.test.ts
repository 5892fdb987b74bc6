import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerAfterMove, moveSpaceIntoGap } from '../../server/engine/boundary';
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
    const got = await engine.infill({ prefix, suffix, maxTokens: 6 });
    const canvas = buildCanvas(engine.model, [prefix.slice(0, -1), suffix], [6], resolveContext({}));
    const raw = tokenizer.decode((await sample(engine.model, canvas, resolveSampler({}))).spans[0]!);
    assert.equal(got.text, raw.startsWith(' ') ? raw.slice(1) : raw);
    const plain = buildCanvas(engine.model, [prefix, suffix], [6], resolveContext({}));
    assert.notDeepEqual(Array.from(plain.ids), Array.from(canvas.ids), 'the moved space must change the canvas');
  } finally {
    await engine.dispose();
  }
});
