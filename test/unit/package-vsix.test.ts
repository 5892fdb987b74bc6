// What `npm run package` puts into a VSIX: the pure selection and manifest rules of scripts/package.mjs
// (building a real VSIX takes about a minute, so it is not done here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

interface PackageModule {
  PackageError: new (code: string, message: string) => Error & { code: string };
  isShipped(rel: string, target: string): boolean;
  selectFiles(rel: string[], target: string): string[];
  stripManifest(m: Record<string, unknown>): Record<string, unknown>;
  stripRuntimeManifest(m: Record<string, unknown>): Record<string, unknown>;
  parseArgs(argv: string[]): { target: string; keepStage: boolean; build: boolean };
  hostTarget(platform?: string, arch?: string): string;
}

// The script is an ES module without type declarations; importing it by URL keeps the type checker
// out of it, and the interface above states the part this test relies on.
const SCRIPT = pathToFileURL(path.resolve(__dirname, '../../scripts/package.mjs')).href;
const load = () => import(SCRIPT) as Promise<PackageModule>;

const ORT = 'node_modules/onnxruntime-node';
const TREE = [
  'README.md',
  'LICENSE',
  'package-lock.json',
  'dist/cli.js',
  'dist/cli.js.map',
  'dist/client.js',
  'bin/diffill',
  'models/default/tokenizer.json',
  'models/default/model.onnx',
  'models/default/config.json',
  'models/default/checkpoint.pt',
  'server/training/python/requirements.txt',
  'server/training/python/diffill_trainer/__init__.py',
  'server/training/python/diffill_trainer/train.py',
  'server/training/python/diffill_trainer/__pycache__/train.cpython-312.pyc',
  'server/training/python/tests/test_train.py',
  'server/src/cli.ts',
  // Test harnesses with their own dependencies and downloads: never shipped.
  'test/electron/runTest.mjs',
  'test/electron/node_modules/mocha/package.json',
  'test/electron/.vscode-test/vscode-linux-x64-1.100.0/code',
  'test/e2e/node_modules/code-server/package.json',
  `${ORT}/package.json`,
  `${ORT}/README.md`,
  `${ORT}/dist/index.js`,
  `${ORT}/dist/index.d.ts`,
  `${ORT}/dist/index.js.map`,
  `${ORT}/script/install.js`,
  `${ORT}/lib/index.ts`,
  `${ORT}/bin/napi-v6/linux/x64/onnxruntime_binding.node`,
  `${ORT}/bin/napi-v6/linux/x64/libonnxruntime.so.1`,
  `${ORT}/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so`,
  `${ORT}/bin/napi-v6/linux/x64/libonnxruntime_providers_shared.so`,
  `${ORT}/bin/napi-v6/linux/x64/libonnxruntime_providers_tensorrt.so`,
  `${ORT}/bin/napi-v6/linux/arm64/onnxruntime_binding.node`,
  `${ORT}/bin/napi-v6/darwin/arm64/libonnxruntime.1.dylib`,
  `${ORT}/bin/napi-v6/win32/x64/onnxruntime.dll`,
  `${ORT}/bin/napi-v6/win32/x64/onnxruntime_binding.node`,
  'node_modules/onnxruntime-common/package.json',
  'node_modules/onnxruntime-common/dist/cjs/index.js',
  'node_modules/onnxruntime-common/dist/cjs/package.json',
  'node_modules/onnxruntime-common/dist/esm/index.js',
  'node_modules/onnxruntime-common/lib/index.ts',
  'node_modules/esbuild/package.json',
  'node_modules/@huggingface/tokenizers/package.json',
];

