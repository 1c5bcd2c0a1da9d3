// One inline completion request from keystroke to text, apart from VS Code so the typing test and
// `squeeze replay` run exactly what the provider runs:
//  - the completion cache answers first (typing through a ghost, the same place again);
//  - a request for the state a request in flight is already computing joins it (a prefetch);
//  - otherwise a new request aborts the previous one (CompletionGate), an automatic one waits out
//    the debounce, the prompt is built from the workspace context, and the engine is asked;
//  - every step checks whether the request was aborted or cancelled meanwhile.
// After an accept, accepted() prefetches the next completion into the cache; opened() warms a new
// language's parser when a document is opened.
import { createHash } from 'node:crypto';
import { languageForPath, warmLanguage } from '../context';
import { CompletionCache } from './completion-cache';
import { CompletionGate } from './completion-gate';
import type { EditorSnapshot, PromptBuilder } from './prompt-builder';
import type { CompletionRequest, CompletionResult, CompletionSource } from '../completion/service-types';

export interface FlowDeps {
  /** The prompt builder for the loaded model, or undefined while there is none. */
  builder(): PromptBuilder | undefined;
  /** Runs the completion in the engine; undefined when aborted or unavailable. */
  complete(request: CompletionRequest, signal: AbortSignal): Promise<CompletionResult | undefined>;
}

export interface FlowOptions {
  debounceMs: number;
  /** Manual triggers do not wait. */
  manual: boolean;
  budgetTokens: number;
  /** Distinct completions to offer (default 1). */
  alternatives?: number;
  /** The editor's cancellation (VS Code's token), as a signal. */
  cancelled?: AbortSignal;
  /**
   * Serve from the current file alone while the repository block is built (default true). False
   * is the behaviour before serve-first: a request waits for its block (bench:editing's baseline).
   */
  serveFirst?: boolean;
}

/** A ghost to show, and where it came from. */
export interface FlowResult {
  text: string;
  alternatives: string[];
  source: CompletionSource;
  /** For a cached ghost: whether its completion had the repository block. */
  fromRepo?: boolean;
  /** The engine's result (absent when the cache answered). */
  result?: CompletionResult;
  /** performance.now() when the request went to the engine (after the debounce), or the cache answered. */
  firedAt: number;
}

const stateKey = (doc: EditorSnapshot) =>
  `${doc.path}\0${doc.line}:${doc.character}\0${createHash('sha1').update(doc.text).digest('base64')}`;

export class CompletionFlow {
  readonly gate = new CompletionGate();
  readonly cache = new CompletionCache();
  /** Requests the cache answered. */
  servedFromCache = 0;
  private pending: { key: string; promise: Promise<FlowResult | undefined> } | null = null;

  /** `cache: false` turns the completion cache off (bench:editing's baseline). */
  constructor(
    private readonly deps: FlowDeps,
    private readonly options: { cache?: boolean } = {},
  ) {}

  async run(doc: EditorSnapshot, o: FlowOptions): Promise<FlowResult | undefined> {
    const cached = this.options.cache === false ? undefined : this.cache.lookup(doc);
    if (cached) {
      this.gate.abortAll(); // whatever was in flight is for a state the user has typed past
      this.pending = null;
      this.servedFromCache++;
      return { ...cached, source: 'cache', firedAt: performance.now() };
    }
    const key = stateKey(doc);
    if (this.pending?.key === key) return this.pending.promise;
    return this.track(key, this.request(doc, o));
  }

  /**
   * Asks the engine again at `doc`, past the cache: when the repository block became ready, a
   * ghost from the current file alone is replaced by one with the repository context.
   */
  refresh(doc: EditorSnapshot, o: Omit<FlowOptions, 'manual'>): Promise<FlowResult | undefined> {
    return this.track(stateKey(doc), this.request(doc, { ...o, manual: true }));
  }

  /** Makes `promise` the request in flight for state `key`, until it settles. */
  private track(key: string, promise: Promise<FlowResult | undefined>): Promise<FlowResult | undefined> {
    const entry = { key, promise };
    this.pending = entry;
    void promise.finally(() => {
      if (this.pending === entry) this.pending = null;
    });
    return promise;
  }

  /**
   * A document the user opened or switched to: its language's parser is warmed now, in the
   * background (grammar, queries, compiled parser code: 250–350 ms the first time on the 2-core
   * VM), so the first completion in it does not wait for that.
   */
  opened(path: string, text: () => string): void {
    const language = languageForPath(path);
    if (language) warmLanguage(language, text);
  }

  /** After an accept: computes the completion at the new cursor now, into the cache. */
  accepted(doc: EditorSnapshot, o: Omit<FlowOptions, 'cancelled' | 'manual'>): void {
    this.run(doc, { ...o, manual: true }).catch(() => undefined);
  }

  private async request(doc: EditorSnapshot, o: FlowOptions): Promise<FlowResult | undefined> {
    const ticket = this.gate.begin();
    const cancel = () => ticket.abort();
    if (o.cancelled?.aborted) ticket.abort();
    o.cancelled?.addEventListener('abort', cancel, { once: true });
    try {
      if (!o.manual && !(await ticket.wait(o.debounceMs))) return undefined;
      const builder = this.deps.builder();
      if (!builder || ticket.aborted) return undefined;
      const built = await builder.build(doc, o.budgetTokens);
      if (ticket.aborted) return undefined;
      const firedAt = performance.now();
      const request = { ...built.request, alternatives: o.alternatives ?? 1 };
      if (o.serveFirst === false) delete request.fileOnly;
      const result = await ticket.call((signal) => this.deps.complete(request, signal));
      if (!result) return undefined;
      // A finished completion is worth keeping even when the editor moved on (undo, Alt+\).
      this.cache.store(doc, {
        text: result.text,
        alternatives: result.alternatives,
        fromRepo: result.source === 'repo',
      });
      if (ticket.aborted) return undefined;
      // An empty text is an answer too (the model saw nothing to add): the caller shows no ghost.
      return { text: result.text, alternatives: result.alternatives, source: result.source, result, firedAt };
    } finally {
      o.cancelled?.removeEventListener('abort', cancel);
    }
  }
}
