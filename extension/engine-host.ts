// The extension's side of the engine: starts the worker, loads the configured model in the
// background (withProgress), pushes setting changes to it live, runs completions, keeps the
// history the memory report draws, and turns failures into a state the status bar shows and a
// notification with something to do about it. The editor stays usable whatever fails here.
import * as vscode from 'vscode';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { EngineClient, EngineError } from '../engine/worker/engine-client';
import type { EngineEvent } from '../engine/worker/protocol';
import type {
  BlockProgress,
  CompletionRequest,
  CompletionResult,
  KvReport,
  MemoryReport,
  ModelInfo,
  CompletionStats,
} from '../engine/completion/service-types';
import type { ModelTokenizer } from '../engine/model/tokenizer';
import { modelPathProblem, openModelSource } from '../engine/model/source';
import { needsReload, serviceConfigOf, type SqueezeSettings } from './settings-model';
import type { EngineState } from './status-format';
import type { RequestRecord } from './report-html';
import { SHIPPED_MODEL_NAME } from '../engine/model/shipped-model';

/** The model folder shipped in the VSIX under models/ (trained by tools/train; see its MODEL_CARD.md). */
export const SHIPPED_MODEL = SHIPPED_MODEL_NAME;

const HISTORY = 50;

export class EngineHost implements vscode.Disposable {
  private client: EngineClient | null = null;
  private settings: SqueezeSettings | null = null;
  private info: ModelInfo | null = null;
  private kv: KvReport | null = null;
  private last: CompletionStats | null = null;
  /** The repository block the engine builds in the background, while it does. */
  private building: BlockProgress | null = null;
  private busy = 0;
  private loadSeq = 0;
  private base: EngineState = { kind: 'disabled' };
  /** The model's tokenizer on this thread, for the context gatherer's token budgets. */
  tokenizer: ModelTokenizer | null = null;
  readonly history: RequestRecord[] = [];
  private readonly changed = new vscode.EventEmitter<EngineState>();
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  get state(): EngineState {
    if (this.base.kind === 'ready')
      return { ...this.base, kv: this.kv, last: this.last, busy: this.busy > 0, building: this.building };
    return this.base;
  }

  get ready(): boolean {
    return this.base.kind === 'ready' && this.client !== null;
  }

  get modelInfo(): ModelInfo | null {
    return this.info;
  }

  /** The folder the settings point at ('' = the model shipped under models/). */
  modelDir(settings: SqueezeSettings): string {
    const p = settings.modelPath.replace(/^~(?=$|[\\/])/, homedir());
    if (!p) return join(this.context.extensionPath, 'models', SHIPPED_MODEL);
    return isAbsolute(p)
      ? p
      : resolve(vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? this.context.extensionPath, p);
  }

  /** Applies settings: off unloads, a new model or provider reloads, anything else is sent live. */
  async apply(settings: SqueezeSettings, options: { reload?: boolean } = {}): Promise<void> {
    const prev = this.settings;
    this.settings = settings;
    if (!settings.enable) {
      await this.unload();
      this.setBase({ kind: 'disabled' });
      return;
    }
    if (
      options.reload ||
      !prev ||
      !prev.enable ||
      !this.client ||
      needsReload(prev, settings) ||
      this.base.kind !== 'ready'
    ) {
      await this.load(settings);
      return;
    }
    try {
      await this.client.call('configure', serviceConfigOf(settings));
      this.log.info(`settings applied: ${serviceConfigOf(settings).kv.policy} at ${settings.kvBudgetText}`);
    } catch (e) {
      this.log.error(`the engine refused the settings: ${(e as Error).message}`);
      void vscode.window.showWarningMessage(`Squeeze: ${(e as Error).message}`, 'Open Settings').then((a) => {
        if (a) void vscode.commands.executeCommand('workbench.action.openSettings', 'squeeze.kv');
      });
    }
  }

