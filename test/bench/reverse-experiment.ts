// One reverse-knowledge experiment (see reverse-facts.ts): score the base model, fine-tune it on the
// forward statements only (facts mode, through the same finetune() job as the editor command), score
// the fine-tuned model. Used by test/unit/finetune-reverse.test.ts and scripts/bench-reverse.mjs.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../server/engine/index';
import { finetune, type FinetuneResult } from '../../server/training/finetune';
import { ModelStore } from '../../server/training/model-store';
import type { Device } from '../../server/training/orchestrator';
import { forwardStatement, makeFacts, scoreFacts, type Fact, type ReverseScores } from './reverse-facts';

export interface ReverseExperimentOptions {
  base: string;
  facts: number;
  seed: number;
  steps: number;
  lr?: number;
  batchSize?: number;
  device?: Device;
  python?: string;
  /** Most tokens per answer. */
  maxTokens?: number;
  /** Inference threads (0 = the engine's choice). */
  threads?: number;
  onLine?: (line: string) => void;
}

export interface ReverseExperiment {
  facts: Fact[];
  before: ReverseScores;
  after: ReverseScores;
  finetune: FinetuneResult;
}

async function score(dir: string, facts: Fact[], maxTokens: number, threads: number): Promise<ReverseScores> {
  const engine = await loadModel(dir, threads > 0 ? { threads } : {});
  try {
    return await scoreFacts(engine, facts, maxTokens);
  } finally {
    await engine.dispose();
  }
}

export async function runReverseExperiment(o: ReverseExperimentOptions): Promise<ReverseExperiment> {
  const facts = makeFacts(o.facts, o.seed);
  const scratch = await mkdtemp(join(tmpdir(), 'diffill-reverse-'));
  try {
    // Facts mode reads no workspace files; the empty folder only names the (scratch) store's owner.
    const workspace = join(scratch, 'workspace');
    const factsFile = join(scratch, 'facts.txt');
    await writeFile(factsFile, facts.map(forwardStatement).join('\n') + '\n', 'utf8');
    await mkdir(workspace);
    const maxTokens = o.maxTokens ?? 12;
    const threads = o.threads ?? 0;
    const before = await score(o.base, facts, maxTokens, threads);
    o.onLine?.(`base model: forward ${before.forward}, reverse (fill) ${before.reverseFill}, reverse (write-before) ${before.reverseBefore}`);
    const store = await ModelStore.open(join(scratch, 'store'), { baseModelDir: o.base, workspace });
    const result = await finetune(
      {
        workspace,
        base: o.base,
        facts: factsFile,
        budget: { steps: o.steps },
        device: o.device ?? 'auto',
        seed: o.seed,
        ...(o.lr !== undefined ? { lr: o.lr } : {}),
        ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
        ...(o.python !== undefined ? { python: o.python } : {}),
      },
      store,
      { onPhase: (_phase, message) => o.onLine?.(message) },
    );
    o.onLine?.(`facts loss ${result.baseEval.valLoss.toFixed(4)} -> ${result.candidateEval.valLoss.toFixed(4)} after ${result.trainer.done.steps} steps`);
    const after = await score(result.version.dir, facts, maxTokens, threads);
    o.onLine?.(`fine-tuned: forward ${after.forward}, reverse (fill) ${after.reverseFill}, reverse (write-before) ${after.reverseBefore}`);
    return { facts, before, after, finetune: result };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
