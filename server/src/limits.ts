// The bounds of the numbers a user gives (settings, command-line flags, sampler overrides), in one
// place. The `diffill.*` settings' bounds are read from package.json `contributes.configuration`, the
// schema the editor shows, so the command line cannot accept a value the settings refuse. esbuild
// inlines the JSON into the bundle, so nothing is read from disk at run time.
import { contributes } from '../../package.json';

export interface Bound {
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
}

interface SchemaProperty {
  type?: string;
  minimum?: number;
  maximum?: number;
}

const properties = contributes.configuration.properties as Record<string, SchemaProperty>;

/** The bound of the numeric setting `diffill.<key>` as package.json declares it. */
export function settingBound(key: string): Bound {
  const prop = properties[`diffill.${key}`];
  if (prop === undefined || prop.minimum === undefined || prop.maximum === undefined) {
    throw new Error(`package.json declares no numeric bounds for diffill.${key}`);
  }
  return Object.freeze({ min: prop.minimum, max: prop.maximum, integer: prop.type === 'integer' });
}

/** Bounds of the numeric settings. */
export const SETTING_BOUNDS = Object.freeze({
  guidance: settingBound('guidance'),
  maxTokens: settingBound('maxTokens'),
  contextTokens: settingBound('contextTokens'),
  threads: settingBound('threads'),
  debounceMs: settingBound('debounceMs'),
  finetuneSteps: settingBound('finetuneSteps'),
  finetuneMinutes: settingBound('finetuneMinutes'),
});

/**
 * Sampler values a client may set for a session (`diffill/setSamplerOptions`) and the command line
 * may pass. Guidance is a setting, so its bound is the schema's; temperature and steps have no
 * setting, and these caps keep one request's cost within what an editor can wait for. Steps: at most
 * the `diffill.maxTokens` maximum, one token per forward for the longest answer the settings allow
 * (more only adds forwards, paid per step and per answer length Fill Blanks tries).
 */
export const SAMPLER_BOUNDS = Object.freeze({
  guidance: SETTING_BOUNDS.guidance,
  temperature: Object.freeze({ min: 0, max: 5, integer: false }) as Bound,
  steps: Object.freeze({ min: 1, max: SETTING_BOUNDS.maxTokens.max, integer: true }) as Bound,
});
