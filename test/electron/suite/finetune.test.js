// @ts-check
// The fine-tuning scenario of test/e2e/run.mjs in desktop VS Code. runTest.mjs stages the extension
// with the tiny test model as its shipped model and sets a 30-step CPU budget and the project's
// Python in the user settings, so the whole job (data, training, evaluation, install, hot swap)
// takes well under a minute.
const assert = require('node:assert/strict');
const vscode = require('vscode');
const { activateDiffill, answer, diffillLogText, logEntries, logMark, track, waitForLog } = require('./helpers');

describe('Diffill fine-tuning in desktop VS Code', function () {
  this.timeout(420_000);

  before(async () => {
    await activateDiffill();
    const failure = logEntries(diffillLogText()).find((e) => /the language server failed to start/.test(e));
    assert.equal(failure, undefined, `the language server did not start: ${failure}`);
    await vscode.commands.executeCommand('notifications.clearAll');
  });

  it('Fine-tune on This Workspace shows progress, then serves the new model', async () => {
    const mark = logMark();
    const failure = /\[error\] fine-tuning/;
    const running = track(vscode.commands.executeCommand('diffill.finetune'));

    // The progress notification shows what the server sends as diffill/finetune/progress; the trace
    // of those messages is in the log. One with a training step proves the progress reached the editor.
    const progress = await waitForLog(
      'a training step in the progress',
      /Received notification 'diffill\/finetune\/progress'[\s\S]*"message": "step \d+\/\d+ · loss [\d.]+ · .* tok\/s · ETA/,
      { mark, failure, timeoutMs: 300_000 },
    );
    assert.match(progress, /"totalSteps": 30\b/, 'the step budget from the user settings did not reach the trainer');

    // The server installs the candidate (only when it beats the base model on held-out text) and swaps it in.
    const installed = await waitForLog('the installed model', /fine-tuned model installed as (\S+):/, { mark, failure, timeoutMs: 300_000 });
    const model = /installed as (\S+):/.exec(installed)?.[1] ?? '';
    await waitForLog('the new model served', new RegExp(`model ${model.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} swapped in`), { mark, failure, timeoutMs: 60_000 });
    // The client got the answer (it opens the report, then offers "Use Previous Model").
    await waitForLog('the editor receiving the result', /fine-tuned model \S+ installed \(held-out loss/, { mark, failure, timeoutMs: 60_000 });

    // Closing the last notification without choosing keeps the new model (its primary action would
    // go back to the previous one).
    await answer(running, 'notifications.clearAll', 60_000);
    const after = logEntries(diffillLogText().slice(mark));
    assert.equal(after.find((e) => /now serving the previous model/.test(e)), undefined, 'the previous model was restored');
  });
});
