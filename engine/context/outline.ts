// Symbol extraction: runs the language's query (queries.ts) over a parse tree and turns the
// captures into SymbolInfo (name, kind, one-line signature, ranges, container, exported), plus the
// file's imports (imports.ts). Never throws on malformed input: a failed parse gives an empty outline.
import type { Node, Parser, QueryMatch } from 'web-tree-sitter';
import { getParser, getQuery, parseText } from './parser';
import { SYMBOL_QUERIES } from './queries';
import { readImports, readPackageName } from './imports';
import type { FileOutline, LanguageId, SymbolInfo, SymbolKind } from './types';

const MAX_SIGNATURE_CHARS = 300;

/** Node types whose inside is a function body: definitions nested in them are local, not symbols. */
const FUNCTION_NODES = new Set([
  'function_declaration',
  'generator_function_declaration',
  'function_expression',
  'generator_function',
  'arrow_function',
  'method_definition',
  'function_definition',
  'function_item',
  'method_declaration',
  'constructor_declaration',
  'func_literal',
  'lambda',
  'lambda_expression',
  'local_function_statement',
  'closure_expression',
  'accessor_declaration',
]);

/** Class-like containers (their name becomes `container`; functions inside become methods). */
const CLASS_NODES = new Set([
  'class_declaration',
  'abstract_class_declaration',
  'class',
  'interface_declaration',
  'class_definition',
  'impl_item',
  'trait_item',
  'record_declaration',
  'enum_declaration',
  'struct_declaration',
  'class_specifier',
  'struct_specifier',
  'annotation_type_declaration',
  'object_type',
  'type_spec',
]);
/** Named scopes that are not classes (functions inside stay functions). */
const MODULE_NODES = new Set(['internal_module', 'mod_item', 'namespace_definition']);

const DOC_NODES = new Set(['comment', 'line_comment', 'block_comment', 'attribute_item', 'decorator']);

/** Parses `text` (loading the grammar on first use) and extracts its outline. */
export async function outlineFile(language: LanguageId, text: string): Promise<FileOutline> {
  return outlineWith(await getParser(language), language, text);
}

/** Text enough to warm a parser: its grammar's common rules run, whatever the file's size. */
const WARM_CHARS = 32 * 1024;
const warmed = new Set<LanguageId>();

/**
 * Outlines (part of) a document of a language not seen yet, in the background, for nothing but
 * the side effects: the first outline of a language loads its grammar, compiles its queries and
 * gets the parser's code compiled, 250–350 ms on the 2-core VM, all but the grammar load on the
 * main thread. Called when a document is opened, so the first completion does not pay it; the
 * text is read only for a language not warmed yet.
 */
export function warmLanguage(language: LanguageId, text: () => string): void {
  if (warmed.has(language)) return;
  warmed.add(language);
  const all = text();
  const lineEnd = all.lastIndexOf('\n', WARM_CHARS);
  const cut = all.length <= WARM_CHARS ? all : all.slice(0, lineEnd > 0 ? lineEnd + 1 : WARM_CHARS);
  outlineFile(language, cut).catch(() => warmed.delete(language));
}

/** Synchronous variant for a parser whose grammar is loaded. */
export function outlineWith(parser: Parser, language: LanguageId, text: string): FileOutline {
  const tree = parseText(parser, text);
  if (!tree) return { language, symbols: [], imports: [], hasErrors: true };
  try {
    const root = tree.rootNode;
    let matches: QueryMatch[] = [];
    try {
      matches = getQuery(language, SYMBOL_QUERIES[language]).matches(root, { matchLimit: 4096 });
    } catch {
      /* a query that fails at run time leaves the symbols empty */
    }
    const symbols = collectSymbols(language, text, matches);
    const outline: FileOutline = { language, symbols, imports: readImports(language, root), hasErrors: root.hasError };
    const pkg = readPackageName(language, root);
    if (pkg) outline.packageName = pkg;
    return outline;
  } finally {
    tree.delete();
  }
}

