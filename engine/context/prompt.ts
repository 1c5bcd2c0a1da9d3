// The PromptAssembler: context pieces + the current file's prefix/suffix → the model family's
// repository-level FIM prompt. The prompt starts with `stablePrefix` (format header + the
// repository block), which depends only on the chosen pieces, never on the current file, so the KV
// engine can keep it cached under `cacheKey` while the user types. Special-token text found in
// code is escaped, because tokenizers would turn it into the special ids.
import { createHash } from 'node:crypto';
import { lineCommentFor } from './languages';
import type { ContextPiece } from './types';
import { FAMILIES, type ModelFamily, type TemplateParts } from '../model/families';

const ZWSP = '\u200b';

/** Breaks every occurrence of the given special tokens by a zero-width space after the first
 *  character, so that the tokenizer reads ordinary text. */
export function escapeSpecialTokens(text: string, tokens: readonly string[]): string {
  let out = text;
  for (const t of tokens) if (out.includes(t)) out = out.split(t).join(t[0] + ZWSP + t.slice(1));
  return out;
}

export interface AssembleInput {
  family: ModelFamily;
  /** Repository name for formats that carry one (Qwen `<|repo_name|>`, StarCoder2 `<repo_name>`). */
  repoName: string;
  /** Pieces in block order (as returned by ContextGatherer.gather). */
  pieces: readonly ContextPiece[];
  /** Repository-relative path of the current file. */
  path: string;
  prefix: string;
  suffix: string;
  /** More special-token strings to escape (e.g. every added token of the loaded tokenizer). */
  extraSpecialTokens?: readonly string[];
}

export interface AssembledPrompt {
  family: ModelFamily;
  /** The whole prompt; `text.startsWith(stablePrefix)` always holds. */
  text: string;
  /** Format header + repository block: independent of the current file. */
  stablePrefix: string;
  /** stablePrefix split into the header and one segment per context file (joined, they are stablePrefix). */
  stableSegments: string[];
  /** SHA-256 (hex) of family and stablePrefix: the KV engine's prefix-cache key. */
  cacheKey: string;
}

/** Builds the prompt. The repository block ends with a newline and the current-file part starts
 *  with a special token or a comment line, so tokenizing the two parts separately gives the same
 *  ids as tokenizing the whole (no BPE merge across the boundary). */
export function assemblePrompt(input: AssembleInput): AssembledPrompt {
  const family = FAMILIES[input.family];
  const specials = [...family.specialTokens, ...(input.extraSpecialTokens ?? [])];
  const esc = (s: string) => escapeSpecialTokens(s, specials);
  const parts: TemplateParts = {
    repoName: esc(input.repoName),
    files: input.pieces.map((p) => ({
      path: esc(p.path),
      body: p.text.endsWith('\n') ? esc(p.text) : `${esc(p.text)}\n`,
    })),
    path: esc(input.path),
    prefix: esc(input.prefix),
    suffix: esc(input.suffix),
    pathComment: (path) => `${lineCommentFor(path)} ${path}\n`,
  };
  const stable = family.repositoryBlock(parts);
  return {
    family: input.family,
    text: stable + family.fimTail(parts),
    stablePrefix: stable,
    stableSegments: segmentsOf(family, parts, stable),
    cacheKey: cacheKeyOf(input.family, stable),
  };
}

/** The repository block as its header, then one piece per file: each format's block is the header followed by its files. */
function segmentsOf(family: (typeof FAMILIES)[ModelFamily], parts: TemplateParts, stable: string): string[] {
  const header = family.repositoryBlock({ ...parts, files: [] });
  const files = parts.files.map((f) => family.repositoryBlock({ ...parts, files: [f] }).slice(header.length));
  const segments = [header, ...files].filter((t) => t.length > 0);
  return segments.join('') === stable ? segments : [stable];
}

/** The prompt as a request's two parts: the block (cached under its key) and the part on top of it. */
export function requestParts(p: AssembledPrompt): {
  block: { text: string };
  prompt: { text: string };
  blockKey: string;
  segments: string[];
} {
  return {
    block: { text: p.stablePrefix },
    prompt: { text: p.text.slice(p.stablePrefix.length) },
    blockKey: p.cacheKey,
    segments: p.stableSegments,
  };
}

/** The same prompt from the current file alone (no repository files): what is served first. */
export function assembleFileOnly(input: AssembleInput): AssembledPrompt {
  return assemblePrompt({ ...input, pieces: [] });
}

export function cacheKeyOf(family: ModelFamily, stablePrefix: string): string {
  return createHash('sha256').update(family).update('\0').update(stablePrefix).digest('hex');
}
