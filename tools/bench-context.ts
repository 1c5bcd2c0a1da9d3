// Benchmark of the repository context (npm run bench:context).
//
// 1. Recall: on real multi-file packages in node_modules (code we did not write), pick target lines
//    that use an identifier defined in exactly one other file of the package (a name the file
//    imports, or a member of a namespace import; homonyms do not count), cut the line just
//    before the identifier (as if the user were about to type it), build the prompt at 4k/8k/16k
//    tokens, and count how often the defining file / the definition itself is in the context —
//    against a baseline that fills the same budget with the nearest files by path.
// 2. Speed: index build for a ~2,000-file tree, and per-request assembly once indexed.
// Tokens are counted with the Qwen2 fixture tokenizer (test/fixtures/qwen2-tiny-random).
//   npm run bench:context [-- --targets 40 --quick]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { RepoIndex } from '../engine/context/repo-index';
import { ContextGatherer } from '../engine/context/gatherer';
import { buildCompletionPrompt } from '../engine/context/build-prompt';
import { isSignificant } from '../engine/context/identifiers';
import { pathDistance } from '../engine/context/source-imports';
import { ModelTokenizer } from '../engine/model/tokenizer';
import type { SymbolInfo } from '../engine/context/types';
import { seededRandom } from '../engine/random';

const args = process.argv.slice(2);
const argValue = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const TARGETS_PER_PACKAGE = argValue('--targets', 40);
const QUICK = args.includes('--quick');
const BUDGETS = [4096, 8192, 16384];

const PACKAGES: { name: string; root: string }[] = [
  { name: 'ajv (TS source)', root: 'node_modules/ajv/lib' },
  { name: '@azure/msal-common (TS source)', root: 'node_modules/@azure/msal-common/src' },
  { name: '@azure/msal-node (TS source)', root: 'node_modules/@azure/msal-node/src' },
  { name: 'cheerio (TS source)', root: 'node_modules/cheerio/src' },
  { name: '@azure/identity (CommonJS)', root: 'node_modules/@azure/identity/dist/commonjs' },
  { name: '@typespec/ts-http-runtime (CommonJS)', root: 'node_modules/@typespec/ts-http-runtime/dist/commonjs' },
];
const BIG_TREE = 'node_modules/@azure';

const tokenizer = ModelTokenizer.load('test/fixtures/qwen2-tiny-random');
const quiet = { info() {}, warn() {} };

interface Target {
  path: string;
  line: number;
  column: number;
  name: string;
  defPath: string;
  def: SymbolInfo;
}

