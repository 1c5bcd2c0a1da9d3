// Extension entry point: wires VS Code to the engine. Everything heavy lives behind the
// engine's CompletionService; this file only creates UI pieces and registers commands.
import * as vscode from 'vscode';
import { StatusBar } from './status-bar';
import { SETTINGS_SECTION, readSettings } from './settings';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Squeeze', { log: true });
  const statusBar = new StatusBar();
  context.subscriptions.push(log, statusBar);

  const refresh = () => statusBar.showIdle(readSettings().enable);
  refresh();

  context.subscriptions.push(
    vscode.commands.registerCommand('squeeze.toggle', async () => {
      const config = vscode.workspace.getConfiguration(SETTINGS_SECTION);
      const enabled = !readSettings().enable;
      await config.update('enable', enabled, vscode.ConfigurationTarget.Global);
      log.info(`inline completions ${enabled ? 'enabled' : 'disabled'}`);
    }),
    vscode.commands.registerCommand('squeeze.showLogs', () => log.show()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(SETTINGS_SECTION)) refresh();
    }),
  );
  log.info(`Squeeze ${context.extension.packageJSON.version as string} activated`);
}

export function deactivate(): void {
  // Disposables registered on the context are released by VS Code.
}
