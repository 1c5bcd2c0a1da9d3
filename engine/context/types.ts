// Shared shapes of the repository-context layer: languages, symbols, imports, the pieces of context
// the gatherer hands to the prompt assembler, and the logger every component takes.

/** Languages with a tree-sitter grammar and symbol queries. C is parsed with the C++ grammar
 *  (@vscode/tree-sitter-wasm ships no C grammar; C++'s grammar is a superset for declarations). */
export type LanguageId =
  | 'typescript'
  | 'tsx'
  | 'javascript'
  | 'python'
  | 'go'
  | 'rust'
  | 'java'
  | 'c'
  | 'cpp'
  | 'csharp';

/** Where a component reports what it skipped and why. Pass `silentLogger` to drop everything. */
export interface ContextLogger {
  info(message: string): void;
  warn(message: string): void;
}

export const silentLogger: ContextLogger = { info() {}, warn() {} };

/** A 0-based line/character position (VS Code's convention). */
export interface Position {
  line: number;
  character: number;
}

/** A 0-based, inclusive line range. */
export interface LineRange {
  startLine: number;
  endLine: number;
}

export type SymbolKind = 'function' | 'class' | 'method' | 'interface' | 'type' | 'enum' | 'constant' | 'module';

export interface SymbolInfo {
  name: string;
  kind: SymbolKind;
  /** The declaration head without the body, on one logical line where the source allows
   *  (e.g. `export function f(a: number): string`, `class K(Base)`, `func (s *Store) Get(k string) int`). */
  signature: string;
  /** Lines of the whole declaration, including doc comments and decorators directly above it. */
  range: LineRange;
  /** Character offsets into the file text: `startIndex` includes the doc comments and decorators
   *  above the declaration, `declIndex` is where the declaration itself starts, `bodyIndex` where its
   *  body starts (equal to `endIndex` when there is no body). */
  startIndex: number;
  declIndex: number;
  bodyIndex: number;
  endIndex: number;
  /** Name of the enclosing class/interface/impl/namespace, if any. */
  container?: string;
  /** Whether the symbol is visible to other files (exported / public / capitalised in Go). */
  exported: boolean;
}

/** One import statement, normalised across languages. */
export interface ImportInfo {
  /** The module as written: `./x`, `pkg.mod`, `example.com/m/hash`, `crate::store::Store`, `util/hash.h`. */
  source: string;
  /** Names brought into scope: `{ local, imported }`; `imported` is `*` for namespace/wildcard,
   *  `default` for default imports, otherwise the exported name. */
  names: { local: string; imported: string }[];
  /** True for re-exports (`export { a } from './x'`, `export * from './x'`, Rust `pub use`). */
  reexport: boolean;
  /** 0-based first and last line of the statement. */
  line: number;
  endLine: number;
}

/** What tree-sitter extracted from one file. */
export interface FileOutline {
  language: LanguageId;
  symbols: SymbolInfo[];
  imports: ImportInfo[];
  /** Package / namespace declared by the file (Go `package x`, Java `package a.b`), if any. */
  packageName?: string;
  /** True when the parse contained syntax errors (the outline is still best effort). */
  hasErrors: boolean;
}

/** Why a piece of context was chosen; also its place in the repository block (stable kinds first). */
export type PieceKind = 'import' | 'scope' | 'sibling' | 'recent' | 'similar';

/** Order of the kinds in the repository block: the least volatile first, so that changes to the
 *  volatile tail (similar snippets follow the cursor) leave the longest possible cached prefix. */
export const PIECE_KIND_ORDER: readonly PieceKind[] = ['import', 'scope', 'sibling', 'recent', 'similar'];

export interface ContextPiece {
  /** Stable identity: kind + path + what was taken (symbol names or line range). */
  id: string;
  kind: PieceKind;
  /** Repository-relative path with forward slashes. */
  path: string;
  /** The text that goes into the prompt (already rendered: whole file, definitions, or outline). */
  text: string;
  /** Human-readable explanation, e.g. "definition of parseConfig imported from ./config (used 3x)". */
  reason: string;
  score: number;
  /** Tokens of `text` by the request's TokenCounter. */
  tokens: number;
  /** Lines of the source file covered by the piece (0-based, inclusive); the first and last line
   *  of all its parts when it is made of several definitions. */
  range: LineRange;
}
