// The autoregressive path for "diffill-arm" models (server/engine/arm-decode.ts, arm-tasks.ts): token for
// token the trainer's reference greedy fill-in-the-middle decoder (sample_arm.py), where it stops (end
// of middle, the answer's scope, the token budget), token healing as a constrained first step,
// cancellation and the urgent lane, the context window, the Fill Blanks reduction and Write What Comes
// Before, the command line, and ghost text over the real language server.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { armDecode, armPrompt } from '../../server/engine/arm-decode';
import { AbortError, DEFAULT_CONTEXT, loadModel, RequestError, type Engine } from '../../server/engine/index';
import { infill } from '../../server/engine/infill';
import { openModel, type Model } from '../../server/engine/model';
import { bigramArmModelDir, randomArmModelDir, REFERENCE, type Transition } from '../helpers/arm-model';
import { CLI, LspProcess } from '../helpers/lsp-process';
import { pythonJson } from '../helpers/tiny-model';
import { modelDirProblem } from '../../server/training/model-dir';

/** After <|fim_middle|> the model writes " total = 1\nprint()" and ends; after " compute" it writes "()". */
const CHAIN: Transition[] = [
  ['<|fim_middle|>', ' total', 10],
  ['<|fim_middle|>', ' compute', 5],
  [' total', ' =', 10],
  [' =', ' 1', 10],
  [' 1', '\n', 10],
  ['\n', 'print', 10],
  ['print', '(', 10],
  ['(', ')', 10],
  [')', '<|eom|>', 10],
  [' compute', '(', 10],
];

const RAW = { heal: false, scope: false } as const;

describe('the autoregressive path against the PyTorch reference', () => {
  let model: Model;
  let dir: string;
  before(async () => {
    dir = randomArmModelDir();
    model = await openModel(dir, { threads: 1 });
  });
  after(() => model.dispose());

  test('prompt and greedy tokens equal the reference, stopping at the end-of-middle token', async () => {
    const tasks = [
      { prefix: 'def add(a, b):\n    return', suffix: '\n\nprint(add(1, 2))\n' },
      { prefix: 'import os\n', suffix: '' },
      { prefix: '', suffix: 'x = 1\n' },
      { prefix: 'for i in range(10):\n', suffix: '\n    print(i)\n' },
      { prefix: 'The quick brown fox', suffix: ' over the lazy dog.' },
      { prefix: 'class A:\n    def __init__(self):\n        self.x', suffix: '\n' },
      { prefix: 'const total = items.reduce((a, b) =>', suffix: ', 0);\n' },
      { prefix: '# Title\n\nSome text', suffix: '\n\n## Next\n' },
    ].map((t) => ({ ...t, max_tokens: 16 }));
    const want = pythonJson<Array<{ prompt: number[]; ids: number[]; stop: string; forwards: number }>>(REFERENCE, [dir], tasks);
    let ended = 0;
    let ran = 0;
    for (const [k, t] of tasks.entries()) {
      const prompt = armPrompt(model, t.prefix, t.suffix, t.max_tokens, DEFAULT_CONTEXT);
      assert.deepEqual(Array.from(prompt), want[k]!.prompt, `prompt of task ${k}`);
      const out = await armDecode(model, prompt, { maxTokens: t.max_tokens, minTokens: 0, timeBudgetMs: 0 });
      assert.deepEqual(out.ids, want[k]!.ids, `tokens of task ${k}`);
      assert.equal(out.ended, want[k]!.stop);
      // One forward per written token, plus the one that wrote the end (none after the budget's last).
      assert.equal(out.forwards, want[k]!.forwards);
      assert.equal(out.forwards, out.ids.length + (out.ended === 'length' ? 0 : 1));
      if (out.ended === 'length') ran++;
      else ended++;
      const r = await infill(model, { prefix: t.prefix, suffix: t.suffix, maxTokens: t.max_tokens, fit: RAW });
      assert.equal(r.text, model.tokenizer.decode(out.ids), `task ${k} through infill`);
    }
    // Both ends are exercised: the model's end-of-middle token and the token budget.
    assert.ok(ended > 0 && ran > 0, `ended ${ended}, ran to the budget ${ran}`);
  });
});

describe('sampling on the autoregressive path', () => {
  test('a temperature draws other answers than greedy, the same for the same seed', async () => {
    const engine = await loadModel(randomArmModelDir(), { threads: 1 });
    try {
      const ask = (sampler: { temperature?: number; seed?: number }) =>
        engine.infill({ prefix: 'def add(a, b):\n    return', suffix: '\n\nprint(add(1, 2))\n', maxTokens: 12, fit: RAW, sampler });
      const greedy = (await ask({})).text;
      const drawn = await Promise.all([0, 1, 2, 3].map(async (seed) => (await ask({ temperature: 1, seed })).text));
      assert.ok(drawn.some((t) => t !== greedy), `every draw was the greedy answer ${JSON.stringify(greedy)}`);
      assert.equal((await ask({ temperature: 1, seed: 2 })).text, drawn[2]);
    } finally {
      await engine.dispose();
    }
  });
});

