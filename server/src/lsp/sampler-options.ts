// Sampler values in force: the configured settings, overridden for this session by
// `diffill/setSamplerOptions` (the guidance quick pick, or a Neovim user command).
import type { SamplerOptions } from '../../engine/api';
import { SAMPLER_BOUNDS } from '../limits';
import type { EffectiveSamplerOptions, SamplerOverrides } from '../protocol';
import type { Settings } from './settings';

/** Thrown for an override that is not a finite number in range; answered as InvalidParams. */
export class SamplerOptionsError extends Error {
  override readonly name = 'SamplerOptionsError';
}


export class SamplerState {
  private overrides: { guidance: number | null; temperature: number | null; steps: number | null } = {
    guidance: null,
    temperature: null,
    steps: null,
  };

  /** Applies the given fields (null clears one); all are checked before any is applied. */
  set(params: SamplerOverrides): void {
    const next = { ...this.overrides };
    for (const key of ['guidance', 'temperature', 'steps'] as const) {
      const value = params[key];
      if (value === undefined) continue;
      if (value === null) {
        next[key] = null;
        continue;
      }
      // The server's protocol guard checks the same bounds first; this keeps direct callers honest.
      const { min, max, integer } = SAMPLER_BOUNDS[key];
      if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
        throw new SamplerOptionsError(`${key} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(value)}`);
      }
      next[key] = value;
    }
    this.overrides = next;
  }

  effective(settings: Settings): EffectiveSamplerOptions {
    return {
      guidance: this.overrides.guidance ?? settings.guidance,
      temperature: this.overrides.temperature ?? 0,
      steps: this.overrides.steps,
    };
  }
}

/** The engine's sampler options for effective values: steps only when overridden (else the engine's). */
export function engineSampler(effective: EffectiveSamplerOptions): Partial<SamplerOptions> {
  return { guidance: effective.guidance, temperature: effective.temperature, ...(effective.steps !== null ? { steps: effective.steps } : {}) };
}
