// Import statements per language, normalised to ImportInfo: the module as written and the names
// it binds (`*` for namespaces and wildcards, `default` for default imports).
import type { Node } from 'web-tree-sitter';
import { getQuery } from './parser';
import type { ImportInfo, LanguageId } from './types';

const IMPORT_QUERIES: Record<LanguageId, string> = {
  typescript: '',
  tsx: '',
  javascript: '', // statements are read from the top level; calls below
  python: '(import_statement) @import (import_from_statement) @import',
  go: '(import_spec) @import',
  rust: '(use_declaration) @import (mod_item name: (identifier) @name !body) @mod',
  java: '(import_declaration) @import',
  csharp: '(using_directive) @import',
  c: '(preproc_include path: (_) @path) @import',
  cpp: '(preproc_include path: (_) @path) @import',
};

const JS_CALLS = `
(call_expression function: (identifier) @fn arguments: (arguments . (string (string_fragment) @source)) (#eq? @fn "require")) @call
(call_expression function: (import) arguments: (arguments . (string (string_fragment) @source))) @call
`;

export function readImports(language: LanguageId, root: Node): ImportInfo[] {
  try {
    switch (language) {
      case 'typescript':
      case 'tsx':
      case 'javascript':
        return jsImports(language, root);
      default:
        return otherImports(language, root);
    }
  } catch {
    return [];
  }
}

export function readPackageName(language: LanguageId, root: Node): string | undefined {
  for (const child of root.namedChildren) {
    if (!child) continue;
    if (language === 'go' && child.type === 'package_clause') return child.namedChild(0)?.text;
    if (language === 'java' && child.type === 'package_declaration') return child.namedChild(0)?.text;
  }
  return undefined;
}