describe('where the autoregressive path stops, and what it writes', () => {
  let engine: Engine;
  before(async () => {
    engine = await loadModel(bigramArmModelDir(CHAIN), { threads: 1 });
  });
  after(() => engine.dispose());

  test('ends at the end-of-middle token, or at the token budget', async () => {
    const r = await engine.infill({ prefix: 'a = 2\n', suffix: '', maxTokens: 32, fit: RAW });
    assert.equal(r.text, ' total = 1\nprint()');
    assert.equal(r.tokens, 7);
    assert.equal(r.forwards, 8);
    const short = await engine.infill({ prefix: 'a = 2\n', suffix: '', maxTokens: 3, fit: RAW });
    assert.equal(short.text, ' total = 1');
    assert.equal(short.forwards, 3);
  });

  test('ghost text at the end of a line stops at the line break (scope), without decoding the rest', async () => {
    const r = await engine.infill({ prefix: 'a = 2\nb', suffix: '\nreturn b\n', maxTokens: 32, fit: { heal: false, scope: true } });
    assert.equal(r.text, ' total = 1');
    assert.equal(r.forwards, 4); // " total", " =", " 1", "\n": settled
  });

  test('token healing: the answer must start with the prefix\'s last piece', async () => {
    // Unhealed, " compu" ends the prompt and the model writes its favourite " total ..." after it.
    const raw = await engine.infill({ prefix: 'y = compu', suffix: '\n', maxTokens: 32, fit: RAW });
    assert.equal(raw.text, ' total = 1\nprint()');
    // Healed, " compu" is taken off and the first token must spell it: " compute", then "()".
    const healed = await engine.infill({ prefix: 'y = compu', suffix: '\n', maxTokens: 32, fit: { heal: true, scope: false } });
    assert.equal(healed.text, 'te()');
  });

  test('a cancelled request stops between forwards', async () => {
    const controller = new AbortController();
    const model = engine.model;
    const forward = model.forward.bind(model);
    let calls = 0;
    model.forward = async (input) => {
      calls++;
      if (calls === 2) controller.abort();
      return forward(input);
    };
    try {
      await assert.rejects(engine.infill({ prefix: 'a = 2\n', suffix: '', maxTokens: 32, fit: RAW, signal: controller.signal }), AbortError);
      assert.equal(calls, 2);
    } finally {
      model.forward = forward;
    }
  });

  test('urgent ghost text takes the session between two forwards of a running request, which then resumes', async () => {
    const alone = await engine.fill({ text: 'a = ___\n', blanks: [{ start: 4, end: 7 }], fit: RAW });
    const model = engine.model;
    const forward = model.forward.bind(model);
    const order: string[] = [];
    let calls = 0;
    let urgent: Promise<unknown> | null = null;
    model.forward = async (input) => {
      calls++;
      order.push(`forward ${calls}`);
      if (calls === 2) {
        urgent = engine.infill({ prefix: 'y = compu', suffix: '\n', maxTokens: 32, urgent: true }).then((r) => order.push(`urgent ${r.text}`));
      }
      return forward(input);
    };
    try {
      const filled = await engine.fill({ text: 'a = ___\n', blanks: [{ start: 4, end: 7 }], fit: RAW });
      await urgent;
      assert.deepEqual(filled.fills, alone.fills);
      // The urgent request's 4 forwards ran right after the second forward of the fill, then it finished.
      assert.deepEqual(order.slice(0, 7), ['forward 1', 'forward 2', 'forward 3', 'forward 4', 'forward 5', 'forward 6', 'urgent te()']);
      assert.equal(calls, 2 + 4 + (alone.forwards - 2));
    } finally {
      model.forward = forward;
    }
  });

  test('context: the prompt stays within max_position and the context budget', async () => {
    const model = engine.model;
    const long = 'x = 1\n'.repeat(2000);
    const n = 32;
    const whole = armPrompt(model, long, long, n, DEFAULT_CONTEXT);
    assert.ok(whole.length + n <= model.config.maxPosition, `${whole.length} + ${n} > ${model.config.maxPosition}`);
    const small = armPrompt(model, long, long, n, { ...DEFAULT_CONTEXT, maxContextTokens: 24 });
    assert.ok(small.length <= 24 + 3, `prompt of ${small.length} tokens for a budget of 24`); // + the three markers
    await assert.rejects(engine.infill({ prefix: long, suffix: '', maxTokens: 300 }), RequestError);
  });

  test('Write What Comes Before is the infill at the anchor line, ending with a line break', async () => {
    const r = await engine.before({ prefix: '', suffix: 'print(x)\n' });
    const direct = await engine.infill({ prefix: '', suffix: 'print(x)\n', maxTokens: 64 });
    assert.equal(r.text, ' total = 1\n');
    assert.equal(r.text, direct.text.endsWith('\n') ? direct.text : `${direct.text}\n`);
  });
});

