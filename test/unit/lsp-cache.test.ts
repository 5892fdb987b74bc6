// Completion cache: exact hits per (document, version, prefix, suffix), typed-ahead reuse, LRU bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompletionCache } from '../../server/src/lsp/completion-cache';

const item = (insertText: string, replaceChars = 0) => ({ insertText, replaceChars });

test('exact hit needs the same document, version, prefix and suffix', () => {
  const c = new CompletionCache();
  c.set({ uri: 'a', version: 1, prefix: 'x = ', suffix: '\n' }, [item('1')]);
  assert.deepEqual(c.get({ uri: 'a', version: 1, prefix: 'x = ', suffix: '\n' }), [item('1')]);
  assert.equal(c.get({ uri: 'b', version: 1, prefix: 'x = ', suffix: '\n' }), undefined);
  assert.equal(c.get({ uri: 'a', version: 1, prefix: 'x = ', suffix: ';\n' }), undefined);
  assert.equal(c.get({ uri: 'a', version: 1, prefix: 'y = ', suffix: '\n' }), undefined);
});

test('typed-ahead: typing the start of a completion serves the rest, keeping the range', () => {
  const c = new CompletionCache();
  c.set({ uri: 'a', version: 1, prefix: 'print(', suffix: ')\n' }, [item('"hello")', 1), item('name)', 1)]);
  assert.deepEqual(c.get({ uri: 'a', version: 2, prefix: 'print("he', suffix: ')\n' }), [item('llo")', 1)]);
  assert.equal(c.get({ uri: 'a', version: 3, prefix: 'print("x', suffix: ')\n' }), undefined, 'diverged');
  assert.equal(c.get({ uri: 'a', version: 4, prefix: 'print("hello")', suffix: ')\n' }), undefined, 'fully typed: nothing left');
  assert.equal(c.get({ uri: 'a', version: 2, prefix: 'print("he', suffix: '\n' }), undefined, 'suffix changed');
});

test('LRU: the least recently used entry goes first; clear by document', () => {
  const c = new CompletionCache(2);
  c.set({ uri: 'a', version: 1, prefix: '1', suffix: '' }, [item('one')]);
  c.set({ uri: 'a', version: 1, prefix: '2', suffix: '' }, [item('two')]);
  c.get({ uri: 'a', version: 1, prefix: '1', suffix: '' });
  c.set({ uri: 'b', version: 1, prefix: '3', suffix: '' }, [item('three')]);
  assert.equal(c.size, 2);
  assert.equal(c.get({ uri: 'a', version: 1, prefix: '2', suffix: '' }), undefined);
  assert.ok(c.get({ uri: 'a', version: 1, prefix: '1', suffix: '' }));
  c.clear('a');
  assert.equal(c.size, 1);
  assert.throws(() => new CompletionCache(0), RangeError);
});
