// The Squeeze status bar item: KV memory held vs budget, tokens and precision, compression ratio
// and execution provider when ready; a spinner while loading or generating; the reason on error.
// The wording lives in status-format.ts.
import * as vscode from 'vscode';
import { statusView, type EngineState } from './status-format';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('squeeze.status', vscode.StatusBarAlignment.Right, 100);

  constructor() {
    this.item.name = 'Squeeze';
    this.item.show();
  }

  render(state: EngineState): void {
    const view = statusView(state);
    this.item.text = view.text;
    const tooltip = new vscode.MarkdownString(view.tooltip, true);
    tooltip.isTrusted = false;
    this.item.tooltip = tooltip;
    this.item.command = view.command;
    this.item.accessibilityInformation = { label: `Squeeze: ${view.text.replace(/\$\([^)]*\)\s*/g, '')}` };
    this.item.backgroundColor =
      view.severity === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : view.severity === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
