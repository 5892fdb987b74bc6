// No telemetry, checked the only way that counts: the built language server, on the shipped model,
// traced with strace (network system calls of every thread and child) through a real session and
// long enough for ONNX Runtime's telemetry uploader to start (about 9 s after a session is
// created). Any socket that is not AF_UNIX, or any DNS query, fails the test. The trainer's Python
// side gets the same check for the code that creates its ONNX Runtime sessions.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMessageConnection, InlineCompletionRequest, StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver/node';
import { StatusNotification, type StatusParams } from '../../server/src/protocol';
import { ROOT, TRAINER_DIR, python } from '../helpers/tiny-model';
import { networkViolations, readTrace, spawnTraced, straceProblem, userLikeEnv } from '../helpers/strace';

const CLI = join(ROOT, 'dist', 'cli.js');
const SHIPPED = join(ROOT, 'models', 'default');
const problem = straceProblem();
// CI installs strace (.ci/run); elsewhere on Linux a missing strace is a failure to fix, not a skip.
const skip = process.platform !== 'linux' ? 'strace is Linux only' : false;

/** How long the server keeps running after its session exists: past the telemetry start. */
const QUIET_MS = 15_000;

// The two traces run side by side: both mostly wait.
describe('no network access', { concurrency: 2 }, () => {
  test('the language server opens no network socket and makes no DNS query during a session', { skip, timeout: 120_000 }, async () => {
    assert.equal(problem, null, problem ?? '');
    assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first`);
    const scratch = mkdtempSync(join(tmpdir(), 'diffill-net-'));
    const traceFile = join(scratch, 'trace.txt');
    try {
      const child = spawnTraced(traceFile, process.execPath, [CLI, 'lsp', '--stdio', '--model', SHIPPED], { env: userLikeEnv(), cwd: scratch });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
      const conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
      const statuses: StatusParams[] = [];
      conn.onNotification(StatusNotification, (s) => void statuses.push(s));
      conn.listen();
      try {
        const uri = 'file:///project/sum.ts';
        await conn.sendRequest('initialize', {
          processId: null,
          rootUri: null,
          capabilities: {},
          initializationOptions: { settings: { threads: 1, maxTokens: 4, contextTokens: 64 } },
        });
        await conn.sendNotification('initialized', {});
        await conn.sendNotification('textDocument/didOpen', {
          textDocument: { uri, languageId: 'typescript', version: 1, text: 'function sum(xs: number[]): number {\n  let total = 0;\n  return total;\n}\n' },
        });
        await conn.sendRequest(InlineCompletionRequest.type, { textDocument: { uri }, position: { line: 1, character: 16 }, context: { triggerKind: 1 } });
        assert.ok(statuses.some((s) => s.state === 'ready' && s.model === 'default'), `the shipped model was not loaded: ${JSON.stringify(statuses)}\n${stderr}`);
        await new Promise((r) => setTimeout(r, QUIET_MS));
        await conn.sendRequest('shutdown');
        await conn.sendNotification('exit');
        await closed;
      } finally {
        conn.dispose();
        if (child.exitCode === null) child.kill();
      }
      const trace = readTrace(traceFile);
      assert.match(trace, /AF_UNIX|getsockopt/, 'the trace recorded the server');
      assert.deepEqual(networkViolations(trace), [], 'network activity in the language server');
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  test("the trainer's ONNX Runtime sessions make no network access", { skip, timeout: 120_000 }, async () => {
    assert.equal(problem, null, problem ?? '');
    const scratch = mkdtempSync(join(tmpdir(), 'diffill-net-py-'));
    const traceFile = join(scratch, 'trace.txt');
    try {
      // The export module's own session helper (used by the fp32 and int8 verification), then long
      // enough for an uploader to show itself (it starts about 9 s after the session).
      const code = [
        'import sys, time',
        'from pathlib import Path',
        'from diffill_trainer import export',
        'export.session(Path(sys.argv[1]))',
        'time.sleep(13)',
      ].join('\n');
      const child = spawnTraced(traceFile, python(), ['-c', code, join(SHIPPED, 'model.onnx')], {
        cwd: TRAINER_DIR,
        env: { ...userLikeEnv(), PYTHONPATH: TRAINER_DIR, OMP_NUM_THREADS: '1' },
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code_ = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      assert.equal(code_, 0, stderr);
      assert.deepEqual(networkViolations(readTrace(traceFile)), [], 'network activity in the trainer');
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
