// Bundles the CLI/language server and the VS Code client with esbuild.
// onnxruntime-node is a native add-on and `vscode` is provided by the editor, so both stay external.
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
  external: ['onnxruntime-node', 'vscode'],
};

await Promise.all([
  build({ ...common, entryPoints: { cli: 'server/src/cli.ts' }, outdir: 'dist' }),
  build({ ...common, entryPoints: { client: 'client/src/extension.ts' }, outdir: 'dist' }),
]);
