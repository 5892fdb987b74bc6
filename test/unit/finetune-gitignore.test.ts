// Glob and .gitignore matching used by the workspace collector. The gitignore rules are checked
// case by case and then against git itself on a tree full of edge cases (when git is installed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IgnoreStack, parseGitignore } from '../../server/training/gitignore';
import { compileGlob, GlobError } from '../../server/training/path-glob';

test('VS Code globs: segments, globstar, braces, ranges', () => {
  const m = (p: string) => compileGlob(p);
  assert.ok(m('**/node_modules')('node_modules'));
  assert.ok(m('**/node_modules')('a/b/node_modules'));
  assert.ok(!m('**/node_modules')('a/node_modules_x'));
  assert.ok(m('*.js')('app.js'));
  assert.ok(!m('*.js')('src/app.js'), 'no path separator: top level only, as in files.exclude');
  assert.ok(m('**/*.{ts,tsx}')('src/ui/App.tsx'));
  assert.ok(!m('**/*.{ts,tsx}')('src/ui/App.jsx'));
  assert.ok(m('src/**/test/*.ts')('src/test/a.ts'));
  assert.ok(m('src/**/test/*.ts')('src/x/y/test/a.ts'));
  assert.ok(m('example.[0-9]')('example.7'));
  assert.ok(m('example.[!0-9]')('example.a'));
  assert.ok(!m('example.[!0-9]')('example.0'));
  assert.ok(!m('a?c')('a/c'), '? never matches a separator');
  assert.ok(m('./docs/private/')('docs/private'));
  assert.ok(m('docs\\private')('docs/private'), 'backslash is a separator in VS Code globs');
  assert.ok(compileGlob('**/*.MD', { caseInsensitive: true })('notes/readme.md'));
  assert.ok(!compileGlob('**/*.MD')('notes/readme.md'));
  assert.throws(() => compileGlob('src/{a,b'), GlobError);
});

function ignored(stack: IgnoreStack, p: string, dir = false): boolean {
  return stack.isIgnored(p, dir);
}

test('.gitignore rules: negation, directory-only, anchoring, globstar, escapes', () => {
  const root = IgnoreStack.empty.with(
    parseGitignore(
      ['# comment', '', '*.log', '!keep.log', 'build/', '/dist', 'doc/*.txt', '**/gen/**', 'a/**/b', '\\#x', '\\!y', 'sp\\ ', 'trail   ', 'n[0-9].ts', '[[:upper:]]*.md'].join('\n'),
      '',
    ),
  );
  assert.ok(ignored(root, 'x/y/debug.log'));
  assert.ok(!ignored(root, 'keep.log'));
  assert.ok(!ignored(root, 'sub/keep.log'), 'a name pattern applies at any depth, negations too');
  assert.ok(ignored(root, 'build', true));
  assert.ok(ignored(root, 'src/build', true));
  assert.ok(!ignored(root, 'build', false), "'build/' matches directories only");
  assert.ok(ignored(root, 'dist', true));
  assert.ok(!ignored(root, 'src/dist', true), "'/dist' is anchored to the .gitignore's folder");
  assert.ok(ignored(root, 'doc/a.txt'));
  assert.ok(!ignored(root, 'doc/sub/a.txt'), "'*' does not cross '/'");
  assert.ok(!ignored(root, 'x/doc/a.txt'), 'a pattern with a middle slash is anchored');
  assert.ok(ignored(root, 'src/gen/a/b.ts'));
  assert.ok(!ignored(root, 'src/gen', true), "'gen/**' matches what is inside, not the folder");
  assert.ok(ignored(root, 'a/b', true) && ignored(root, 'a/x/y/b'));
  assert.ok(ignored(root, '#x') && ignored(root, '!y'));
  assert.ok(ignored(root, 'sp ') && !ignored(root, 'sp'));
  assert.ok(ignored(root, 'trail') && !ignored(root, 'trail   '));
  assert.ok(ignored(root, 'n5.ts') && !ignored(root, 'nx.ts'));
  assert.ok(ignored(root, 'README.md') && !ignored(root, 'readme.md'));

  // A nested file overrides its ancestors and is anchored to its own folder.
  const nested = root.with(parseGitignore('!debug.log\n/local.txt\n', 'pkg'));
  assert.ok(!ignored(nested, 'pkg/debug.log'));
  assert.ok(ignored(nested, 'pkg/local.txt'));
  assert.ok(!ignored(nested, 'pkg/sub/local.txt'));
  assert.equal(nested.decidingRule('pkg/debug.log', false)?.source, '!debug.log');
});

test('agrees with git on a tree of edge cases', (t) => {
  if (spawnSync('git', ['--version']).status !== 0) {
    t.skip('git is not installed');
    return;
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'diffill-test-gitignore-'));
  try {
    const files = [
      'a/b/c/x.ts', 'a/b/y.log', 'a/keep.log', 'build/keep/z.txt', 'build/out.js', 'docs/x/readme.md', 'docs/index.md',
      'logs/today.log', 'src/gen/g.ts', 'src/main.ts', 'deep/nested/build/o.txt', 'deep/nested/k.py', 'lib/foo/bar.js',
      'lib/foo.js', 'top.log', 'sp ace/f.txt', 'trail ', 'br/a1.txt', 'br/ab.txt', 'br/a-.txt', 'Notes.TXT', 'x.pyc',
      '#hash.txt', '!bang.txt', 'm/n/o/p.md', 'm/q.md',
    ];
    for (const f of files) {
      fs.mkdirSync(path.join(root, path.dirname(f)), { recursive: true });
      fs.writeFileSync(path.join(root, f), 'x\n');
    }
    const rules: Record<string, string> = {
      '.gitignore': ['*.log', '!a/keep.log', 'build/', '/docs/x', '**/gen/**', 'lib/**/bar.js', 'trail\\ ', 'br/a[0-9].txt', 'br/a[!b-].txt', '\\#hash.txt', '\\!bang.txt', '*.pyc', 'm/**/*.md', '!m/q.md', ''].join('\n'),
      'a/.gitignore': '!y.log\n/b/c/\n',
      'deep/.gitignore': '!build/\nnested/*.py\n',
    };
    for (const [f, text] of Object.entries(rules)) fs.writeFileSync(path.join(root, f), text);
    // The user's own git configuration (a global excludes file) must not change the answer.
    const env = { ...process.env, GIT_CONFIG_GLOBAL: os.devNull, GIT_CONFIG_NOSYSTEM: '1' };
    assert.equal(spawnSync('git', ['init', '-q', root], { env }).status, 0);
    const git = spawnSync('git', ['-C', root, 'ls-files', '--others', '--exclude-standard', '-z'], { encoding: 'utf8', env });
    assert.equal(git.status, 0, git.stderr);
    const expected = git.stdout.split('\0').filter(Boolean).sort();

    const ours: string[] = [];
    const walk = (dir: string, rel: string, stack: IgnoreStack): void => {
      const gi = path.join(dir, '.gitignore');
      if (fs.existsSync(gi)) stack = stack.with(parseGitignore(fs.readFileSync(gi, 'utf8'), rel));
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        if (e.name === '.git') continue;
        const r = rel === '' ? e.name : `${rel}/${e.name}`;
        if (stack.isIgnored(r, e.isDirectory())) continue;
        if (e.isDirectory()) walk(path.join(dir, e.name), r, stack);
        else ours.push(r);
      }
    };
    walk(root, '', IgnoreStack.empty);
    assert.deepEqual(ours.sort(), expected);
    assert.ok(expected.length >= 10 && expected.length < files.length, 'the tree exercises both outcomes');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
