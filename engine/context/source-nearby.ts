// Context sources 2b and 3: sibling files in the current folder (as outlines), recently edited or
// open files passed in by the caller (around their last edit), and fixed-size chunks most similar
// to the code around the cursor (Jaccard over identifier sets, as llama.vscode/Continue do).
import type { Candidate, Variant } from './candidate';
import { rangeOf } from './candidate';
import type { CurrentFile } from './current-file';
import { CHUNK_LINES, identifierSet } from './identifiers';
import { renderFileOutline } from './render';
import { dirOf, sliceLines, type RepoIndex } from './repo-index';

export interface RecentFile {
  /** Repository-relative path. */
  path: string;
  /** Current text when it differs from disk (an unsaved editor buffer). */
  text?: string;
  /** 0-based line of the last edit or of the cursor there. */
  line?: number;
}

const SIBLING_LIMIT = 12;
const RECENT_RADIUS = 30;
/** The similarity query covers this many lines above the cursor (and a quarter of it below), on
 *  a grid of QUERY_STEP lines so it changes only when the cursor moves to another block. */
const QUERY_LINES = 40;
const QUERY_STEP = 8;

export async function siblingCandidates(index: RepoIndex, cur: CurrentFile): Promise<Candidate[]> {
  const out: Candidate[] = [];
  const files = index.filesInDir(dirOf(cur.path)).filter((p) => p !== cur.path);
  for (const path of files) {
    const file = index.get(path)!;
    const o = await index.outline(path);
    let text: string;
    let covers: Variant['covers'];
    let range;
    if (o && o.symbols.length) {
      const top = o.symbols.filter((s) => !s.container && s.exported);
      if (!top.length) continue;
      text = renderFileOutline(path, file.text, o.symbols, true);
      covers = top.map((s) => s.range);
      range = rangeOf(covers);
    } else {
      text = sliceLines(file, 0, 39);
      range = { startLine: 0, endLine: Math.min(39, text.split('\n').length - 1) };
      covers = [range];
    }
    // Shared vocabulary with the current file ranks siblings; names break ties deterministically.
    const mine = new Set(cur.uses.keys());
    let shared = 0;
    for (const w of identifierSet(text)) if (mine.has(w)) shared++;
    out.push({
      id: `sibling:${path}`,
      kind: 'sibling',
      path,
      score: 0.2 + Math.log2(1 + shared) / 4,
      reason: `sibling file in ${dirOf(path) || 'the root'} (${shared} shared identifiers)`,
      variants: [{ label: 'outline', text, range, covers }],
    });
  }
  return out.sort((a, b) => b.score - a.score || (a.path < b.path ? -1 : 1)).slice(0, SIBLING_LIMIT);
}

export function recentCandidates(index: RepoIndex, cur: CurrentFile, recent: readonly RecentFile[]): Candidate[] {
  const out: Candidate[] = [];
  const seen = new Set<string>([cur.path]);
  recent.forEach((r, i) => {
    if (seen.has(r.path)) return;
    seen.add(r.path);
    const text = r.text ?? index.get(r.path)?.text;
    if (text === undefined) return;
    const file = { text };
    const lines = text.split('\n').length;
    const center = Math.min(Math.max(0, r.line ?? 0), lines - 1);
    const variants: Variant[] = [];
    const whole = { startLine: 0, endLine: lines - 1 };
    if (lines <= 2 * RECENT_RADIUS) variants.push({ label: 'whole file', text, range: whole, covers: 'file' });
    for (const radius of [RECENT_RADIUS, RECENT_RADIUS / 3]) {
      // Aligned to a grid so that small cursor moves in that file do not change the window.
      const start = Math.max(0, Math.floor((center - radius) / 10) * 10);
      const end = Math.min(lines - 1, start + 2 * radius - 1);
      const range = { startLine: start, endLine: end };
      variants.push({
        label: `lines ${start + 1}-${end + 1}`,
        text: sliceLines(file, start, end),
        range,
        covers: [range],
      });
    }
    out.push({
      id: `recent:${r.path}`,
      kind: 'recent',
      path: r.path,
      score: Math.pow(0.8, i),
      reason: `recently ${r.line !== undefined ? 'edited' : 'opened'} (#${i + 1})`,
      variants,
    });
  });
  return out;
}

/** Identifiers of the lines around the cursor. The cursor's own QUERY_STEP-line block is left
 *  out, so typing and moving inside it does not change the query (nor the chosen snippets). */
export function cursorQuery(cur: CurrentFile): Set<string> {
  const lines = cur.text.split('\n');
  const anchor = Math.floor(cur.line / QUERY_STEP) * QUERY_STEP;
  const above = lines.slice(Math.max(0, anchor - QUERY_LINES), anchor);
  const below = lines.slice(anchor + QUERY_STEP, anchor + QUERY_STEP + QUERY_LINES / 4);
  return identifierSet([...above, ...below].join('\n'));
}

export function similarCandidates(index: RepoIndex, cur: CurrentFile, limit: number): Candidate[] {
  const query = cursorQuery(cur);
  return index.similarChunks(query, cur.path, limit).map((hit) => {
    const file = index.get(hit.path)!;
    const range = { startLine: hit.startLine, endLine: hit.endLine };
    return {
      id: `similar:${hit.path}:${hit.startLine}`,
      kind: 'similar' as const,
      path: hit.path,
      score: hit.score,
      reason: `similar to the code around the cursor (Jaccard ${hit.score.toFixed(2)} over identifiers, ${CHUNK_LINES}-line chunk)`,
      variants: [
        {
          label: `lines ${hit.startLine + 1}-${hit.endLine + 1}`,
          text: sliceLines(file, hit.startLine, hit.endLine),
          range,
          covers: [range],
        },
      ],
    };
  });
}
