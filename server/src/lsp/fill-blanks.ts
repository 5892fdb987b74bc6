// `diffill/fillBlanks`: fills every blank of a document in one model request (the diffusion model
// writes all gaps jointly, each seeing the others' context) and answers with a WorkspaceEdit that
// the editor previews before applying.
import { TextDocumentEdit, type CancellationToken, type TextEdit } from 'vscode-languageserver';
import { REQUEST_LIMITS, type FillBlanksParams, type FillBlanksResult, type FilledBlank } from '../protocol';
import { resolveBlanks } from './blanks';
import { abortSignalFor } from './cancellation';
import { noteContextCut } from './context-limit';
import { requireDocument } from './document-guard';
import type { HandlerContext } from './handler-context';
import { isMidLine } from './postprocess';
import { InvalidRequestError, toResponseError } from './request-errors';
import { engineSampler } from './sampler-options';

/** Fill blanks and write-before get more room than a ghost-text completion. */
export const LONG_FORM_FACTOR = 4;

export async function fillBlanks(ctx: HandlerContext, params: FillBlanksParams, token: CancellationToken): Promise<FillBlanksResult> {
  const abort = abortSignalFor(token);
  try {
    const doc = requireDocument(ctx.documents, params.textDocument.uri);
    const blanks = resolveBlanks(doc, params.ranges);
    // Explicit ranges are capped by the params schema; the document's own ___ runs are counted here.
    if (blanks.length > REQUEST_LIMITS.blanks) {
      throw new InvalidRequestError(`the document has ${blanks.length} blanks (runs of ___); one Fill Blanks fills at most ${REQUEST_LIMITS.blanks}: select the ones to fill`);
    }
    const uri = doc.uri;
    const version = doc.version;
    if (blanks.length === 0) {
      return { edit: { documentChanges: [TextDocumentEdit.create({ uri, version }, [])] }, blanks: [], version, latencyMs: 0 };
    }
    const settings = ctx.settings();
    const text = doc.getText();
    const started = performance.now();
    const result = await ctx.host.run('command', abort.signal, (engine, signal) => {
      noteContextCut(ctx.log, engine, settings.contextTokens, blanks.length * settings.maxTokens * LONG_FORM_FACTOR, blanks.length === 1 ? 'a blank' : `${blanks.length} blanks`);
      return engine.fill({
        text,
        blanks,
        maxTokensPerBlank: settings.maxTokens * LONG_FORM_FACTOR,
        sampler: engineSampler(ctx.sampler.effective(settings)),
        context: { maxContextTokens: settings.contextTokens },
        signal,
      });
    });
    if (result.fills.length !== blanks.length) {
      throw new Error(`the engine returned ${result.fills.length} fills for ${blanks.length} blanks`);
    }
    const filled: FilledBlank[] = blanks.map((b, i) => {
      let fill = result.fills[i]!;
      // A blank inside a line gets one line: a line break there would tear the line apart. The first line
      // that has text, since a fill may open with a line break it cannot keep here.
      if (isMidLine(text.slice(b.end))) fill = (fill.split('\n').find((l) => l.trim() !== '') ?? '').trim();
      return { range: { start: doc.positionAt(b.start), end: doc.positionAt(b.end) }, text: fill };
    });
    const edits: TextEdit[] = filled.map((f) => ({ range: f.range, newText: f.text }));
    return {
      edit: { documentChanges: [TextDocumentEdit.create({ uri, version }, edits)] },
      blanks: filled,
      version,
      latencyMs: Math.round(performance.now() - started),
    };
  } catch (err) {
    throw toResponseError('fill blanks', err, ctx.log);
  } finally {
    abort.dispose();
  }
}
