// Token healing (heal.ts), the answer's scope (scope.ts) and the repetition guard (sampler.ts), on the
// shipped model's real tokenizer and graph.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Engine, loadModel } from '../../server/engine/engine';
import { allowedNext, healGap, insertsLines, stripHealed } from '../../server/engine/heal';
import { resolveSampler } from '../../server/engine/options';
import { sample } from '../../server/engine/sampler';
import { balanceFragment, expectedBrackets } from '../../server/engine/brackets';
import { answerSettled, cutRepeatedLine, cutRunaway, fitsItsLine, scopeAnswer } from '../../server/engine/scope';

const MODEL = join(__dirname, '..', '..', 'models', 'default');
let engine: Engine;
before(async () => {
  engine = await loadModel(MODEL, { threads: 1 });
});
after(async () => {
  await engine.dispose();
});

const bytes = (s: string) => new TextEncoder().encode(s);

test('the prefix is backed off by its last pre-token piece; a line start borrows a line break', () => {
  const tok = engine.model.tokenizer;
  // Cursor mid-identifier: the whole word piece (with its space) goes to the answer.
  assert.deepEqual(healGap(tok, '    result = compu', 'te(x)\n'), { before: '    result =', after: 'te(x)\n', removed: bytes(' compu'), borrowed: '' });
  // A line deleted with its line break: the prefix's "\n" is rewritten by the answer ("\n    ..."),
  // and the line break the answer ends with moves in front of the next line's indentation.
  const line = healGap(tok, 'def f(x):\n', '    return x\n');
  assert.equal(line.before, 'def f(x):');
  assert.deepEqual(line.removed, bytes('\n'));
  assert.equal(line.after, '\n    return x\n');
  assert.equal(line.borrowed, '\n');
  // After the indentation: the indentation piece is healed, nothing borrowed.
  const indent = healGap(tok, 'def f(x):\n    ', '\n');
  assert.deepEqual(indent.removed, bytes('\n    '));
  assert.equal(indent.borrowed, '');
  assert.deepEqual(healGap(tok, '', 'x'), { before: '', after: '\nx', removed: new Uint8Array(0), borrowed: '\n' });
  assert.equal(insertsLines('a\n', '  b'), true);
  assert.equal(insertsLines('a\n', '\nb'), false);
  assert.equal(insertsLines('a = ', 'b\n'), false);
});

test('allowed next tokens continue the removed text; blanks may not finish a removed space', () => {
  const tok = engine.model.tokenizer;
  const V = engine.model.config.vocabSize;
  const ok = allowedNext(tok, V, bytes(' compu'), false);
  const compute = Array.from(tok.encode(' compute'));
  assert.equal(compute.length, 1, 'the test needs " compute" to be one token');
  assert.equal(ok[compute[0]!], 1);
  assert.equal(ok[Array.from(tok.encode(' return'))[0]!], 0);
  assert.equal(ok[engine.model.config.special.pad!], 0, '[PAD] cannot end an answer inside the healed text');
  // Healed indentation is kept as the user typed it: no token that indents deeper.
  const indent = allowedNext(tok, V, bytes('\n    '), false);
  assert.equal(indent[Array.from(tok.encode('\n        '))[0]!], 0);
  assert.equal(indent[Array.from(tok.encode('\n    '))[0]!], 1);
  const space = allowedNext(tok, V, bytes(' '), true);
  assert.equal(space[Array.from(tok.encode(' '))[0]!], 0, 'a lone space would double the document space');
  assert.equal(space[Array.from(tok.encode(' total'))[0]!], 1);
  assert.equal(stripHealed(bytes(' compute'), bytes(' compu')), 'te');
  assert.equal(stripHealed(bytes(' co'), bytes(' compu')), '', 'stopping inside the healed text writes nothing');
});

