// The language server's only dependency on server/engine. Everything else in server/src/lsp talks
// to the small `InfillEngine` interface below, so a change in the engine's API costs this file only,
// and the handler tests drive the server with a fake engine.
import type { BeforeRequest, FillRequest, FillResult, InfillRequest, InfillResult } from '../../engine/api';

export type { BeforeRequest, FillRequest, FillResult, InfillRequest, InfillResult };

export interface InfillEngine {
  /** Display name of the loaded model (its directory name). */
  readonly name: string;
  /**
   * Tokens the model reads in all (its max_position): the gap, BOS/EOS and the context together.
   * Absent for engines that do not say.
   */
  readonly maxPosition?: number;
  /** Parameters of the model (its size, for the status); null or absent when unknown. */
  readonly params?: number | null;
  infill(request: InfillRequest): Promise<InfillResult>;
  fill(request: FillRequest): Promise<FillResult>;
  before(request: BeforeRequest): Promise<InfillResult>;
  /** Frees the ONNX session and its memory. */
  dispose(): Promise<void>;
}

export interface EngineLoadOptions {
  /** Inference threads; 0 = the engine's automatic choice. */
  threads: number;
}

export type EngineLoader = (dir: string, options: EngineLoadOptions) => Promise<InfillEngine>;

/** True for the engine's cancellation error (signal fired or request pre-empted). */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/** Loads a model directory with the real engine (ONNX Runtime is only required on first use). */
export const loadEngine: EngineLoader = async (dir, options) => {
  const engine = await import('../../engine/index.js');
  const model = await engine.loadModel(dir, options.threads > 0 ? { threads: options.threads } : {});
  const name = dir.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? dir;
  return {
    name,
    maxPosition: model.model.config.maxPosition,
    params: engine.parameterCount(model.model.config),
    infill: (request) => model.infill(request),
    fill: (request) => model.fill(request),
    before: (request) => model.before(request),
    dispose: async () => {
      await model.dispose();
    },
  };
};
