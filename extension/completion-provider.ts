// The inline completion provider: small on purpose, everything heavy sits behind it. It checks the
// language is on, hands the request to CompletionFlow (debounce, abort of stale requests, prompt
// from the workspace context, the engine call) with VS Code's cancellation token as an abort
// signal, and turns the text into an item.
import * as vscode from 'vscode';
import { CompletionFlow } from './completion-flow';
import type { EngineHost } from './engine-host';
import type { WorkspaceContext } from './workspace-context';
import { enabledFor } from './settings';
import type { SqueezeSettings } from './settings-model';

export class SqueezeCompletionProvider implements vscode.InlineCompletionItemProvider {
  readonly flow: CompletionFlow;

  constructor(
    private readonly engine: EngineHost,
    private readonly workspace: WorkspaceContext,
    private readonly settings: () => SqueezeSettings,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.flow = new CompletionFlow({
      builder: () => {
        const info = engine.modelInfo;
        return info?.family ? workspace.builderFor(info.family, engine.tokenizer) : undefined;
      },
      complete: (request, signal) => engine.complete(request, signal),
    });
  }

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const settings = this.settings();
    const info = this.engine.modelInfo;
    if (
      !settings.enable ||
      !enabledFor(document, settings) ||
      !this.engine.ready ||
      !info ||
      token.isCancellationRequested
    )
      return undefined;
    const cancelled = new AbortController();
    const sub = token.onCancellationRequested(() => cancelled.abort());
    try {
      const result = await this.flow.run(
        {
          path: this.workspace.pathOf(document),
          text: document.getText(),
          line: position.line,
          character: position.character,
        },
        {
          debounceMs: settings.debounceMs,
          manual: context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke,
          budgetTokens: promptBudget(settings, info.maxPositions),
          cancelled: cancelled.signal,
        },
      );
      if (!result || token.isCancellationRequested) return undefined;
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