test('a healed span starts with the removed text, decided first; infill returns only the new text', async () => {
  const m = engine.model;
  const prefix = 'import os\n\n\ndef list_files(root):\n    out = []\n    for name in os.li';
  const suffix = '\n        out.append(name)\n    return out\n';
  const heal = healGap(m.tokenizer, prefix, suffix);
  const pre = Array.from(m.tokenizer.encode(heal.before));
  const post = Array.from(m.tokenizer.encode(heal.after));
  const n = 12;
  const canvas = { ids: Int32Array.from([...pre, ...new Array(n).fill(m.config.special.mask), ...post]), spans: [{ start: pre.length, length: n, healed: heal.removed }] };
  const firstStep: number[] = [];
  const out = await sample(m, canvas, resolveSampler({}), undefined, (step, commits) => {
    if (step === 0) for (const [p] of commits) firstStep.push(p);
  });
  assert.ok(firstStep.includes(pre.length), 'the healed position commits on the first forward');
  const text = m.tokenizer.decode(out.spans[0]!);
  assert.ok(text.startsWith(' os.li') || text.startsWith('.li') || text.startsWith('li'), JSON.stringify(text));
  assert.ok(text.startsWith(new TextDecoder().decode(heal.removed)), JSON.stringify(text));
  const r = await engine.infill({ prefix, suffix, maxTokens: n });
  // The answer continues the identifier the cursor is in (os.listdir), on this line only.
  assert.equal(r.text.includes('\n'), false, JSON.stringify(r.text));
  assert.ok(r.text.startsWith('stdir'), JSON.stringify(r.text));
});

test('a deleted line comes back as a whole line, indentation and line break included', async () => {
  const prefix = 'def add(a, b):\n    total = a + b\n';
  const suffix = '\n\nprint(add(1, 2))\n';
  const r = await engine.infill({ prefix: 'def add(a, b):\n', suffix: '    return total\n' });
  assert.match(r.text, /^ {4}\S.*\n$/, JSON.stringify(r.text));
  const end = await engine.infill({ prefix: prefix + '    return total', suffix: '' });
  // End of the file after a complete statement: nothing, not the function again.
  assert.equal(end.text.includes('def add'), false, JSON.stringify(end.text));
  const blank = await engine.infill({ prefix, suffix });
  assert.equal(blank.text.split('\n').some((l) => l.startsWith('print(')), false, JSON.stringify(blank.text));
});

test('scope: the rest of the line, whole lines, a missing block body, the cursor block', () => {
  const s = (answer: string, before: string, after: string, filled = false) => scopeAnswer({ answer, before, after, filled });
  // Code after the cursor: this line only, and no closer the rest of the line already has.
  assert.equal(s('total, b)\nconsole.log(x)', 'console.log(', ');\n'), 'total, b');
  assert.equal(s('f(a), b', 'x = g(', ')\n'), 'f(a), b');
  // The gap ends inside a word: its end is not written twice.
  assert.equal(s('te_total(items', '    result = compu', 'ems)\n'), 'te_total(it');
  assert.equal(s('ImportError:', '    except ', ':\n'), 'ImportError');
  // Inside a string the rest of the line closes: no quote of its own.
  assert.equal(s('s",', '        "i', 'ay",\n'), 's');
  assert.equal(s('rnal version "', '    "contains an inte', 's command.",\n'), 'rnal version ');
  assert.equal(s('wrap = wrap;', 'exports.', ' = wrap;\n'), 'wrap');
  // Two brackets open before, the rest of the line closes one: the answer may close one.
  assert.equal(s('peError))', 'with pytest.raises((BufferError, Ty', '):\n'), 'peError)');
  // A line start with code after it: whole lines, up to where they repeat the existing line.
  assert.equal(s('    y = 1\n    return y\n    z = 3', 'def f():\n', '    return y\n'), '    y = 1');
  // End of a line that does not open a block: that line only.
  assert.equal(s(' + 1\n\ndef add(a, b):\n    return a', '    return a', ''), ' + 1');
  // A block opener whose body is missing: the body, to the first line back at the opener's level.
  assert.equal(s('\n    return x\n\nprint(f(1))', 'def f(x):', ''), '\n    return x');
  // The body already follows: one line.
  assert.equal(s('\n    return x', 'def f(x):', '\n    return x\n'), '');
  // A blank line inside a block: lines of that block only.
  assert.equal(s('return x\n\ndef g():\n    pass', 'def f(x):\n    ', '\n'), 'return x');
  // A canvas filled to its end: the cut-off last line goes.
  assert.equal(s('\n    a = 1\n    b = fo', 'def f():', '', true), '\n    a = 1');
});

