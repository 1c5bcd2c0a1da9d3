// Extension entry point: wires VS Code to the engine. Everything heavy lives behind the engine
// worker (engine/worker); this file creates the UI pieces, reads settings and registers the
// provider and commands.
import * as vscode from 'vscode';
import { StatusBar } from './status-bar';
import { EngineHost } from './engine-host';
import { WorkspaceContext } from './workspace-context';
import { ACCEPTED_COMMAND, SqueezeCompletionProvider } from './completion-provider';
import { registerCommands } from './commands';
import { SETTINGS_SECTION, readSettings } from './settings';
import type { SqueezeSettings } from './settings-model';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Squeeze', { log: true });
  const statusBar = new StatusBar();
  const engine = new EngineHost(context, log);
  const workspace = new WorkspaceContext(log);
  context.subscriptions.push(
    log,
    statusBar,
    engine,
    workspace,
    engine.onDidChange((s) => statusBar.render(s)),
  );

  let settings: SqueezeSettings = readSettings().settings;
  const shown = new Set<string>();
  const read = (): SqueezeSettings => {
    const r = readSettings();
    for (const p of r.problems) {
      log.warn(p.message);
      if (shown.has(p.message)) continue;
      shown.add(p.message);
      void vscode.window
        .showWarningMessage(`Squeeze: ${p.message} (the default is used)`, 'Open Settings')
        .then((a) => {
          if (a) void vscode.commands.executeCommand('workbench.action.openSettings', p.key);
        });
    }
    return r.settings;
  };
  // Settings are applied one after the other, so a fast series of edits ends in the last state.
  let applying: Promise<void> = Promise.resolve();
  const apply = (options: { reload?: boolean } = {}) => {
    settings = read();
    const s = settings;
    applying = applying
      .then(() => engine.apply(s, options))
      .catch((e: unknown) => log.error(`applying settings failed: ${(e as Error).message}`));
    return applying;
  };

  const provider = new SqueezeCompletionProvider(engine, workspace, () => settings, log);
  // Every language: squeeze.enabledLanguages (default: the ones the context gatherer parses) and
  // the per-language squeeze.enable decide, so changing them needs no re-registration.
  const selector = [{ scheme: 'file' }, { scheme: 'untitled' }];
  context.subscriptions.push(
    vscode.languages.registerInlineCompletionItemProvider(selector, provider),
    vscode.commands.registerCommand(ACCEPTED_COMMAND, () => provider.accepted()),
    ...registerCommands({ context, engine, log, settings: () => settings, reload: () => apply({ reload: true }) }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(SETTINGS_SECTION)) void apply();
    }),
    // Trust granted: the workspace's own model folder and provider now count.
    vscode.workspace.onDidGrantWorkspaceTrust(() => void apply()),
    vscode.window.onDidChangeActiveTextEditor((editor) => editor && provider.opened(editor.document)),
  );
  if (vscode.window.activeTextEditor) provider.opened(vscode.window.activeTextEditor.document);
  statusBar.render(engine.state);
  log.info(`Squeeze ${context.extension.packageJSON.version as string} activated`);
  void apply();
}

export function deactivate(): void {
  // Disposables registered on the context are released by VS Code (the worker is terminated).
}
