import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyFills, findBlanks } from '../../server/engine/blanks';
import { RequestError } from '../../server/engine/errors';

test('blanks are runs of 3+ underscores by default, or any pattern', () => {
  const text = 'a = ___; b = __; c = _____\n';
  const blanks = findBlanks(text);
  assert.deepEqual(blanks, [{ start: 4, end: 7 }, { start: 21, end: 26 }]);
  assert.equal(applyFills(text, blanks, ['1', '3']), 'a = 1; b = __; c = 3\n');
  assert.deepEqual(findBlanks('x <?> y <?>', '<\\?>'), [{ start: 2, end: 5 }, { start: 8, end: 11 }]);
  assert.throws(() => findBlanks('x', '('), RequestError);
});
