// `textDocument/inlineCompletion`: ghost text at the cursor, infilled from the text before and
// after it. Automatic requests wait out the debounce and return one item; an explicit request (the
// user cycling alternatives) returns up to three, the extra ones sampled with other seeds.
import {
  InlineCompletionTriggerKind,
  type CancellationToken,
  type InlineCompletionItem,
  type InlineCompletionList,
  type InlineCompletionParams,
} from 'vscode-languageserver';
import { abortSignalFor, delay } from './cancellation';
import { CompletionCache } from './completion-cache';
import { noteContextCut } from './context-limit';
import { contextChars, refusal } from './document-guard';
import { isAbortError } from './engine-adapter';
import type { HandlerContext } from './handler-context';
import { describeError } from './logger';
import { ModelLoadError } from './model-host';
import { postprocess, type InlineInsert } from './postprocess';
import { engineSampler } from './sampler-options';
import { languageEnabled } from './settings';

/** Items returned when the user explicitly asks for alternatives. */
const ALTERNATIVES = 3;
/** Temperature for alternatives 2..n when the configured sampling is greedy (all would be equal). */
const ALTERNATIVE_TEMPERATURE = 0.8;

export class InlineCompletionHandler {
  readonly cache = new CompletionCache();
  private readonly refused = new Set<string>();

  constructor(private readonly ctx: HandlerContext) {}

  /** Drops what is kept about a closed document. */
  forget(uri: string): void {
    this.cache.clear(uri);
    this.refused.delete(uri);
  }

  async handle(params: InlineCompletionParams, token: CancellationToken): Promise<InlineCompletionList | null> {
    const { ctx } = this;
    const settings = ctx.settings();
    const doc = ctx.documents.get(params.textDocument.uri);
    if (doc === undefined || !languageEnabled(settings, doc.languageId)) return null;
    const why = refusal(doc);
    if (why !== null) {
      // Logged once per document: this runs on every keystroke.
      if (!this.refused.has(doc.uri)) ctx.log.warn(`inline completion skipped: ${why}`);
      this.refused.add(doc.uri);
      return null;
    }
    const text = doc.getText();
    const offset = doc.offsetAt(params.position);
    const keep = contextChars(settings.contextTokens);
    const prefix = text.slice(Math.max(0, offset - keep), offset);
    const suffix = text.slice(offset, offset + keep);
    const explicit = params.context.triggerKind === InlineCompletionTriggerKind.Invoked;
    const wanted = explicit ? ALTERNATIVES : 1;
    const key = { uri: doc.uri, version: doc.version, prefix: text.slice(0, offset), suffix: text.slice(offset) };

    const cached = this.cache.get(key);
    if (cached !== undefined && cached.length >= wanted) return this.toList(cached, params);

    if (!explicit && !(await delay(settings.debounceMs, token))) return null;

    const abort = abortSignalFor(token);
    try {
      const inserts = await ctx.host.run('inline', abort.signal, async (engine, signal) => {
        const sampler = ctx.sampler.effective(settings);
        noteContextCut(ctx.log, engine, settings.contextTokens, settings.maxTokens, 'an inline completion');
        const out: InlineInsert[] = [];
        for (let i = 0; i < wanted && !signal.aborted; i++) {
          const temperature = i === 0 ? sampler.temperature : Math.max(sampler.temperature, ALTERNATIVE_TEMPERATURE);
          const result = await engine.infill({
            prefix,
            suffix,
            maxTokens: settings.maxTokens,
            sampler: { ...engineSampler(sampler), temperature, seed: i },
            context: { maxContextTokens: settings.contextTokens },
            signal,
          });
          const insert = postprocess({ completion: result.text, prefix, suffix });
          if (insert !== null && !out.some((o) => o.insertText === insert.insertText && o.replaceChars === insert.replaceChars)) {
            out.push(insert);
          }
        }
        return out;
      });
      // Cache even an empty answer: asking again at the same place would give the same nothing.
      if (!token.isCancellationRequested) this.cache.set(key, inserts);
      return this.toList(inserts, params);
    } catch (err) {
      if (isAbortError(err) || token.isCancellationRequested) return null;
      if (err instanceof ModelLoadError) return null; // already a status + log entry
      ctx.log.error(`inline completion failed: ${describeError(err)}`);
      return null;
    } finally {
      abort.dispose();
    }
  }

  private toList(inserts: readonly InlineInsert[], params: InlineCompletionParams): InlineCompletionList {
    const { line, character } = params.position;
    const items: InlineCompletionItem[] = inserts.map((insert) => ({
      insertText: insert.insertText,
      range: { start: { line, character }, end: { line, character: character + insert.replaceChars } },
    }));
    return { items };
  }
}
