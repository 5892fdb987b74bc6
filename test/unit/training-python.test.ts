// Choosing and checking the trainer's Python: --python > DIFFILL_PYTHON > <root>/.venv > python3,
// and a missing interpreter or missing torch is one clear error that names the setup command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkPython, findPython, SETUP_COMMAND } from '../../server/training/python';
import { TrainerError } from '../../server/training/trainer-error';

const ROOT = path.resolve(__dirname, '../..');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'diffill-python-'));
}

test('interpreter precedence: flag, then DIFFILL_PYTHON, then .venv, then python3', () => {
  const root = tempDir();
  try {
    assert.deepEqual(findPython({ root, env: {} }), { executable: 'python3', source: 'path' });
    const venvPython = path.join(root, '.venv', 'bin', 'python');
    fs.mkdirSync(path.dirname(venvPython), { recursive: true });
    fs.writeFileSync(venvPython, '');
    assert.deepEqual(findPython({ root, env: {} }), { executable: venvPython, source: 'venv' });
    assert.deepEqual(findPython({ root, env: { DIFFILL_PYTHON: '/opt/py/bin/python' } }), { executable: '/opt/py/bin/python', source: 'env' });
    assert.deepEqual(findPython({ root, env: { DIFFILL_PYTHON: '/opt/py/bin/python' }, explicit: '/x/python' }), { executable: '/x/python', source: 'flag' });
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a missing interpreter is missing_python and says how to set up', async () => {
  const err = await checkPython({ executable: path.join(ROOT, 'no-such-python'), source: 'flag' }).then(
    () => assert.fail('should fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TrainerError);
  assert.equal(err.kind, 'missing_python');
  assert.ok(err.message.includes(SETUP_COMMAND), err.message);
  assert.ok(err.message.includes('--python'), err.message);
});

test('something that is not Python is missing_python', async () => {
  const err = await checkPython({ executable: '/bin/false', source: 'env' }).then(() => assert.fail('should fail'), (e: unknown) => e);
  assert.ok(err instanceof TrainerError);
  assert.equal(err.kind, 'missing_python');
  assert.match(err.message, /DIFFILL_PYTHON/);
});

test('Python without torch is missing_dependency with the setup command', async () => {
  const shadow = tempDir();
  try {
    // A package named torch that fails to import, first on the path: what a bare interpreter looks like.
    fs.mkdirSync(path.join(shadow, 'torch'));
    fs.writeFileSync(path.join(shadow, 'torch', '__init__.py'), 'raise ImportError("No module named \'torch\'")\n');
    const python = findPython({ root: ROOT, env: {} });
    const err = await checkPython(python, { env: { ...process.env, PYTHONPATH: shadow } }).then(() => assert.fail('should fail'), (e: unknown) => e);
    assert.ok(err instanceof TrainerError);
    assert.equal(err.kind, 'missing_dependency');
    assert.match(err.message, /PyTorch cannot be imported/);
    assert.ok(err.message.includes(SETUP_COMMAND));
  } finally {
    fs.rmSync(shadow, { recursive: true, force: true });
  }
});

test('the project environment passes the check', { skip: !fs.existsSync(path.join(ROOT, '.venv/bin/python')) && 'no .venv: run npm run setup:python' }, async () => {
  const check = await checkPython(findPython({ root: ROOT, env: {} }));
  assert.match(check.torchVersion, /^\d+\.\d+/);
  assert.match(check.pythonVersion, /^3\.\d+/);
});
