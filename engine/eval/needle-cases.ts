// Synthetic code-needle retrieval (kv-methods.md §8 M4): `const zq_kappa_417 = "3f9a0c2e";` is
// placed once, at a requested depth, inside long filler made of real source files (laid out as a
// repository), and the prompt ends with `assert(zq_kappa_417 === "`. The case passes when the greedy
// output starts with the 8 hex digits. Chance level is 16⁻⁸, i.e. 0.
import type { CountTokens, EvalCase } from './types';
import { rng, shuffled } from './types';
import type { RepoFormat, SourceFile } from './sources';

const WORDS = ['kappa', 'delta', 'sigma', 'omega', 'theta', 'lambda', 'gamma', 'zeta', 'rho', 'tau', 'phi', 'psi'];

export interface NeedleOptions {
  /** prompt length in tokens (upper bound) */
  tokens: number;
  /** where the needle line goes, as a fraction of the prompt's tokens: 0 = first, 1 = just before the question */
  depth: number;
  count: CountTokens;
  format: RepoFormat;
  seed: number;
}

export interface Needle {
  name: string;
  value: string;
}

/** A fresh identifier and 8-hex-digit value from the seed. */
export function makeNeedle(seed: number): Needle {
  const rand = rng(seed ^ 0x5eed);
  const word = WORDS[Math.floor(rand() * WORDS.length)]!;
  const name = `zq_${word}_${100 + Math.floor(rand() * 900)}`;
  let value = '';
  for (let i = 0; i < 8; i++) value += Math.floor(rand() * 16).toString(16);
  return { name, value };
}

export const needleLine = (n: Needle) => `const ${n.name} = "${n.value}";`;
export const needleQuestion = (n: Needle) => `assert(${n.name} === "`;

/**
 * One needle case. Filler: whole files (seeded order) as a repository, cut to fit; the needle line is
 * inserted before the top-level line nearest to the requested depth.
 */
export function buildNeedleCase(
  files: SourceFile[],
  repo: string,
  opts: NeedleOptions,
  id = `needle-${opts.tokens}-d${Math.round(opts.depth * 100)}-s${opts.seed}`,
): EvalCase {
  const { tokens: L, count, format } = opts;
  if (!(opts.depth >= 0 && opts.depth <= 1)) throw new Error(`needle depth must be in [0, 1], got ${opts.depth}`);
  const needle = makeNeedle(opts.seed);
  const head = format.repoHeader(repo);
  const question = `\n${needleQuestion(needle)}`;
  const fixed = count(head) + count(needleLine(needle) + '\n') + count(question) + 8;
  // Filler lines with their (estimated) token counts.
  const lines: string[] = [];
  const cost: number[] = [];
  let used = 0;
  for (const f of shuffled(files, rng(opts.seed))) {
    if (f.text.includes(needle.name)) continue;
    const fileLines = [format.fileHeader(f.path).replace(/\n$/, ''), ...f.text.replace(/\n+$/, '').split('\n')];
    for (const line of fileLines) {
      const c = count(line + '\n');
      if (used + c > L - fixed) break;
      lines.push(line);
      cost.push(c);
      used += c;
    }
    if (used >= L - fixed - 48) break;
  }
  if (lines.length === 0) throw new Error('needle filler: no source lines fit the budget');
  // Insertion point: cumulative cost closest to depth·used, moved to the nearest line starting at
  // column 0 (so the needle sits between top-level statements), never before the first file header.
  // The move is bounded by 2% of the prompt's tokens: in a long class body the needle goes inside it.
  const goal = opts.depth * used;
  const before = [0];
  for (let i = 0; i < lines.length; i++) before.push(before[i]! + cost[i]!); // before[i] = cost of lines[0, i)
  let at = 1;
  for (let i = 1; i <= lines.length; i++) if (Math.abs(before[i]! - goal) < Math.abs(before[at]! - goal)) at = i;
  const slack = 0.02 * L;
  const topLevel = (i: number) => i === lines.length || /^\S/.test(lines[i]!);
  for (let d = 0; d < lines.length; d++) {
    const up = at + d <= lines.length && Math.abs(before[at + d]! - goal) <= slack;
    const down = at - d >= 1 && Math.abs(before[at - d]! - goal) <= slack;
    if (!up && !down) break;
    if (up && topLevel(at + d)) {
      at += d;
      break;
    }
    if (down && topLevel(at - d)) {
      at -= d;
      break;
    }
  }
  const build = () => head + [...lines.slice(0, at), needleLine(needle), ...lines.slice(at)].join('\n') + question;
  let prompt = build();
  let total = count(prompt);
  // Per-line counts overestimate slightly; if the whole is still over, drop filler from the end.
  while (total > L && lines.length > at) {
    lines.splice(Math.max(at, lines.length - Math.max(1, Math.floor((total - L) / 12))));
    prompt = build();
    total = count(prompt);
  }
  const prefix = head + lines.slice(0, at).join('\n') + (at > 0 ? '\n' : '');
  return {
    id,
    kind: 'needle',
    prompt,
    expected: needle.value,
    blockChars: prompt.length - question.length,
    depth: count(prefix) / total,
    tokens: total,
    meta: { identifier: needle.name, requestedDepth: opts.depth, repo },
  };
}

/** n needle cases over the depths 0, 25, 50, 75, 100 % (cycled), each with its own needle and filler order. */
export function buildNeedleCases(
  files: SourceFile[],
  repo: string,
  n: number,
  opts: Omit<NeedleOptions, 'depth'>,
  depths: number[] = [0, 0.25, 0.5, 0.75, 1],
): EvalCase[] {
  return Array.from({ length: n }, (_, i) =>
    buildNeedleCase(files, repo, { ...opts, depth: depths[i % depths.length]!, seed: opts.seed + 101 * i }),
  );
}
