// `diffill bench --suite soak`: the language server's memory under a long editing session. Spawns the
// built server (`node bin/diffill lsp --stdio`), plays an editor at it over stdio (random edits in a
// few open documents, an inline completion after each keystroke, the previous one cancelled, now and
// then a document closed and another opened) and samples the server's resident set (VmRSS of
// /proc/PID/status) every second. A first stretch is warm-up (model load, first allocations of ONNX
// Runtime and V8) and is not counted: the figure is the growth from just after it to the end.
// Then documents of several megabytes are opened, checked to be refused, and closed, and the resident
// set before and after says whether their memory was given back. Not a test: the figures depend on
// the machine and on what else runs on it.
// The parts: bench-soak-run.ts (the session), bench-soak-huge.ts (the refused documents),
// bench-soak-memory.ts (measuring), bench-soak-report.ts, bench-soak-corpus.ts, bench-soak-wait.ts.
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../command';
import { packageRoot } from '../../common/paths';
import { soakMarkdown } from './bench-soak-report';
import { loadCorpus } from './bench-soak-corpus';
import { runSoak } from './bench-soak-run';
import { engineFlags, num, output, parseEngineArgs } from './engine-flags';

export const SOAK_USAGE = `Usage: diffill bench --suite soak [--minutes M] [--warmup-minutes W] [--huge-mb A,B,...] [--no-huge]
                     [--seed S] [--cli FILE] [--json OUT] [--markdown OUT] [--model DIR] [--threads T]

Soaks the built language server (diffill lsp --stdio) as an editor would: random edits (didChange)
in three open documents, an inline completion request after each keystroke that cancels the one
before it, pauses in which completions finish, documents closed and others opened. The server's
resident memory (VmRSS) is sampled every second; its growth is measured from the end of the warm-up
to the end of the run (medians of the first and last stretch). Then documents of several megabytes
are opened, checked to be refused, and closed; the resident memory before and after shows whether
it was given back.

  --minutes M          length of the editing session, warm-up included (default 10)
  --warmup-minutes W   first part not counted (default: 1, or a fifth of --minutes if shorter)
  --huge-mb A,B,...    sizes of the refused documents in millions of characters (default 5,20,50)
  --no-huge            skip the refused-document phase
  --seed S             seed of the random edits (default 1)
  --cli FILE           the launcher to soak (default: this checkout's bin/diffill; another checkout's
                       gives a before/after with the same edits)
  --json OUT, --markdown OUT   write the figures (JSON: every sample)
  --model DIR, --threads T     as for infill`;

export async function benchSoak(argv: string[]): Promise<number> {
  const { values, positionals } = parseEngineArgs(argv, {
    suite: { type: 'string' },
    minutes: { type: 'string' },
    'warmup-minutes': { type: 'string' },
    'huge-mb': { type: 'string' },
    'no-huge': { type: 'boolean' },
    cli: { type: 'string' },
    json: { type: 'string' },
    markdown: { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'\n\n${SOAK_USAGE}`);
  const flags = engineFlags(values);
  const minutes = num(values.minutes, 'minutes') ?? 10;
  if (!(minutes > 0)) throw new UsageError('--minutes must be more than 0');
  const warmupMinutes = num(values['warmup-minutes'], 'warmup-minutes') ?? Math.min(1, minutes / 5);
  if (!(warmupMinutes >= 0 && warmupMinutes < minutes)) throw new UsageError('--warmup-minutes must be at least 0 and less than --minutes');
  const seed = num(values.seed as string | undefined, 'seed', true) ?? 1;
  const hugeMb = values['no-huge'] === true ? [] : (values['huge-mb'] ?? '5,20,50').split(',').map((s) => num(s.trim(), 'huge-mb')!);
  for (const mb of hugeMb) if (!(mb > 0 && mb <= 500)) throw new UsageError('--huge-mb sizes must be between 0 and 500 (millions of characters)');
  const cli = values.cli !== undefined ? resolve(values.cli) : join(packageRoot(), 'bin', 'diffill');
  if (!existsSync(cli)) throw new UsageError(`--cli: no launcher at ${cli}`);
  const built = join(packageRoot(), 'dist', 'cli.js');
  if (values.cli === undefined && !existsSync(built)) throw new UsageError(`${built} is missing: run \`npm run build\` first (the soak runs the built server)`);
  const corpus = loadCorpus();

  const report = await runSoak({ cli, model: resolve(flags.model), threads: flags.threads, minutes, warmupMinutes, seed, hugeMb, corpus });
  report.meta['command'] = `diffill bench ${argv.join(' ')}`.trim();
  const md = soakMarkdown(report);
  output.write(md);
  if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
  if (values.markdown !== undefined) writeFileSync(values.markdown, md);
  // A figure that misses its goal is reported, not an error; a document that was not refused, or a
  // server that stopped answering, is.
  const broken = report.huge !== null && (!report.huge.server_answers_after || report.huge.docs.some((d) => !d.refused));
  return broken ? 1 : 0;
}
