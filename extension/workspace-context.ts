// The workspace as repository context: a RepoIndex of the first workspace folder, built in the
// background after activation and kept current by file watchers, plus the files the user edits and
// visits (unsaved text included). Hands out a PromptBuilder for the loaded model's family.
import * as vscode from 'vscode';
import { basename, relative, sep } from 'node:path';
import { RepoIndex, approxTokenCounter, type ContextLogger, type TokenCounter } from '../engine/context';
import type { ModelFamily } from '../engine/model/families';
import { PromptBuilder } from '../engine/editor/prompt-builder';

export class WorkspaceContext implements vscode.Disposable {
  private index: RepoIndex | null = null;
  private builder: PromptBuilder | null = null;
  private builderKey: { family: ModelFamily; tokens: TokenCounter | null } | null = null;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly build = new AbortController();
  private root: string | null = null;

  constructor(log: vscode.LogOutputChannel) {
    const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
    if (!folder) return;
    this.root = folder.uri.fsPath;
    const logger: ContextLogger = { info: (m) => log.debug(`[context] ${m}`), warn: (m) => log.warn(`[context] ${m}`) };
    this.index = new RepoIndex(this.root, { logger });
    const t0 = Date.now();
    this.index.build({ signal: this.build.signal }).then(
      (s) => log.info(`repository index: ${s.files} files in ${Date.now() - t0} ms (${s.skipped} skipped)`),
      (e: unknown) => log.error(`repository index failed: ${(e as Error).message}`),
    );
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(folder, '**/*'));
    const update = (uri: vscode.Uri) => {
      const p = this.inRoot(uri);
      if (p) this.index?.update(p);
    };
    this.disposables.push(
      watcher,
      watcher.onDidCreate(update),
      watcher.onDidChange(update),
      watcher.onDidDelete((uri) => {
        const p = this.inRoot(uri);
        if (p) {
          this.index?.remove(p);
          this.builder?.forget(p);
        }
      }),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.contentChanges.length === 0 || e.document.uri.scheme !== 'file') return;
        const p = this.inRoot(e.document.uri);
        if (p) this.builder?.touch({ path: p, line: e.contentChanges[0]!.range.start.line });
      }),
      vscode.window.onDidChangeActiveTextEditor((ed) => {
        const p = ed && this.inRoot(ed.document.uri);
        if (p) this.builder?.touch({ path: p, line: ed.selection.active.line });
      }),
    );
  }

  /** Repository-relative path with forward slashes, or undefined outside the folder. */
  inRoot(uri: vscode.Uri): string | undefined {
    if (!this.root || uri.scheme !== 'file') return undefined;
    const rel = relative(this.root, uri.fsPath);
    if (!rel || rel.startsWith('..')) return undefined;
    return rel.split(sep).join('/');
  }

  /** The path the prompt names the document by. */
  pathOf(document: vscode.TextDocument): string {
    return this.inRoot(document.uri) ?? basename(document.uri.fsPath || document.uri.path || 'untitled');
  }

  /** A builder for this family and tokenizer (made anew when either changes), with the unsaved
   *  text of recently edited files filled in. Undefined without a workspace folder. */
  builderFor(family: ModelFamily, tokens: TokenCounter | null): PromptBuilder | undefined {
    if (!this.index) return undefined;
    if (!this.builder || this.builderKey?.family !== family || this.builderKey.tokens !== tokens) {
      this.builder = new PromptBuilder(this.index, tokens ?? approxTokenCounter, family);
      this.builderKey = { family, tokens };
    }
    const dirty = new Map(vscode.workspace.textDocuments.filter((d) => d.isDirty).map((d) => [this.inRoot(d.uri), d]));
    for (const r of this.builder.recentFiles) this.builder.setText(r.path, dirty.get(r.path)?.getText());
    return this.builder;
  }

  dispose(): void {
    this.build.abort();
    for (const d of this.disposables) d.dispose();
  }
}
