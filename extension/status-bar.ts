// The Squeeze status bar item: the user's window onto the engine's state and KV memory.
import * as vscode from 'vscode';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('squeeze.status', vscode.StatusBarAlignment.Right, 100);

  constructor() {
    this.item.name = 'Squeeze';
    this.item.command = 'squeeze.toggle';
    this.item.show();
  }

  showIdle(enabled: boolean): void {
    this.item.text = enabled ? '$(sparkle) Squeeze' : '$(circle-slash) Squeeze';
    this.item.tooltip = enabled
      ? 'Squeeze: inline completions enabled (click to disable)'
      : 'Squeeze: inline completions disabled (click to enable)';
  }

  dispose(): void {
    this.item.dispose();
  }
}
