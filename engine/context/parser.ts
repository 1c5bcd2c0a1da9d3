// Grammar loading with web-tree-sitter: one runtime init, each language's wasm loaded lazily and
// cached, one Parser per language. The wasm files are found next to the bundle (dist/ and
// dist/grammars/, copied by tools/runtime-assets.mjs) or, unbundled, in node_modules.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Language, Parser, Query, type Tree } from 'web-tree-sitter';
import { LANGUAGES } from './languages';
import type { LanguageId } from './types';

let grammarDirOverride: string | undefined;
let runtimeInit: Promise<void> | undefined;
const languageCache = new Map<string, Promise<Language>>();
const parserCache = new Map<LanguageId, Parser>();
const queryCache = new Map<string, Query>();

/** Use `dir` for grammar wasm files instead of searching (for hosts that ship them elsewhere). */
export function setGrammarDir(dir: string | undefined): void {
  grammarDirOverride = dir;
}

/** `rel` under `__dirname` or under the first `node_modules` found walking up from it. */
function locate(bundled: string, inNodeModules: string): string {
  const direct = join(__dirname, bundled);
  if (existsSync(direct)) return direct;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', inNodeModules);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new Error(`cannot find ${bundled} next to ${__dirname} or in node_modules/${inNodeModules}`);
}

export function grammarPath(id: LanguageId): string {
  const file = LANGUAGES[id].grammar;
  if (grammarDirOverride) return join(grammarDirOverride, file);
  return locate(join('grammars', file), join('@vscode/tree-sitter-wasm/wasm', file));
}

function initRuntime(): Promise<void> {
  runtimeInit ??= Parser.init({
    locateFile: (name: string) => locate(name, join('web-tree-sitter', name)),
  });
  return runtimeInit;
}

/** Loads (once) the grammar of `id`. Rejects if the wasm is missing or incompatible. */
export async function loadLanguage(id: LanguageId): Promise<Language> {
  await initRuntime();
  const path = grammarPath(id);
  let lang = languageCache.get(path);
  if (!lang) {
    lang = Language.load(path);
    languageCache.set(path, lang);
    lang.catch(() => languageCache.delete(path)); // allow a retry after a transient failure
  }
  return lang;
}

/** A parser for `id` (cached), once its grammar is loaded. */
export async function getParser(id: LanguageId): Promise<Parser> {
  const language = await loadLanguage(id);
  let parser = parserCache.get(id);
  if (!parser) {
    parser = new Parser();
    parser.setLanguage(language);
    parserCache.set(id, parser);
  }
  return parser;
}

/** The parser for `id` if its grammar is already loaded (synchronous callers). */
export function loadedParser(id: LanguageId): Parser | undefined {
  return parserCache.get(id);
}

/** Compiles (once per language and source) a query. Throws on a query syntax error: that is a bug. */
export function getQuery(id: LanguageId, source: string): Query {
  const key = id + '\0' + source;
  let q = queryCache.get(key);
  if (!q) {
    const parser = parserCache.get(id);
    if (!parser?.language) throw new Error(`grammar for ${id} is not loaded`);
    q = new Query(parser.language, source);
    queryCache.set(key, q);
  }
  return q;
}

/** Parses `text`, giving up after `timeoutMs`. Returns null instead of throwing. The caller must
 *  `delete()` the tree. */
export function parseText(parser: Parser, text: string, timeoutMs = 2000): Tree | null {
  const deadline = Date.now() + timeoutMs;
  try {
    parser.reset();
    return parser.parse(text, null, { progressCallback: () => Date.now() > deadline });
  } catch {
    return null;
  }
}
