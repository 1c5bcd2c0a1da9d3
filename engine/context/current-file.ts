// What the gatherer needs to know about the file being edited: its outline (parsed from the live
// text, not the index), which identifiers it uses where, which members it reads from namespace
// imports (`ns.foo`, `pkg.Name`, `module::item`), and the scopes around the cursor.
import { languageForPath } from './languages';
import { enclosingSymbols, outlineFile } from './outline';
import { isSignificant } from './identifiers';
import type { FileOutline, LanguageId, Position, SymbolInfo } from './types';

export interface Usage {
  count: number;
  /** Smallest distance in lines between a use and the cursor line. */
  distance: number;
}

export interface CurrentFile {
  path: string;
  text: string;
  language?: LanguageId;
  outline?: FileOutline;
  offset: number;
  line: number;
  /** Identifiers used outside import statements. */
  uses: Map<string, Usage>;
  /** Enclosing declarations of the cursor, outermost first. */
  scopes: SymbolInfo[];
  /** `local.member` / `local::member` uses, keyed by `local`. */
  members(local: string): Map<string, Usage>;
}

const IDENT = /[A-Za-z_$][A-Za-z0-9_$]*/g;

export async function analyzeCurrentFile(path: string, text: string, position: Position): Promise<CurrentFile> {
  const language = languageForPath(path);
  let outline: FileOutline | undefined;
  if (language) {
    try {
      outline = await outlineFile(language, text);
    } catch {
      outline = undefined;
    }
  }
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const line = Math.min(Math.max(0, position.line), lineStarts.length - 1);
  const lineEnd = line + 1 < lineStarts.length ? lineStarts[line + 1]! - 1 : text.length;
  const offset = Math.min(lineStarts[line]! + Math.max(0, position.character), lineEnd);
  const importLines = new Set<number>();
  for (const i of outline?.imports ?? []) for (let l = i.line; l <= i.endLine; l++) importLines.add(l);

  const uses = new Map<string, Usage>();
  const lineTexts = text.split('\n');
  for (let l = 0; l < lineTexts.length; l++) {
    if (importLines.has(l)) continue;
    const lt = lineTexts[l]!;
    if (/^\s*(import|from|use|using|#include|package)\b/.test(lt)) continue;
    for (const m of lt.matchAll(IDENT)) {
      if (!isSignificant(m[0])) continue;
      note(uses, m[0], Math.abs(l - line));
    }
  }
  const memberCache = new Map<string, Map<string, Usage>>();
  const members = (local: string) => {
    let got = memberCache.get(local);
    if (got) return got;
    got = new Map();
    const re = new RegExp(`(?<![\\w$.])${local.replace(/[.$]/g, '\\$&')}\\s*(?:\\.|::)\\s*([A-Za-z_$][\\w$]*)`, 'g');
    for (let l = 0; l < lineTexts.length; l++) {
      if (importLines.has(l)) continue;
      for (const m of lineTexts[l]!.matchAll(re)) note(got, m[1]!, Math.abs(l - line));
    }
    memberCache.set(local, got);
    return got;
  };
  const scopes = outline ? enclosingSymbols(outline, offset) : [];
  const result: CurrentFile = { path, text, offset, line, uses, scopes, members };
  if (language) result.language = language;
  if (outline) result.outline = outline;
  return result;
}

function note(map: Map<string, Usage>, name: string, distance: number): void {
  const u = map.get(name);
  if (u) {
    u.count++;
    if (distance < u.distance) u.distance = distance;
  } else map.set(name, { count: 1, distance });
}
