// Blank detection for fill-blanks and the lsp command's argument parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { BlankRangeError, findBlanks, resolveBlanks } from '../../server/src/lsp/blanks';
import { parseLspArgs } from '../../server/src/commands/lsp';

test('findBlanks: runs of three or more underscores, in order; snake_case and __init__ are not blanks', () => {
  assert.deepEqual(findBlanks('a ___ b __ c ______ d'), [
    { start: 2, end: 5 },
    { start: 13, end: 19 },
  ]);
  assert.deepEqual(findBlanks('my_var __init__ x'), []);
});

test('resolveBlanks: explicit ranges sorted, reversed selections normalised, duplicates merged', () => {
  const doc = TextDocument.create('file:///a', 'plaintext', 1, 'abc\ndef ___\n');
  assert.deepEqual(resolveBlanks(doc, undefined), [{ start: 8, end: 11 }]);
  assert.deepEqual(
    resolveBlanks(doc, [
      { start: { line: 1, character: 2 }, end: { line: 1, character: 0 } },
      { start: { line: 0, character: 1 }, end: { line: 0, character: 1 } },
      { start: { line: 0, character: 1 }, end: { line: 0, character: 1 } },
    ]),
    [
      { start: 1, end: 1 },
      { start: 4, end: 6 },
    ],
  );
  assert.throws(
    () =>
      resolveBlanks(doc, [
        { start: { line: 0, character: 0 }, end: { line: 0, character: 3 } },
        { start: { line: 0, character: 2 }, end: { line: 1, character: 1 } },
      ]),
    BlankRangeError,
  );
});

test('parseLspArgs: one transport, optional model directory, clear errors', () => {
  assert.deepEqual(parseLspArgs(['--stdio']), { transport: 'stdio', model: null, python: null });
  assert.equal(parseLspArgs(['--node-ipc', '--model', 'models/x']).transport, 'ipc');
  assert.match(parseLspArgs(['--stdio', '--model=models/x']).model ?? '', /models[\\/]x$/);
  assert.deepEqual(parseLspArgs(['--node-ipc', '--clientProcessId=12']), { transport: 'ipc', model: null, python: null });
  assert.throws(() => parseLspArgs([]), /choose a transport/);
  assert.throws(() => parseLspArgs(['--stdio', '--node-ipc']), /choose one/);
  assert.throws(() => parseLspArgs(['--stdio', '--model']), /needs a directory/);
  assert.throws(() => parseLspArgs(['--stdio', '--bogus']), /unknown option/);
});