test('linux-x64 ships the bundles, model, trainer, and only the linux-x64 CPU runtime', async () => {
  const { selectFiles } = await load();
  assert.deepEqual(selectFiles(TREE, 'linux-x64'), [
    'LICENSE',
    'README.md',
    'bin/diffill',
    'dist/cli.js',
    'dist/client.js',
    'models/default/config.json',
    'models/default/model.onnx',
    'models/default/tokenizer.json',
    'node_modules/onnxruntime-common/dist/cjs/index.js',
    'node_modules/onnxruntime-common/dist/cjs/package.json',
    'node_modules/onnxruntime-common/package.json',
    `${ORT}/bin/napi-v6/linux/x64/libonnxruntime.so.1`,
    `${ORT}/bin/napi-v6/linux/x64/onnxruntime_binding.node`,
    `${ORT}/dist/index.js`,
    `${ORT}/package.json`,
    'server/training/python/diffill_trainer/__init__.py',
    'server/training/python/diffill_trainer/train.py',
    'server/training/python/requirements.txt',
  ]);
});

test('each target gets its own native folder and no other', async () => {
  const { selectFiles } = await load();
  const natives = (target: string) => selectFiles(TREE, target).filter((f) => f.startsWith(`${ORT}/bin/`));
  assert.deepEqual(natives('win32-x64'), [`${ORT}/bin/napi-v6/win32/x64/onnxruntime.dll`, `${ORT}/bin/napi-v6/win32/x64/onnxruntime_binding.node`]);
  assert.deepEqual(natives('linux-arm64'), [`${ORT}/bin/napi-v6/linux/arm64/onnxruntime_binding.node`]);
  assert.deepEqual(natives('darwin-arm64'), [`${ORT}/bin/napi-v6/darwin/arm64/libonnxruntime.1.dylib`]);
});

test('targets without an onnxruntime-node binary are refused with a typed error', async () => {
  const { isShipped, parseArgs, hostTarget, PackageError } = await load();
  for (const bad of ['darwin-x64', 'alpine-x64', 'web', 'linux']) {
    assert.throws(() => isShipped('README.md', bad), (e: unknown) => e instanceof PackageError && e.code === 'unsupported_target');
  }
  assert.equal(parseArgs(['--target', 'win32-arm64']).target, 'win32-arm64');
  assert.equal(parseArgs(['--target=linux-arm64', '--keep-stage']).keepStage, true);
  assert.throws(() => parseArgs(['--target']), (e: unknown) => e instanceof PackageError && e.code === 'bad_argument');
  assert.throws(() => parseArgs(['--bogus']), (e: unknown) => e instanceof PackageError && e.code === 'bad_argument');
  assert.equal(hostTarget('linux', 'x64'), 'linux-x64');
  assert.throws(() => hostTarget('freebsd', 'x64'), PackageError);
});

test('the staged manifest keeps contributions but drops scripts, dev tools and bundled dependencies', async () => {
  const { stripManifest, PackageError } = await load();
  const manifest = {
    name: 'diffill',
    main: './dist/client.js',
    contributes: { commands: [] },
    scripts: { build: 'node scripts/build.mjs' },
    devDependencies: { esbuild: '0.28.2' },
    dependencies: { 'onnxruntime-node': '1.30.0', 'vscode-languageserver': '11.0.0' },
  };
  assert.deepEqual(stripManifest(manifest), {
    name: 'diffill',
    main: './dist/client.js',
    contributes: { commands: [] },
    dependencies: { 'onnxruntime-node': '1.30.0' },
  });
  assert.throws(() => stripManifest({ name: 'diffill', dependencies: {} }), PackageError);
});

test("onnxruntime-node's staged manifest loses only its install-time downloader", async () => {
  const { stripRuntimeManifest } = await load();
  const ort = {
    name: 'onnxruntime-node',
    main: 'dist/index.js',
    scripts: { postinstall: 'node ./script/install' },
    dependencies: { 'adm-zip': '^0.6.0', 'global-agent': '^4.1.3', 'onnxruntime-common': '1.30.0' },
  };
  assert.deepEqual(stripRuntimeManifest(ort), { name: 'onnxruntime-node', main: 'dist/index.js', dependencies: { 'onnxruntime-common': '1.30.0' } });
});
