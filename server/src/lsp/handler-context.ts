// What every request handler needs, passed explicitly (no global server object).
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { Logger } from './logger';
import type { ModelHost } from './model-host';
import type { SamplerState } from './sampler-options';
import type { Settings } from './settings';

export interface HandlerContext {
  documents: { get(uri: string): TextDocument | undefined };
  host: ModelHost;
  settings(): Settings;
  sampler: SamplerState;
  log: Logger;
}
