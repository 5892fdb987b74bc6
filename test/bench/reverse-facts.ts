// The "reverse knowledge" probe: invented facts "<name> is the author of <title>." are taught in the
// forward direction only (facts-mode fine-tuning), then asked forward and in reverse. A left-to-right
// model that learned "A is the author of B" cannot answer "the author of B is ___" (the reversal
// curse); a masked diffusion model is trained to fill any position, so it may. Exact match follows
// the literature: the reference, lower-cased, is a substring of the lower-cased answer.
import type { BeforeRequest, FillRequest, FillResult, InfillResult } from '../../server/engine/api';

export interface Fact {
  name: string;
  title: string;
}

/** A seeded 32-bit PRNG (mulberry32): the same seed gives the same facts on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ONSETS = ['b', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'br', 'dr', 'kl', 'st', 'th', 'vr'];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ou', 'ei'];
const CODAS = ['', '', 'n', 'r', 'l', 's', 'th', 'x'];

/** An invented word of `syllables` syllables, capitalised. */
function word(rand: () => number, syllables: number): string {
  const pick = (xs: readonly string[]) => xs[Math.floor(rand() * xs.length)]!;
  let w = '';
  for (let i = 0; i < syllables; i++) w += pick(ONSETS) + pick(VOWELS) + (i === syllables - 1 ? pick(CODAS) : '');
  return w[0]!.toUpperCase() + w.slice(1);
}

/** `n` facts with distinct invented names ("Dravei Kostun") and titles ("The Zoulath of Mirel"). */
export function makeFacts(n: number, seed: number): Fact[] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`makeFacts: n must be a positive integer, got ${n}`);
  const rand = prng(seed);
  const names = new Set<string>();
  const titles = new Set<string>();
  const facts: Fact[] = [];
  while (facts.length < n) {
    const name = `${word(rand, 2)} ${word(rand, 2)}`;
    const title = `The ${word(rand, 2)} of ${word(rand, 2)}`;
    if (names.has(name) || titles.has(title)) continue;
    names.add(name);
    titles.add(title);
    facts.push({ name, title });
  }
  return facts;
}

/** The only form the model is taught. */
export const forwardStatement = (f: Fact) => `${f.name} is the author of ${f.title}.`;

/** What a probe needs from the engine (the engine's Engine, or a test double). */
export interface FactEngine {
  fill(request: FillRequest): Promise<FillResult>;
  before(request: BeforeRequest): Promise<InfillResult>;
}

export interface ReverseScores {
  facts: number;
  /** "<name> is the author of ___." -> the title (the taught direction). */
  forward: number;
  /** "The author of <title> is ___." -> the name (reverse, fill the blank). */
  reverseFill: number;
  /** Write before " is the author of <title>." -> the name (reverse, as write-before). */
  reverseBefore: number;
  /** Per fact, for the report. */
  answers: Array<{ fact: Fact; forward: string; reverseFill: string; reverseBefore: string }>;
}

export const matches = (answer: string, reference: string) => answer.toLowerCase().includes(reference.toLowerCase());

/** Asks every fact three ways with greedy decoding; `maxTokens` bounds each answer. */
export async function scoreFacts(engine: FactEngine, facts: readonly Fact[], maxTokens = 12): Promise<ReverseScores> {
  const sampler = { temperature: 0 };
  const fillOne = async (text: string) => {
    const start = text.indexOf('___');
    const r = await engine.fill({ text, blanks: [{ start, end: start + 3 }], maxTokensPerBlank: maxTokens, sampler });
    return r.fills[0] ?? '';
  };
  const answers: ReverseScores['answers'] = [];
  let forward = 0;
  let reverseFill = 0;
  let reverseBefore = 0;
  for (const fact of facts) {
    const fwd = await fillOne(`${fact.name} is the author of ___.`);
    const rev = await fillOne(`The author of ${fact.title} is ___.`);
    const bef = (await engine.before({ prefix: '', suffix: ` is the author of ${fact.title}.`, maxTokens, sampler })).text;
    forward += Number(matches(fwd, fact.title));
    reverseFill += Number(matches(rev, fact.name));
    reverseBefore += Number(matches(bef, fact.name));
    answers.push({ fact, forward: fwd, reverseFill: rev, reverseBefore: bef });
  }
  const n = facts.length;
  return { facts: n, forward: forward / n, reverseFill: reverseFill / n, reverseBefore: reverseBefore / n, answers };
}
