// `diffill/writeBefore`: writes text above a line, conditioned on that line and everything after
// it (a docstring above a function, the setup before a conclusion). Answered as a WorkspaceEdit
// inserting at the start of the line.
import { TextDocumentEdit, type CancellationToken } from 'vscode-languageserver';
import type { WriteBeforeParams, WriteBeforeResult } from '../protocol';
import { abortSignalFor } from './cancellation';
import { noteContextCut } from './context-limit';
import { contextChars, requireDocument } from './document-guard';
import { LONG_FORM_FACTOR } from './fill-blanks';
import type { HandlerContext } from './handler-context';
import { InvalidRequestError, toResponseError } from './request-errors';
import { engineSampler } from './sampler-options';

export async function writeBefore(ctx: HandlerContext, params: WriteBeforeParams, token: CancellationToken): Promise<WriteBeforeResult> {
  const abort = abortSignalFor(token);
  try {
    const doc = requireDocument(ctx.documents, params.textDocument.uri);
    if (!Number.isInteger(params.line) || params.line < 0 || params.line >= doc.lineCount) {
      throw new InvalidRequestError(`line ${params.line} is outside the document (0..${doc.lineCount - 1})`);
    }
    const settings = ctx.settings();
    const text = doc.getText();
    const at = doc.offsetAt({ line: params.line, character: 0 });
    const keep = contextChars(settings.contextTokens);
    const version = doc.version;
    const started = performance.now();
    const result = await ctx.host.run('command', abort.signal, (engine, signal) => {
      noteContextCut(ctx.log, engine, settings.contextTokens, settings.maxTokens * LONG_FORM_FACTOR, 'writing before a line');
      return engine.before({
        prefix: text.slice(Math.max(0, at - keep), at),
        suffix: text.slice(at, at + keep),
        maxTokens: settings.maxTokens * LONG_FORM_FACTOR,
        sampler: engineSampler(ctx.sampler.effective(settings)),
        context: { maxContextTokens: settings.contextTokens },
        signal,
      });
    });
    // Keep the anchor line on its own line; trailing blank lines are the model's padding.
    const body = result.text.replace(/\r\n?/g, '\n').replace(/\s+$/, '');
    const written = body.length === 0 ? '' : `${body}\n`;
    const position = { line: params.line, character: 0 };
    const edits = written.length === 0 ? [] : [{ range: { start: position, end: position }, newText: written }];
    return {
      text: written,
      edit: { documentChanges: [TextDocumentEdit.create({ uri: doc.uri, version }, edits)] },
      version,
      latencyMs: Math.round(performance.now() - started),
    };
  } catch (err) {
    throw toResponseError('write before', err, ctx.log);
  } finally {
    abort.dispose();
  }
}