function findTargets(index: RepoIndex, limit: number): Target[] {
  // Names defined (top level) in exactly one file.
  const definers = new Map<string, { path: string; sym: SymbolInfo }[]>();
  for (const p of index.paths()) {
    if (p.endsWith('.d.ts')) continue;
    for (const s of index.outlineSync(p)?.symbols ?? []) {
      if (s.container || s.name.length < 4 || !isSignificant(s.name)) continue;
      const list = definers.get(s.name) ?? [];
      if (!list.some((d) => d.path === p)) list.push({ path: p, sym: s });
      definers.set(s.name, list);
    }
  }
  const all: Target[] = [];
  for (const p of index.paths()) {
    if (p.endsWith('.d.ts')) continue;
    const file = index.get(p)!;
    const outline = index.outlineSync(p);
    const local = new Set(outline?.symbols.map((s) => s.name));
    const importLines = new Set<number>();
    for (const i of outline?.imports ?? []) for (let l = i.line; l <= i.endLine; l++) importLines.add(l);
    // A use is a name the file imports (`import { X }`, `const { X } = require`) or a member of a
    // namespace import (`ns.X`, compiled `import_x.X` / `x_1.X`); homonyms (a local variable or
    // property with the same name) are not targets.
    const named = new Set(
      outline?.imports.flatMap((i) => i.names.filter((n) => n.imported !== '*').map((n) => n.local)),
    );
    const namespaces = new Set(
      outline?.imports.flatMap((i) => i.names.filter((n) => n.imported === '*' && n.local !== '*').map((n) => n.local)),
    );
    const lines = file.text.split('\n');
    const perFile: Target[] = [];
    lines.forEach((text, line) => {
      if (
        importLines.has(line) ||
        /^\s*(import|export\s+\*|export\s*\{|\/\/|\*|\/\*)/.test(text) ||
        /require\(/.test(text)
      )
        return;
      for (const m of text.matchAll(/[A-Za-z_$][\w$]*/g)) {
        const defs = definers.get(m[0]);
        if (!defs || defs.length !== 1 || local.has(m[0]) || defs[0]!.path === p) continue;
        const before = text.slice(0, m.index);
        const member = /([A-Za-z_$][\w$]*)\s*\.\s*$/.exec(before);
        if (member ? !namespaces.has(member[1]!) : !named.has(m[0])) continue;
        perFile.push({ path: p, line, column: m.index!, name: m[0], defPath: defs[0]!.path, def: defs[0]!.sym });
        break;
      }
    });
    all.push(...perFile);
  }
  // Spread over files: shuffle deterministically, keep at most 2 per file.
  const rand = seededRandom(1234);
  const shuffled = all
    .map((t) => [rand(), t] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([, t]) => t);
  const perFileCount = new Map<string, number>();
  const out: Target[] = [];
  for (const t of shuffled) {
    const n = perFileCount.get(t.path) ?? 0;
    if (n >= 2) continue;
    perFileCount.set(t.path, n + 1);
    out.push(t);
    if (out.length >= limit) break;
  }
  return out;
}

/** The file as the user has it when about to type the identifier: the rest of the line is gone. */
function cutText(text: string, t: Target): string {
  const lines = text.split('\n');
  lines[t.line] = lines[t.line]!.slice(0, t.column);
  return lines.join('\n');
}

function definitionProbe(index: RepoIndex, t: Target): string[] {
  const text = index.get(t.defPath)!.text;
  const firstLine = text
    .slice(
      t.def.declIndex,
      text.indexOf('\n', t.def.declIndex) === -1 ? undefined : text.indexOf('\n', t.def.declIndex),
    )
    .trim();
  return [firstLine, t.def.signature];
}

/** Baseline: whole files nearest by path (same folder first), until the budget is used. */
function nearestFiles(index: RepoIndex, path: string, budget: number): Set<string> {
  const order = index
    .paths()
    .filter((p) => p !== path)
    .sort((a, b) => pathDistance(path, a) - pathDistance(path, b) || (a < b ? -1 : 1));
  const chosen = new Set<string>();
  let used = 0;
  for (const p of order) {
    const text = index.get(p)!.text;
    if (text.length / 12 > budget - used) continue;
    const cost = tokenizer.count(text) + tokenizer.count(p) + 3;
    if (used + cost > budget) continue;
    used += cost;
    chosen.add(p);
    if (budget - used < 50) break;
  }
  return chosen;
}

const pct = (n: number, d: number) => (d ? `${((100 * n) / d).toFixed(0)}%` : '-');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};
const p95 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.95))] ?? 0;
};

async function recall(): Promise<void> {
  console.log(
    `\n## Recall: is the defining file / the definition in the context? (${TARGETS_PER_PACKAGE} targets per package)\n`,
  );
  const header = [
    'package',
    'files',
    'targets',
    ...BUDGETS.flatMap((b) => [`${b / 1024}k file`, `${b / 1024}k def`, `${b / 1024}k nearest`]),
    'assembly ms (median / p95)',
  ];
  console.log('| ' + header.join(' | ') + ' |');
  console.log('|' + header.map(() => '---').join('|') + '|');
  const totals = BUDGETS.map(() => ({ file: 0, def: 0, base: 0 }));
  let totalTargets = 0;
  for (const pkg of PACKAGES) {
    if (!existsSync(pkg.root)) {
      console.log(`| ${pkg.name} | not installed |`);
      continue;
    }
    const index = new RepoIndex(pkg.root, { logger: quiet, excludedDirs: ['.git', 'node_modules'] });
    await index.build({ parse: true });
    const targets = findTargets(index, QUICK ? Math.min(10, TARGETS_PER_PACKAGE) : TARGETS_PER_PACKAGE);
    const gatherer = new ContextGatherer(index, tokenizer);
    const hits = BUDGETS.map(() => ({ file: 0, def: 0, base: 0 }));
    const times: number[] = [];
    for (const t of targets) {
      const text = cutText(index.get(t.path)!.text, t);
      const probes = definitionProbe(index, t);
      for (let b = 0; b < BUDGETS.length; b++) {
        const t0 = performance.now();
        const r = await buildCompletionPrompt(gatherer, {
          family: 'qwen2.5-coder',
          path: t.path,
          text,
          position: { line: t.line, character: t.column },
          budgetTokens: BUDGETS[b]!,
        });
        times.push(performance.now() - t0);
        const fromDef = r.pieces.filter((p) => p.path === t.defPath);
        if (fromDef.length) hits[b]!.file++;
        if (fromDef.some((p) => probes.some((probe) => probe && p.text.includes(probe)))) hits[b]!.def++;
        if (nearestFiles(index, t.path, r.budget.context).has(t.defPath)) hits[b]!.base++;
      }
    }
    totalTargets += targets.length;
    hits.forEach((h, b) => {
      totals[b]!.file += h.file;
      totals[b]!.def += h.def;
      totals[b]!.base += h.base;
    });
    const cells = hits.flatMap((h) => [
      pct(h.file, targets.length),
      pct(h.def, targets.length),
      pct(h.base, targets.length),
    ]);
    console.log(
      `| ${pkg.name} | ${index.size} | ${targets.length} | ${cells.join(' | ')} | ${median(times).toFixed(1)} / ${p95(times).toFixed(1)} |`,
    );
  }
  const cells = totals.flatMap((h) => [pct(h.file, totalTargets), pct(h.def, totalTargets), pct(h.base, totalTargets)]);
  console.log(`| **all** | | ${totalTargets} | ${cells.join(' | ')} | |`);
  console.log(
    "\nfile = a piece from the defining file is in the prompt; def = the definition's first line or signature is;",
  );
  console.log('nearest = baseline: whole files nearest by path (same folder first) filling the same token budget.');
}

