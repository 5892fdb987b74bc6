// Fine-tuning end to end through the real language server (in-process, over a JSON-RPC stream), the
// real Python trainer, the real engine and the cached tiny test model as the base: the held-out loss
// falls, the new model is hot-swapped in while fill requests keep being answered, "Use Previous
// Model" swaps back, and a cancel, a kill -9 of the trainer or a Python without torch all leave the
// old model active and serving, with a clear error and no scratch files left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  createConnection,
  createMessageConnection,
  LSPErrorCodes,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-languageserver/node';
import { loadEngine } from '../../server/src/lsp/engine-adapter';
import { startServer } from '../../server/src/lsp/server';
import {
  FillBlanksRequest,
  FinetuneCancelRequest,
  FinetuneProgressNotification,
  FinetuneRequest,
  StatusNotification,
  UsePreviousModelRequest,
  type FinetuneParams,
  type FinetuneProgressParams,
  type StatusParams,
} from '../../server/src/protocol';
import { parseFinetuneArgs } from '../../server/src/commands/finetune';
import { probeCandidate, ProbeError, probeFromText } from '../../server/training/finetune-probe';
import { ModelStore } from '../../server/training/model-store';
import { copyOfTinyModel, removeScratchCopies, ROOT, tinyModelDir } from '../helpers/tiny-model';

const WORKSPACE = join(ROOT, 'test', 'fixtures', 'workspace');
const DOC = 'file:///scratch/berth.ts';
const TEXT = 'export function berthLength(b: Berth): number {\n  return b.___;\n}\n';

let tiny = '';
let storeRoot = '';
let scratch = '';
let client: MessageConnection;
const statuses: StatusParams[] = [];
const progress: FinetuneProgressParams[] = [];
const logs: string[] = [];
let onProgress: ((p: FinetuneProgressParams) => void) | null = null;

before(async () => {
  // One thread each for torch and ONNX Runtime: the machine's cores are shared.
  process.env['OMP_NUM_THREADS'] = '1';
  tiny = tinyModelDir();
  scratch = mkdtempSync(join(tmpdir(), 'diffill-ft-flow-'));
  storeRoot = join(scratch, 'store');
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const server = createConnection(new StreamMessageReader(toServer), new StreamMessageWriter(toClient));
  startServer(server, { defaultModelDir: tiny, loader: loadEngine, version: 'test' });
  server.listen();
  client = createMessageConnection(new StreamMessageReader(toClient), new StreamMessageWriter(toServer));
  client.onNotification(StatusNotification, (s) => void statuses.push(s));
  client.onNotification(FinetuneProgressNotification, (p) => {
    progress.push(p);
    onProgress?.(p);
  });
  client.onNotification('window/logMessage', (m: { message: string }) => void logs.push(m.message));
  client.listen();
  await client.sendRequest('initialize', {
    // No processId: the server would poll for it with an interval that keeps this process alive.
    processId: null,
    rootUri: null,
    capabilities: {},
    initializationOptions: {
      settings: { threads: 1, maxTokens: 4, finetuneDevice: 'cpu' },
      finetune: { workspace: WORKSPACE, storageDir: storeRoot },
    },
  });
  await client.sendNotification('initialized', {});
  await client.sendNotification('textDocument/didOpen', { textDocument: { uri: DOC, languageId: 'typescript', version: 1, text: TEXT } });
});

