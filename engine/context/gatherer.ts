// The ContextGatherer: collects candidates from every source, fits them into a token budget and
// returns the chosen pieces in repository-block order.
//
// Budgeting: each kind first gets a share of the budget (imports half), then what is left goes to
// the remaining candidates. A candidate takes its first rendering that fits (whole file →
// definitions → outline); no piece may take more than `maxPieceFraction` of the budget.
//
// Stability: the block must not change while the user types in the current file. So the similarity
// query skips the line being typed and moves on an 8-line grid; candidates chosen last time
// (`request.previous`) get a score bonus, so near-ties do not flip; and the order is by kind
// (least volatile first), then path and line, never by score. With `previous`, pieces kept from the
// last request stay in their old order and new ones are appended, so the cached prefix shrinks
// only at the first piece that actually changed.
import type { Candidate, Variant } from './candidate';
import { analyzeCurrentFile, type CurrentFile } from './current-file';
import type { RepoIndex } from './repo-index';
import { importCandidates } from './source-imports';
import { recentCandidates, siblingCandidates, similarCandidates, type RecentFile } from './source-nearby';
import { CachingTokenCounter, type TokenCounter } from './token-counter';
import { PIECE_KIND_ORDER, type ContextPiece, type LineRange, type PieceKind, type Position } from './types';

export interface ContextRequest {
  /** Repository-relative path of the file being edited (forward slashes). */
  path: string;
  /** Its current text (unsaved edits included). */
  text: string;
  /** Cursor, 0-based. */
  position: Position;
  /** Tokens available for the repository block. */
  budgetTokens: number;
  /** Recently edited / open files, most recent first. */
  recentFiles?: readonly RecentFile[];
  /** Piece ids of the previous request for this file, in block order (for stability). */
  previous?: readonly string[];
}

export interface GathererOptions {
  /** Fraction of the budget each kind may fill before the leftover pass. */
  shares?: Partial<Record<PieceKind, number>>;
  /** Largest fraction of the budget one piece may take (default 0.35). */
  maxPieceFraction?: number;
  /** Similar-chunk candidates considered (default: budget / 300, within [32, 128]). */
  similarLimit?: number;
  /** Score multiplier for candidates chosen by the previous request (default 1.5). */
  stickiness?: number;
}

export interface GatherStats {
  candidates: number;
  usedTokens: number;
  analyzeMs: number;
  candidatesMs: number;
  selectMs: number;
}

const DEFAULT_SHARES: Record<PieceKind, number> = { import: 0.5, scope: 0.1, sibling: 0.1, recent: 0.1, similar: 0.2 };
const LEFTOVER_ORDER: PieceKind[] = ['import', 'scope', 'similar', 'recent', 'sibling'];

export class ContextGatherer {
  readonly tokens: CachingTokenCounter;
  private readonly shares: Record<PieceKind, number>;
  lastStats: GatherStats | undefined;

  constructor(
    readonly index: RepoIndex,
    tokens: TokenCounter,
    private readonly options: GathererOptions = {},
  ) {
    this.tokens = tokens instanceof CachingTokenCounter ? tokens : new CachingTokenCounter(tokens);
    this.shares = { ...DEFAULT_SHARES, ...options.shares };
  }

  /** Tokens a piece costs beyond its text (the file header of the prompt format). */
  overhead(path: string): number {
    return this.tokens.count(path) + 3;
  }

  async gather(request: ContextRequest): Promise<ContextPiece[]> {
    const t0 = performance.now();
    const cur = await analyzeCurrentFile(request.path, request.text, request.position);
    return this.gatherFor(cur, request, performance.now() - t0);
  }

  /** `gather` for a current file already analysed (buildCompletionPrompt shares it with the window). */
  async gatherFor(cur: CurrentFile, request: ContextRequest, analyzeMs = 0): Promise<ContextPiece[]> {
    const t1 = performance.now();
    const imports = await importCandidates(this.index, cur);
    const imported = new Set(imports.map((c) => c.path));
    const candidates: Candidate[] = [
      ...imports,
      ...(await siblingCandidates(this.index, cur)).filter((c) => !imported.has(c.path)),
      ...recentCandidates(this.index, cur, request.recentFiles ?? []),
      // More similar chunks are worth considering when the budget can hold them (~300 tokens each).
      ...similarCandidates(
        this.index,
        cur,
        this.options.similarLimit ?? Math.min(128, Math.max(32, Math.floor(request.budgetTokens / 300))),
      ),
    ];
    const t2 = performance.now();
    const pieces = this.select(candidates, request);
    const t3 = performance.now();
    this.lastStats = {
      candidates: candidates.length,
      usedTokens: pieces.reduce((n, p) => n + p.tokens + this.overhead(p.path), 0),
      analyzeMs,
      candidatesMs: t2 - t1,
      selectMs: t3 - t2,
    };
    return pieces;
  }