  private async load(settings: SqueezeSettings): Promise<void> {
    const seq = ++this.loadSeq;
    const dir = this.modelDir(settings);
    this.kv = null;
    this.last = null;
    const problem = modelPathProblem(dir);
    if (problem) {
      await this.unload();
      const reason = settings.modelPath
        ? `${problem[0]!.toUpperCase()}${problem.slice(1)} (squeeze.modelPath: a Hugging Face model folder or a GGUF file).`
        : `No default model is installed with this build of the extension (models/${SHIPPED_MODEL} is missing).`;
      this.log.warn(`no model: ${reason}`);
      this.setBase({ kind: 'no-model', path: dir, reason });
      return;
    }
    this.setBase({ kind: 'loading', model: dir });
    try {
      const info = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'Squeeze: loading model' },
        async () => {
          const client = this.ensureClient();
          const loaded = await client.call('load', {
            modelDir: dir,
            provider: settings.executionProvider,
            weights: settings.weights,
            cacheDir: vscode.Uri.joinPath(this.context.globalStorageUri, 'prepared').fsPath,
            config: serviceConfigOf(settings),
          });
          this.tokenizer = openModelSource(dir).tokenizer();
          return loaded;
        },
      );
      if (seq !== this.loadSeq) return; // superseded by a newer load
      this.info = info;
      const skipped = info.skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ');
      this.log.info(
        `model ${info.dir} (${info.family}) loaded on ${info.provider} in ${Math.round(info.loadMs)} ms${skipped ? `; skipped ${skipped}` : ''}`,
      );
      this.setBase({ kind: 'ready', info, kv: null, last: null, busy: false });
    } catch (e) {
      if (seq !== this.loadSeq) return;
      this.failed(e, dir);
    }
  }

  private failed(e: unknown, dir: string): void {
    const kind = e instanceof EngineError ? e.kind : (e as Error).name;
    const message = (e as Error).message;
    this.log.error(`loading ${dir} failed (${kind}): ${message}`);
    this.info = null;
    this.setBase({ kind: 'error', reason: message, model: dir });
    const actions = kind === 'ProviderError' ? ['Use CPU', 'Show Logs'] : ['Select Model…', 'Show Logs'];
    void vscode.window.showErrorMessage(`Squeeze could not load the model: ${message}`, ...actions).then(async (a) => {
      if (a === 'Use CPU')
        await vscode.workspace
          .getConfiguration('squeeze')
          .update('executionProvider', 'cpu', vscode.ConfigurationTarget.Global);
      else if (a === 'Select Model…') await vscode.commands.executeCommand('squeeze.selectModel');
      else if (a === 'Show Logs') this.log.show();
    });
  }

  private ensureClient(): EngineClient {
    if (this.client?.alive) return this.client;
    this.client = new EngineClient(join(this.context.extensionPath, 'dist', 'engine-worker.js'), {
      onEvent: (e) => this.onEvent(e),
      onExit: (err) => {
        this.client = null;
        this.log.error(err.message);
        this.setBase({ kind: 'error', reason: `${err.message}. Run "Squeeze: Reload Model" to start it again.` });
      },
    });
    return this.client;
  }

  private onEvent(e: EngineEvent): void {
    if (e.kind === 'log') {
      this.log[e.level](`[engine] ${e.message}`);
    } else if (e.kind === 'prefix') {
      this.kv = e.report;
      this.log.info(
        `repository context recompressed: ${e.report.policy}, ${e.report.bytes} bytes (budget ${Math.round(e.report.budgetBytes)})`,
      );
      this.fire();
    } else if (e.kind === 'progress') {
      this.building = e.progress.state === 'building' ? e.progress : null;
      // The status bar shows the repository block as soon as it is built.
      if (e.progress.report) this.kv = e.progress.report;
      if (e.progress.state === 'ready')
        this.log.info(
          `repository context built: ${e.progress.totalTokens} tokens in ${Date.now() - e.progress.startedAt} ms`,
        );
      this.fire();
    }
  }

  /** One completion; undefined when there is no model or the request was aborted. */
  async complete(request: CompletionRequest, signal: AbortSignal): Promise<CompletionResult | undefined> {
    const client = this.client;
    if (!client || this.base.kind !== 'ready') return undefined;
    this.busy++;
    this.fire();
    try {
      const r = await client.call('complete', request, signal);
      // A file-only completion's cache is the format header: the status keeps the repository block's.
      if (r.source === 'repo') this.kv = r.stats.kv;
      this.last = r.stats;
      this.history.push({ at: Date.now(), stats: r.stats, chars: r.text.length });
      if (this.history.length > HISTORY) this.history.shift();
      const s = r.stats;
      this.log.debug(
        `completion (${r.source}): ${s.promptTokens} prompt tokens (${s.reusedTokens} reused, ${s.recomputedTokens} computed), ${s.generatedTokens} generated (${s.stopReason}) in ${Math.round(s.totalMs)} ms`,
      );
      return r;
    } catch (e) {
      if (e instanceof EngineError && e.aborted) return undefined;
      this.log.warn(`completion failed: ${(e as Error).message}`);
      return undefined;
    } finally {
      this.busy--;
      this.fire();
    }
  }

  async report(): Promise<MemoryReport | null> {
    if (!this.client || this.base.kind !== 'ready') return null;
    try {
      return await this.client.call('report', null);
    } catch (e) {
      this.log.warn(`memory report failed: ${(e as Error).message}`);
      return null;
    }
  }

  async clearCache(): Promise<void> {
    if (!this.client || this.base.kind !== 'ready') return;
    await this.client.call('clearCache', null);
    this.kv = null;
    this.log.info('KV cache cleared');
    this.fire();
  }

  private async unload(): Promise<void> {
    this.loadSeq++;
    this.info = null;
    this.tokenizer = null;
    const c = this.client;
    this.client = null;
    if (c) await c.terminate().catch(() => undefined);
  }

  private setBase(s: EngineState): void {
    this.base = s;
    this.fire();
  }

  private fire(): void {
    this.changed.fire(this.state);
  }

  dispose(): void {
    void this.unload();
    this.changed.dispose();
  }
}
