// config.json's format keys (docs/model-format.md): defaults that keep today's meaning, the optional
// architecture keys, nullable special ids, the fill-in-the-middle ids and the length rule, each refusal
// naming the key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ModelConfig, parameterCount, parseConfig } from '../../server/engine/config';
import { ModelError } from '../../server/engine/errors';

const base = {
  format: 'diffill-mdm',
  format_version: 1,
  name: 't',
  architecture: { n_layer: 2, d_model: 64, n_head: 4, d_ff: 128, vocab_size: 100, rope_base: 1e4, norm_eps: 1e-5, max_position: 256 } as Record<string, unknown>,
  special_tokens: { pad: 0, bos: 1, eos: 2, mask: 3 } as Record<string, unknown>,
  tokenizer: 'tokenizer.json',
  onnx: {
    file: 'model.onnx',
    inputs: { input_ids: 'input_ids', position_ids: 'position_ids', gather_index: 'gather_index', keep_index: 'keep_index', past_key: 'past_key.{layer}', past_value: 'past_value.{layer}' },
    outputs: { logits: 'logits', present_key: 'present_key.{layer}', present_value: 'present_value.{layer}' },
  },
} as Record<string, unknown> & { architecture: Record<string, unknown>; special_tokens: Record<string, unknown> };

type Edit = (c: typeof base) => void;

function parse(edit: Edit): ModelConfig {
  const c = structuredClone(base);
  edit(c);
  return parseConfig(JSON.stringify(c));
}

function refused(edit: Edit, pattern: RegExp): void {
  assert.throws(
    () => parse(edit),
    (e: unknown) => e instanceof ModelError && pattern.test(e.problem) && !e.problem.includes('\n'),
    `expected a one-line ModelError matching ${pattern}`,
  );
}

const arm: Edit = (c) => {
  c.format = 'diffill-arm';
  c.architecture.causal = true;
  c.special_tokens = { pad: null, bos: 1, eos: 2, mask: null, fim_prefix: 4, fim_suffix: 5, fim_middle: 6, eom: 7 };
};

test('config.json without the new keys means what it always meant', () => {
  const c = parse(() => {});
  assert.equal(c.format, 'diffill-mdm');
  assert.equal(c.nKvHead, 4);
  assert.equal(c.headDim, 16);
  assert.equal(c.qkvBias, false);
  assert.equal(c.ropeCondenseRatio, 1);
  assert.equal(c.tiedEmbeddings, true);
  assert.equal(c.emitVocabSize, 100);
  assert.equal(c.causal, false);
  assert.equal(c.source, 'diffill');
  assert.equal(c.logitShift, 0, 'each position predicts itself');
  assert.deepEqual(c.special, { pad: 0, bos: 1, eos: 2, mask: 3 });
  assert.equal(c.fim, null);
  assert.equal(c.lengthRule, 'pad');
  assert.equal(c.endId, 0, 'the "pad" rule ends an answer at [PAD]');
});

test('config.json: the architecture keys of imported models are read', () => {
  const c = parse((c) => {
    Object.assign(c.architecture, { n_kv_head: 2, qkv_bias: true, rope_condense_ratio: 4, tied_embeddings: false, emit_vocab_size: 99, source: 'qwen2', logit_shift: 1 });
    c.special_tokens.mask = 99;
  });
  assert.equal(c.logitShift, 1);
  assert.equal(c.nKvHead, 2);
  assert.equal(c.headDim, 16, 'Dh = d_model / n_head, not / n_kv_head');
  assert.equal(c.qkvBias, true);
  assert.equal(c.ropeCondenseRatio, 4);
  assert.equal(c.tiedEmbeddings, false);
  assert.equal(c.emitVocabSize, 99);
  assert.equal(c.source, 'qwen2');
  assert.equal(c.special.mask, 99, '[MASK] may lie beyond emit_vocab_size (an extra embedding row)');
});

test('config.json: a model without [PAD] or BOS, with the "eos" and "fixed" length rules', () => {
  const eos = parse((c) => {
    c.special_tokens.pad = null;
    c.special_tokens.bos = null;
    c.length_rule = 'eos';
    c.architecture.source = 'smdm';
  });
  assert.equal(eos.special.pad, null);
  assert.equal(eos.special.bos, null);
  assert.equal(eos.lengthRule, 'eos');
  assert.equal(eos.endId, 2, 'EOS plays [PAD]\'s part');
  const fixed = parse((c) => {
    delete c.special_tokens.pad;
    c.length_rule = 'fixed';
  });
  assert.equal(fixed.special.pad, null, 'an absent pad is no [PAD]');
  assert.equal(fixed.lengthRule, 'fixed');
  assert.equal(fixed.endId, null, 'no token ends a fixed-length answer');
  // A model with [PAD] may still choose the "eos" rule.
  assert.equal(parse((c) => void (c.length_rule = 'eos')).endId, 2);
});

test('config.json: a diffill-arm model with its fill-in-the-middle ids', () => {
  const c = parse(arm);
  assert.equal(c.format, 'diffill-arm');
  assert.equal(c.causal, true);
  assert.equal(c.special.mask, null);
  assert.deepEqual(c.fim, { prefix: 4, suffix: 5, middle: 6, eom: 7 });
  assert.equal(c.lengthRule, null);
  assert.equal(c.endId, null);
  assert.equal(parse((c) => { arm(c); delete c.special_tokens.mask; }).special.mask, null);
});