after(async () => {
  await client?.sendRequest('shutdown').catch(() => undefined);
  client?.dispose();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const fill = () => client.sendRequest(FillBlanksRequest, { textDocument: { uri: DOC } });

/** Fill requests until stopped (with a short pause: the cores are shared with the trainer); counts answers and failures. */
function requestLoop() {
  let stop = false;
  const result = { ok: 0, failed: [] as string[] };
  const done = (async () => {
    while (!stop) {
      try {
        await fill();
        result.ok++;
      } catch (err) {
        result.failed.push(err instanceof Error ? err.message : String(err));
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    result,
    async stop() {
      stop = true;
      await done;
    },
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nserver log:\n${logs.slice(-15).join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Store entries other than the store's own files: leftovers of a job. */
const leftovers = () => (existsSync(storeRoot) ? readdirSync(storeRoot).filter((n) => n.includes('.tmp-')) : []);

const activeId = async () => {
  const active = await (await ModelStore.open(storeRoot, { baseModelDir: tiny, workspace: WORKSPACE })).active();
  return active.source === 'store' ? active.id : null;
};

const TRAIN: Partial<FinetuneParams> = { device: 'cpu', batchSize: 8 };

let installed = '';

test('fine-tuning lowers the held-out loss and hot-swaps the model while fill requests keep being answered', async () => {
  await fill(); // the base model is loaded and serving
  assert.equal(statuses.at(-1)?.model, basename(tiny));
  const loop = requestLoop();
  const result = await client.sendRequest(FinetuneRequest, { workspace: WORKSPACE, ...TRAIN, steps: 20 });
  // A few more answers from the new model before the loop stops.
  const answered = loop.result.ok;
  await until('answers after the swap', () => loop.result.ok >= answered + 3);
  await loop.stop();

  assert.deepEqual(loop.result.failed, [], 'no request may fail during the job or the swap');
  assert.ok(loop.result.ok >= 5, `the loop kept answering (${loop.result.ok} answers)`);
  assert.ok(result.valLoss < result.baseValLoss, `held-out loss must fall: ${result.baseValLoss} -> ${result.valLoss}`);
  assert.equal(result.steps, 20);
  assert.equal(result.served, true);
  installed = result.model;
  assert.equal(await activeId(), result.model);

  // The editor saw the job: training status, step progress with loss and ETA, then ready on the new model.
  assert.ok(statuses.some((s) => s.state === 'training'), 'the status said training');
  const step = progress.find((p) => p.phase === 'train' && p.step !== null);
  assert.ok(step !== undefined && step.loss !== null && step.etaSeconds !== null && /step \d+\/20 · loss/.test(step.message), JSON.stringify(step));
  assert.ok(['data', 'evaluate', 'verify', 'install', 'swap'].every((phase) => progress.some((p) => p.phase === phase)));
  const last = statuses.at(-1)!;
  assert.equal(last.state, 'ready');
  assert.equal(last.model, result.model);

  const report = readFileSync(result.reportPath, 'utf8');
  assert.match(report, new RegExp(`held-out loss .*\\| ${result.baseValLoss.toFixed(4)} \\| ${result.valLoss.toFixed(4)} \\|`));
  assert.match(report, /!\[training loss\]\(loss\.svg\)/);
  assert.match(report, /binary: 1 \(e\.g\. `assets\/harbor-map\.png`\)/);
  assert.ok(existsSync(join(result.modelDir, 'loss.svg')));
  assert.ok(!result.modelDir.startsWith(WORKSPACE), 'models are never written into the workspace');
  assert.deepEqual(leftovers(), []);
});

test('Use Previous Model goes back to the base model and keeps serving', async () => {
  assert.ok(installed, 'needs the fine-tuned model of the previous test');
  const back = await client.sendRequest(UsePreviousModelRequest, { workspace: WORKSPACE, storageDir: storeRoot });
  assert.equal(back.model, basename(tiny));
  assert.equal(await activeId(), null);
  await fill();
  assert.equal(statuses.at(-1)?.model, basename(tiny));
});

/** Starts a long job and runs `act` at its first training step; resolves to the job's error. */
async function interruptedJob(params: Partial<FinetuneParams>, act: () => void): Promise<ResponseError<{ kind: string }>> {
  let acted = false;
  onProgress = (p) => {
    if (!acted && p.phase === 'train' && p.step !== null) {
      acted = true;
      act();
    }
  };
  try {
    await client.sendRequest(FinetuneRequest, { workspace: WORKSPACE, ...TRAIN, steps: 100_000, ...params });
    assert.fail('the job should have failed');
  } catch (err) {
    assert.ok(err instanceof ResponseError, String(err));
    assert.ok(acted, 'the job reached training');
    return err as ResponseError<{ kind: string }>;
  } finally {
    onProgress = null;
  }
}

test('cancelling during training leaves the old model active and serving', async () => {
  const before = await activeId();
  const err = await interruptedJob({}, () => void client.sendRequest(FinetuneCancelRequest, {}));
  assert.equal(err.code, LSPErrorCodes.RequestCancelled);
  assert.match(err.message, /cancelled.*the model in use is unchanged/);
  assert.equal(await activeId(), before);
  await fill();
  assert.equal(statuses.at(-1)?.state, 'ready');
  assert.equal(statuses.at(-1)?.model, basename(tiny));
  assert.deepEqual(leftovers(), []);
});

/** The trainer of this test's store: its command line names the job folder inside the store. */
function trainerPid(): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes('diffill_trainer.train') && cmd.includes(`${storeRoot}/finetune.tmp-`)) return Number(entry);
  }
  throw new Error('the trainer process was not found');
}

test('kill -9 of the trainer is reported with its last lines; the old model stays active and serving', { skip: process.platform !== 'linux' && 'needs /proc' }, async () => {
  const before = await activeId();
  const err = await interruptedJob({}, () => process.kill(trainerPid(), 'SIGKILL'));
  assert.equal(err.data?.kind, 'killed');
  assert.match(err.message, /killed by SIGKILL/);
  assert.match(err.message, /last lines of the trainer's output/);
  assert.equal(await activeId(), before);
  await fill();
  assert.equal(statuses.at(-1)?.state, 'ready');
  assert.deepEqual(leftovers(), []);
});

test('a Python without PyTorch gives the setup command, and Diffill keeps working', async () => {
  // An interpreter that cannot see any installed package (-S: no site-packages, -I: no PYTHONPATH).
  const shim = join(scratch, 'python-without-torch');
  writeFileSync(shim, '#!/bin/sh\nexec python3 -I -S "$@"\n');
  chmodSync(shim, 0o755);
  const err = await client.sendRequest(FinetuneRequest, { workspace: WORKSPACE, ...TRAIN, steps: 5, python: shim }).then(
    () => assert.fail('the job should have failed'),
    (e: unknown) => e as ResponseError<{ kind: string }>,
  );
  assert.equal(err.data?.kind, 'missing_dependency');
  assert.match(err.message, /PyTorch cannot be imported/);
  assert.match(err.message, /npm run setup:python/);
  await fill();
  assert.equal(statuses.at(-1)?.state, 'ready');
  assert.deepEqual(leftovers(), []);
});

test('bad requests are refused before anything runs', async () => {
  await assert.rejects(client.sendRequest(FinetuneRequest, { workspace: WORKSPACE, steps: -3 }), /steps must be a positive integer/);
  await assert.rejects(client.sendRequest(FinetuneRequest, { workspace: WORKSPACE, device: 'tpu' as 'cpu' }), /device must be one of/);
  await assert.rejects(
    client.sendRequest(FinetuneRequest, { workspace: WORKSPACE, storageDir: join(WORKSPACE, 'models'), steps: 1 }),
    /storageDir may only be the storage folder the editor announced/,
  );
  assert.ok(!existsSync(join(WORKSPACE, 'models')));
});

test('a corrupt candidate is refused by the engine probe (it would never be installed)', async () => {
  const corrupt = copyOfTinyModel('corrupt-candidate');
  try {
    const onnx = join(corrupt, 'model.onnx');
    writeFileSync(onnx, readFileSync(onnx).subarray(0, 1000));
    await assert.rejects(probeCandidate(corrupt, probeFromText('a\nb\nc\n')), (err: Error) => err instanceof ProbeError && /does not load in the engine/.test(err.message));
    const ok = await probeCandidate(tiny, probeFromText(readFileSync(join(WORKSPACE, 'src', 'log.ts'), 'utf8')));
    assert.equal(typeof ok.text, 'string');
  } finally {
    removeScratchCopies();
  }
});

test('diffill finetune: arguments are checked before anything runs', () => {
  const args = parseFinetuneArgs(['--workspace', WORKSPACE, '--steps', '12', '--device', 'cpu', '--facts', 'f.txt']);
  assert.deepEqual(args.request.budget, { steps: 12 });
  assert.equal(args.request.device, 'cpu');
  assert.ok(args.request.facts?.endsWith('f.txt'));
  // No budget given: the whole job gets 10 minutes (training gets what the evaluation leaves).
  assert.equal(parseFinetuneArgs(['--workspace', WORKSPACE]).request.budget, undefined);
  assert.equal(parseFinetuneArgs(['--workspace', WORKSPACE]).request.jobMinutes, 10);
  assert.throws(() => parseFinetuneArgs([]), /--workspace DIR is required/);
  assert.throws(() => parseFinetuneArgs(['--workspace', '.', '--steps', '3', '--minutes', '2']), /at most one of --steps and --minutes/);
  assert.throws(() => parseFinetuneArgs(['--workspace', '.', '--steps', '0']), /positive integer/);
  assert.throws(() => parseFinetuneArgs(['--workspace', '.', '--device', 'tpu']), /unknown device/);
});
