// One inline completion request from keystroke to text, apart from VS Code so the typing test and
// `squeeze replay` run exactly what the provider runs:
//  - the completion cache answers first (typing through a ghost, the same place again);
//  - a request for the state a request in flight is already computing joins it (a prefetch);
//  - a keystroke that types on from the state a request in the engine was asked at waits for that
//    answer, and is served from it when the answer starts with what was typed;
//  - otherwise a new request aborts the previous one (CompletionGate), an automatic one waits out
//    the debounce (capped during a burst of typing; none for the first request in a document
//    just switched to), the prompt is built from the workspace context, and the engine is asked;
//  - every step checks whether the request was aborted or cancelled meanwhile.
// After an accept, accepted() prefetches the next completion into the cache; opened() warms a new
// language's parser when a document is opened.
import { createHash } from 'node:crypto';
import { languageForPath, warmLanguage } from '../context';
import { CompletionCache, splitAtCursor } from './completion-cache';
import { CompletionGate } from './completion-gate';
import { EDITOR_DEFAULTS } from './defaults';
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
  /** The longest a burst of typing postpones a request (default EDITOR_DEFAULTS.maxWaitMs). */
  maxWaitMs?: number;
  /** The longest a keystroke waits for the answer in flight it types on from (default EDITOR_DEFAULTS.joinWaitMs). */
  joinWaitMs?: number;
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
  /** The request in the engine now: the state it was asked at, and its settling. */
  private inEngine: { doc: EditorSnapshot; settled: Promise<void> } | null = null;
  /** Calls to run(): a waiting keystroke checks it to see whether a newer one came meanwhile. */
  private runs = 0;
  /** The state of the last request (null after an open): a request in another file is a switch's,
   *  and maxWait applies only to keystrokes that type on from it. */
  private lastDoc: EditorSnapshot | null = null;

  /** `cache: false` turns the completion cache off (bench:editing's baseline). */
  constructor(
    private readonly deps: FlowDeps,
    private readonly options: { cache?: boolean } = {},
  ) {}

  async run(doc: EditorSnapshot, o: FlowOptions): Promise<FlowResult | undefined> {
    const mine = ++this.runs;
    const arrivedAt = performance.now();
    const cached = this.fromCache(doc);
    if (cached) return cached;
    const key = stateKey(doc);
    if (this.pending?.key === key) return this.pending.promise;
    const flight = this.inEngine;
    // Without the cache (bench:editing's baseline) an answer can serve no other keystroke.
    if (flight && this.options.cache !== false && typedOn(flight.doc, doc)) {
      // The answer on its way may start with what was typed since it was asked: wait for it
      // rather than throw it away. Not without end (a slow model): past the cap, ask anew.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const capped = new Promise<void>((r) => {
        timer = setTimeout(r, o.joinWaitMs ?? EDITOR_DEFAULTS.joinWaitMs);
      });
      await Promise.race([flight.settled, capped]);
      clearTimeout(timer);
      if (mine !== this.runs || o.cancelled?.aborted) return undefined; // a newer keystroke came
      const served = this.fromCache(doc);
      if (served) return served;
      if (this.pending?.key === key) return this.pending.promise;
    }
    return this.track(key, this.request(doc, o, arrivedAt));
  }

  /** The ghost the completion cache holds for `doc`: whatever is in flight is then for a state the user has typed past. */
  private fromCache(doc: EditorSnapshot): FlowResult | undefined {
    const cached = this.options.cache === false ? undefined : this.cache.lookup(doc);
    if (!cached) return undefined;
    this.gate.abortAll();
    this.pending = null;
    this.servedFromCache++;
    return { ...cached, source: 'cache', firedAt: performance.now() };
  }

  /**
   * Asks the engine again at `doc`, past the cache: when the repository block became ready, a
   * ghost from the current file alone is replaced by one with the repository context.
   */
  refresh(doc: EditorSnapshot, o: Omit<FlowOptions, 'manual'>): Promise<FlowResult | undefined> {
    this.runs++; // a keystroke waiting for an older answer must not go on and abort this one
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
    this.lastDoc = null; // the next request is the first in this document, even coming back to it
    const language = languageForPath(path);
    if (language) warmLanguage(language, text);
  }

  /** After an accept: computes the completion at the new cursor now, into the cache. */
  accepted(doc: EditorSnapshot, o: Omit<FlowOptions, 'cancelled' | 'manual'>): void {
    this.run(doc, { ...o, manual: true }).catch(() => undefined);
  }

  /** Marks a request at `doc` as in the engine; the returned function marks it settled. */
  private takeOff(doc: EditorSnapshot): () => void {
    let land!: () => void;
    const flight = { doc, settled: new Promise<void>((resolve) => (land = resolve)) };
    this.inEngine = flight;
    return () => {
      if (this.inEngine === flight) this.inEngine = null;
      land();
    };
  }

  /** `arrivedAt`: when the keystroke came (a keystroke that waited for an earlier answer has waited out part of its debounce). */
  private async request(
    doc: EditorSnapshot,
    o: FlowOptions,
    arrivedAt = performance.now(),
  ): Promise<FlowResult | undefined> {
    const ticket = this.gate.begin();
    const cancel = () => ticket.abort();
    if (o.cancelled?.aborted) ticket.abort();
    o.cancelled?.addEventListener('abort', cancel, { once: true });
    let landed: (() => void) | null = null;
    try {
      // The first request in a document the user just opened or switched to is not one keystroke
      // of a burst: it goes out at once.
      // A burst of other edits (holding Backspace, say) waits for its pause: a request sent
      // meanwhile would only be aborted by the next keystroke.
      const switched = doc.path !== this.lastDoc?.path;
      const typingOn = this.lastDoc !== null && typedOn(this.lastDoc, doc);
      this.lastDoc = doc;
      const maxWait = typingOn ? (o.maxWaitMs ?? EDITOR_DEFAULTS.maxWaitMs) : Number.POSITIVE_INFINITY;
      const debounce = o.manual || switched ? 0 : this.gate.debounceFor(o.debounceMs, maxWait);
      if (!(await ticket.wait(debounce - (performance.now() - arrivedAt)))) return undefined;
      this.gate.fired();
      // From here the request is on its way: a keystroke typing on waits for it (run()) rather
      // than abort it while its prompt is built. And the answer is worth finishing whatever the
      // editor does now; only a newer request elsewhere aborts it (the gate).
      landed = this.takeOff(doc);
      o.cancelled?.removeEventListener('abort', cancel);
      const builder = this.deps.builder();
      if (!builder || ticket.aborted) return undefined;
      const built = await builder.build(doc, o.budgetTokens);
      if (ticket.aborted) return undefined;
      const firedAt = performance.now();
      const request = { ...built.request, alternatives: o.alternatives ?? 1 };
      if (o.serveFirst === false) delete request.fileOnly;
      const result = await ticket.call((signal) => this.deps.complete(request, signal));
      // A finished completion is worth keeping even when the editor moved on (undo, Alt+\).
      if (result)
        this.cache.store(doc, {
          text: result.text,
          alternatives: result.alternatives,
          fromRepo: result.source === 'repo',
        });
      if (!result || ticket.aborted) return undefined;
      // An empty text is an answer too (the model saw nothing to add): the caller shows no ghost.
      return { text: result.text, alternatives: result.alternatives, source: result.source, result, firedAt };
    } finally {
      landed?.(); // after the store: a keystroke waiting for this answer finds it in the cache
      o.cancelled?.removeEventListener('abort', cancel);
    }
  }
}

/** Whether `now` is `asked` with text typed at the cursor (same file, same text after the cursor). */
function typedOn(asked: EditorSnapshot, now: EditorSnapshot): boolean {
  if (asked.path !== now.path || now.text.length <= asked.text.length) return false;
  const a = splitAtCursor(asked);
  const b = splitAtCursor(now);
  return b.after === a.after && b.before.length > a.before.length && b.before.startsWith(a.before);
}