function stringContent(node: Node | null): string | undefined {
  if (!node) return undefined;
  const frag = node.namedChildren.find(
    (c) =>
      c?.type === 'string_fragment' || c?.type === 'string_content' || c?.type === 'interpreted_string_literal_content',
  );
  if (frag) return frag.text;
  return node.text.replace(/^["'`<]|["'`>]$/g, '');
}

function jsImports(language: LanguageId, root: Node): ImportInfo[] {
  const out: ImportInfo[] = [];
  for (const stmt of root.namedChildren) {
    if (!stmt) continue;
    if (stmt.type === 'import_statement') {
      const source = stringContent(stmt.childForFieldName('source'));
      if (source === undefined) continue;
      const names: ImportInfo['names'] = [];
      const clause = stmt.namedChildren.find((c) => c?.type === 'import_clause');
      for (const part of clause?.namedChildren ?? []) {
        if (!part) continue;
        if (part.type === 'identifier') names.push({ local: part.text, imported: 'default' });
        else if (part.type === 'namespace_import')
          names.push({ local: part.namedChild(0)?.text ?? '*', imported: '*' });
        else if (part.type === 'named_imports') {
          for (const spec of part.namedChildren) {
            const name = spec?.childForFieldName('name')?.text;
            if (name) names.push({ local: spec!.childForFieldName('alias')?.text ?? name, imported: name });
          }
        }
      }
      out.push({ source, names, reexport: false, line: stmt.startPosition.row, endLine: stmt.endPosition.row });
    } else if (stmt.type === 'export_statement' && stmt.childForFieldName('source')) {
      const source = stringContent(stmt.childForFieldName('source'))!;
      const names: ImportInfo['names'] = [];
      const clause = stmt.namedChildren.find((c) => c?.type === 'export_clause');
      const nsExport = stmt.namedChildren.find((c) => c?.type === 'namespace_export');
      if (clause) {
        for (const spec of clause.namedChildren) {
          const name = spec?.childForFieldName('name')?.text;
          if (name) names.push({ local: spec!.childForFieldName('alias')?.text ?? name, imported: name });
        }
      } else if (nsExport) names.push({ local: nsExport.namedChild(0)?.text ?? '*', imported: '*' });
      else names.push({ local: '*', imported: '*' });
      out.push({ source, names, reexport: true, line: stmt.startPosition.row, endLine: stmt.endPosition.row });
    }
  }
  // require('…') and import('…') anywhere, bound by `const x = …` or `const { a, b: c } = …`.
  for (const m of getQuery(language, JS_CALLS).matches(root, { matchLimit: 4096 })) {
    const call = m.captures.find((c) => c.name === 'call')?.node;
    const source = m.captures.find((c) => c.name === 'source')?.node.text;
    if (!call || source === undefined) continue;
    let holder: Node | null = call.parent;
    // Climb through wrappers: __importStar(require(…)), await import(…), (require(…)).
    for (let i = 0; i < 4 && holder && holder.type !== 'variable_declarator'; i++) {
      if (!['arguments', 'call_expression', 'await_expression', 'parenthesized_expression'].includes(holder.type))
        break;
      holder = holder.parent;
    }
    const names: ImportInfo['names'] = [];
    // Compiled TypeScript barrels: `__exportStar(require("./x"), exports)` re-exports everything.
    const wrapper = call.parent?.type === 'arguments' ? call.parent.parent : null;
    if (
      wrapper?.type === 'call_expression' &&
      /(^|\.)__export(Star)?$/.test(wrapper.childForFieldName('function')?.text ?? '')
    ) {
      out.push({
        source,
        names: [{ local: '*', imported: '*' }],
        reexport: true,
        line: statementOf(call).startPosition.row,
        endLine: statementOf(call).endPosition.row,
      });
      continue;
    }
    const binding = holder?.type === 'variable_declarator' ? holder.childForFieldName('name') : null;
    if (binding?.type === 'identifier') names.push({ local: binding.text, imported: '*' });
    else if (binding?.type === 'object_pattern') {
      for (const p of binding.namedChildren) {
        if (p?.type === 'shorthand_property_identifier_pattern') names.push({ local: p.text, imported: p.text });
        else if (p?.type === 'pair_pattern') {
          const key = p.childForFieldName('key')?.text;
          const value = p.childForFieldName('value');
          if (key && value?.type === 'identifier') names.push({ local: value.text, imported: key });
        }
      }
    } else if (call.parent?.type === 'member_expression') {
      const prop = call.parent.childForFieldName('property')?.text;
      const decl = call.parent.parent;
      if (prop && decl?.type === 'variable_declarator')
        names.push({ local: decl.childForFieldName('name')?.text ?? prop, imported: prop });
    }
    out.push({
      source,
      names,
      reexport: false,
      line: statementOf(call).startPosition.row,
      endLine: statementOf(call).endPosition.row,
    });
  }
  return out;
}

/** The statement or declaration around a call (for its last line). */
function statementOf(node: Node): Node {
  let n = node;
  for (let i = 0; i < 8 && n.parent && !/(statement|declaration)$/.test(n.type); i++) n = n.parent;
  return n;
}

function otherImports(language: LanguageId, root: Node): ImportInfo[] {
  const out: ImportInfo[] = [];
  for (const m of getQuery(language, IMPORT_QUERIES[language]).matches(root, { matchLimit: 4096 })) {
    const node = m.captures.find((c) => c.name === 'import' || c.name === 'mod')?.node;
    if (!node) continue;
    const line = node.startPosition.row;
    const before = out.length;
    switch (language) {
      case 'python':
        out.push(...pythonImport(node));
        break;
      case 'go': {
        const source = stringContent(node.childForFieldName('path'));
        if (source === undefined) break;
        const alias = node.childForFieldName('name')?.text;
        out.push({
          source,
          names: [{ local: alias ?? source.split('/').pop()!, imported: '*' }],
          reexport: false,
          line,
          endLine: line,
        });
        break;
      }
      case 'rust':
        if (m.captures.some((c) => c.name === 'mod')) {
          const name = m.captures.find((c) => c.name === 'name')!.node.text;
          out.push({
            source: 'self::' + name,
            names: [{ local: name, imported: '*' }],
            reexport: false,
            line,
            endLine: line,
          });
        } else {
          const reexport = node.namedChildren.some((c) => c?.type === 'visibility_modifier');
          const arg = node.childForFieldName('argument');
          if (arg)
            for (const [path, local] of rustUsePaths(arg, [])) {
              const last = path[path.length - 1]!;
              out.push({ source: path.join('::'), names: [{ local, imported: last }], reexport, line, endLine: line });
            }
        }
        break;
      case 'java': {
        const text = node.text
          .replace(/^import\s+(static\s+)?/, '')
          .replace(/;\s*$/, '')
          .replace(/\s+/g, '');
        const last = text.split('.').pop()!;
        out.push({ source: text, names: [{ local: last, imported: last }], reexport: false, line, endLine: line });
        break;
      }
      case 'csharp': {
        const text = node.text
          .replace(/^(global\s+)?using\s+(static\s+)?/, '')
          .replace(/;\s*$/, '')
          .trim();
        const [alias, target] = text.includes('=') ? text.split('=').map((s) => s.trim()) : [undefined, text];
        out.push({
          source: target!,
          names: [{ local: alias ?? '*', imported: '*' }],
          reexport: false,
          line,
          endLine: line,
        });
        break;
      }
      case 'c':
      case 'cpp': {
        const path = m.captures.find((c) => c.name === 'path')?.node;
        if (!path) break;
        const source = path.type === 'system_lib_string' ? path.text : (stringContent(path) ?? path.text);
        out.push({ source, names: [], reexport: false, line, endLine: line });
        break;
      }
      default:
        break;
    }
    for (let i = before; i < out.length; i++) out[i]!.endLine = node.endPosition.row;
  }
  return out;
}

function pythonImport(node: Node): ImportInfo[] {
  const line = node.startPosition.row;
  if (node.type === 'import_statement') {
    // `import a.b.c` binds `a.b.c` for attribute access; `import a.b as x` binds x.
    return node.namedChildren
      .filter((c) => c !== null)
      .map((c) => {
        if (c!.type === 'aliased_import') {
          return {
            source: c!.childForFieldName('name')!.text,
            names: [{ local: c!.childForFieldName('alias')!.text, imported: '*' }],
            reexport: false,
            line,
            endLine: line,
          };
        }
        return { source: c!.text, names: [{ local: c!.text, imported: '*' }], reexport: false, line, endLine: line };
      });
  }
  const moduleNode = node.childForFieldName('module_name');
  if (!moduleNode) return [];
  const names: ImportInfo['names'] = [];
  for (const c of node.namedChildren) {
    if (!c || c.id === moduleNode.id) continue;
    if (c.type === 'wildcard_import') names.push({ local: '*', imported: '*' });
    else if (c.type === 'aliased_import')
      names.push({ local: c.childForFieldName('alias')!.text, imported: c.childForFieldName('name')!.text });
    else if (c.type === 'dotted_name' || c.type === 'identifier') names.push({ local: c.text, imported: c.text });
  }
  return [{ source: moduleNode.text.replace(/\s+/g, ''), names, reexport: false, line, endLine: line }];
}

/** Flattens a Rust `use` tree into (path segments, local name) pairs. */
function rustUsePaths(node: Node, prefix: string[]): [string[], string][] {
  switch (node.type) {
    case 'identifier':
    case 'crate':
    case 'self':
    case 'super':
    case 'metavariable':
      return node.text === 'self' && prefix.length
        ? [[prefix, prefix[prefix.length - 1]!]]
        : [[[...prefix, node.text], node.text]];
    case 'scoped_identifier': {
      const path = node.childForFieldName('path');
      const name = node.childForFieldName('name')?.text ?? '';
      const segs = [...prefix, ...(path ? path.text.split('::').map((s) => s.trim()) : []), name];
      return [[segs, name]];
    }
    case 'use_as_clause': {
      const inner = rustUsePaths(node.childForFieldName('path')!, prefix);
      const alias = node.childForFieldName('alias')?.text;
      return inner.map(([p, l]) => [p, alias ?? l]);
    }
    case 'use_wildcard': {
      const path = node.namedChild(0);
      return [[[...prefix, ...(path ? path.text.split('::').map((s) => s.trim()) : []), '*'], '*']];
    }
    case 'scoped_use_list': {
      const path = node.childForFieldName('path');
      const list = node.childForFieldName('list');
      const next = [...prefix, ...(path ? path.text.split('::').map((s) => s.trim()) : [])];
      return list ? rustUsePaths(list, next) : [];
    }
    case 'use_list':
      return node.namedChildren.filter((c) => c !== null).flatMap((c) => rustUsePaths(c!, prefix));
    default:
      return [];
  }
}
