// Shared types of the KV evaluation: a case is a prompt text plus what its completion should be.
import { seededRandom } from '../random';

export interface EvalCase {
  id: string;
  kind: 'repo' | 'needle';
  /** the whole prompt as text (special tokens such as <|file_sep|> included as text) */
  prompt: string;
  /** repo: the target line (what follows the prompt up to the newline); needle: the value to reproduce */
  expected: string;
  /** where the evidence sits: tokens before the definition / needle line, as a fraction of the prompt */
  depth: number;
  /**
   * Where the repository block ends and the current file begins (characters of `prompt`): the
   * product path compresses prompt[0, blockChars) as the editor compresses its repository block.
   */
  blockChars: number;
  /** prompt tokens as counted by the builder's tokenizer */
  tokens: number;
  /** free-form facts for the report (package, paths, identifier) */
  meta: Record<string, string | number>;
}

/** Token counting the case builders need (ModelTokenizer.count fits; tests may pass a fake). */
export type CountTokens = (text: string) => number;

/** Deterministic PRNG, so case selection is reproducible across runs and machines. */
export const rng = seededRandom;

/** Fisher–Yates shuffle with a given PRNG (returns a new array). */
export function shuffled<T>(xs: readonly T[], rand: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