  private select(candidates: Candidate[], request: ContextRequest): ContextPiece[] {
    const budget = Math.max(0, Math.floor(request.budgetTokens));
    const previous = new Map((request.previous ?? []).map((id, i) => [id, i]));
    const sticky = this.options.stickiness ?? 1.5;
    const pieceCap = Math.max(64, Math.floor(budget * (this.options.maxPieceFraction ?? 0.35)));
    // Imports are the most useful pieces: one may take the whole import share.
    const capOf = (kind: PieceKind) =>
      kind === 'import' ? Math.max(pieceCap, Math.floor(budget * this.shares.import)) : pieceCap;
    const byKind = new Map<PieceKind, Candidate[]>();
    for (const c of candidates) {
      const score = previous.has(c.id) ? c.score * sticky : c.score;
      const list = byKind.get(c.kind) ?? [];
      list.push({ ...c, score });
      byKind.set(c.kind, list);
    }
    for (const list of byKind.values())
      list.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

    const chosen: ContextPiece[] = [];
    const chosenCandidates: Candidate[] = [];
    const taken = new Set<string>();
    const coverage = new Map<string, LineRange[] | 'file'>();
    let remaining = budget;
    const fill = (list: Candidate[], allowance: number) => {
      let used = 0;
      for (const c of list) {
        if (taken.has(c.id)) continue;
        const room = Math.min(allowance - used, remaining);
        if (room <= 0) break;
        const cap = capOf(c.kind);
        for (const v of c.variants) {
          if (overlaps(coverage.get(c.path), v.covers)) continue;
          if (v.text.length / 12 > Math.min(room, cap)) continue; // cannot fit: skip counting it
          const tokens = this.tokens.count(v.text);
          const cost = tokens + this.overhead(c.path);
          if (cost > room || tokens > cap) continue;
          taken.add(c.id);
          used += cost;
          remaining -= cost;
          cover(coverage, c.path, v.covers);
          chosen.push(toPiece(c, v, tokens));
          chosenCandidates.push(c);
          break;
        }
      }
    };
    for (const kind of PIECE_KIND_ORDER) fill(byKind.get(kind) ?? [], Math.floor(budget * (this.shares[kind] ?? 0)));
    for (const kind of LEFTOVER_ORDER) fill(byKind.get(kind) ?? [], remaining);
    // Upgrades (definitions → whole file) with what is left, best candidates first.
    const order = chosenCandidates
      .map((_, i) => i)
      .filter((i) => chosenCandidates[i]!.upgrade)
      .sort((a, b) => chosenCandidates[b]!.score - chosenCandidates[a]!.score);
    for (const i of order) {
      const c = chosenCandidates[i]!;
      const up = c.upgrade!;
      if (chosen.some((p, j) => j !== i && p.path === c.path)) continue; // would duplicate another piece
      if (up.text.length / 12 > remaining + chosen[i]!.tokens) continue;
      const tokens = this.tokens.count(up.text);
      if (tokens - chosen[i]!.tokens > remaining || tokens > capOf(c.kind)) continue;
      remaining -= tokens - chosen[i]!.tokens;
      chosen[i] = toPiece(c, up, tokens);
    }
    return orderPieces(chosen, previous);
  }
}

function toPiece(c: Candidate, v: Variant, tokens: number): ContextPiece {
  return {
    id: c.id,
    kind: c.kind,
    path: c.path,
    text: v.text,
    reason: `${c.reason} [${v.label}]`,
    score: Math.round(c.score * 1000) / 1000,
    tokens,
    range: v.range,
  };
}

/** Block order: pieces kept from `previous` in their old order, then new ones by kind (stable
 *  kinds first), path and line. */
export function orderPieces(pieces: ContextPiece[], previous: ReadonlyMap<string, number> = new Map()): ContextPiece[] {
  const kindRank = (k: PieceKind) => PIECE_KIND_ORDER.indexOf(k);
  return [...pieces].sort((a, b) => {
    const pa = previous.get(a.id);
    const pb = previous.get(b.id);
    if (pa !== undefined || pb !== undefined) {
      if (pa === undefined) return 1;
      if (pb === undefined) return -1;
      return pa - pb;
    }
    return (
      kindRank(a.kind) - kindRank(b.kind) ||
      (a.path < b.path ? -1 : a.path > b.path ? 1 : 0) ||
      a.range.startLine - b.range.startLine
    );
  });
}

function overlaps(have: LineRange[] | 'file' | undefined, covers: Variant['covers']): boolean {
  if (!have) return false;
  if (have === 'file' || covers === 'file') return true;
  let total = 0;
  let covered = 0;
  for (const r of covers) {
    total += r.endLine - r.startLine + 1;
    for (const h of have)
      covered += Math.max(0, Math.min(r.endLine, h.endLine) - Math.max(r.startLine, h.startLine) + 1);
  }
  return covered * 2 > total;
}

function cover(coverage: Map<string, LineRange[] | 'file'>, path: string, covers: Variant['covers']): void {
  const have = coverage.get(path);
  if (covers === 'file' || have === 'file') {
    coverage.set(path, 'file');
    return;
  }
  coverage.set(path, [...(have ?? []), ...covers]);
}
