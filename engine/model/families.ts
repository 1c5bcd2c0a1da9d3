// Everything Squeeze knows about a model family, in one record per family: how to recognize it (by
// name, or by a fill-in-the-middle token only its tokenizers have), its special tokens (escaped when
// they appear in user code, and any of them ends a completion), and its repository-level FIM
// template. The prompt assembler (engine/context/prompt.ts) fills the template; the completion
// service detects the family and stops on its tokens.
import { basename } from 'node:path';

export type ModelFamily = 'qwen2.5-coder' | 'deepseek-coder' | 'starcoder2' | 'codellama';

/** Template inputs, already escaped; `pathComment(p)` is a comment line naming p, newline included. */
export interface TemplateParts {
  repoName: string;
  files: readonly { path: string; body: string }[];
  path: string;
  prefix: string;
  suffix: string;
  pathComment(path: string): string;
}

export interface FamilyRecord {
  name: ModelFamily;
  /** Matches a model's name or folder (e.g. `Qwen/Qwen2.5-Coder-1.5B`). */
  namePattern: RegExp;
  /** The fill-in-the-middle token that marks where the answer goes; its presence in a vocabulary identifies the family. */
  fimMarker: string;
  specialTokens: readonly string[];
  /**
   * The repository block: format header + the context files. It depends only on the files, never
   * on the current file, so its KV cache can be kept while the user types. It ends with a newline,
   * and `fimTail` starts with a special token or a comment line, so the two parts tokenize the same
   * apart as together.
   */
  repositoryBlock(p: TemplateParts): string;
  /** The current file's fill-in-the-middle part, after the repository block. */
  fimTail(p: TemplateParts): string;
}

const fileSep = (sep: string) => (p: TemplateParts) => p.files.map((f) => `${sep}${f.path}\n${f.body}`).join('');
const commented = (p: TemplateParts) => p.files.map((f) => p.pathComment(f.path) + f.body).join('');

export const FAMILIES: Record<ModelFamily, FamilyRecord> = {
  'qwen2.5-coder': {
    name: 'qwen2.5-coder',
    namePattern: /qwen.*coder|codeqwen/,
    fimMarker: '<|fim_middle|>',
    specialTokens: [
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
    repositoryBlock: (p) => `<|repo_name|>${p.repoName}\n${fileSep('<|file_sep|>')(p)}`,
    fimTail: (p) => `<|file_sep|>${p.path}\n<|fim_prefix|>${p.prefix}<|fim_suffix|>${p.suffix}<|fim_middle|>`,
  },
  'deepseek-coder': {
    name: 'deepseek-coder',
    namePattern: /deepseek.*coder/,
    fimMarker: '<｜fim▁hole｜>',
    specialTokens: [
      '<｜fim▁begin｜>',
      '<｜fim▁hole｜>',
      '<｜fim▁end｜>',
      '<｜begin▁of▁sentence｜>',
      '<｜end▁of▁sentence｜>',
      '<|EOT|>',
    ],
    // No repository tokens: files are concatenated with a path comment, inside the FIM prefix.
    repositoryBlock: (p) => `<｜fim▁begin｜>${commented(p)}`,
    fimTail: (p) => `${p.pathComment(p.path)}${p.prefix}<｜fim▁hole｜>${p.suffix}<｜fim▁end｜>`,
  },
  starcoder2: {
    name: 'starcoder2',
    namePattern: /starcoder2|starcoder/,
    fimMarker: '<fim_middle>',
    specialTokens: [
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
    // StarCoder2's repository format; the FIM file starts with <fim_prefix> before its path.
    repositoryBlock: (p) => `<repo_name>${p.repoName}${fileSep('<file_sep>')(p)}`,
    fimTail: (p) => `<file_sep><fim_prefix>${p.path}\n${p.prefix}<fim_suffix>${p.suffix}<fim_middle>`,
  },
  codellama: {
    name: 'codellama',
    namePattern: /codellama|code-llama/,
    fimMarker: '▁<MID>',
    specialTokens: ['<PRE>', '<SUF>', '<MID>', '<EOT>', '<s>', '</s>'],
    repositoryBlock: (p) => `<PRE> ${commented(p)}`,
    fimTail: (p) => `${p.pathComment(p.path)}${p.prefix} <SUF>${p.suffix} <MID>`,
  },
};

export const MODEL_FAMILIES = Object.keys(FAMILIES) as readonly ModelFamily[];

/** The family a model name or path names (`Qwen/Qwen2.5-Coder-1.5B` → qwen2.5-coder), if any. */
export function familyFromModelName(name: string): ModelFamily | undefined {
  const n = name.toLowerCase();
  return MODEL_FAMILIES.find((f) => FAMILIES[f].namePattern.test(n));
}

/** The model has no fill-in-the-middle format that Squeeze knows. */
export class NoFimFormatError extends Error {
  override name = 'NoFimFormatError';
  constructor(model: string) {
    super(
      `${model}: the tokenizer has none of the fill-in-the-middle tokens of ${MODEL_FAMILIES.join(', ')}; choose a code model with FIM training (e.g. Qwen2.5-Coder)`,
    );
  }
}

/** The family: by the model's file or folder name when it says, else by the FIM tokens its vocabulary has. */
export function detectFamily(modelPath: string, hasToken: (token: string) => boolean): ModelFamily {
  const byName = familyFromModelName(basename(modelPath));
  if (byName) return byName;
  const byVocabulary = MODEL_FAMILIES.find((f) => hasToken(FAMILIES[f].fimMarker));
  if (byVocabulary) return byVocabulary;
  throw new NoFimFormatError(modelPath);
}
