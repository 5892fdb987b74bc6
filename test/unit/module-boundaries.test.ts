// The folders' dependency rules, read from the sources' import lines: the CLI and language server
// (server/src) may use training and the engine; training may use the engine; the engine uses neither
// and no editor code; what all of them need (server/common) depends on none of them. A cycle between
// folders would mean neither can be understood, tested or moved without the other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const ROOT = resolve(__dirname, '../..');

/** Every TypeScript source below `folder` (the trainer's Python is not looked at). */
function sources(folder: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, folder), { withFileTypes: true })) {
    const rel = `${folder}/${entry.name}`;
    if (entry.isDirectory()) out.push(...sources(rel));
    else if (entry.name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

/** The module specifiers a file names: static and type imports, re-exports, import() and require(). */
function specifiers(text: string): string[] {
  const found: string[] = [];
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const pattern of patterns) for (const m of text.matchAll(pattern)) found.push(m[1]!);
  return found;
}

/** The imports of the sources in `folder` that lead into any of `forbidden` (repository-relative folders, or package names). */
function crossings(folder: string, forbidden: readonly string[]): string[] {
  const bad: string[] = [];
  for (const file of sources(folder)) {
    for (const spec of specifiers(readFileSync(join(ROOT, file), 'utf8'))) {
      const target = spec.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), spec)).split(sep).join('/') : spec;
      if (forbidden.some((f) => target === f || target.startsWith(`${f}/`))) bad.push(`${file} imports ${spec}`);
    }
  }
  return bad;
}

test('the import reader sees every form of import', () => {
  const text = [
    "import { a } from '../src/paths';",
    'import {\n  b,\n  c,\n} from "../src/cli";',
    "import type { D } from '../src/protocol';",
    "export * from '../src/limits';",
    "import '../src/side-effect';",
    "type E = import('../src/lsp/x').E;",
    "const f = require('../src/command');",
  ].join('\n');
  assert.deepEqual(specifiers(text).sort(), ['../src/cli', '../src/command', '../src/limits', '../src/lsp/x', '../src/paths', '../src/protocol', '../src/side-effect']);
});

test('training imports nothing from the CLI or the language server', () => {
  assert.ok(sources('server/training').length > 10, 'the training sources were found');
  assert.deepEqual(crossings('server/training', ['server/src', 'client']), []);
});

test('the engine imports nothing from the CLI, the language server, training or the editor', () => {
  assert.ok(sources('server/engine').length > 10, 'the engine sources were found');
  assert.deepEqual(crossings('server/engine', ['server/src', 'server/training', 'client', 'vscode', 'vscode-languageserver', 'vscode-languageclient']), []);
});

test('the shared modules import none of the folders that use them', () => {
  assert.ok(sources('server/common').length > 0, 'the shared sources were found');
  assert.deepEqual(crossings('server/common', ['server/src', 'server/training', 'server/engine', 'client']), []);
});
