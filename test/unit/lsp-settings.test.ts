// The server's Settings type and defaults must match package.json `contributes.configuration`,
// the schema users see; and bad values must fall back to defaults with a reported problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SETTINGS, languageEnabled, parseSettings } from '../../server/src/lsp/settings';

interface SchemaProperty {
  type: string;
  default: unknown;
  scope?: string;
  minimum?: number;
  maximum?: number;
}

const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, SchemaProperty> } };
};
const schema = manifest.contributes.configuration.properties;

test('package.json declares exactly the settings the server reads', () => {
  const declared = Object.keys(schema).sort();
  const read = Object.keys(DEFAULT_SETTINGS).map((k) => `diffill.${k}`).sort();
  assert.deepEqual(declared, read);
});

test('defaults and types agree between package.json and the server', () => {
  for (const [key, value] of Object.entries(DEFAULT_SETTINGS)) {
    const prop = schema[`diffill.${key}`]!;
    assert.deepEqual(prop.default, value, `default of diffill.${key}`);
    const expectedType = typeof value === 'number' ? ['number', 'integer'] : [typeof value];
    assert.ok(expectedType.includes(prop.type), `type of diffill.${key}: schema ${prop.type}, server ${typeof value}`);
    if (prop.type === 'integer') assert.ok(Number.isInteger(value), `diffill.${key} default must be an integer`);
  }
});

test('paths that run code or load files are machine-scoped', () => {
  assert.equal(schema['diffill.modelPath']!.scope, 'machine');
  assert.equal(schema['diffill.pythonPath']!.scope, 'machine');
});

test('schema bounds match the server bounds', () => {
  for (const [key, prop] of Object.entries(schema)) {
    if (prop.minimum === undefined) continue;
    const name = key.slice('diffill.'.length);
    const below = parseSettings({ [name]: prop.minimum - 1 });
    assert.equal(below.problems.length, 1, `${key} below its minimum must be rejected`);
    const atMin = parseSettings({ [name]: prop.minimum });
    assert.deepEqual(atMin.problems, [], `${key} at its minimum must be accepted`);
    if (prop.maximum !== undefined) {
      assert.equal(parseSettings({ [name]: prop.maximum + 1 }).problems.length, 1, `${key} above its maximum must be rejected`);
    }
  }
});

test('parseSettings: typed values pass, wrong ones fall back with a problem each', () => {
  const ok = parseSettings({ enable: false, maxTokens: 64, enabledLanguages: { '*': false, python: true }, unknown: 1 });
  assert.deepEqual(ok.problems, []);
  assert.equal(ok.settings.enable, false);
  assert.equal(ok.settings.maxTokens, 64);
  const bad = parseSettings({ enable: 'yes', maxTokens: 2.5, guidance: Number.NaN, enabledLanguages: { go: 'no' } });
  assert.equal(bad.settings.enable, true);
  assert.equal(bad.settings.maxTokens, DEFAULT_SETTINGS.maxTokens);
  assert.equal(bad.settings.guidance, DEFAULT_SETTINGS.guidance);
  assert.deepEqual(bad.settings.enabledLanguages, {});
  assert.equal(bad.problems.length, 4);
  assert.deepEqual(parseSettings(undefined).settings, { ...DEFAULT_SETTINGS });
  assert.equal(parseSettings('nope').problems.length, 1);
});

test('languageEnabled: per-language entry, then *, then on', () => {
  const s = parseSettings({ enabledLanguages: { '*': true, markdown: false } }).settings;
  assert.equal(languageEnabled(s, 'typescript'), true);
  assert.equal(languageEnabled(s, 'markdown'), false);
  const off = parseSettings({ enabledLanguages: { '*': false, python: true } }).settings;
  assert.equal(languageEnabled(off, 'python'), true);
  assert.equal(languageEnabled(off, 'go'), false);
  assert.equal(languageEnabled(parseSettings({ enable: false }).settings, 'python'), false);
});
