// Recent completions by where they were asked: the file, the text before the cursor and the text
// after it (as hashes, so a big file costs a few bytes per entry). It answers without the engine:
//  - the same place again (Alt+\ after Escape, undo back to an earlier state): the same ghost;
//  - typing through a ghost: the text before the cursor grew by characters the ghost starts with,
//    and the rest of the ghost is served, so typing what it shows never asks again.
// Least recently used entries go first.
import { createHash } from 'node:crypto';
import type { EditorSnapshot } from './prompt-builder';

export interface CachedGhost {
  text: string;
  alternatives: string[];
  /** Whether the completion had the repository block (false: the current file alone). */
  fromRepo?: boolean;
}

interface Entry extends CachedGhost {
  path: string;
  beforeLength: number;
  beforeHash: string;
  afterHash: string;
}

export const DEFAULT_CACHE_ENTRIES = 64;

const hash = (s: string) => createHash('sha1').update(s).digest('base64');

/** The document split at the cursor. */
export function splitAtCursor(doc: EditorSnapshot): { before: string; after: string } {
  let offset = 0;
  for (let line = 0; line < doc.line; line++) {
    const nl = doc.text.indexOf('\n', offset);
    if (nl === -1) break;
    offset = nl + 1;
  }
  offset = Math.min(doc.text.length, offset + doc.character);
  return { before: doc.text.slice(0, offset), after: doc.text.slice(offset) };
}

export class CompletionCache {
  private entries: Entry[] = [];

  constructor(readonly capacity = DEFAULT_CACHE_ENTRIES) {}

  get size(): number {
    return this.entries.length;
  }

  store(doc: EditorSnapshot, ghost: CachedGhost): void {
    if (!ghost.text) return;
    const { before, after } = splitAtCursor(doc);
    const entry: Entry = {
      ...ghost,
      path: doc.path,
      beforeLength: before.length,
      beforeHash: hash(before),
      afterHash: hash(after),
    };
    this.entries = [
      entry,
      ...this.entries.filter(
        (e) => !(e.path === entry.path && e.beforeHash === entry.beforeHash && e.afterHash === entry.afterHash),
      ),
    ].slice(0, this.capacity);
  }

  /** The ghost to show at `doc`'s cursor, if an earlier completion already holds it. */
  lookup(doc: EditorSnapshot): CachedGhost | undefined {
    const { before, after } = splitAtCursor(doc);
    const afterHash = hash(after);
    const beforeHash = hash(before);
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.path !== doc.path || e.afterHash !== afterHash) continue;
      let ghost: CachedGhost | undefined;
      if (e.beforeLength === before.length && e.beforeHash === beforeHash) ghost = e;
      else if (before.length > e.beforeLength && before.length - e.beforeLength < e.text.length) {
        const typed = before.slice(e.beforeLength);
        if (e.text.startsWith(typed) && hash(before.slice(0, e.beforeLength)) === e.beforeHash)
          // Alternatives that start with the typed text too stay on offer.
          ghost = {
            fromRepo: e.fromRepo,
            text: e.text.slice(typed.length),
            alternatives: e.alternatives
              .filter((a) => a.length > typed.length && a.startsWith(typed))
              .map((a) => a.slice(typed.length)),
          };
      }
      if (ghost) {
        this.entries.splice(i, 1);
        this.entries.unshift(e);
        return { text: ghost.text, alternatives: [...ghost.alternatives], fromRepo: ghost.fromRepo };
      }
    }
    return undefined;
  }

  clear(): void {
    this.entries = [];
  }
}
