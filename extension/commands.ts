// The Squeeze commands: toggle, manual trigger, select/download/reload a model, memory report,
// clear the KV cache, logs.
import * as vscode from 'vscode';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { modelPathProblem } from '../engine/model/source';
import type { EngineHost } from './engine-host';
import { MemoryReportPanel } from './memory-report';
import { downloadModel, DownloadError } from './model-download';
import { SETTINGS_SECTION } from './settings';
import { KEYS, type SqueezeSettings } from './settings-model';

export interface CommandDeps {
  context: vscode.ExtensionContext;
  engine: EngineHost;
  log: vscode.LogOutputChannel;
  settings: () => SqueezeSettings;
  reload: () => Promise<void>;
}

const config = () => vscode.workspace.getConfiguration(SETTINGS_SECTION);

/** Where Ollama keeps its models: GGUF files named by their SHA-256, without an extension. */
export const OLLAMA_BLOBS = join(homedir(), '.ollama', 'models', 'blobs');

/** Models among `dir` and its direct entries: folders with a config.json and GGUF files (Ollama's blobs included). */
export function modelsIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out = modelPathProblem(dir) === null ? [dir] : [];
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      const candidate =
        e.isDirectory() || e.name.endsWith('.gguf') || (dir === OLLAMA_BLOBS && e.name.startsWith('sha256'));
      if (candidate && modelPathProblem(p) === null) out.push(p);
    }
  } catch {
    /* unreadable: nothing to offer */
  }
  return out;
}

