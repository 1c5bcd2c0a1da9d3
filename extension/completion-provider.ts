// The inline completion provider: small on purpose, everything heavy sits behind it. Per request:
// check the language is on, wait out the debounce (a newer keystroke aborts this request), build
// the prompt from the workspace context, ask the engine, and turn the text into an item. VS Code's
// cancellation token is honoured after every await and aborts the engine call.
import * as vscode from 'vscode';
import { CompletionGate } from './completion-gate';
import type { EngineHost } from './engine-host';
import type { WorkspaceContext } from './workspace-context';
import { enabledFor } from './settings';
import type { SqueezeSettings } from './settings-model';

export class SqueezeCompletionProvider implements vscode.InlineCompletionItemProvider {
  readonly gate = new CompletionGate();

  constructor(
    private readonly engine: EngineHost,
    private readonly workspace: WorkspaceContext,
    private readonly settings: () => SqueezeSettings,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument, position: vscode.Position, context: vscode.InlineCompletionContext, token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const settings = this.settings();
    if (!settings.enable || !enabledFor(document, settings) || !this.engine.ready) return undefined;
    const ticket = this.gate.begin();
    const sub = token.onCancellationRequested(() => ticket.abort());
    try {
      if (token.isCancellationRequested) return undefined;
      const manual = context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke;
      if (!manual && !(await ticket.wait(settings.debounceMs))) return undefined;
      const info = this.engine.modelInfo;
      const builder = info && this.workspace.builderFor(info.family, this.engine.tokenizer);
      if (!info || !builder || ticket.aborted) return undefined;
      const built = await builder.build({
        path: this.workspace.pathOf(document), text: document.getText(), line: position.line, character: position.character,
      }, promptBudget(settings, info.maxPositions));
      if (ticket.aborted) return undefined;
      const result = await ticket.call((signal) => this.engine.complete(built.request, signal));
      if (!result || ticket.aborted || !result.text) return undefined;
      // With text after the cursor, replace up to the line's end and keep that text, so VS Code
      // can show the completion as ghost text in the middle of the line.
      const lineEnd = document.lineAt(position.line).range.end;
      const rest = document.getText(new vscode.Range(position, lineEnd));
      return [new vscode.InlineCompletionItem(result.text + rest, new vscode.Range(position, lineEnd))];
    } catch (e) {
      this.log.warn(`inline completion failed: ${(e as Error).message}`);
      return undefined;
    } finally {
      sub.dispose();
    }
  }
}

/** Prompt tokens: the setting, within what the model's positions allow after the completion. */
export function promptBudget(settings: SqueezeSettings, maxPositions: number): number {
  return Math.max(256, Math.min(settings.contextMaxTokens, maxPositions - settings.maxCompletionTokens - 16));
}
