// Golden files for the inline-completion post-processing. Each file under
// test/fixtures/postprocess/ holds an `input` document where ⟦…⟧ marks the raw model text at the
// cursor, and the `expected` document after accepting, with ⟦…⟧ around what was inserted (or
// `(no completion)`). Set UPDATE_GOLDEN=1 to rewrite the expected sections after a deliberate change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { postprocess } from '../../server/src/lsp/postprocess';

const DIR = join(__dirname, '..', 'fixtures', 'postprocess');
const OPEN = '⟦';
const CLOSE = '⟧';
const NONE = '(no completion)';

interface Golden {
  header: string;
  input: string;
  expected: string;
}

function parse(file: string, text: string): Golden {
  const m = /^([\s\S]*?)=== input\n([\s\S]*?)\n=== expected\n([\s\S]*?)\n?$/.exec(text);
  if (m === null) throw new Error(`${file}: expected '=== input' and '=== expected' sections`);
  return { header: m[1]!, input: m[2]!, expected: m[3]! };
}

function render(input: string, file: string): string {
  const open = input.indexOf(OPEN);
  const close = input.indexOf(CLOSE);
  if (open < 0 || close < open) throw new Error(`${file}: input needs one ${OPEN}completion${CLOSE}`);
  const prefix = input.slice(0, open);
  const completion = input.slice(open + OPEN.length, close);
  const suffix = input.slice(close + CLOSE.length);
  const result = postprocess({ completion, prefix, suffix });
  if (result === null) return NONE;
  return prefix + OPEN + result.insertText + CLOSE + suffix.slice(result.replaceChars);
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.txt')).sort();

test('golden files exist', () => {
  assert.ok(files.length >= 10, `expected at least 10 golden files in ${DIR}`);
});

// A rewrite checks nothing, so it is reported as a skip, and CI (CI=true) refuses it outright.
const ci = !['', '0', 'false'].includes((process.env['CI'] ?? '').toLowerCase());
const update = process.env['UPDATE_GOLDEN'] === '1';

for (const file of files) {
  test(`postprocess golden: ${file}`, (t) => {
    const path = join(DIR, file);
    const golden = parse(file, readFileSync(path, 'utf8'));
    const actual = render(golden.input, file);
    if (update && actual !== golden.expected) {
      if (ci) assert.fail('UPDATE_GOLDEN=1 in CI: golden files are checked there, never rewritten');
      writeFileSync(path, `${golden.header}=== input\n${golden.input}\n=== expected\n${actual}\n`);
      t.skip('expected section rewritten (UPDATE_GOLDEN=1)');
      return;
    }
    assert.equal(actual, golden.expected);
  });
}