test('runaway repeats are cut unless the document itself repeats them', () => {
  assert.equal(cutRunaway('total, total, total, total', 'const total = 1;'), 'total, ');
  assert.equal(cutRunaway('0, 0, 0, 0]', 'zeros = [0, 0, 0, 0]'), '0, 0, 0, 0]');
  assert.equal(cutRunaway('--------', ''), '--------', 'no letter or digit: a rule line, not a runaway');
  assert.equal(cutRepeatedLine('print(add(a, b))\nprint(add(a, b))\nx'), 'print(add(a, b))');
  assert.equal(cutRepeatedLine('    }\n  }\n}'), '    }\n  }\n}');
  assert.equal(fitsItsLine('"txt"', 'print(name, ', '(x))\n'), true);
  assert.equal(fitsItsLine('"', 'print(name, ', '(x))\n'), false);
  assert.equal(fitsItsLine('#', '', ' = [\n'), false, 'a comment would swallow the rest of the line');
  assert.equal(fitsItsLine('"#"', 'x = ', '\n'), true);
  assert.equal(fitsItsLine('split(x', 'len(text.', '())\n'), false);
  assert.equal(fitsItsLine('a\nb', 'f(', ')\n'), false);
  assert.equal(fitsItsLine('a)\nb', 'x = 1\n', '\ny = 2\n'), true, 'a line of its own: not judged');
  assert.equal(balanceFragment('Outside('), 'Outside()');
  assert.equal(balanceFragment('f(a, g(b'), 'f');
  assert.equal(balanceFragment('f(a)'), 'f(a)');
  // A blank inside a line: no line is borrowed, and its fill is one balanced fragment.
  assert.equal(scopeAnswer({ answer: 'x = g(a\nb', before: 'def f():\n', after: ' = 1\n', filled: false, fragment: true }), 'x = g');
});

test('bracket balance: a one-line answer takes only its share of its statement\'s brackets', () => {
  // The statement around the gap balances: the answer's share is what the text around it leaves.
  assert.equal(expectedBrackets('class A:\n    def f(self):\n        self.head', 'eInsensitiveDict(encode(headers or {}))\n'), 0);
  assert.equal(expectedBrackets('x = f(\n    a,\n', '    b,\n)\n'), 0);
  assert.equal(expectedBrackets('x = f(\n    a,\n', '    b,\n'), -1, 'the rest of the statement never closes f(');
  assert.equal(expectedBrackets('def f():\n    ', ''), null, 'nothing after the gap: the statement is unfinished');
  // An apostrophe in a comment does not hide the brackets after it.
  assert.equal(expectedBrackets("def f():\n    # don't\n    g(", ')\n'), 0);
  const s = (answer: string, before: string, after: string) => scopeAnswer({ answer, before, after, filled: false });
  // Opens more than its share: cut back to where it matched.
  assert.equal(s('ers_list = [', 'class A:\n    def f(self):\n        self.head', 'eInsensitiveDict(encode(headers or {}))\n'), 'ers_list =');
  assert.equal(s('= (node, flag) => {', 'export const has_flag ', ' node.flags & flag;\n'), '= (node, flag) =>');
  // Closes more than its share: a lone closer in the middle of a block goes.
  assert.equal(s('    }', 'function f() {\n  if (a) {\n    g();\n', '  }\n}\n'), '');
  // Its share is to close one: kept.
  assert.equal(s('  }', 'function f() {\n  if (a) {\n    g();\n', '}\n'), '  }');
  assert.equal(s('    {', 'type T = Kind<\n  S,\n', '      [K in keyof A]: A[K]\n    }\n  >\n'), '    {');
  // Inside an open quote, or with nothing after the gap: left alone.
  assert.equal(s('f(x', 'y = ', ''), 'f(x');
});

