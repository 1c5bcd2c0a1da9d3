// The inline completion provider: small on purpose, everything heavy sits behind it. It checks the
// language is on, hands the request to CompletionFlow (completion cache, debounce, abort of stale
// requests, prompt from the workspace context, the engine call) with VS Code's cancellation token
// as an abort signal, and turns the ghost and its alternatives into items. Accepting an item runs
// ACCEPTED_COMMAND, which prefetches the next completion.
import * as vscode from 'vscode';
import { CompletionFlow, type FlowOptions } from '../engine/editor/completion-flow';
import type { EditorSnapshot } from '../engine/editor/prompt-builder';
import { promptBudget as budgetFor } from '../engine/editor/defaults';
import type { EngineHost } from './engine-host';
import type { WorkspaceContext } from './workspace-context';
import { enabledFor } from './settings';
import type { SqueezeSettings } from './settings-model';

/** Run by VS Code after an item was accepted (internal, not in the command palette). */
export const ACCEPTED_COMMAND = 'squeeze.completionAccepted';

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
      const result = await this.flow.run(this.snapshot(document, position), {
        ...this.options(settings, info.maxPositions),
        manual: context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke,
        cancelled: cancelled.signal,
      });
      if (!result?.text || token.isCancellationRequested) return undefined;
      // With text after the cursor, replace up to the line's end and keep that text, so VS Code
      // can show the completion as ghost text in the middle of the line.
      const lineEnd = document.lineAt(position.line).range.end;
      const rest = document.getText(new vscode.Range(position, lineEnd));
      const accepted: vscode.Command = { command: ACCEPTED_COMMAND, title: 'Completion accepted' };
      return [result.text, ...result.alternatives].map((text) => {
        // A next-line ghost (it starts with a line break) after blank text keeps that text on the
        // cursor's line instead of carrying it to the end of the new one.
        const insert = text.startsWith('\n') && !rest.trim() ? rest + text : text + rest;
        const item = new vscode.InlineCompletionItem(insert, new vscode.Range(position, lineEnd));
        item.command = accepted;
        return item;
      });
    } catch (e) {
      this.log.warn(`inline completion failed: ${(e as Error).message}`);
      return undefined;
    } finally {
      sub.dispose();
    }
  }

  /** A document became the active editor's: warm its language's parser before the first request. */
  opened(document: vscode.TextDocument): void {
    if (document.uri.scheme !== 'file' && document.uri.scheme !== 'untitled') return;
    const settings = this.settings();
    if (!settings.enable || !enabledFor(document, settings)) return;
    this.flow.opened(this.workspace.pathOf(document), () => document.getText());
  }

  /** After an accept: the next completion at the new cursor goes into the cache now. */
  accepted(): void {
    const editor = vscode.window.activeTextEditor;
    const info = this.engine.modelInfo;
    if (!editor || !info || !this.engine.ready) return;
    this.flow.accepted(
      this.snapshot(editor.document, editor.selection.active),
      this.options(this.settings(), info.maxPositions),
    );
  }

  private snapshot(document: vscode.TextDocument, position: vscode.Position): EditorSnapshot {
    return {
      path: this.workspace.pathOf(document),
      text: document.getText(),
      line: position.line,
      character: position.character,
    };
  }

  private options(settings: SqueezeSettings, maxPositions: number): Omit<FlowOptions, 'manual' | 'cancelled'> {
    return {
      debounceMs: settings.debounceMs,
      budgetTokens: promptBudget(settings, maxPositions),
      alternatives: settings.alternatives,
    };
  }
}

/** Prompt tokens: the setting, within what the model's positions allow after the completion. */
export function promptBudget(settings: SqueezeSettings, maxPositions: number): number {
  return budgetFor(settings.contextMaxTokens, settings.maxCompletionTokens, maxPositions);
}
