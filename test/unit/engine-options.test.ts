import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../server/engine/config';
import { ModelError, RequestError } from '../../server/engine/errors';
import { DEFAULT_SAMPLER, resolveContext, resolveSampler } from '../../server/engine/options';

test('sampler options: defaults fill the gaps, bad values are refused with RequestError', () => {
  const o = resolveSampler({ guidance: 0.5, steps: undefined });
  assert.equal(o.guidance, 0.5);
  assert.equal(o.steps, DEFAULT_SAMPLER.steps);
  assert.throws(() => resolveSampler({ threshold: 1.5 }), RequestError);
  assert.throws(() => resolveSampler({ steps: 0 }), RequestError);
  assert.throws(() => resolveSampler({ order: 'sideways' as 'random' }), RequestError);
  assert.throws(() => resolveSampler({ lengthThreshold: 1.2 }), RequestError);
  assert.equal(resolveSampler({ lengthThreshold: 0 }).lengthThreshold, 0);
  assert.throws(() => resolveContext({ prefixShare: -0.1 }), RequestError);
  assert.equal(resolveContext({}).maxContextTokens, 512);
});

const good = {
  format: 'diffill-mdm',
  format_version: 1,
  name: 't',
  architecture: { n_layer: 2, d_model: 64, n_head: 2, d_ff: 128, vocab_size: 100, rope_base: 1e4, norm_eps: 1e-5, max_position: 256 },
  special_tokens: { pad: 0, bos: 1, eos: 2, mask: 3 },
  tokenizer: 'tokenizer.json',
  onnx: {
    file: 'model.onnx',
    inputs: { input_ids: 'input_ids', position_ids: 'position_ids', gather_index: 'gather_index', keep_index: 'keep_index', past_key: 'past_key.{layer}', past_value: 'past_value.{layer}' },
    outputs: { logits: 'logits', present_key: 'present_key.{layer}', present_value: 'present_value.{layer}' },
  },
};

test('config.json: parsed into typed names per layer', () => {
  const c = parseConfig(JSON.stringify(good));
  assert.equal(c.headDim, 32);
  assert.deepEqual(c.io.pastKey, ['past_key.0', 'past_key.1']);
  assert.equal(c.special.mask, 3);
});

test('config.json: malformed or inconsistent values give a ModelError naming the problem', () => {
  assert.throws(() => parseConfig('{'), (e: unknown) => e instanceof ModelError && /not valid JSON/.test(e.message));
  const bad = structuredClone(good);
  bad.special_tokens.mask = 100;
  assert.throws(() => parseConfig(JSON.stringify(bad)), /special token 'mask' has id 100, not below vocab_size 100/);
  const bad2 = structuredClone(good);
  bad2.architecture.n_head = 3;
  assert.throws(() => parseConfig(JSON.stringify(bad2)), /not a multiple of n_head/);
  const bad3 = structuredClone(good);
  bad3.onnx.inputs.past_key = 'past_key';
  assert.throws(() => parseConfig(JSON.stringify(bad3)), /must contain '\{layer\}'/);
});