function collectSymbols(language: LanguageId, text: string, matches: QueryMatch[]): SymbolInfo[] {
  const out: SymbolInfo[] = [];
  const exportedNames = new Set<string>();
  // When several patterns match one node, the earliest pattern (the most specific) wins.
  const best = new Map<number, QueryMatch>();
  for (const m of matches) {
    const def = m.captures.find((c) => c.name.startsWith('def.'));
    if (!def) continue;
    const prev = best.get(def.node.id);
    if (!prev || m.patternIndex < prev.patternIndex) best.set(def.node.id, m);
  }
  for (const m of matches) {
    const d = m.captures.find((c) => c.name.startsWith('def.'));
    if (d && best.get(d.node.id) !== m) continue;
    const def = m.captures.find((c) => c.name.startsWith('def.') || c.name === 'export');
    const nameNode = m.captures.find((c) => c.name === 'name')?.node;
    if (!def || !nameNode) continue;
    const node = def.node;
    let kind = def.name === 'export' ? null : (def.name.slice(4) as SymbolKind);
    if (def.name === 'export') {
      // CommonJS: `exports.X = <value>`. A plain identifier marks a local definition as exported.
      const value = m.captures.find((c) => c.name === 'value')?.node;
      if (value?.type === 'identifier') {
        exportedNames.add(value.text);
        continue;
      }
      kind = value && /function|arrow/.test(value.type) ? 'function' : value?.type === 'class' ? 'class' : 'constant';
    }
    if (!kind || insideFunction(node)) continue;
    const sym = makeSymbol(language, text, node, nameNode, kind);
    if (sym) out.push(sym);
  }
  for (const s of out) if (!s.container && exportedNames.has(s.name)) s.exported = true;
  out.sort((a, b) => a.declIndex - b.declIndex || a.name.localeCompare(b.name));
  return out;
}

function insideFunction(node: Node): boolean {
  for (let p = node.parent; p; p = p.parent) if (FUNCTION_NODES.has(p.type)) return true;
  return false;
}