export function registerCommands(d: CommandDeps): vscode.Disposable[] {
  const { context, engine, log } = d;
  const downloads = vscode.Uri.joinPath(context.globalStorageUri, 'models').fsPath;

  const selectModel = async () => {
    const current = engine.modelDir(d.settings());
    const roots = [
      downloads,
      join(context.extensionPath, 'models'),
      OLLAMA_BLOBS,
      ...(vscode.workspace.workspaceFolders ?? []).flatMap((f) => [f.uri.fsPath, join(f.uri.fsPath, 'models')]),
    ];
    const found = [...new Set(roots.flatMap(modelsIn))];
    type Pick = vscode.QuickPickItem & { path?: string; action?: 'folder' | 'file' | 'download' };
    const items: Pick[] = [
      ...found.map((path) => ({
        label: `${statSync(path).isFile() ? '$(file-binary)' : '$(folder)'} ${basename(path)}`,
        description: [path === current ? 'current' : '', path.startsWith(OLLAMA_BLOBS) ? 'Ollama' : '']
          .filter(Boolean)
          .join(' · '),
        detail: path,
        path,
      })),
      { label: '$(folder-opened) Browse for a model folder…', action: 'folder' },
      { label: '$(file-binary) Browse for a GGUF file (Ollama blobs too)…', action: 'file' },
      { label: '$(cloud-download) Download from Hugging Face…', action: 'download' },
    ];
    const pick = await vscode.window.showQuickPick(items, {
      title:
        "Squeeze: select a model: a Hugging Face folder (config.json, safetensors, tokenizer.json) or a GGUF file, including Ollama's blobs in ~/.ollama/models/blobs",
      matchOnDetail: true,
    });
    if (!pick) return;
    if (pick.action === 'download') {
      await vscode.commands.executeCommand('squeeze.downloadModel');
      return;
    }
    let path = pick.path;
    if (pick.action) {
      const uris = await vscode.window.showOpenDialog({
        canSelectFolders: pick.action === 'folder',
        canSelectFiles: pick.action === 'file',
        canSelectMany: false,
        openLabel: 'Use this model',
        defaultUri: pick.action === 'file' && existsSync(OLLAMA_BLOBS) ? vscode.Uri.file(OLLAMA_BLOBS) : undefined,
      });
      path = uris?.[0]?.fsPath;
    }
    if (!path) return;
    const problem = modelPathProblem(path);
    if (problem) {
      void vscode.window
        .showErrorMessage(`Squeeze: ${problem}: choose a Hugging Face model folder or a GGUF file.`, 'Select Another…')
        .then((a) => {
          if (a) void selectModel();
        });
      return;
    }
    await config().update(KEYS.modelPath, path, vscode.ConfigurationTarget.Global);
    log.info(`model set to ${path}`);
  };

  const download = async () => {
    const s = d.settings();
    const repo = await vscode.window.showInputBox({
      title: `Squeeze: download a model from ${s.downloadEndpoint}`,
      prompt: 'Hugging Face model id (a fill-in-the-middle code model)',
      value: s.downloadRepository,
      validateInput: (v) =>
        /^[\w.-]+\/[\w.-]+$/.test(v.trim()) ? undefined : 'Write it as owner/name, e.g. Qwen/Qwen2.5-Coder-0.5B',
    });
    if (!repo) return;
    const id = repo.trim();
    const dest = join(
      downloads,
      `${id.replace('/', '--')}${s.downloadRevision === 'main' ? '' : `@${s.downloadRevision.replace(/[^\w.-]/g, '_')}`}`,
    );
    try {
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Downloading ${id}`, cancellable: true },
        async (progress, token) => {
          const ctl = new AbortController();
          token.onCancellationRequested(() => ctl.abort());
          let reported = 0;
          return downloadModel({
            endpoint: s.downloadEndpoint,
            repo: id,
            revision: s.downloadRevision,
            dest,
            signal: ctl.signal,
            log: (m) => log.info(`[download] ${m}`),
            onProgress: (p) => {
              const pct = p.totalBytes ? (100 * p.doneBytes) / p.totalBytes : 0;
              if (pct - reported < 0.5 && p.doneBytes < p.totalBytes) return;
              progress.report({
                increment: pct - reported,
                message: `${p.file} · ${(p.doneBytes / 2 ** 20).toFixed(0)} of ${(p.totalBytes / 2 ** 20).toFixed(0)} MB`,
              });
              reported = pct;
            },
          });
        },
      );
      log.info(`downloaded ${id} to ${dest}: ${r.downloadedBytes} bytes fetched, ${r.reusedBytes} already there`);
      await config().update(KEYS.modelPath, dest, vscode.ConfigurationTarget.Global);
      void vscode.window.showInformationMessage(`Squeeze: ${id} is downloaded and now in use.`);
    } catch (e) {
      const resumable = e instanceof DownloadError && (e.kind === 'aborted' || e.kind === 'network');
      log.error(`download of ${id} failed: ${(e as Error).message}`);
      const a = await vscode.window.showErrorMessage(
        `Squeeze: ${(e as Error).message}`,
        ...(resumable ? ['Resume'] : []),
        'Show Logs',
      );
      if (a === 'Resume') await vscode.commands.executeCommand('squeeze.downloadModel');
      else if (a === 'Show Logs') log.show();
    }
  };

  return [
    vscode.commands.registerCommand('squeeze.toggle', async () => {
      const enabled = !d.settings().enable;
      await config().update(KEYS.enable, enabled, vscode.ConfigurationTarget.Global);
      log.info(`inline completions ${enabled ? 'enabled' : 'disabled'}`);
    }),
    vscode.commands.registerCommand('squeeze.triggerCompletion', () =>
      vscode.commands.executeCommand('editor.action.inlineSuggest.trigger'),
    ),
    vscode.commands.registerCommand('squeeze.selectModel', selectModel),
    vscode.commands.registerCommand('squeeze.downloadModel', download),
    vscode.commands.registerCommand('squeeze.showMemoryReport', () => {
      MemoryReportPanel.show(context, engine);
    }),
    vscode.commands.registerCommand('squeeze.clearCache', async () => {
      await engine.clearCache();
      void vscode.window.setStatusBarMessage('Squeeze: KV cache cleared', 3000);
    }),
    vscode.commands.registerCommand('squeeze.reloadModel', d.reload),
    vscode.commands.registerCommand('squeeze.showLogs', () => log.show()),
  ];
}