describe('Fill Blanks on an autoregressive model: one blank at a time, left to right', () => {
  let engine: Engine;
  before(async () => {
    engine = await loadModel(randomArmModelDir(), { threads: 1 });
  });
  after(() => engine.dispose());

  test('each blank sees the fills before it and the text up to the next blank', async () => {
    const text = 'def f(a, b):\n    total = (___)\n    return (___)\n\nprint(f(1, 2))\n';
    const first = text.indexOf('___');
    const second = text.indexOf('___', first + 3);
    const model = engine.model;
    const forward = model.forward.bind(model);
    const prompts: number[][] = [];
    model.forward = async (input) => {
      if (input.past === undefined) prompts.push(Array.from(input.ids, Number));
      return forward(input);
    };
    let r;
    try {
      r = await engine.fill({ text, blanks: [{ start: first, end: first + 3 }, { start: second, end: second + 3 }], maxTokensPerBlank: 8, fit: RAW });
    } finally {
      model.forward = forward;
    }
    assert.equal(r.fills.length, 2);
    // First: the text before it, and after it the text up to the next blank (not the document's end: no EOS).
    const one = armPrompt(model, text.slice(0, first), text.slice(first + 3, second), 8, DEFAULT_CONTEXT, false);
    // Second: the document up to it with the first blank filled, and the rest of the document.
    const two = armPrompt(model, text.slice(0, first) + r.fills[0]! + text.slice(first + 3, second), text.slice(second + 3), 8, DEFAULT_CONTEXT);
    assert.deepEqual(prompts, [Array.from(one), Array.from(two)]);
    assert.ok(!prompts[0]!.includes(model.config.special.eos) && prompts[1]!.includes(model.config.special.eos));
  });
});

describe('ghost text over the language server with an autoregressive model', () => {
  test('the inline completion is the healed, scoped answer', async () => {
    const server = new LspProcess(['--model', bigramArmModelDir(CHAIN)]);
    try {
      await server.initialize({ debounceMs: 0, maxTokens: 16, contextTokens: 128 });
      const uri = 'file:///tmp/arm-ghost.py';
      server.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'python', version: 1, text: 'x = 2\ny = compu\nprint(y)\n' } });
      server.request(1, 'textDocument/inlineCompletion', { textDocument: { uri }, position: { line: 1, character: 9 }, context: { triggerKind: 2 } });
      const answer = await server.response(1);
      assert.equal(answer.error, undefined, JSON.stringify(answer.error));
      const items = (answer.result as { items: Array<{ insertText: string }> }).items;
      assert.equal(items.length, 1, `${JSON.stringify(answer.result)}\n${server.stderr}`);
      assert.equal(items[0]!.insertText, 'te()');
    } finally {
      server.kill();
      await server.exited;
    }
  });
});

describe('fine-tuning an autoregressive model', () => {
  test('its directory is a usable base and candidate', async () => {
    assert.equal(await modelDirProblem(bigramArmModelDir(CHAIN)), null);
  });
});

describe('the command line with an autoregressive model', () => {
  test('diffill infill answers, and diffill bench runs only the rows that differ for it', () => {
    const dir = bigramArmModelDir(CHAIN);
    const task = JSON.stringify({ task_id: 1, prompt: 'y = compu', suffix: '\nprint(y)\n' });
    const out = execFileSync(process.execPath, [CLI, 'infill', '--model', dir, '--input', '-'], { input: `${task}\n`, encoding: 'utf8' });
    assert.equal((JSON.parse(out.trim()) as { completion: string }).completion, 'te()');
    const scratch = mkdtempSync(join(tmpdir(), 'diffill-arm-bench-'));
    try {
      const tasks = join(scratch, 'tasks.jsonl');
      const t = { task_id: 'a', kind: 'single-line', prompt: 'y = compu', suffix: '\nprint(y)\n', middle: 'te()', max_tokens: 8 };
      writeFileSync(tasks, `${JSON.stringify(t)}\n`);
      const json = join(scratch, 'bench.json');
      execFileSync(process.execPath, [CLI, 'bench', '--model', dir, '--tasks', tasks, '--no-lsp', '--json', json], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const rows = (JSON.parse(readFileSync(json, 'utf8')) as { rows: Array<{ setting: string; exact_match: number }> }).rows;
      assert.deepEqual(rows.map((r) => r.setting), ['engine defaults without healing, scope or repetition guard', 'engine defaults', 'engine defaults, context 256']);
      assert.equal(rows[1]!.exact_match, 1);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
