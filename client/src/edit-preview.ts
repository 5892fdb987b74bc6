// Previews of model edits before they become part of the document. Fill blanks shows each fill
// next to its struck-through blank and applies nothing until Accept. Write-before inserts whole
// lines (which decorations cannot show), so it applies them highlighted and offers Undo.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import type { FillBlanksResult, WriteBeforeResult } from '../../server/src/protocol';

const blankStyle = vscode.window.createTextEditorDecorationType({
  textDecoration: 'line-through',
  opacity: '0.6',
});
const fillStyle = vscode.window.createTextEditorDecorationType({
  after: {
    color: new vscode.ThemeColor('editorGhostText.foreground'),
    border: '1px dashed',
    borderColor: new vscode.ThemeColor('editorGhostText.border'),
  },
});
const writtenStyle = vscode.window.createTextEditorDecorationType({
  isWholeLine: true,
  backgroundColor: new vscode.ThemeColor('diffEditor.insertedLineBackground'),
});

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Shows the fills, asks Accept/Reject, and applies the edit on Accept. Resolves to whether it was applied. */
export async function previewFills(client: LanguageClient, editor: vscode.TextEditor, result: FillBlanksResult): Promise<boolean> {
  const c = client.protocol2CodeConverter;
  editor.setDecorations(
    blankStyle,
    result.blanks.map((b) => c.asRange(b.range)),
  );
  editor.setDecorations(
    fillStyle,
    result.blanks.map((b) => ({
      range: c.asRange(b.range),
      // Decorations are one line: show line breaks as a symbol in the preview.
      renderOptions: { after: { contentText: ` ${b.text.replace(/\n/g, ' ⏎ ')} ` } },
    })),
  );
  try {
    const choice = await vscode.window.showInformationMessage(
      `Diffill filled ${plural(result.blanks.length, 'blank')} in ${result.latencyMs} ms.`,
      'Accept',
      'Reject',
    );
    if (choice !== 'Accept') return false;
    if (result.version !== null && editor.document.version !== result.version) {
      void vscode.window.showWarningMessage('Diffill: the document changed since the blanks were filled; run Fill Blanks again.');
      return false;
    }
    return vscode.workspace.applyEdit(await c.asWorkspaceEdit(result.edit));
  } finally {
    editor.setDecorations(blankStyle, []);
    editor.setDecorations(fillStyle, []);
  }
}

/** Applies the written lines, highlights them, and removes them again on Undo. */
export async function applyWrittenBefore(client: LanguageClient, editor: vscode.TextEditor, line: number, result: WriteBeforeResult): Promise<boolean> {
  if (result.version !== null && editor.document.version !== result.version) {
    void vscode.window.showWarningMessage('Diffill: the document changed while writing; run Write What Comes Before again.');
    return false;
  }
  if (!(await vscode.workspace.applyEdit(await client.protocol2CodeConverter.asWorkspaceEdit(result.edit)))) return false;
  const lines = result.text.split('\n').length - 1;
  const written = new vscode.Range(line, 0, line + lines, 0);
  const appliedVersion = editor.document.version;
  editor.setDecorations(writtenStyle, [new vscode.Range(line, 0, line + lines - 1, 0)]);
  editor.revealRange(written, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  try {
    const choice = await vscode.window.showInformationMessage(
      `Diffill wrote ${plural(lines, 'line')} above line ${line + lines + 1} in ${result.latencyMs} ms.`,
      'Keep',
      'Undo',
    );
    if (choice !== 'Undo') return true;
    if (editor.document.version !== appliedVersion) {
      void vscode.window.showWarningMessage('Diffill: the document changed since; use the editor\'s Undo instead.');
      return true;
    }
    const undo = new vscode.WorkspaceEdit();
    undo.delete(editor.document.uri, written);
    await vscode.workspace.applyEdit(undo);
    return false;
  } finally {
    editor.setDecorations(writtenStyle, []);
  }
}
