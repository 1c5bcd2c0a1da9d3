// One call for the completion engine: split a total token budget between the current file's
// window and the repository block, gather context, and assemble the family's prompt.
import { analyzeCurrentFile } from './current-file';
import type { ContextGatherer, ContextRequest, GatherStats } from './gatherer';
import { assembleFileOnly, assemblePrompt, type AssembledPrompt } from './prompt';
import type { ModelFamily } from '../model/families';
import { currentFileWindow, type FileWindow } from './window';
import type { ContextPiece } from './types';

export interface CompletionPromptRequest extends Omit<ContextRequest, 'budgetTokens'> {
  family: ModelFamily;
  /** Name for `<|repo_name|>` / `<repo_name>` (default: the index root's last folder name). */
  repoName?: string;
  /** Tokens for the whole prompt (window + repository block + format tokens). */
  budgetTokens: number;
  /** Share of the budget for the current file's window (default 0.25, within [256, 8192] tokens);
   *  the suffix gets a quarter of the window. When the whole file fits, the unused window tokens
   *  go to the repository block (in 512-token steps, so the block's budget stays put). */
  windowFraction?: number;
  extraSpecialTokens?: readonly string[];
}

export interface CompletionPrompt {
  prompt: AssembledPrompt;
  /** The same prompt without repository files: served while the repository block is built. */
  fileOnly: AssembledPrompt;
  pieces: ContextPiece[];
  window: FileWindow;
  budget: { total: number; window: number; context: number };
  stats: GatherStats | undefined;
}

export async function buildCompletionPrompt(
  gatherer: ContextGatherer,
  req: CompletionPromptRequest,
): Promise<CompletionPrompt> {
  const t0 = performance.now();
  const cur = await analyzeCurrentFile(req.path, req.text, req.position);
  const analyzeMs = performance.now() - t0;
  const total = Math.max(0, Math.floor(req.budgetTokens));
  const windowBudget = Math.min(total, Math.max(256, Math.min(8192, Math.round(total * (req.windowFraction ?? 0.25)))));
  const suffixBudget = Math.floor(windowBudget / 4);
  const window = currentFileWindow(
    cur.text,
    cur.offset,
    gatherer.tokens,
    windowBudget - suffixBudget,
    suffixBudget,
    cur.scopes,
  );
  // Format tokens: a few specials, the current path header and the repository name.
  const repoName =
    req.repoName ??
    (gatherer.index.root
      .replace(/[\\/]+$/, '')
      .split(/[\\/]/)
      .pop() ||
      'repo');
  const formatOverhead = 8 + gatherer.tokens.count(req.path) + gatherer.tokens.count(repoName);
  // The repository block's budget must not move while the user types, or pieces at the edge of
  // the budget would come and go: the whole window budget stays reserved when the window is cut;
  // a file that fits entirely gives back what it does not use, in 512-token steps.
  const used = window.prefixTokens + window.suffixTokens;
  const complete =
    window.prefixStartLine === 0 &&
    window.scopeHeads.length === 0 &&
    cur.offset + window.suffix.length >= cur.text.length;
  const reserved = complete ? Math.min(windowBudget, Math.ceil((used + 1) / 512) * 512) : windowBudget;
  const context = Math.max(0, total - reserved - formatOverhead);
  const pieces = await gatherer.gatherFor(cur, { ...req, budgetTokens: context }, analyzeMs);
  const assembleInput = {
    family: req.family,
    repoName,
    pieces,
    path: req.path,
    prefix: window.prefix,
    suffix: window.suffix,
    extraSpecialTokens: req.extraSpecialTokens ?? [],
  };
  return {
    prompt: assemblePrompt(assembleInput),
    fileOnly: assembleFileOnly(assembleInput),
    pieces,
    window,
    budget: { total, window: windowBudget, context },
    stats: gatherer.lastStats,
  };
}
