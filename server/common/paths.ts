// Where the package's own files are. The same code runs from the TypeScript sources (tests, tsx)
// and from the esbuild bundle (dist/cli.js), whose directories differ, so the root is found by
// walking up to the package.json that names this package rather than by a fixed "../..".
import * as fs from 'node:fs';
import * as path from 'node:path';

const PACKAGE_NAME = 'diffill';
let cachedRoot: string | undefined;

/** The package root: the folder with diffill's package.json (and models/, server/, dist/). */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    try {
      if ((JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) {
        cachedRoot = dir;
        return dir;
      }
    } catch {
      // no (readable) package.json here: keep walking up
    }
    if (path.dirname(dir) === dir) {
      throw new Error(`cannot find the ${PACKAGE_NAME} package root above ${__dirname}`);
    }
  }
}

/** The model served and fine-tuned when no --model is given: <root>/models/default. */
export function defaultModelDir(): string {
  return path.join(packageRoot(), 'models', 'default');
}
