// The TypeScript side's own check of a fine-tuned candidate before it may be installed: the trainer
// already verified ONNX parity against PyTorch, but what users run is *our* engine, so the candidate
// must load and validate in it (config, tokenizer, graph I/O) and answer a real infill request.
import { loadModel } from '../engine/index';

export interface ProbeResult {
  /** Milliseconds to load and validate the model. */
  loadMs: number;
  /** Milliseconds of the probe infill. */
  infillMs: number;
  /** What the candidate wrote for the probe (for the report). */
  text: string;
}

/** The candidate failed to load or to answer; the message is for the user. */
export class ProbeError extends Error {
  override readonly name = 'ProbeError';
}

export interface ProbeInput {
  prefix: string;
  suffix: string;
}

/** A probe from a held-out text: the gap is the middle of its first few non-blank lines. */
export function probeFromText(text: string): ProbeInput {
  const lines = text.split('\n');
  const mid = Math.min(Math.max(1, Math.floor(lines.length / 2)), 40);
  return { prefix: lines.slice(Math.max(0, mid - 8), mid).join('\n') + '\n', suffix: '\n' + lines.slice(mid + 1, mid + 5).join('\n') };
}

/** Loads `dir` in the engine, runs one infill, disposes the engine. Throws ProbeError. */
export async function probeCandidate(dir: string, input: ProbeInput, signal?: AbortSignal): Promise<ProbeResult> {
  const t0 = performance.now();
  let engine;
  try {
    engine = await loadModel(dir, { threads: 1 });
  } catch (err) {
    throw new ProbeError(`the fine-tuned model does not load in the engine: ${err instanceof Error ? err.message : String(err)}`);
  }
  const loadMs = performance.now() - t0;
  try {
    const t1 = performance.now();
    const result = await engine.infill({ prefix: input.prefix, suffix: input.suffix, maxTokens: 16, ...(signal ? { signal } : {}) });
    if (typeof result.text !== 'string') throw new Error('the infill answer has no text');
    return { loadMs, infillMs: performance.now() - t1, text: result.text };
  } catch (err) {
    if (err instanceof Error && err.name === 'AbortError') throw err;
    throw new ProbeError(`the fine-tuned model loads but a probe infill failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await engine.dispose().catch(() => undefined);
  }
}