test('config.json: every refusal names the key', () => {
  refused((c) => void (c.format = 'diffill-xyz'), /'format' must be "diffill-mdm" or "diffill-arm"/);
  refused((c) => void (c.architecture.n_kv_head = 3), /'architecture\.n_kv_head' \(3\) does not divide n_head \(4\)/);
  refused((c) => void (c.architecture.n_kv_head = 0), /'architecture\.n_kv_head' must be an integer >= 1/);
  refused((c) => void (c.architecture.qkv_bias = 'yes'), /'architecture\.qkv_bias' must be true or false/);
  refused((c) => void (c.architecture.logit_shift = 2), /'architecture\.logit_shift' must be 0 or 1 \(got 2\)/);
  refused((c) => void (c.architecture.logit_shift = true), /'architecture\.logit_shift' must be 0 or 1 \(got true\)/);
  refused((c) => void (c.architecture.tied_embeddings = 1), /'architecture\.tied_embeddings' must be true or false/);
  refused((c) => void (c.architecture.rope_condense_ratio = 0), /'architecture\.rope_condense_ratio' must be a number > 0/);
  refused((c) => void (c.architecture.rope_condense_ratio = '4'), /'architecture\.rope_condense_ratio' must be a number > 0/);
  refused((c) => void (c.architecture.emit_vocab_size = 101), /'architecture\.emit_vocab_size' \(101\) is more than vocab_size \(100\)/);
  refused((c) => void (c.architecture.emit_vocab_size = 2), /special token 'eos' has id 2, which the model never emits \(emit_vocab_size 2\)/);
  refused((c) => void (c.architecture.source = 'llama'), /'architecture\.source' must be "diffill" or "smdm" or "qwen2"/);
  refused((c) => void (c.architecture.causal = true), /'architecture\.causal' must be false for format "diffill-mdm"/);
  refused((c) => void (c.length_rule = 'stop'), /'length_rule' must be "pad" or "eos" or "fixed"/);
  refused((c) => void (c.special_tokens.pad = null), /'length_rule' "pad" needs 'special_tokens\.pad'/);
  refused((c) => void (c.special_tokens.pad = -1), /'special_tokens\.pad' must be an integer >= 0 or null/);
  refused((c) => void (c.special_tokens.eos = null), /'special_tokens\.eos' must be an integer >= 0/);
  refused((c) => void (c.special_tokens.mask = null), /'special_tokens\.mask' is required for format "diffill-mdm"/);
  refused((c) => void (c.special_tokens.eom = 7), /'special_tokens\.eom' is for format "diffill-arm" only/);
  refused((c) => void (c.special_tokens.eos = 0), /special tokens 'pad' and 'eos' have the same id 0; special ids must be distinct/);
  refused((c) => void (c.special_tokens.bos = 100), /special token 'bos' has id 100, not below vocab_size 100/);
  refused((c) => { arm(c); c.architecture.causal = false; }, /'architecture\.causal' must be true for format "diffill-arm"/);
  refused((c) => { arm(c); delete c.architecture.causal; }, /'architecture\.causal' must be true for format "diffill-arm"/);
  refused((c) => { arm(c); c.special_tokens.mask = 3; }, /'special_tokens\.mask' must be null for format "diffill-arm"/);
  refused((c) => { arm(c); delete c.special_tokens.fim_middle; }, /'special_tokens\.fim_middle' is required for format "diffill-arm"/);
  refused((c) => { arm(c); c.special_tokens.eom = null; }, /'special_tokens\.eom' is required for format "diffill-arm"/);
  refused((c) => { arm(c); c.special_tokens.fim_suffix = 4; }, /special tokens 'fim_prefix' and 'fim_suffix' have the same id 4/);
  refused((c) => { arm(c); c.special_tokens.eom = 100; }, /special token 'eom' has id 100, not below vocab_size 100/);
  refused((c) => { arm(c); c.length_rule = 'eos'; }, /'length_rule' is for format "diffill-mdm" only/);
});

test('parameter count: the trainer\'s own figure, else counted from the architecture', () => {
  assert.equal(parameterCount(parse((c) => void (c.training = { params: 123456 }))), 123456);
  // Embedding 100x64, per layer q/o 2x64x64, k/v 2x64x32 (2 K/V heads of 16), biases 64+2x32, SwiGLU
  // 3x64x128, two norms 2x64; the final norm 64; an untied head 100x64.
  const c = parse((c) => Object.assign(c.architecture, { n_kv_head: 2, qkv_bias: true, tied_embeddings: false }));
  const layer = 2 * 64 * 64 + 2 * 64 * 32 + (64 + 2 * 32) + 3 * 64 * 128 + 2 * 64;
  assert.equal(parameterCount(c), 2 * 100 * 64 + 2 * layer + 64);
  assert.equal(parameterCount(parse((c) => void delete c.architecture.d_ff)), null, 'unknown without d_ff');
});
