// The language map: file extension → language, grammar file and comment syntax. Also the list of
// other source extensions that are indexed as plain text (for similarity search) without symbols.
import type { LanguageId } from './types';

export interface LanguageSpec {
  id: LanguageId;
  /** Grammar file name in @vscode/tree-sitter-wasm's wasm/ (copied to dist/grammars/). */
  grammar: string;
  /** Line-comment prefix, used to mark elisions and file headers in plain-text prompt formats. */
  lineComment: string;
}

export const LANGUAGES: Record<LanguageId, LanguageSpec> = {
  typescript: { id: 'typescript', grammar: 'tree-sitter-typescript.wasm', lineComment: '//' },
  tsx: { id: 'tsx', grammar: 'tree-sitter-tsx.wasm', lineComment: '//' },
  javascript: { id: 'javascript', grammar: 'tree-sitter-javascript.wasm', lineComment: '//' },
  python: { id: 'python', grammar: 'tree-sitter-python.wasm', lineComment: '#' },
  go: { id: 'go', grammar: 'tree-sitter-go.wasm', lineComment: '//' },
  rust: { id: 'rust', grammar: 'tree-sitter-rust.wasm', lineComment: '//' },
  java: { id: 'java', grammar: 'tree-sitter-java.wasm', lineComment: '//' },
  // No C grammar ships in @vscode/tree-sitter-wasm 0.3.1; the C++ grammar parses C declarations.
  c: { id: 'c', grammar: 'tree-sitter-cpp.wasm', lineComment: '//' },
  cpp: { id: 'cpp', grammar: 'tree-sitter-cpp.wasm', lineComment: '//' },
  csharp: { id: 'csharp', grammar: 'tree-sitter-c-sharp.wasm', lineComment: '//' },
};

const BY_EXTENSION: Record<string, LanguageId> = {
  '.ts': 'typescript',
  '.mts': 'typescript',
  '.cts': 'typescript',
  '.tsx': 'tsx',
  '.js': 'javascript',
  '.mjs': 'javascript',
  '.cjs': 'javascript',
  '.jsx': 'javascript',
  '.py': 'python',
  '.pyi': 'python',
  '.go': 'go',
  '.rs': 'rust',
  '.java': 'java',
  '.c': 'c',
  '.h': 'c',
  '.cc': 'cpp',
  '.cpp': 'cpp',
  '.cxx': 'cpp',
  '.c++': 'cpp',
  '.hpp': 'cpp',
  '.hh': 'cpp',
  '.hxx': 'cpp',
  '.h++': 'cpp',
  '.ipp': 'cpp',
  '.inl': 'cpp',
  '.cs': 'csharp',
};

/** Source files without a grammar here: indexed as text so similarity search can still use them. */
const PLAIN_SOURCE = new Set([
  '.rb',
  '.php',
  '.sh',
  '.bash',
  '.zsh',
  '.ps1',
  '.kt',
  '.kts',
  '.swift',
  '.scala',
  '.lua',
  '.dart',
  '.r',
  '.m',
  '.mm',
  '.vue',
  '.svelte',
  '.css',
  '.scss',
  '.less',
  '.html',
  '.sql',
  '.ex',
  '.exs',
  '.erl',
  '.hs',
  '.ml',
  '.clj',
  '.groovy',
  '.pl',
  '.jl',
  '.zig',
  '.nim',
  '.proto',
  '.graphql',
]);

/** Lower-cased extension including the dot (`.d.ts` counts as `.ts`); '' when there is none. */
export function extensionOf(path: string): string {
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  return dot > slash + 1 ? path.slice(dot).toLowerCase() : '';
}

export function languageForPath(path: string): LanguageId | undefined {
  return BY_EXTENSION[extensionOf(path)];
}

/** Whether a file is worth indexing at all: a language with a grammar or another source type. */
export function isIndexableSource(path: string): boolean {
  const ext = extensionOf(path);
  return ext in BY_EXTENSION || PLAIN_SOURCE.has(ext);
}

/** Line-comment prefix for a path (`#` for Python and shell-like files, `//` otherwise). */
export function lineCommentFor(path: string): string {
  const lang = languageForPath(path);
  if (lang) return LANGUAGES[lang].lineComment;
  const ext = extensionOf(path);
  return ['.rb', '.sh', '.bash', '.zsh', '.ps1', '.r', '.pl', '.ex', '.exs', '.jl', '.nim'].includes(ext)
    ? '#'
    : ['.sql', '.lua', '.hs'].includes(ext)
      ? '--'
      : '//';
}
