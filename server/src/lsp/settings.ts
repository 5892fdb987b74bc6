// The server's view of the `diffill.*` settings. The schema shown to users is package.json
// `contributes.configuration`; test/unit/lsp-settings.test.ts checks that the keys, types and
// defaults here agree with it, so the two cannot drift apart.

export interface Settings {
  /** Inline completions on; off means no model work and the model unloaded. */
  enable: boolean;
  /** Language id -> enabled; `*` is the fallback for languages not listed. */
  enabledLanguages: Record<string, boolean>;
  /** Classifier-free guidance strength (0 = off). */
  guidance: number;
  /** Most tokens for one inline completion. */
  maxTokens: number;
  /** Token budget for the text around the gap. */
  contextTokens: number;
  /** Inference threads (0 = automatic). Changing it reloads the model. */
  threads: number;
  /** Model directory; empty = the shipped model. Changing it reloads the model. */
  modelPath: string;
  /**
   * Model directory for Fill Blanks and Write What Comes Before; empty = the ghost-text model. Loaded
   * on the first command and kept beside the ghost-text model.
   */
  commandModelPath: string;
  /** Pause before an automatic inline completion starts. */
  debounceMs: number;
  /**
   * Python for fine-tuning, as the editor reports it. Parsed for completeness but never used by the
   * server: an editor may answer workspace/configuration from workspace files, so the interpreter
   * comes only from the fine-tune request or the server's --python (finetune-job.ts).
   */
  pythonPath: string;
  /** Fine-tuning budget in optimizer steps; 0 = use finetuneMinutes. */
  finetuneSteps: number;
  /** Fine-tuning budget in minutes of training (when finetuneSteps is 0). */
  finetuneMinutes: number;
  /** Where fine-tuning runs: auto (CUDA with bf16 when available), cpu or cuda. */
  finetuneDevice: string;
}

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  enable: true,
  enabledLanguages: { '*': true },
  guidance: 0,
  maxTokens: 32,
  contextTokens: 512,
  threads: 0,
  modelPath: '',
  commandModelPath: '',
  debounceMs: 150,
  pythonPath: '',
  finetuneSteps: 0,
  finetuneMinutes: 10,
  finetuneDevice: 'auto',
});

/** Numeric bounds, mirrored from the package.json schema (the client does not enforce them). */
const BOUNDS: Partial<Record<keyof Settings, readonly [number, number, 'int' | 'float']>> = {
  guidance: [0, 5, 'float'],
  maxTokens: [1, 256, 'int'],
  contextTokens: [16, 4096, 'int'],
  threads: [0, 64, 'int'],
  debounceMs: [0, 2000, 'int'],
  finetuneSteps: [0, 1_000_000, 'int'],
  finetuneMinutes: [0.1, 1440, 'float'],
};

export interface ParsedSettings {
  settings: Settings;
  /** One line per ignored value, for the log. */
  problems: string[];
}

/**
 * Turns what `workspace/configuration` returned for section `diffill` into typed settings.
 * Unknown keys are ignored; a value of the wrong type or out of bounds falls back to its default
 * and is reported, so one bad value never disables the server.
 */
export function parseSettings(raw: unknown): ParsedSettings {
  const settings: Settings = { ...DEFAULT_SETTINGS, enabledLanguages: { ...DEFAULT_SETTINGS.enabledLanguages } };
  const problems: string[] = [];
  if (raw === null || raw === undefined) return { settings, problems };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`diffill: expected an object of settings, got ${typeof raw}`);
    return { settings, problems };
  }
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(DEFAULT_SETTINGS) as Array<keyof Settings>) {
    const value = obj[key];
    if (value === undefined || value === null) continue;
    const fallback = DEFAULT_SETTINGS[key];
    if (key === 'enabledLanguages') {
      if (typeof value !== 'object' || Array.isArray(value)) {
        problems.push(`diffill.enabledLanguages: expected an object, got ${JSON.stringify(value)}`);
        continue;
      }
      const map: Record<string, boolean> = {};
      for (const [lang, on] of Object.entries(value as Record<string, unknown>)) {
        if (typeof on === 'boolean') map[lang] = on;
        else problems.push(`diffill.enabledLanguages.${lang}: expected true or false, got ${JSON.stringify(on)}`);
      }
      settings.enabledLanguages = map;
      continue;
    }
    if (typeof value !== typeof fallback) {
      problems.push(`diffill.${key}: expected a ${typeof fallback}, got ${JSON.stringify(value)}`);
      continue;
    }
    const bounds = BOUNDS[key];
    if (bounds !== undefined) {
      const n = value as number;
      const [lo, hi, kind] = bounds;
      if (!Number.isFinite(n) || n < lo || n > hi || (kind === 'int' && !Number.isInteger(n))) {
        problems.push(`diffill.${key}: expected ${kind === 'int' ? 'an integer' : 'a number'} in [${lo}, ${hi}], got ${n}`);
        continue;
      }
    }
    (settings as unknown as Record<string, unknown>)[key] = value;
  }
  return { settings, problems };
}

/** Whether inline completions are wanted for a language id under these settings. */
export function languageEnabled(settings: Settings, languageId: string): boolean {
  if (!settings.enable) return false;
  const own = settings.enabledLanguages[languageId];
  if (own !== undefined) return own;
  return settings.enabledLanguages['*'] ?? true;
}
