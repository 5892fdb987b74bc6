// `diffill tokenize FILE`: counts, and one clear message for files that are not text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Tokenizer } from '../../server/engine/tokenizer';

const ROOT = path.resolve(__dirname, '../..');
// By absolute URL, so the command can run from another directory (the default model must be found
// from the package, not from the working directory).
const TSX = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

function diffill(...args: string[]) {
  return spawnSync(process.execPath, ['--import', TSX, path.join(ROOT, 'server/src/cli.ts'), 'tokenize', ...args], { cwd: os.tmpdir(), encoding: 'utf8' });
}

test('--json reports the same count as the tokenizer, with characters per token and a throughput', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffill-tokenize-'));
  try {
    const file = path.join(dir, 'sample.py');
    const text = '\uFEFFdef f(x):\r\n\treturn x * 2  # ½ 😀\n';
    fs.writeFileSync(file, text);
    const r = diffill(file, '--json');
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as Record<string, number | string>;
    const expected = Tokenizer.fromFile(path.join(ROOT, 'models/default/tokenizer.json')).encode(text).length;
    assert.equal(report['tokens'], expected); // the default model is found from the package, not the cwd
    assert.equal(report['characters'], [...text].length);
    assert.equal(report['bytes'], Buffer.byteLength(text));
    assert.ok(Math.abs((report['chars_per_token'] as number) - [...text].length / expected) < 1e-9);
    assert.ok((report['tokens_per_second'] as number) > 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('missing, binary and non-UTF-8 files are refused with one line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffill-tokenize-'));
  try {
    fs.writeFileSync(path.join(dir, 'image.bin'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01]));
    fs.writeFileSync(path.join(dir, 'latin1.txt'), Buffer.from('caf\xe9', 'latin1'));
    const cases: [string, RegExp][] = [
      [path.join(dir, 'nope.txt'), /^diffill: no such file: .*nope\.txt\n$/],
      [path.join(dir, 'image.bin'), /^diffill: .*image\.bin looks binary \(NUL byte at offset 4\)/],
      [path.join(dir, 'latin1.txt'), /^diffill: .*latin1\.txt is not valid UTF-8 text/],
      [dir, /is a directory, not a file/],
    ];
    for (const [file, message] of cases) {
      const r = diffill(file);
      assert.equal(r.status, 1, file);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
    // A model that is not there is a failed run (1), like a missing FILE; 2 is for a wrong command line.
    const r = diffill(path.join(ROOT, 'README.md'), '--model', path.join(dir, 'no-model'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /model not found/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
