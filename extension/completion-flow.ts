// One inline completion request from keystroke to text, apart from VS Code so the typing test runs
// exactly what the provider runs: a new request aborts the previous one (CompletionGate), an
// automatic one waits out the debounce, the prompt is built from the workspace context, the engine
// is asked, and every step checks whether the request was aborted or cancelled meanwhile.
import { CompletionGate } from './completion-gate';
import type { EditorSnapshot, PromptBuilder } from './prompt-builder';
import type { CompletionRequest, CompletionResult } from '../engine/completion/service-types';

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
  /** The editor's cancellation (VS Code's token), as a signal. */
  cancelled?: AbortSignal;
}

export class CompletionFlow {
  readonly gate = new CompletionGate();

  constructor(private readonly deps: FlowDeps) {}

  async run(doc: EditorSnapshot, o: FlowOptions): Promise<CompletionResult | undefined> {
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
      const result = await ticket.call((signal) => this.deps.complete(built.request, signal));
      if (!result || ticket.aborted || !result.text) return undefined;
      return result;
    } finally {
      o.cancelled?.removeEventListener('abort', cancel);
    }
  }
}