test('a span ends once its leading tokens settle the answer: the same text in fewer forwards', async () => {
  const m = engine.model;
  const prefix = 'def total(items):\n    result = 0\n    for item in items:\n        result += item.pri';
  const suffix = 'ce * item.count\n    return result\n';
  assert.equal(answerSettled({ answer: 'ce\n    x', before: prefix, after: suffix }), true);
  assert.equal(answerSettled({ answer: 'ce', before: prefix, after: suffix }), false);
  assert.equal(answerSettled({ answer: ':\n', before: 'def f()', after: '\nx = 1\n' }), false, 'a block opener may take its body');
  assert.equal(answerSettled({ answer: 'x = 1\n', before: 'a = 1\n', after: 'b = 2\n' }), false, 'a line start writes whole lines');
  const pre = Array.from(m.tokenizer.encode('x = 1\ny = '));
  const post = Array.from(m.tokenizer.encode('\n'));
  const n = 24;
  const canvas = (settled?: (ids: readonly number[]) => boolean) => ({
    ids: Int32Array.from([m.config.special.bos, ...pre, ...new Array(n).fill(m.config.special.mask), ...post]),
    spans: [{ start: pre.length + 1, length: n, ...(settled ? { settled } : {}) }],
  });
  const opts = resolveSampler({ lengthThreshold: 0, threshold: 1, steps: n, blockLength: 1 });
  const full = await sample(m, canvas(), opts);
  assert.ok(full.spans[0]!.length > 3, 'the case must run past three tokens');
  const short = await sample(m, canvas((ids) => ids.length >= 3), opts);
  assert.deepEqual(short.spans[0], full.spans[0]!.slice(0, 3), 'left to right (blocks of one): the first three tokens, then the end');
  assert.ok(short.forwards < full.forwards);
});

test('repetition guard: one forward never commits the same token at neighbouring positions', async () => {
  const m = engine.model;
  const pre = Array.from(m.tokenizer.encode('import numpy as np\nx = np.array(['));
  const post = Array.from(m.tokenizer.encode('])\n'));
  const n = 24;
  const canvas = { ids: Int32Array.from([m.config.special.bos, ...pre, ...new Array(n).fill(m.config.special.mask), ...post]), spans: [{ start: pre.length + 1, length: n }] };
  const repeatsInAStep = async (repeatGuard: boolean) => {
    let found = 0;
    await sample(m, canvas, resolveSampler({ repeatGuard, lengthThreshold: 0, threshold: 0.2 }), undefined, (_s, commits) => {
      const at = new Map(commits.map(([p, t]) => [p, t]));
      for (const [p, t] of commits) if (t !== m.config.special.pad && (at.get(p - 1) === t || at.get(p - 2) === t)) found++;
    });
    return found;
  };
  assert.ok((await repeatsInAStep(false)) > 0, 'the case must repeat without the guard');
  assert.equal(await repeatsInAStep(true), 0);
});

test('Fill Blanks: every blank of the README example gets a fill that keeps its line whole', async () => {
  const text = 'def count_words(text):\n    return len(text.____())\n\n\nprint(count_words("a b"), ____(open("x").read()))\n';
  const blanks: Array<{ start: number; end: number }> = [];
  for (let i = text.indexOf('____'); i >= 0; i = text.indexOf('____', i + 4)) blanks.push({ start: i, end: i + 4 });
  const r = await engine.fill({ text, blanks });
  r.fills.forEach((f, k) => assert.ok(f.trim() !== '' && fitsItsLine(f, text.slice(0, blanks[k]!.start), text.slice(blanks[k]!.end)), JSON.stringify(r.fills)));
});
