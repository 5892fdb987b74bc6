// Parse checks for the realistic bench suite (bench-realistic.ts): does a document, with an answer
// written into its gap, still parse? Python: the interpreter's own ast.parse, in one batched python3
// subprocess (JSON lines in, one result per line out). TypeScript/JavaScript: the syntactic diagnostics
// of the `typescript` package (a devDependency, loaded at run time from the package's node_modules, so
// the CLI bundle does not carry it). Markdown and other prose: not checked. A checker that is missing
// answers null for its documents (reported as n/a), never a guess.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as TS from 'typescript';
import { packageRoot } from '../../common/paths';

export type TypeScriptModule = typeof TS;

export interface ParseItem {
  language: string;
  /** The document's path: its extension picks TypeScript, TSX, JavaScript or JSX. */
  path: string;
  text: string;
}

let tsModule: TypeScriptModule | null | undefined;

/** The `typescript` package from the project's node_modules, or null when it is not installed. */
export function loadTypeScript(): TypeScriptModule | null {
  if (tsModule !== undefined) return tsModule;
  try {
    tsModule = createRequire(join(packageRoot(), 'package.json'))('typescript') as TypeScriptModule;
  } catch {
    tsModule = null;
  }
  return tsModule;
}

export function isScript(language: string): boolean {
  return language === 'typescript' || language === 'javascript';
}

export function scriptKind(ts: TypeScriptModule, path: string): TS.ScriptKind {
  const p = path.toLowerCase();
  if (p.endsWith('.tsx')) return ts.ScriptKind.TSX;
  if (p.endsWith('.jsx')) return ts.ScriptKind.JSX;
  if (/\.[cm]?js$/.test(p)) return ts.ScriptKind.JS;
  return ts.ScriptKind.TS;
}

/** The file name the compiler sees: the document's own base name, so `.d.ts`, `.mjs`, ... keep their meaning. */
function fileName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return /\.(d\.[cm]?ts|[cm]?tsx?|[cm]?jsx?)$/i.test(base) ? `/doc/${base}` : '/doc/file.ts';
}

export function parseSourceFile(ts: TypeScriptModule, path: string, text: string): TS.SourceFile {
  return ts.createSourceFile(fileName(path), text, ts.ScriptTarget.Latest, true, scriptKind(ts, path));
}

/** True when the compiler reports no syntactic diagnostic (for .js files that includes TypeScript-only syntax). */
export function scriptParses(ts: TypeScriptModule, path: string, text: string): boolean {
  const sf = ts.createSourceFile(fileName(path), text, ts.ScriptTarget.Latest, false, scriptKind(ts, path));
  const options: TS.CompilerOptions = { noLib: true, noResolve: true, allowJs: true, types: [], noEmit: true };
  const host: TS.CompilerHost = {
    getSourceFile: (name) => (name === sf.fileName ? sf : undefined),
    getDefaultLibFileName: () => '/lib.d.ts',
    writeFile: () => undefined,
    getCurrentDirectory: () => '/',
    getCanonicalFileName: (f) => f,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => '\n',
    fileExists: (f) => f === sf.fileName,
    readFile: () => undefined,
  };
  const program = ts.createProgram({ rootNames: [sf.fileName], options, host });
  return program.getSyntacticDiagnostics(sf).length === 0;
}

const PYTHON_CHECK = `
import ast, json, sys, warnings
warnings.simplefilter("ignore")
sys.setrecursionlimit(10000)
sys.stdout.write(json.dumps({"python": sys.version.split()[0]}) + "\\n")
for line in sys.stdin:
    if not line.strip():
        continue
    text = json.loads(line)
    try:
        ast.parse(text)
        ok = 1
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        ok = 0
    sys.stdout.write(f"{ok}\\n")
sys.stdout.flush()
`;

export interface PythonCheck {
  /** One result per text; null for all when the interpreter could not be run. */
  results: Array<boolean | null>;
  /** The interpreter's version, or why there is none. */
  python: string | null;
  error: string | null;
}

/** ast.parse every text in one python3 process. */
export function pythonParses(texts: readonly string[], python = 'python3'): PythonCheck {
  if (texts.length === 0) return { results: [], python: null, error: null };
  const input = texts.map((t) => JSON.stringify(t)).join('\n') + '\n';
  const r = spawnSync(python, ['-c', PYTHON_CHECK], { input, encoding: 'utf8', maxBuffer: 1 << 30 });
  const none = (error: string): PythonCheck => ({ results: texts.map(() => null), python: null, error });
  if (r.error !== undefined) return none(`cannot run ${python}: ${r.error.message}`);
  const lines = r.stdout.split('\n');
  let version: string;
  try {
    version = (JSON.parse(lines[0] ?? '') as { python: string }).python;
  } catch {
    return none(`${python} gave no answer: ${(r.stderr || '').trim().slice(-300)}`);
  }
  const out = lines.slice(1, 1 + texts.length);
  if (r.status !== 0 || out.length !== texts.length || out.some((l) => l !== '0' && l !== '1')) {
    return none(`${python} stopped after ${out.length} of ${texts.length} documents: ${(r.stderr || '').trim().slice(-300)}`);
  }
  return { results: out.map((l) => l === '1'), python: version, error: null };
}

export interface ParseCheck {
  /** true / false per item; null where the language is not checked or its checker is missing. */
  results: Array<boolean | null>;
  python: string | null;
  typescript: string | null;
  notes: string[];
}

/** Checks a batch of documents: Python in one subprocess, TypeScript/JavaScript in process, the rest null. */
export function checkParses(items: readonly ParseItem[], options: { python?: string } = {}): ParseCheck {
  const results: Array<boolean | null> = items.map(() => null);
  const notes: string[] = [];
  const py = items.flatMap((it, i) => (it.language === 'python' ? [i] : []));
  let python: string | null = null;
  if (py.length > 0) {
    const r = pythonParses(py.map((i) => items[i]!.text), options.python);
    python = r.python;
    if (r.error !== null) notes.push(`Python parse check n/a: ${r.error}`);
    py.forEach((i, k) => (results[i] = r.results[k]!));
  }
  const scripts = items.flatMap((it, i) => (isScript(it.language) ? [i] : []));
  let typescript: string | null = null;
  if (scripts.length > 0) {
    const ts = loadTypeScript();
    if (ts === null) notes.push('TypeScript/JavaScript parse check n/a: the typescript package is not installed');
    else {
      typescript = ts.version;
      for (const i of scripts) results[i] = scriptParses(ts, items[i]!.path, items[i]!.text);
    }
  }
  return { results, python, typescript, notes };
}
