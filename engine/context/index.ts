// The repository-context layer's public API (pure TypeScript, no vscode import).
//   const index = new RepoIndex(root, { logger });   await index.build();
//   index.update(path) / index.update(path, unsavedText) / index.remove(path) on changes
//   const gatherer = new ContextGatherer(index, tokenCounter);
//   const { prompt, pieces } = await buildCompletionPrompt(gatherer, { family, path, text, position, budgetTokens, previous });
//   prompt.text → the model; prompt.cacheKey / prompt.stablePrefix → the KV prefix cache;
//   pieces.map(p => p.id) → `previous` of the next request for this file.
export { RepoIndex, type RepoIndexOptions, type IndexedFile, type IndexStats, type SimilarChunk } from './repo-index';
export { ContextGatherer, orderPieces, type ContextRequest, type GathererOptions, type GatherStats } from './gatherer';
export { buildCompletionPrompt, type CompletionPromptRequest, type CompletionPrompt } from './build-prompt';
export {
  assemblePrompt,
  assembleFileOnly,
  escapeSpecialTokens,
  cacheKeyOf,
  requestParts,
  type AssembleInput,
  type AssembledPrompt,
} from './prompt';
export { currentFileWindow, type FileWindow } from './window';
export { approxTokenCounter, CachingTokenCounter, type TokenCounter } from './token-counter';
export type { RecentFile } from './source-nearby';
export { outlineFile, warmLanguage } from './outline';
export { languageForPath, LANGUAGES } from './languages';
export { setGrammarDir } from './parser';
export { silentLogger, PIECE_KIND_ORDER } from './types';
export type {
  ContextLogger,
  ContextPiece,
  FileOutline,
  ImportInfo,
  LanguageId,
  LineRange,
  PieceKind,
  Position,
  SymbolInfo,
  SymbolKind,
} from './types';
