// Source files of real multi-file packages (code we did not write, e.g. under node_modules), and the
// repository prompt format the case builders lay them out in.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

export interface SourceFile {
  /** path relative to the package's source root, with forward slashes */
  path: string;
  text: string;
}

export interface SourcePackage {
  /** name@version from the nearest package.json, or the folder name */
  name: string;
  root: string;
  files: SourceFile[];
}

const SOURCE_EXT = /\.(?:ts|tsx|mts|cts|js|mjs|cjs)$/;
const SKIP_FILE = /(?:\.d\.[mc]?ts|\.min\.js|\.map)$/;
const SKIP_DIR = new Set(['node_modules', '.git', '__snapshots__']);
const MAX_FILE_BYTES = 256 * 1024;
const MAX_LINE = 1000;

/**
 * Source packages tried by default, relative to the working directory: TypeScript sources and
 * CommonJS builds of multi-file packages that this repository's devDependencies pull in. Missing
 * ones are skipped; pass --packages to use others.
 */
export const DEFAULT_PACKAGE_ROOTS: readonly string[] = [
  'node_modules/ajv/lib',
  'node_modules/@azure/msal-common/src',
  'node_modules/@azure/msal-node/src',
  'node_modules/cheerio/src',
  'node_modules/markdown-it/lib',
  'node_modules/undici/lib',
  'node_modules/js-yaml/lib',
  'node_modules/@typespec/ts-http-runtime/dist/commonjs',
  'node_modules/@azure/identity/dist/commonjs',
];

function packageName(root: string): string {
  let dir = root;
  for (let i = 0; i < 6; i++) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        const j = JSON.parse(readFileSync(pj, 'utf8')) as { name?: string; version?: string };
        if (j.name) return j.version ? `${j.name}@${j.version}` : j.name;
      } catch {
        /* fall through to the folder name */
      }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return root.split(sep).filter(Boolean).pop() ?? root;
}

/** Reads the source files under `root` (sorted by path; declaration, minified and map files skipped). */
export function loadSourcePackage(root: string): SourcePackage {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new Error(`source package ${root}: not a folder`);
  const files: SourceFile[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        if (!SKIP_DIR.has(name)) walk(p);
        continue;
      }
      if (!SOURCE_EXT.test(name) || SKIP_FILE.test(name) || st.size > MAX_FILE_BYTES || st.size === 0) continue;
      const text = readFileSync(p, 'utf8').replace(/\r\n/g, '\n');
      if (text.split('\n').some((l) => l.length > MAX_LINE)) continue; // bundled or minified
      files.push({ path: relative(root, p).split(sep).join('/'), text });
    }
  };
  walk(root);
  return { name: packageName(root), root, files };
}

/** How files are laid out in a prompt. */
export interface RepoFormat {
  name: 'qwen-repo' | 'comments';
  repoHeader(repo: string): string;
  fileHeader(path: string): string;
}

/** Qwen2.5-Coder repository-level format: <|repo_name|>name\n<|file_sep|>path\ncontent\n… */
export const QWEN_REPO_FORMAT: RepoFormat = {
  name: 'qwen-repo',
  repoHeader: (repo) => `<|repo_name|>${repo}\n`,
  fileHeader: (path) => `<|file_sep|>${path}\n`,
};

/** For tokenizers without the repository tokens: path comments. */
export const COMMENT_FORMAT: RepoFormat = {
  name: 'comments',
  repoHeader: (repo) => `// repository: ${repo}\n`,
  fileHeader: (path) => `// file: ${path}\n`,
};

/** The Qwen format when the tokenizer has both repository tokens as single ids, else comments. */
export function repoFormatFor(tokenId: (text: string) => number | undefined): RepoFormat {
  return tokenId('<|repo_name|>') !== undefined && tokenId('<|file_sep|>') !== undefined
    ? QWEN_REPO_FORMAT
    : COMMENT_FORMAT;
}

/**
 * A repository block's text cut before each file header: the header, then one piece per file, as
 * the editor's prompt builder segments its repository block (engine/context/prompt.ts).
 */
export function fileSegments(block: string, format: RepoFormat): string[] {
  const marker = format.fileHeader('').replace(/\n$/, '');
  const cuts = [0];
  for (let at = block.indexOf(marker); at !== -1; at = block.indexOf(marker, at + 1))
    if (at > 0 && block[at - 1] === '\n') cuts.push(at);
  cuts.push(block.length);
  return cuts
    .slice(1)
    .map((end, i) => block.slice(cuts[i], end))
    .filter((t) => t.length > 0);
}
