// A small .gitignore matcher (gitignore(5)): comments, escapes, `!` negation, trailing-slash
// directory patterns, anchored vs basename patterns, `*`, `?`, `[...]`, and `**` in its three
// positions. Nested .gitignore files apply to their own directory, deeper files win, and within
// the rules that apply the last match wins. A path inside an ignored directory is ignored (git
// cannot re-include it), which `IgnoreTree.ignores` checks by walking the path's ancestors.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Rule {
  regex: RegExp;
  negate: boolean;
  dirOnly: boolean;
}

/** The rules of one ignore file, relative to `base` ('' for the root, else 'a/b'). */
export class GitignoreRules {
  readonly rules: Rule[] = [];
  constructor(
    readonly base: string,
    content: string,
  ) {
    for (const raw of content.split(/\r?\n/)) {
      const rule = compileRule(raw);
      if (rule) this.rules.push(rule);
    }
  }

  /** true = ignored, false = re-included by a negation, undefined = no rule matched.
   *  `path` is relative to the repository root. */
  match(path: string, isDir: boolean): boolean | undefined {
    let rel = path;
    if (this.base) {
      if (!path.startsWith(this.base + '/')) return undefined;
      rel = path.slice(this.base.length + 1);
    }
    let result: boolean | undefined;
    for (const r of this.rules) {
      if (r.dirOnly && !isDir) continue;
      if (r.regex.test(rel)) result = !r.negate;
    }
    return result;
  }
}

function compileRule(line: string): Rule | null {
  // Trailing spaces are ignored unless escaped with a backslash.
  let p = line.replace(/(?<!\\)\s+$/, '');
  if (!p || p.startsWith('#')) return null;
  let negate = false;
  if (p.startsWith('!')) {
    negate = true;
    p = p.slice(1);
  } else if (p.startsWith('\\!') || p.startsWith('\\#')) p = p.slice(1);
  let dirOnly = false;
  if (p.endsWith('/') && !p.endsWith('\\/')) {
    dirOnly = true;
    p = p.slice(0, -1);
  }
  if (!p) return null;
  // A slash at the start or in the middle anchors the pattern to the ignore file's directory.
  const anchored = p.includes('/');
  if (p.startsWith('/')) p = p.slice(1);
  let body = globToRegex(p);
  if (!anchored) body = '(?:.*/)?' + body;
  try {
    return { regex: new RegExp('^' + body + '$'), negate, dirOnly };
  } catch {
    return null; // a malformed character class: git ignores such a line too
  }
}

function globToRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const atStart = i === 0 || glob[i - 1] === '/';
        const atEnd = i + 2 === glob.length;
        if (atStart && glob[i + 2] === '/') {
          out += '(?:.*/)?';
          i += 2;
          continue;
        } // **/x
        if (atStart && atEnd) {
          out += '.*';
          i += 1;
          continue;
        } // x/**
        out += '[^/]*';
        i += 1;
        continue; // a**b = a*b
      }
      out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close === -1) {
        out += '\\[';
        continue;
      }
      let cls = glob.slice(i + 1, close);
      if (cls.startsWith('!')) cls = '^' + cls.slice(1);
      out += '[' + cls.replace(/\\/g, '\\\\') + ']';
      i = close;
    } else if (c === '\\' && i + 1 < glob.length) {
      out += escapeRegex(glob[i + 1]!);
      i++;
    } else out += escapeRegex(c);
  }
  return out;
}

function escapeRegex(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? '\\' + c : c;
}

/** The ignore files of a tree, loaded lazily per directory from disk, plus extra root rules. */
export class IgnoreTree {
  private readonly perDir = new Map<string, GitignoreRules | null>();
  private readonly extra: GitignoreRules[];

  /** `extraPatterns` act like a root .gitignore that comes first (lower precedence). */
  constructor(
    private readonly root: string,
    extraPatterns: string[] = [],
  ) {
    this.extra = extraPatterns.length ? [new GitignoreRules('', extraPatterns.join('\n'))] : [];
    // .git/info/exclude has the root's precedence, below the root .gitignore.
    try {
      this.extra.push(new GitignoreRules('', readFileSync(join(root, '.git/info/exclude'), 'utf8')));
    } catch {
      /* none */
    }
  }

  /** Rules of `dir`'s own .gitignore (dir relative to the root, '' for the root). */
  rulesFor(dir: string): GitignoreRules | null {
    let r = this.perDir.get(dir);
    if (r === undefined) {
      try {
        r = new GitignoreRules(dir, readFileSync(join(this.root, dir, '.gitignore'), 'utf8'));
      } catch {
        r = null;
      }
      this.perDir.set(dir, r);
    }
    return r;
  }

  /** Forget a cached .gitignore (after it changed on disk). */
  invalidate(dir: string): void {
    this.perDir.delete(dir);
  }

  /** Whether `path` itself matches, given the rules of its ancestor directories (not checking
   *  whether an ancestor directory is ignored: the walker never descends into those). */
  matches(path: string, isDir: boolean): boolean {
    let result = false;
    for (const r of this.extra) {
      const m = r.match(path, isDir);
      if (m !== undefined) result = m;
    }
    const parts = path.split('/');
    for (let i = 0; i < parts.length; i++) {
      const rules = this.rulesFor(parts.slice(0, i).join('/'));
      const m = rules?.match(path, isDir);
      if (m !== undefined) result = m;
    }
    return result;
  }

  /** Whether `path` (a file unless isDir) is ignored, including by an ignored ancestor directory. */
  ignores(path: string, isDir = false): boolean {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) if (this.matches(parts.slice(0, i).join('/'), true)) return true;
    return this.matches(path, isDir);
  }
}
