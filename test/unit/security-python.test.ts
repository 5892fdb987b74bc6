// Repository code must never run because fine-tuning started in it. Python puts its working
// directory first on the import path, so a workspace holding json.py would have it imported by the
// trainer's interpreters (the probe, the trainer, the evaluator) when they inherit a working
// directory inside it: from `diffill finetune --workspace .`, or from a language server that the
// editor started in the workspace folder. Each interpreter is started here from a working directory
// holding a planted json.py that leaves a marker when imported.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateModels } from '../../server/training/finetune-evaluate';
import { checkPython, findPython, trainerDir } from '../../server/training/python';
import { runTrainer } from '../../server/training/trainer-process';

const ROOT = join(__dirname, '..', '..');
let planted = '';
let marker = '';
const startCwd = process.cwd();

before(() => {
  planted = mkdtempSync(join(tmpdir(), 'diffill-planted-'));
  marker = join(planted, 'json-was-imported');
  // Leaves the marker, then behaves like the real module so the run goes on as it would.
  writeFileSync(
    join(planted, 'json.py'),
    ['import sys', `open(${JSON.stringify(marker)}, "w").write("ran")`, 'del sys.modules["json"]', 'sys.path = [p for p in sys.path if p not in ("", ".", __file__.rsplit("/", 1)[0])]', 'import json as _real', 'sys.modules["json"] = _real', 'from json import *', 'from json import dumps, loads, dump, load'].join('\n') + '\n',
  );
  // As if this process had been started inside the repository.
  process.chdir(planted);
});

after(() => {
  process.chdir(startCwd);
  rmSync(planted, { recursive: true, force: true });
});

beforeEach(() => rmSync(marker, { force: true }));

const python = () => findPython({ root: ROOT, env: {} });

test('the Python check does not import modules from the working directory', async () => {
  const check = await checkPython(python(), { env: { ...process.env, PYTHONPATH: '' } });
  assert.match(check.torchVersion, /^\d+\./);
  assert.equal(existsSync(marker), false, 'json.py of the working directory was imported');
});

test('the trainer does not import modules from the working directory', async () => {
  const run = await runTrainer({
    python: python().executable,
    module: 'fake_trainer',
    pythonPath: join(ROOT, 'test', 'fixtures'),
    args: ['--mode', 'ok', '--steps', '1', '--out', 'm'],
    env: { ...process.env, PYTHONPATH: '' },
  });
  assert.equal(run.done.model_dir, 'm');
  assert.equal(existsSync(marker), false, 'json.py of the working directory was imported');
});

test('the evaluator does not import modules from the working directory', async () => {
  // A model that does not exist: the evaluator starts, imports its modules, and answers with an error.
  await assert.rejects(
    evaluateModels({
      python: python().executable,
      models: [join(planted, 'no-model')],
      data: { facts: join(planted, 'no-facts.txt') },
      seqLen: 32,
      windows: 1,
      cases: 0,
      device: 'cpu',
      pythonPath: trainerDir(ROOT),
    }),
  );
  assert.equal(existsSync(marker), false, 'json.py of the working directory was imported');
});

test('a relative --python is taken relative to where it was given, not to the trainer folder', () => {
  assert.equal(findPython({ root: ROOT, env: {}, explicit: 'venv/bin/python' }).executable, join(planted, 'venv', 'bin', 'python'));
  assert.equal(findPython({ root: ROOT, env: {}, explicit: 'python3' }).executable, 'python3');
});

test('the VS Code client starts the language server in the extension folder, not the workspace', async () => {
  // The client module loaded with stand-ins for the editor API and the language client.
  const captured: Array<{ serverOptions: unknown }> = [];
  const noop = () => undefined;
  const channel = { info: noop, warn: noop, error: noop, show: noop, dispose: noop, appendLine: noop };
  const vscode = {
    window: {
      createOutputChannel: () => channel,
      createStatusBarItem: () => ({ show: noop, hide: noop, dispose: noop }),
    },
    StatusBarAlignment: { Right: 2 },
    MarkdownString: class {
      appendMarkdown = () => this;
      appendText = () => this;
    },
    ThemeColor: class {},
    EventEmitter: class {
      event = noop;
      fire = noop;
      dispose = noop;
    },
    Uri: { joinPath: (u: { fsPath: string }, ...p: string[]) => ({ fsPath: join(u.fsPath, ...p), scheme: 'file' }) },
    workspace: { workspaceFolders: [{ uri: { scheme: 'file', fsPath: planted } }] },
  };
  const languageClient = {
    TransportKind: { stdio: 0, ipc: 1 },
    State: { Stopped: 1, Running: 2 },
    LanguageClient: class {
      constructor(_id: string, _name: string, serverOptions: unknown) {
        captured.push({ serverOptions });
      }
      onDidChangeState = noop;
      onNotification = noop;
      start = async () => undefined;
      isRunning = () => true;
      stop = async () => undefined;
    },
  };
  const mod = Module as unknown as { _load: (request: string, parent: unknown, isMain: boolean) => unknown };
  const load = mod._load;
  mod._load = (request, parent, isMain) => {
    if (request === 'vscode') return vscode;
    if (request === 'vscode-languageclient/node') return languageClient;
    return load(request, parent, isMain);
  };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Ctx } = require('../../client/src/ctx') as typeof import('../../client/src/ctx');
    const extensionPath = join(ROOT);
    const ctx = new Ctx({ extensionPath, asAbsolutePath: (p: string) => join(extensionPath, p), storageUri: undefined } as never);
    await ctx.start();
  } finally {
    mod._load = load;
  }
  assert.equal(captured.length, 1);
  const options = captured[0]!.serverOptions as Record<'run' | 'debug', { options?: { cwd?: string } }>;
  for (const mode of ['run', 'debug'] as const) {
    assert.equal(options[mode].options?.cwd, ROOT, `${mode}: the server's working directory`);
  }
});
