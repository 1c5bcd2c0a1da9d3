// The PromptAssembler: context pieces + the current file's prefix/suffix → the model family's
// repository-level FIM prompt. The prompt starts with `stablePrefix` (format header + the
// repository block), which depends only on the chosen pieces, never on the current file, so the KV
// engine can keep it cached under `cacheKey` while the user types. Special-token text found in
// code is escaped, because tokenizers would turn it into the special ids.
import { createHash } from 'node:crypto';
import { lineCommentFor } from './languages';
import type { ContextPiece } from './types';

export type ModelFamily = 'qwen2.5-coder' | 'deepseek-coder' | 'starcoder2' | 'codellama';

export const MODEL_FAMILIES: readonly ModelFamily[] = ['qwen2.5-coder', 'deepseek-coder', 'starcoder2', 'codellama'];

/** Special tokens of each family whose text must not appear verbatim in user code. */
export const SPECIAL_TOKENS: Record<ModelFamily, readonly string[]> = {
  'qwen2.5-coder': [
    '<|endoftext|>',
    '<|fim_prefix|>',
    '<|fim_middle|>',
    '<|fim_suffix|>',
    '<|fim_pad|>',
    '<|repo_name|>',
    '<|file_sep|>',
    '<|im_start|>',
    '<|im_end|>',
  ],
  'deepseek-coder': [
    '<｜fim▁begin｜>',
    '<｜fim▁hole｜>',
    '<｜fim▁end｜>',
    '<｜begin▁of▁sentence｜>',
    '<｜end▁of▁sentence｜>',
    '<|EOT|>',
  ],
  starcoder2: [
    '<|endoftext|>',
    '<fim_prefix>',
    '<fim_middle>',
    '<fim_suffix>',
    '<fim_pad>',
    '<repo_name>',
    '<file_sep>',
    '<filename>',
    '<gh_stars>',
    '<issue_start>',
    '<issue_comment>',
    '<issue_closed>',
    '<jupyter_start>',
    '<jupyter_text>',
    '<jupyter_code>',
    '<jupyter_output>',
    '<empty_output>',
    '<commit_before>',
    '<commit_msg>',
    '<commit_after>',
    '<reponame>',
  ],
  codellama: ['<PRE>', '<SUF>', '<MID>', '<EOT>', '<s>', '</s>'],
};

/** Guesses the family from a model name or path (`Qwen/Qwen2.5-Coder-1.5B` → qwen2.5-coder). */
export function familyFromModelName(name: string): ModelFamily | undefined {
  const n = name.toLowerCase();
  if (/qwen.*coder|codeqwen/.test(n)) return 'qwen2.5-coder';
  if (/deepseek.*coder/.test(n)) return 'deepseek-coder';
  if (/starcoder2|starcoder/.test(n)) return 'starcoder2';
  if (/codellama|code-llama/.test(n)) return 'codellama';
  return undefined;
}

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
  /** SHA-256 (hex) of family and stablePrefix: the KV engine's prefix-cache key. */
  cacheKey: string;
}

/** Builds the prompt. The repository block ends with a newline and the current-file part starts
 *  with a special token or a comment line, so tokenizing the two parts separately gives the same
 *  ids as tokenizing the whole (no BPE merge across the boundary). */
export function assemblePrompt(input: AssembleInput): AssembledPrompt {
  const specials = [...SPECIAL_TOKENS[input.family], ...(input.extraSpecialTokens ?? [])];
  const esc = (s: string) => escapeSpecialTokens(s, specials);
  const body = (p: ContextPiece) => (p.text.endsWith('\n') ? esc(p.text) : esc(p.text) + '\n');
  const path = esc(input.path);
  const prefix = esc(input.prefix);
  const suffix = esc(input.suffix);
  const header = (p: string) => `${lineCommentFor(p)} ${esc(p)}\n`;
  let stable: string;
  let tail: string;
  switch (input.family) {
    case 'qwen2.5-coder':
      stable =
        `<|repo_name|>${esc(input.repoName)}\n` +
        input.pieces.map((p) => `<|file_sep|>${esc(p.path)}\n${body(p)}`).join('');
      tail = `<|file_sep|>${path}\n<|fim_prefix|>${prefix}<|fim_suffix|>${suffix}<|fim_middle|>`;
      break;
    case 'starcoder2':
      // StarCoder2's repository format; the FIM file starts with <fim_prefix> before its path.
      stable =
        `<repo_name>${esc(input.repoName)}` + input.pieces.map((p) => `<file_sep>${esc(p.path)}\n${body(p)}`).join('');
      tail = `<file_sep><fim_prefix>${path}\n${prefix}<fim_suffix>${suffix}<fim_middle>`;
      break;
    case 'deepseek-coder':
      // No repository tokens: files are concatenated with a path comment, inside the FIM prefix.
      stable = '<｜fim▁begin｜>' + input.pieces.map((p) => header(p.path) + body(p)).join('');
      tail = `${header(input.path)}${prefix}<｜fim▁hole｜>${suffix}<｜fim▁end｜>`;
      break;
    case 'codellama':
      stable = '<PRE> ' + input.pieces.map((p) => header(p.path) + body(p)).join('');
      tail = `${header(input.path)}${prefix} <SUF>${suffix} <MID>`;
      break;
  }
  return {
    family: input.family,
    text: stable + tail,
    stablePrefix: stable,
    cacheKey: cacheKeyOf(input.family, stable),
  };
}

export function cacheKeyOf(family: ModelFamily, stablePrefix: string): string {
  return createHash('sha256').update(family).update('\0').update(stablePrefix).digest('hex');
}
