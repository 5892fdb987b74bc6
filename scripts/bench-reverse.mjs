#!/usr/bin/env node
// Reverse-knowledge benchmark: invent facts "<name> is the author of <title>." with a seeded
// generator, fine-tune a model on the forward statements only (facts mode), then ask forward
// ("<name> is the author of ___.") and in reverse, by fill-the-blank ("The author of <title> is ___.")
// and by write-before (" is the author of <title>." -> the name), greedy, exact match = the reference
// is a lower-cased substring of the answer. Prints a markdown table; --append adds it, with the
// command and the model used, to docs/benchmarks.md under "Reverse knowledge".
//
//   node scripts/bench-reverse.mjs [--model DIR] [--facts N] [--steps N] [--lr LR] [--batch-size B]
//                                  [--seed S] [--device auto|cpu|cuda] [--python PATH] [--append]
//
// Default model: models/default when it holds a model, else the cached tiny test model.
import { appendFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
// The experiment is TypeScript (test/bench/reverse-experiment.ts); tsx compiles it on load.
require('tsx/cjs');

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    facts: { type: 'string', default: '20' },
    steps: { type: 'string', default: '400' },
    lr: { type: 'string' },
    'batch-size': { type: 'string', default: '16' },
    seed: { type: 'string', default: '7' },
    device: { type: 'string', default: 'auto' },
    python: { type: 'string' },
    'max-tokens': { type: 'string', default: '12' },
    append: { type: 'boolean', default: false },
  },
});

const positive = (name, v, int = true) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (int && !Number.isInteger(n))) {
    process.stderr.write(`bench-reverse: --${name} needs a positive ${int ? 'integer' : 'number'}, got '${v}'\n`);
    process.exit(2);
  }
  return n;
};

let model = values.model !== undefined ? resolve(values.model) : join(root, 'models', 'default');
let modelNote = '';
if (!existsSync(join(model, 'model.onnx'))) {
  if (values.model !== undefined) {
    process.stderr.write(`bench-reverse: ${model} holds no model.onnx\n`);
    process.exit(2);
  }
  model = require(join(root, 'test', 'helpers', 'tiny-model.ts')).tinyModelDir();
  modelNote = ' (models/default holds no model yet: the cached tiny test model was used)';
}

const { runReverseExperiment } = require(join(root, 'test', 'bench', 'reverse-experiment.ts'));
const opts = {
  base: model,
  facts: positive('facts', values.facts),
  steps: positive('steps', values.steps),
  seed: Number(values.seed),
  batchSize: positive('batch-size', values['batch-size']),
  device: values.device,
  maxTokens: positive('max-tokens', values['max-tokens']),
  ...(values.lr !== undefined ? { lr: positive('lr', values.lr, false) } : {}),
  ...(values.python !== undefined ? { python: values.python } : {}),
  onLine: (line) => process.stderr.write(`${line}\n`),
};
const started = Date.now();
const r = await runReverseExperiment(opts);
const wall = ((Date.now() - started) / 1000).toFixed(0);
const pct = (x) => `${(x * 100).toFixed(0)}%`;
const row = (label, s) => `| ${label} | ${pct(s.forward)} | ${pct(s.reverseFill)} | ${pct(s.reverseBefore)} |`;
const cfg = JSON.parse(require('node:fs').readFileSync(join(model, 'config.json'), 'utf8'));
const command = `node scripts/bench-reverse.mjs ${process.argv.slice(2).filter((a) => a !== '--append').join(' ')}`.trim();
const t = r.finetune.trainer;
const table = [
  `Model: \`${relative(root, model) || model}\` (${cfg.preset ?? '?'} preset, ${cfg.training?.params ?? '?'} parameters)${modelNote}.`,
  `Facts: ${r.facts.length} invented "<name> is the author of <title>." lines (seed ${opts.seed}), taught forward only: ` +
    `${t.done.steps} steps on ${t.start?.device ?? '?'}, facts loss ${r.finetune.baseEval.valLoss.toFixed(3)} -> ${r.finetune.candidateEval.valLoss.toFixed(3)}; ${wall} s in all.`,
  `Greedy, at most ${opts.maxTokens} tokens per answer; exact match = the reference is a lower-cased substring of the answer.`,
  '',
  '| model | forward (name -> title, fill) | reverse (title -> name, fill) | reverse (title -> name, write-before) |',
  '|---|---|---|---|',
  row('base', r.before),
  row('fine-tuned on the forward facts', r.after),
  '',
  'What the fine-tuned model wrote for the first facts (reference -> forward | reverse fill | write-before):',
  '',
  ...r.after.answers.slice(0, 4).map((a) =>
    `- ${JSON.stringify(a.fact.title)} / ${JSON.stringify(a.fact.name)} -> ${JSON.stringify(a.forward)} | ${JSON.stringify(a.reverseFill)} | ${JSON.stringify(a.reverseBefore)}`),
  '',
  `Command: \`${command}\``,
  '',
];
process.stdout.write(table.join('\n'));
if (values.append) {
  const file = join(root, 'docs', 'benchmarks.md');
  const heading = existsSync(file) && require('node:fs').readFileSync(file, 'utf8').includes('\n## Reverse knowledge\n') ? '' : '\n## Reverse knowledge\n\n';
  appendFileSync(file, `${heading}### ${new Date().toISOString().slice(0, 10)}\n\n${table.join('\n')}\n`);
  process.stderr.write(`appended to ${file}\n`);
}
