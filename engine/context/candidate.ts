// A candidate piece of context before budgeting: one slot (kind + path [+ line]) with its score,
// and the renderings it can take, largest and most useful first (whole file → full definitions →
// outline). The gatherer takes the first rendering that fits.
import type { LineRange, PieceKind } from './types';

export interface Variant {
  /** 'whole file', 'definitions', 'outline', 'snippet', … (shown in the reason). */
  label: string;
  text: string;
  range: LineRange;
  /** Lines of the file this rendering covers, to drop overlapping candidates ([] = whole file). */
  covers: LineRange[] | 'file';
}

export interface Candidate {
  /** Slot identity, stable while the user types: `kind:path` or `similar:path:line`. */
  id: string;
  kind: PieceKind;
  path: string;
  score: number;
  reason: string;
  variants: Variant[];
  /** A larger rendering (the whole file) taken instead of the chosen one if the budget has room
   *  once every candidate has had its turn. */
  upgrade?: Variant;
}

export function rangeOf(ranges: readonly LineRange[]): LineRange {
  let startLine = Infinity;
  let endLine = -1;
  for (const r of ranges) {
    startLine = Math.min(startLine, r.startLine);
    endLine = Math.max(endLine, r.endLine);
  }
  return startLine === Infinity ? { startLine: 0, endLine: 0 } : { startLine, endLine };
}