function makeSymbol(
  language: LanguageId,
  text: string,
  node: Node,
  nameNode: Node,
  kindIn: SymbolKind,
): SymbolInfo | null {
  let kind = kindIn;
  let name = nameNode.text;
  let container: string | undefined;
  // Qualified names (C++ `A::out`, Rust `impl<T> Point<T>`): the last plain segment is the name.
  if (/[:<\s]/.test(name)) {
    const parts = name
      .replace(/<[^]*$/, '')
      .split('::')
      .map((s) => s.trim())
      .filter(Boolean);
    name = parts.pop() ?? name;
    if (parts.length) container = parts[parts.length - 1];
  }
  name = name.replace(/^[&*\s]+/, '');
  if (!name) return null;
  const containerNode = findContainer(node);
  if (containerNode) {
    container = CLASS_NODES.has(containerNode.type)
      ? (containerName(containerNode) ?? container)
      : (container ?? containerName(containerNode));
    if (CLASS_NODES.has(containerNode.type) && kind === 'function') kind = 'method';
  }
  if (language === 'go' && node.type === 'method_declaration') container = goReceiverType(node) ?? container;
  if (
    language === 'java' &&
    kind === 'constant' &&
    !/\bstatic\b[^]*\bfinal\b|\bfinal\b[^]*\bstatic\b/.test(modifiersText(node))
  )
    return null;
  if (
    language === 'csharp' &&
    kind === 'constant' &&
    !/\bconst\b|\bstatic\s+readonly\b|\breadonly\s+static\b/.test(modifiersText(node))
  )
    return null;

  // The declaration head: include `export`/`export default` and Python decorators.
  let decl = node;
  if (node.parent && (node.parent.type === 'export_statement' || node.parent.type === 'decorated_definition'))
    decl = node.parent;
  let start = decl;
  for (let prev = start.previousNamedSibling; prev && DOC_NODES.has(prev.type); prev = prev.previousNamedSibling) {
    if (prev.endPosition.row < start.startPosition.row - 1) break;
    start = prev;
  }
  const declStart = decl.type === 'decorated_definition' ? node.startIndex : decl.startIndex;
  const body = bodyOf(node, kind);
  // Constants bound to functions (`export const f = (a) => …`) are functions.
  if (kind === 'constant') {
    const value = node.descendantsOfType('variable_declarator')[0]?.childForFieldName('value') ?? null;
    if (value && /^(?:await\s+)?(?:[\w$.]+\(\s*)?(?:require|import)\s*\(/.test(value.text)) return null; // an import binding
    if (value && /function|arrow_function/.test(value.type)) kind = 'function';
    else if (value?.type === 'class') kind = 'class';
  }
  const bodyIndex = body ? body.startIndex : decl.endIndex;
  let signature = collapse(text.slice(declStart, bodyIndex));
  if (language === 'go' && (node.type === 'type_spec' || node.type === 'type_alias') && !signature.startsWith('type '))
    signature = 'type ' + signature;
  if (language === 'python') signature = signature.replace(/:$/, '');
  signature = signature.replace(/\s*[{=]$/, '').replace(/\s*=>$/, ' =>');
  if (signature.length > MAX_SIGNATURE_CHARS) signature = signature.slice(0, MAX_SIGNATURE_CHARS - 1) + '…';
  const sym: SymbolInfo = {
    name,
    kind,
    signature,
    range: { startLine: start.startPosition.row, endLine: decl.endPosition.row },
    startIndex: start.startIndex,
    declIndex: declStart,
    bodyIndex,
    endIndex: decl.endIndex,
    exported: isExported(language, node, decl, name, kind),
  };
  if (container) sym.container = container;
  return sym;
}

function bodyOf(node: Node, kind: SymbolKind): Node | null {
  if (kind === 'constant' || kind === 'type') {
    // `const f = () => {…}`: the arrow function's body; other constants have none.
    const value = node.descendantsOfType('variable_declarator')[0]?.childForFieldName('value');
    if (value && /function|arrow_function/.test(value.type)) return value.childForFieldName('body');
    return null;
  }
  if (node.type === 'type_spec' || node.type === 'method_elem') return null; // Go structs/interfaces stay whole
  if (node.type === 'expression_statement') {
    // CommonJS `exports.f = function (…) {…}` / `= class {…}`.
    const right = node.namedChild(0)?.childForFieldName('right');
    return right && /function|arrow|class/.test(right.type) ? right.childForFieldName('body') : null;
  }
  return node.childForFieldName('body');
}

function findContainer(node: Node): Node | null {
  for (let p = node.parent; p; p = p.parent) if (CLASS_NODES.has(p.type) || MODULE_NODES.has(p.type)) return p;
  return null;
}

function containerName(node: Node): string | undefined {
  const n = node.type === 'impl_item' ? node.childForFieldName('type') : node.childForFieldName('name');
  return n?.text.replace(/<[^]*$/, '').trim() || undefined;
}

function goReceiverType(node: Node): string | undefined {
  const receiver = node.childForFieldName('receiver')?.text ?? '';
  const m = /([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*\)\s*$/.exec(receiver);
  return m?.[1];
}

function modifiersText(node: Node): string {
  const mods = node.namedChildren.filter((c) => c !== null && (c.type === 'modifiers' || c.type === 'modifier'));
  return mods.map((c) => c!.text).join(' ');
}

function isExported(language: LanguageId, node: Node, decl: Node, name: string, kind: SymbolKind): boolean {
  switch (language) {
    case 'typescript':
    case 'tsx':
    case 'javascript':
      if (kind === 'method') return !name.startsWith('#') && !/^\s*private\b/.test(node.text);
      return (
        decl.type === 'export_statement' ||
        node.parent?.type === 'export_statement' ||
        node.type === 'expression_statement'
      );
    case 'python':
      return !name.startsWith('_') || (name.startsWith('__') && name.endsWith('__'));
    case 'go':
      return /^[A-Z]/.test(name);
    case 'rust':
      return node.namedChildren.some((c) => c?.type === 'visibility_modifier') || node.type === 'impl_item';
    case 'java':
    case 'csharp':
      return !/\bprivate\b/.test(modifiersText(node));
    case 'c':
    case 'cpp':
      return !/^\s*static\b/.test(node.text);
  }
}

function collapse(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** Symbols whose declaration contains `offset`, outermost first (the cursor's enclosing scopes). */
export function enclosingSymbols(outline: FileOutline, offset: number): SymbolInfo[] {
  return outline.symbols
    .filter((s) => s.declIndex <= offset && offset <= s.endIndex && s.kind !== 'constant')
    .sort((a, b) => a.declIndex - b.declIndex || b.endIndex - a.endIndex);
}
