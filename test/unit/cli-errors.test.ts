// The CLI as a new user meets it: every mistake is one line naming the flag as typed, a wrong command
// line exits 2 and a failed run 1, outputs are checked before any work, and the numeric flags accept
// exactly what the settings schema (package.json) and the language server accept.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CommandError, UsageError } from '../../server/src/command';
import { command as before } from '../../server/src/commands/before';
import { command as bench } from '../../server/src/commands/bench';
import { engineFlags, output, parseEngineArgs } from '../../server/src/commands/engine-flags';
import { command as fill } from '../../server/src/commands/fill';
import { command as infill } from '../../server/src/commands/infill';
import { SAMPLER_BOUNDS } from '../../server/src/limits';
import { ROOT } from '../helpers/tiny-model';

const work = mkdtempSync(join(tmpdir(), 'diffill-cli-errors-'));
const missingModel = join(work, 'no-model');

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'src', 'cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** One line on stderr, starting with `diffill: `, and nothing that looks like a stack trace. */
function assertOneLine(stderr: string, pattern: RegExp): void {
  assert.match(stderr, /^diffill: [^\n]*\n$/, `expected one line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at |node:internal|Unhandled/);
  assert.match(stderr, pattern);
}

const task = { task_id: 't', kind: 'single-line', prompt: 'x = ', suffix: '\n', middle: '1', max_tokens: 4 };
const tasksFile = join(work, 'tasks.jsonl');
writeFileSync(tasksFile, JSON.stringify(task) + '\n');
const inputFile = join(work, 'in.jsonl');
writeFileSync(inputFile, JSON.stringify({ task_id: 1, prompt: 'x = ', suffix: '\n' }) + '\n');

test('infill --output into a missing folder: one line, exit 1, before the model loads', () => {
  // The model path is wrong too: the output is checked first, so its error is the one reported.
  const r = cli(['infill', '--input', inputFile, '--output', join(work, 'nodir', 'out.jsonl'), '--model', missingModel]);
  assert.equal(r.code, 1);
  assertOneLine(r.stderr, /--output .*nodir\/out\.jsonl: the folder .*nodir does not exist/);
  const dir = cli(['infill', '--input', inputFile, '--output', work, '--model', missingModel]);
  assert.equal(dir.code, 1);
  assertOneLine(dir.stderr, /--output .*: is a folder/);
});

test('bench --json and --markdown into a missing folder fail before the run', async () => {
  // A model that does not exist: reaching the model (the run) would fail differently.
  await assert.rejects(bench.run(['--tasks', tasksFile, '--model', missingModel, '--json', join(work, 'nodir', 'b.json')]), (err: Error) => {
    assert.ok(err instanceof CommandError);
    assert.match(err.message, /^--json .*nodir\/b\.json: the folder .*nodir does not exist$/);
    return true;
  });
  await assert.rejects(bench.run(['--tasks', tasksFile, '--model', missingModel, '--markdown', join(work, 'nodir', 'b.md')]), /^CommandError: --markdown /);
  await assert.rejects(bench.run(['--suite', 'realistic', '--model', missingModel, '--json', join(work, 'nodir', 'r.json')]), /--json .*does not exist/);
});

test('bench: a task file of the wrong shape names its line and field; --limit 0 is a usage error', async () => {
  const bad = join(work, 'bad-tasks.jsonl');
  writeFileSync(bad, JSON.stringify(task) + '\n' + JSON.stringify({ task_id: 'u', kind: 'single-line', prompt: 'a', suffix: 'b' }) + '\n');
  await assert.rejects(bench.run(['--tasks', bad, '--model', missingModel]), /line 2: field "middle" must be a string, got nothing/);
  writeFileSync(bad, '[1, 2]\n');
  await assert.rejects(bench.run(['--tasks', bad, '--model', missingModel]), /line 1: expected a JSON object/);
  writeFileSync(bad, '{"task_id": \n');
  await assert.rejects(bench.run(['--tasks', bad, '--model', missingModel]), /line 1: not JSON/);
  for (const limit of ['0', '-1', '2.5']) {
    await assert.rejects(bench.run(['--tasks', tasksFile, '--limit', limit, '--model', missingModel]), (err: Error) => {
      assert.ok(err instanceof UsageError, limit);
      assert.equal(err.message, `--limit must be an integer from 1 to ${Number.MAX_SAFE_INTEGER} (got '${limit}')`);
      return true;
    });
  }
  const r = cli(['bench', '--tasks', bad, '--model', missingModel]);
  assert.equal(r.code, 1);
  assertOneLine(r.stderr, /bad-tasks\.jsonl line 1: not JSON/);
});

test('messages name the flag typed; a negative number after a flag reaches the value check', async () => {
  const cases: Array<[() => Promise<number>, RegExp]> = [
    [() => infill.run(['--input', inputFile, '--max-tokens', '-5']), /^--max-tokens must be an integer from 1 to 256 \(got '-5'\)$/],
    [() => infill.run(['--input', inputFile, '--max-tokens', '0']), /^--max-tokens must be an integer from 1 to 256/],
    [() => fill.run([inputFile, '--max-tokens', '2000']), /^--max-tokens must be an integer from 1 to 1024 \(got '2000'\)$/],
    [() => before.run([inputFile, '--line', '1', '--max-tokens', '-1']), /^--max-tokens must be an integer from 1 to 1024/],
    [() => infill.run(['--input', inputFile, '--context', '8']), /^--context must be an integer from 16 to 4096 \(got '8'\)$/],
    [() => infill.run(['--input', inputFile, '--seed', '-1']), /^--seed must be an integer from 0 to 4294967295 \(got '-1'\)$/],
    [() => infill.run(['--input', inputFile, '--temperature', '-0.5']), /^--temperature must be a number from 0 to 5/],
    [() => infill.run(['--input', inputFile, '--bogus']), /^unknown option '--bogus' \(see diffill infill --help\)$/],
    [() => infill.run(['--input']), /^--input needs a value/],
    [() => infill.run(['--input', inputFile, '--no-cache=yes']), /^--no-cache takes no value/],
  ];
  for (const [run, message] of cases) {
    await assert.rejects(run(), (err: Error) => {
      assert.ok(err instanceof UsageError, `${err.name}: ${err.message}`);
      assert.match(err.message, message);
      assert.doesNotMatch(err.message, /maxTokens|maxContextTokens|maxTokensPerBlank|ambiguous|\n/);
      return true;
    });
  }
  // Through the real entry point: exit 2, one line.
  const r = cli(['infill', '--input', inputFile, '--max-tokens', '-5']);
  assert.equal(r.code, 2);
  assertOneLine(r.stderr, /--max-tokens must be an integer from 1 to 256 \(got '-5'\)/);
  // A value that starts with a dash but is not a number is taken as the value too (a pattern).
  assert.equal(parseEngineArgs(['--pattern', '-{3,}'], { pattern: { type: 'string' } }).values.pattern, '-{3,}');
  // ... while a following option is not swallowed as a value.
  assert.throws(() => parseEngineArgs(['--model', '--threads', '2'], {}), /--model needs a value/);
});

test('usage errors exit 2, failed runs exit 1', () => {
  const usage: string[][] = [[], ['nope'], ['infill', '--input', inputFile, '--threads', 'x'], ['before', inputFile], ['train', '--preset', 'tiny']];
  for (const args of usage) {
    const r = cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  const failed = cli(['tokenize', join(ROOT, 'README.md'), '--model', missingModel]);
  assert.equal(failed.code, 1);
  assertOneLine(failed.stderr, /model not found/);
});

test('numeric flags take exactly the bounds of the settings schema and the server', () => {
  const schema = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    contributes: { configuration: { properties: Record<string, { minimum: number; maximum: number }> } };
  }).contributes.configuration.properties;
  const bounds: Array<[string, number, number]> = [
    ['guidance', schema['diffill.guidance']!.minimum, schema['diffill.guidance']!.maximum],
    ['threads', schema['diffill.threads']!.minimum, schema['diffill.threads']!.maximum],
    ['context', schema['diffill.contextTokens']!.minimum, schema['diffill.contextTokens']!.maximum],
    // No setting: the bounds the server applies to diffill/setSamplerOptions.
    ['temperature', SAMPLER_BOUNDS.temperature.min, SAMPLER_BOUNDS.temperature.max],
    ['steps', SAMPLER_BOUNDS.steps.min, SAMPLER_BOUNDS.steps.max],
  ];
  for (const [flag, min, max] of bounds) {
    assert.doesNotThrow(() => engineFlags({ [flag]: String(min) }), flag);
    assert.doesNotThrow(() => engineFlags({ [flag]: String(max) }), flag);
    assert.throws(() => engineFlags({ [flag]: String(max + 1) }), new RegExp(`^UsageError: --${flag} must be an? (integer|number) from ${min} to ${max} \\(got '${max + 1}'\\)$`));
    assert.throws(() => engineFlags({ [flag]: String(min - 1) }), new RegExp(`--${flag} must be`));
  }
  assert.throws(() => engineFlags({ threads: '1000' }), /--threads must be an integer from 0 to 64/);
  assert.throws(() => engineFlags({ guidance: '99' }), /--guidance must be a number from 0 to 5/);
  // 0 threads means what the setting's 0 means: every CPU.
  assert.equal(engineFlags({ threads: '0' }).threads, undefined);
  assert.equal(engineFlags({ threads: '2' }).threads, 2);
});

test('before: --line out of range says so; a missing --line says it is required', async () => {
  const doc = join(work, 'three.txt');
  writeFileSync(doc, 'a\nb\nc\n');
  await assert.rejects(before.run([doc, '--line', '0', '--model', missingModel]), /^UsageError: --line 0 is out of range: .*three\.txt has 3 lines, so N is 1 to 4 \(4 = the end\)$/);
  await assert.rejects(before.run([doc, '--line', '5', '--model', missingModel]), /--line 5 is out of range/);
  await assert.rejects(before.run([doc, '--line', '-2', '--model', missingModel]), /--line -2 is out of range/);
  await assert.rejects(before.run([doc, '--model', missingModel]), /^UsageError: --line N is required/);
  const r = cli(['before', doc, '--line', '0']);
  assert.equal(r.code, 2);
  assertOneLine(r.stderr, /--line 0 is out of range/);
});

test('before: an empty answer is said on stderr, not left as silence', async () => {
  // The shipped model answers nothing before the blank lines between functions of this file (it
  // judges the gap complete); a non-empty answer must come without the note.
  const file = join(ROOT, 'examples', 'blanks.py');
  const notes: string[] = [];
  const writeErr = process.stderr.write.bind(process.stderr);
  const write = output.write;
  let empties = 0;
  try {
    for (const line of [8, 9, 12]) {
      let stdout = '';
      notes.length = 0;
      output.write = (text: string) => {
        stdout += text;
      };
      process.stderr.write = ((text: string) => {
        notes.push(String(text));
        return true;
      }) as typeof process.stderr.write;
      assert.equal(await before.run([file, '--line', String(line), '--max-tokens', '12', '--threads', '1']), 0);
      process.stderr.write = writeErr;
      const note = notes.join('');
      if (stdout === '') {
        empties++;
        assert.match(note, /^diffill: nothing to write before line \d+: the model's answer was empty/);
      } else {
        assert.equal(note, '', `line ${line}`);
      }
    }
  } finally {
    process.stderr.write = writeErr;
    output.write = write;
  }
  assert.ok(empties > 0, 'no empty answer among these lines any more: pick lines where the model answers nothing');
});

test('fill and before refuse a binary file in one line, printing nothing', () => {
  const bin = join(work, 'image.bin');
  writeFileSync(bin, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x5f, 0x5f, 0x5f, 0x00, 0x01]));
  for (const args of [['fill', bin], ['before', bin, '--line', '1']]) {
    const r = cli([...args, '--model', missingModel]);
    assert.equal(r.code, 1, args.join(' '));
    assertOneLine(r.stderr, /image\.bin looks binary \(NUL byte at offset 7\)/);
    assert.equal(r.stdout, '');
  }
});

test('an output file that exists is not truncated by a run that cannot start', () => {
  const out = join(work, 'keep.jsonl');
  writeFileSync(out, 'earlier results\n');
  mkdirSync(join(work, 'sub'), { recursive: true });
  const r = cli(['infill', '--input', inputFile, '--output', out, '--model', missingModel]);
  assert.equal(r.code, 1);
  assert.equal(readFileSync(out, 'utf8'), 'earlier results\n');
});
