// From an editor state to a CompletionRequest: the repository context (ContextGatherer over the
// workspace's RepoIndex), the family's FIM prompt split into the cacheable repository block and the
// current file's tail, and what surrounds the cursor for the stop rules. No vscode import: the
// provider passes plain text and positions, and the typing test drives it directly.
import {
  buildCompletionPrompt,
  ContextGatherer,
  type RecentFile,
  type RepoIndex,
  requestParts,
  type TokenCounter,
} from '../context';
import type { CompletionRequest } from '../completion/service-types';
import type { ModelFamily } from '../model/families';
import type { CursorContext } from '../completion/stop-rules';

export interface EditorSnapshot {
  /** Repository-relative path, forward slashes. */
  path: string;
  text: string;
  line: number;
  character: number;
}

export interface BuiltPrompt {
  request: CompletionRequest;
  pieces: number;
  contextTokens: number;
  buildMs: number;
}

const RECENT_LIMIT = 8;
const NEXT_LINES = 8;

/** What the stop rules need: the cursor's line split at the cursor, the nearest non-blank line
 *  above, and the lines below. */
export function cursorContextOf(text: string, line: number, character: number): CursorContext {
  const lines = text.split('\n');
  const cur = lines[line] ?? '';
  let previousLine = '';
  for (let i = line - 1; i >= 0; i--)
    if (lines[i]!.trim()) {
      previousLine = lines[i]!;
      break;
    }
  return {
    linePrefix: cur.slice(0, character),
    lineSuffix: cur.slice(character),
    previousLine,
    nextLines: lines.slice(line + 1, line + 1 + NEXT_LINES),
  };
}

export class PromptBuilder {
  readonly gatherer: ContextGatherer;
  /** Piece ids of the last prompt per file: keeps the repository block stable while typing. */
  private readonly previous = new Map<string, string[]>();
  /** Recently edited or visited files, most recent first. */
  private recent: RecentFile[] = [];

  constructor(
    readonly index: RepoIndex,
    tokens: TokenCounter,
    readonly family: ModelFamily,
    readonly specialTokens: readonly string[] = [],
  ) {
    this.gatherer = new ContextGatherer(index, tokens);
  }

  /** Records an edit or a visit (`text` when the buffer differs from disk). */
  touch(file: RecentFile): void {
    this.recent = [file, ...this.recent.filter((r) => r.path !== file.path)].slice(0, RECENT_LIMIT);
  }

  /** Sets (or clears) the unsaved text of a recent file, keeping the order. */
  setText(path: string, text: string | undefined): void {
    this.recent = this.recent.map((r) => (r.path === path ? { ...r, text } : r));
  }

  forget(path: string): void {
    this.recent = this.recent.filter((r) => r.path !== path);
    this.previous.delete(path);
  }

  get recentFiles(): readonly RecentFile[] {
    return this.recent;
  }

  async build(doc: EditorSnapshot, budgetTokens: number): Promise<BuiltPrompt> {
    const t0 = performance.now();
    const text = doc.text.includes('\r') ? doc.text.replace(/\r\n?/g, '\n') : doc.text;
    const { prompt, fileOnly, pieces, budget } = await buildCompletionPrompt(this.gatherer, {
      family: this.family,
      path: doc.path,
      text,
      position: { line: doc.line, character: doc.character },
      budgetTokens,
      recentFiles: this.recent.filter((r) => r.path !== doc.path),
      previous: this.previous.get(doc.path),
      extraSpecialTokens: this.specialTokens,
    });
    this.previous.set(
      doc.path,
      pieces.map((p) => p.id),
    );

    return {
      request: {
        ...requestParts(prompt),
        fileOnly: requestParts(fileOnly),
        cursor: cursorContextOf(text, doc.line, doc.character),
      },
      pieces: pieces.length,
      contextTokens: budget.context,
      buildMs: performance.now() - t0,
    };
  }
}
