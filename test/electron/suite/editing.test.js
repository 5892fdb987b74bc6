// @ts-check
// The editing scenarios of test/e2e/run.mjs in desktop VS Code, through the vscode API: ghost text
// accepted as Tab would, Fill Blanks, Write What Comes Before, and a guidance change reaching the
// server. The repository is the extension under development, so the language server is its own
// dist/cli.js serving the shipped models/default.
const assert = require('node:assert/strict');
const vscode = require('vscode');
const { activateDiffill, answer, diffillLogText, logEntries, logMark, openWorkspaceFile, sleep, track, until, waitForLog } = require('./helpers');

// What each fixture file holds before a test edits it (test/electron/fixture/).
const BLANKS = 'def area(width, height):\n    return width ___ height\n\n\nprint(area(3, ___))\n';
const BEFORE = 'def greet(name):\n    return "Hello, " + name\n';

// The extension reports a failed command in its log as "<what>: <message>" at error level.
const failed = (/** @type {string} */ what) => new RegExp(`\\[error\\] ${what}: `);

describe('Diffill in desktop VS Code', function () {
  this.timeout(180_000);

  before(async () => {
    // Activation ends once the language client has started the server (or logged why it could not).
    await activateDiffill();
    const failure = logEntries(diffillLogText()).find((e) => /the language server failed to start/.test(e));
    assert.equal(failure, undefined, `the language server did not start: ${failure}`);
  });

  beforeEach(async () => {
    // Nothing left over from a previous test may receive the answers given below.
    await vscode.commands.executeCommand('notifications.clearAll');
  });

  afterEach(async () => {
    // Keep the files as the test left them (and no "save changes?" prompt when VS Code closes).
    await vscode.workspace.saveAll(false);
  });

  it('shows ghost text for the cursor and accepting it (Tab) inserts it', async () => {
    const { doc, editor } = await openWorkspaceFile('ghost.py');
    const end = doc.lineAt(doc.lineCount - 1).range.end;
    assert.ok(await editor.edit((e) => e.insert(end, 'def add(a, b):\n    return a')));
    const typed = doc.getText();
    const cursor = doc.lineAt(doc.lineCount - 1).range.end;
    editor.selection = new vscode.Selection(cursor, cursor);

    // VS Code has no API command that runs inline completion providers, so this asks for ghost text
    // the way Alt+\ does and accepts it the way Tab does (the accept command runs only while ghost
    // text is shown); a request can come back empty while the model loads, so it asks again.
    const deadline = Date.now() + 120_000;
    while (doc.getText() === typed && Date.now() < deadline) {
      await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
      for (let i = 0; i < 15 && doc.getText() === typed; i++) {
        await sleep(300);
        await vscode.commands.executeCommand('editor.action.inlineSuggest.commit');
      }
    }
    const text = doc.getText();
    assert.ok(text.startsWith(typed) && text.length > typed.length, `no ghost text was accepted; the document is:\n${text}`);
  });

  it('Fill Blanks previews the fills and Accept applies them', async () => {
    const { doc, editor } = await openWorkspaceFile('blanks.py');
    assert.equal(doc.getText(), BLANKS);
    // One plain cursor: every ___ is a blank.
    editor.selection = new vscode.Selection(0, 0, 0, 0);
    const mark = logMark();
    const running = track(vscode.commands.executeCommand('diffill.fillBlanks'));
    // Logged after the progress notification closed, as the preview (Accept / Reject) opens.
    await waitForLog('the fill preview', /fill blanks: filled \d+ blank\(s\) in \d+ ms; preview shown/, { mark, failure: failed('fill blanks') });
    await answer(running, 'notification.acceptPrimaryAction');

    const text = await until('the fills in the document', () => doc.getText(), (t) => !t.includes('___'), 10_000);
    assert.ok(text.startsWith('def area(') && text.includes('print(area(3,'), `the text around the blanks changed:\n${text}`);
    // Blanks replaced by nothing at all would pass the checks above.
    assert.notEqual(text, BLANKS.replace(/_{3,}/g, ''), 'the model filled every blank with nothing');
  });

  it('Write What Comes Before inserts text above the cursor line', async () => {
    const { doc, editor } = await openWorkspaceFile('before.py');
    assert.equal(doc.getText(), BEFORE);
    editor.selection = new vscode.Selection(0, 0, 0, 0);
    const mark = logMark();
    const running = track(vscode.commands.executeCommand('diffill.writeBefore'));
    // The lines are applied first (after the progress notification closed), then Keep / Undo is asked.
    await until(
      'the written lines',
      () => {
        const bad = logEntries(diffillLogText().slice(mark)).find((e) => failed('write before').test(e));
        if (bad !== undefined) throw new Error(`the extension reported a failure: ${bad}`);
        return doc.getText();
      },
      (t) => t !== BEFORE,
      120_000,
    );
    await answer(running, 'notification.acceptPrimaryAction'); // Keep

    const text = doc.getText();
    // The original text must follow what was written, unchanged.
    assert.ok(text.endsWith(BEFORE) && text.length > BEFORE.length, `unexpected document after Keep:\n${text}`);
  });

  it('Set Guidance Strength reaches the server', async () => {
    const mark = logMark();
    // The command takes the strength as an argument (keybindings, tests); without one it asks.
    await vscode.commands.executeCommand('diffill.setGuidance', 2);
    // The server logs the options it now uses, and the client logs the value the server answered.
    await waitForLog('the server applying guidance 2', /sampler options: guidance 2\b/, { mark, failure: failed('set guidance') });
    await waitForLog('the server answering guidance 2', /guidance set to 2\b/, { mark, failure: failed('set guidance') });
    // The status notification (what the status bar shows) carries the new strength as well.
    await waitForLog('a status notification with guidance 2', /Received notification 'diffill\/status'[\s\S]*"guidance": 2\b/, { mark, timeoutMs: 10_000 });
  });

  after(async () => {
    // Back to the setting's strength for anything that runs later in this window.
    await vscode.commands.executeCommand('diffill.setGuidance', 0);
  });
});
