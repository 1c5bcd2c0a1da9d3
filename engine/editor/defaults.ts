// The editor's request settings as the extension ships them; `squeeze replay` uses the same.
export const EDITOR_DEFAULTS = {
  /** Milliseconds of no typing before a request goes out. */
  debounceMs: 150,
  /**
   * While keystrokes keep coming closer than the debounce, a request still goes out this long after
   * the first of them, and the keystrokes after it wait for its answer (typing through it when it
   * starts with what they typed). A fast typist (100-130 ms a character) otherwise sees no ghost until
   * they pause.
   */
  maxWaitMs: 400,
  /** The longest a keystroke waits for an answer in flight before asking for its own. */
  joinWaitMs: 1000,
  /** Prompt tokens: the current file's window plus the repository block. */
  contextMaxTokens: 8192,
  /** Distinct completions offered per request. */
  alternatives: 3,
} as const;

/** Prompt tokens: the setting, within what the model's positions allow after the completion. */
export function promptBudget(contextMaxTokens: number, maxCompletionTokens: number, maxPositions: number): number {
  return Math.max(256, Math.min(contextMaxTokens, maxPositions - maxCompletionTokens - 16));
}