async function speed(): Promise<void> {
  console.log(`\n## Index build and per-request assembly (${BIG_TREE}, dist/ included)\n`);
  if (!existsSync(BIG_TREE)) {
    console.log('not installed');
    return;
  }
  const index = new RepoIndex(BIG_TREE, { logger: quiet, excludedDirs: ['.git', 'node_modules'] });
  const t0 = performance.now();
  const stats = await index.build({ parse: false });
  const walkMs = performance.now() - t0;
  const t1 = performance.now();
  let parsed = 0;
  for (const p of index.paths()) if (await index.outline(p)) parsed++;
  const parseMs = performance.now() - t1;
  const mem = process.memoryUsage();
  console.log('| step | files | chars | time |');
  console.log('|---|---|---|---|');
  console.log(
    `| walk + read + similarity chunks (ready to gather; outlines parse lazily) | ${stats.files} | ${(stats.chars / 1e6).toFixed(1)} M | ${(walkMs / 1000).toFixed(2)} s |`,
  );
  console.log(
    `| tree-sitter outlines of every file (background / eager) | ${parsed} | | ${(parseMs / 1000).toFixed(2)} s |`,
  );
  console.log(`| total | | | ${((walkMs + parseMs) / 1000).toFixed(2)} s |`);
  console.log(
    `\nskipped ${index.skipped.size} files (${[...new Set(index.skipped.values())]
      .map((r) => r.replace(/\(.*$/, '').trim())
      .filter((v, i, a) => a.indexOf(v) === i)
      .join(', ')}); heap ${(mem.heapUsed / 1e6).toFixed(0)} MB, rss ${(mem.rss / 1e6).toFixed(0)} MB`,
  );

  // Per-request assembly on that index: 20 files, cursor in the middle, cold (first) vs warm.
  const files = index
    .paths()
    .filter((p) => /\.(ts|js)$/.test(p) && !p.endsWith('.d.ts'))
    .filter((_, i) => i % 97 === 0)
    .slice(0, 20);
  console.log(
    '\n| budget | first request, cold token cache, ms (median / max) | next keystroke ms (median / p95) | pieces | block tokens |',
  );
  console.log('|---|---|---|---|---|');
  for (const budget of [4096, 16384, 32768]) {
    const gatherer = new ContextGatherer(index, tokenizer); // a fresh token-count cache per budget
    const pieceCounts: number[] = [];
    const blockTokens: number[] = [];
    const cold: number[] = [];
    const warm: number[] = [];
    for (const p of files) {
      const text = index.get(p)!.text;
      const line = Math.floor(text.split('\n').length / 2);
      const req = { family: 'qwen2.5-coder' as const, path: p, position: { line, character: 0 }, budgetTokens: budget };
      let t = performance.now();
      const first = await buildCompletionPrompt(gatherer, { ...req, text });
      cold.push(performance.now() - t);
      pieceCounts.push(first.pieces.length);
      blockTokens.push(first.stats?.usedTokens ?? 0);
      const lines = text.split('\n');
      lines[line] = 'x' + lines[line];
      t = performance.now();
      await buildCompletionPrompt(gatherer, {
        ...req,
        text: lines.join('\n'),
        position: { line, character: 1 },
        previous: first.pieces.map((x) => x.id),
      });
      warm.push(performance.now() - t);
    }
    console.log(
      `| ${budget} | ${median(cold).toFixed(1)} / ${Math.max(...cold).toFixed(1)} | ${median(warm).toFixed(1)} / ${p95(warm).toFixed(1)} | ${median(pieceCounts)} | ${median(blockTokens)} |`,
    );
  }
}

async function main(): Promise<void> {
  const cpu = cpus();
  console.log(`# bench:context — ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, node ${process.version}, no GPU`);
  console.log(
    `tokenizer: ${join('test/fixtures/qwen2-tiny-random', 'tokenizer.json')} (1,024-entry BPE: ~2-3x the tokens of a real Qwen2.5 vocabulary)`,
  );
  await recall();
  await speed();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
