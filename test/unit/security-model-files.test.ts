// A model directory's config.json may only name files inside that directory, and no error ever
// quotes the bytes of a file it could not use. max_position is held to what the model was trained for.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MAX_POSITION_LIMIT, parseConfig } from '../../server/engine/config';
import { ModelError } from '../../server/engine/errors';
import { openModel } from '../../server/engine/model';
import { modelDirProblem } from '../../server/training/model-dir';
import { copyOfTinyModel, removeScratchCopies } from '../helpers/tiny-model';

// Short, like a host name: JavaScript's JSON errors quote the first bytes of the text they fail on.
const SECRET = 'hq-box7';

after(() => removeScratchCopies());

function editConfig(dir: string, edit: (c: Record<string, any>) => void): void {
  const path = join(dir, 'config.json');
  const c = JSON.parse(readFileSync(path, 'utf8'));
  edit(c);
  writeFileSync(path, JSON.stringify(c));
}

/** A file beside the model directory, as /etc/hostname is beside everything. */
function plantSecret(dir: string): string {
  const file = join(dirname(dir), `${dir.split('/').pop()}-secret.txt`);
  writeFileSync(file, `${SECRET}\n`);
  return file;
}

async function refused(dir: string, problem: RegExp): Promise<void> {
  await assert.rejects(openModel(dir, { threads: 1 }), (e: unknown) => {
    assert.ok(e instanceof ModelError, `expected a ModelError, got ${String(e)}`);
    assert.match(e.message, problem);
    assert.ok(!e.message.includes(SECRET), `the error quotes the file: ${e.message}`);
    return true;
  });
}

test('a tokenizer path that leaves the model directory is refused without reading it', async () => {
  const dir = copyOfTinyModel('tok-escape');
  const secret = plantSecret(dir);
  try {
    editConfig(dir, (c) => (c.tokenizer = `../${secret.split('/').pop()}`));
    await refused(dir, /tokenizer.*must name a file inside the model directory/);
    editConfig(dir, (c) => (c.tokenizer = secret));
    await refused(dir, /must name a file inside the model directory/);
    editConfig(dir, (c) => (c.tokenizer = 'sub/../../x.json'));
    await refused(dir, /must name a file inside the model directory/);
  } finally {
    rmSync(secret, { force: true });
  }
});

test('a symbolic link out of the model directory is refused', async () => {
  const dir = copyOfTinyModel('tok-link');
  const secret = plantSecret(dir);
  try {
    unlinkSync(join(dir, 'tokenizer.json'));
    symlinkSync(secret, join(dir, 'tokenizer.json'));
    await refused(dir, /tokenizer\.json: lies outside the model directory/);
  } finally {
    rmSync(secret, { force: true });
  }
});

test('the ONNX and weights files must lie inside the model directory too', async () => {
  const onnx = copyOfTinyModel('onnx-escape');
  editConfig(onnx, (c) => (c.onnx.file = '../model.onnx'));
  await refused(onnx, /onnx\.file.*must name a file inside the model directory/);
  const weights = copyOfTinyModel('weights-escape');
  editConfig(weights, (c) => (c.weights.file = '/etc/passwd'));
  await refused(weights, /weights\.file.*must name a file inside the model directory/);
  assert.match((await modelDirProblem(weights)) ?? '', /invalid file|inside/);
});

test('errors never quote the bytes of a file that is not what it should be', async () => {
  const tok = copyOfTinyModel('tok-not-json');
  writeFileSync(join(tok, 'tokenizer.json'), `${SECRET}\n`);
  await refused(tok, /tokenizer\.json.*not valid JSON/);
  const cfg = copyOfTinyModel('config-not-json');
  writeFileSync(join(cfg, 'config.json'), `${SECRET}\n`);
  await refused(cfg, /config\.json.*not valid JSON/);
  // A well-formed JSON tokenizer whose content is wrong: the error says where, not what.
  const structure = copyOfTinyModel('tok-structure');
  const tj = JSON.parse(readFileSync(join(structure, 'tokenizer.json'), 'utf8'));
  tj.model.merges.push([SECRET, SECRET]);
  writeFileSync(join(structure, 'tokenizer.json'), JSON.stringify(tj));
  await refused(structure, /tokenizer\.json.*merge #\d+ uses a token missing from the vocabulary/);
  const normalizer = copyOfTinyModel('tok-normalizer');
  const tn = JSON.parse(readFileSync(join(normalizer, 'tokenizer.json'), 'utf8'));
  tn.normalizer = { type: SECRET };
  writeFileSync(join(normalizer, 'tokenizer.json'), JSON.stringify(tn));
  await refused(normalizer, /tokenizer\.json.*the normalizer is not supported/);
  const problem = (await modelDirProblem(cfg)) ?? '';
  assert.match(problem, /not valid JSON/);
  assert.ok(!problem.includes(SECRET), problem);
});

test('max_position above what the model was trained for, or above the limit, is refused', async () => {
  const base = JSON.parse(readFileSync(join(copyOfTinyModel('maxpos'), 'config.json'), 'utf8'));
  const seqLen = base.training.seq_len as number;
  const withMax = (n: number, training: Record<string, unknown> = base.training) =>
    JSON.stringify({ ...base, architecture: { ...base.architecture, max_position: n }, training });
  assert.throws(() => parseConfig(withMax(100_000)), /max_position' \(100000\) is more than 4096/);
  assert.throws(() => parseConfig(withMax(seqLen + 1)), new RegExp(`more than the model was trained for \\(training.seq_len ${seqLen}\\)`));
  assert.equal(parseConfig(withMax(seqLen)).maxPosition, seqLen);
  // A fine-tuned model keeps its base model's max_position: only the limit applies.
  assert.equal(parseConfig(withMax(MAX_POSITION_LIMIT, { ...base.training, init: '/models/base' })).maxPosition, MAX_POSITION_LIMIT);
  const dir = copyOfTinyModel('maxpos-load');
  editConfig(dir, (c) => (c.architecture.max_position = 100_000));
  await refused(dir, /max_position/);
});
