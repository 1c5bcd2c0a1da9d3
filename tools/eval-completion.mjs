// Repository-level next-line completion on the HELD-OUT packages of the training corpus
// (tools/train/build_corpus.py splits by package, so no file of these packages was trained on).
//
// A case is a line of a held-out file that uses an identifier defined in ANOTHER file of the same
// package (and not defined, nor mentioned earlier, in its own file), e.g. an import or the first
// call of a helper. The model completes the line greedily (`squeeze batch --stop-at-newline`) from
//   with context:    <|repo_name|>pkg\n<|file_sep|>other files...\n<|file_sep|>path\n{file up to the line}{indent}
//   without context: <|repo_name|>pkg\n<|file_sep|>path\n{file up to the line}{indent}
// The defining file is always among the other files (last, nearest the target); more files of the
// package fill the remaining budget. Scores: exact match and edit similarity (1 - Levenshtein /
// longer length) of the first generated line against the real line (both trimmed), and how often
// the cross-file identifier appears in the generated line.
//
//   node tools/eval-completion.mjs --model models/squeeze-coder-4m [--data /tmp/squeeze-train]
//        [--per-package 20] [--max-tokens 4000] [--out-md FILE] [--out-json FILE] [--dry-run: list the cases]
// (npm run eval:completion builds dist/ first.) Without DATA/packages.jsonl it runs
// tools/train/build_corpus.py, which needs only a Python 3 standard library.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const modelDir = opt('model', 'models/squeeze-coder-4m');
const dataDir = opt('data', '/tmp/squeeze-train');
const perPackage = +opt('per-package', 20);
const maxTokens = +opt('max-tokens', 4000);
const maxPrefixTokens = +opt('max-prefix-tokens', 1200);
const outMd = opt('out-md', join(modelDir, 'EVAL.md'));
const outJson = opt('out-json', join(modelDir, 'eval-results.json'));
const seed = +opt('seed', 1);

// ---------------------------------------------------------------------------------------- data
const packagesFile = join(dataDir, 'packages.jsonl');
if (!existsSync(packagesFile)) {
  console.error(`[eval] ${packagesFile} missing: building the corpus (tools/train/build_corpus.py)`);
  const extra = existsSync(join(dataDir, 'npm', 'node_modules')) ? [join(dataDir, 'npm', 'node_modules')] : [];
  const r = spawnSync(
    'python3',
    ['tools/train/build_corpus.py', '--out', dataDir, '--node-modules', 'node_modules', ...extra],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) process.exit(1);
}
const heldout = readFileSync(packagesFile, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l))
  .filter((p) => p.split === 'heldout');

const tok = new Tokenizer(
  JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')),
  JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8')),
);
const countCache = new Map();
const countTokens = (s) => {
  let n = countCache.get(s);
  if (n === undefined) {
    n = tok.encode(s, { add_special_tokens: false }).ids.length;
    countCache.set(s, n);
  }
  return n;
};

// mulberry32: a seeded shuffle, so the case list is reproducible.
let st = seed >>> 0;
const rand = () => {
  st = (st + 0x6d2b79f5) >>> 0;
  let t = st;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const shuffle = (a) => {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
};

const family = (lang) => (lang === 'python' ? 'python' : 'js');
const COMMON = new Set([
  'self',
  'this',
  'init',
  'main',
  'name',
  'value',
  'values',
  'data',
  'test',
  'options',
  'index',
  'result',
  'default',
  'args',
  'kwargs',
  'type',
  'path',
  'config',
  'error',
  'string',
  'number',
  'object',
  'function',
  'return',
  'true',
  'false',
  'null',
  'undefined',
  'none',
  'length',
  'state',
  'action',
  'source',
  'target',
  'input',
  'output',
  'item',
  'items',
  'key',
  'keys',
  'next',
]);
const DEF_PATTERNS = {
  python: [
    /^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)/gm,
    /^\s*class\s+([A-Za-z_]\w*)/gm,
    /^([A-Za-z_]\w*)\s*(?::[^=\n]*)?=(?!=)/gm,
  ],
  js: [
    /^\s*(?:export\s+)?(?:default\s+)?(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?(?:function\*?|class|interface|type|enum|const|let|var)\s+([A-Za-z_$][\w$]*)/gm,
    /^\s*(?:module\.)?exports\.([A-Za-z_$][\w$]*)\s*=/gm,
  ],
};
function definitions(text, fam) {
  const out = new Set();
  for (const re of DEF_PATTERNS[fam])
    for (const m of text.matchAll(re)) if (m[1].length >= 4 && !COMMON.has(m[1].toLowerCase())) out.add(m[1]);
  return out;
}
const SPECIALS = [
  '<|endoftext|>',
  '<|fim_prefix|>',
  '<|fim_middle|>',
  '<|fim_suffix|>',
  '<|fim_pad|>',
  '<|repo_name|>',
  '<|file_sep|>',
];
const repoName = (name) => (name.startsWith('debian:') ? name.split('/').slice(1).join('/') : name);
/** File name without folders and extensions: copies of one module in several build folders share it. */
const stem = (p) => p.split('/').pop().replace(/\..*$/, '');
const isComment = (s) => /^(#|\/\/|\*|\/\*|"""|''')/.test(s);
const wordRe = (id) => new RegExp(`(?<![\\w$])${id.replace(/\$/g, '\\$')}(?![\\w$])`);

// --------------------------------------------------------------------------------------- cases
const cases = [];
for (const pkg of heldout) {
  if (pkg.name.startsWith('python-stdlib/modules-')) continue; // letter groups of single modules, not one project
  const files = pkg.files.filter((f) => !SPECIALS.some((s) => f.text.includes(s)));
  if (files.length < 2) continue;
  const defs = new Map(files.map((f) => [f.path, definitions(f.text, family(f.lang))]));
  const candidates = [];
  for (const f of files) {
    if (f.lang === 'typescript-dts') continue; // declarations repeat other files' names: context only, never a target
    const fam = family(f.lang);
    const own = defs.get(f.path);
    const definedElsewhere = new Map(); // identifier -> defining file
    for (const g of files)
      if (g !== f && family(g.lang) === fam && stem(g.path) !== stem(f.path))
        for (const id of defs.get(g.path)) if (!own.has(id) && !definedElsewhere.has(id)) definedElsewhere.set(id, g);
    if (!definedElsewhere.size) continue;
    const lines = f.text.split('\n');
    let offset = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i],
        trimmed = line.trim();
      const start = offset;
      offset += line.length + 1;
      if (trimmed.length < 6 || trimmed.length > 100 || isComment(trimmed)) continue;
      const before = f.text.slice(0, start);
      for (const id of new Set(trimmed.match(/[A-Za-z_$][\w$]*/g) ?? [])) {
        const g = definedElsewhere.get(id);
        if (!g || wordRe(id).test(before)) continue;
        candidates.push({ file: f, line: i, start, identifier: id, definer: g });
        break;
      }
    }
  }
  for (const c of shuffle(candidates).slice(0, perPackage)) {
    const { file: f, line, start, identifier, definer } = c;
    const target = f.text.split('\n')[line];
    const indent = target.slice(0, target.length - target.trimStart().length);
    // The file up to the line (trimmed from the top at a line boundary to the prefix budget).
    let prefix = f.text.slice(0, start);
    while (countTokens(prefix) > maxPrefixTokens)
      prefix = prefix.slice(prefix.indexOf('\n', Math.floor(prefix.length / 8)) + 1);
    const head = `<|repo_name|>${repoName(pkg.name)}\n`;
    const tail = `<|file_sep|>${f.path}\n${prefix}${indent}`;
    let budget =
      maxTokens -
      64 -
      countTokens(head.replace(/<\|[a-z_]+\|>/g, ' ')) -
      countTokens(tail.replace(/<\|[a-z_]+\|>/g, ' '));
    const body = (g, text) => `<|file_sep|>${g.path}\n${text.endsWith('\n') ? text : text + '\n'}`;
    // The defining file goes last (nearest the target); cut to the lines around the definition if long.
    let defText = definer.text;
    if (countTokens(defText) + 4 > budget) {
      const dl = definer.text.split('\n');
      const at = dl.findIndex((l) => wordRe(identifier).test(l));
      let lo = Math.max(0, at - 10),
        hi = Math.min(dl.length, at + 30);
      while (hi - lo > 4 && countTokens(dl.slice(lo, hi).join('\n')) + 4 > budget) {
        hi -= 2;
        lo = Math.min(at, lo + 1);
      }
      defText = dl.slice(lo, hi).join('\n');
    }
    budget -= countTokens(defText) + 4;
    const others = [];
    // Never a copy of the target itself (dist/browser/x.js next to dist/react-native/x.js, x.d.ts).
    for (const g of shuffle(
      files.filter(
        (g) => g !== f && g !== definer && family(g.lang) === family(f.lang) && stem(g.path) !== stem(f.path),
      ),
    )) {
      const n = countTokens(g.text) + 4;
      if (n <= budget) {
        others.push(body(g, g.text));
        budget -= n;
      }
    }
    cases.push({
      package: pkg.name,
      path: f.path,
      line: line + 1,
      lang: family(f.lang),
      identifier,
      definer: definer.path,
      target: target.trim(),
      withContext: head + others.join('') + body(definer, defText) + tail,
      withoutContext: head + tail,
    });
  }
}
if (!cases.length) {
  console.error('[eval] no cases: are there held-out packages with several files?');
  process.exit(1);
}

if (argv.includes('--dry-run')) {
  for (const c of cases.slice(0, 40))
    console.log(`${c.package}:${c.path}:${c.line} [${c.identifier} from ${c.definer}] ${c.target}`);
  const per = {};
  for (const c of cases) per[c.package] = (per[c.package] ?? 0) + 1;
  console.log(cases.length, 'cases', JSON.stringify(per));
  process.exit(0);
}

// ----------------------------------------------------------------------------------------- run
const work = mkdtempSync(join(tmpdir(), 'sq-eval-'));
function complete(kind) {
  const inFile = join(work, `${kind}.jsonl`),
    outFile = join(work, `${kind}.out.jsonl`);
  writeFileSync(inFile, cases.map((c, i) => JSON.stringify({ id: i, prompt: c[kind] })).join('\n') + '\n');
  console.error(`[eval] ${cases.length} cases, ${kind}`);
  const r = spawnSync(
    process.execPath,
    [
      'dist/cli.js',
      'batch',
      '--model',
      modelDir,
      '--ep',
      'cpu',
      '--cases',
      inFile,
      '--out',
      outFile,
      '--stop-at-newline',
      '--max-new-tokens',
      '48',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (r.status !== 0) process.exit(r.status ?? 1);
  const rows = readFileSync(outFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const byId = new Map(rows.map((r) => [r.id, r]));
  return cases.map((_, i) => byId.get(i));
}
function levenshtein(a, b) {
  const prev = new Array(b.length + 1).fill(0).map((_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}
const editSim = (a, b) => (a.length || b.length ? 1 - levenshtein(a, b) / Math.max(a.length, b.length) : 1);

const results = { with: complete('withContext'), without: complete('withoutContext') };
const scored = cases.map((c, i) => {
  const row = {};
  for (const k of ['with', 'without']) {
    const gen = results[k][i].text.split('\n')[0].trim();
    row[k] = {
      text: gen,
      em: gen === c.target ? 1 : 0,
      es: editSim(gen, c.target),
      idHit: wordRe(c.identifier).test(gen) ? 1 : 0,
      promptTokens: results[k][i].promptTokens,
    };
  }
  const { withContext: _a, withoutContext: _b, ...meta } = c;
  return { ...meta, ...row };
});

const groups = [
  ['all', () => true],
  ['Python', (c) => c.lang === 'python'],
  ['JS/TS', (c) => c.lang === 'js'],
];
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const pct = (x) => (Number.isNaN(x) ? '–' : (100 * x).toFixed(1));
const table = groups.map(([name, pred]) => {
  const sel = scored.filter(pred);
  const m = (k, f) => mean(sel.map((s) => s[k][f]));
  return {
    group: name,
    cases: sel.length,
    with: {
      em: m('with', 'em'),
      es: m('with', 'es'),
      idHit: m('with', 'idHit'),
      promptTokens: m('with', 'promptTokens'),
    },
    without: {
      em: m('without', 'em'),
      es: m('without', 'es'),
      idHit: m('without', 'idHit'),
      promptTokens: m('without', 'promptTokens'),
    },
  };
});
const pkgCounts = {};
for (const s of scored) pkgCounts[s.package] = (pkgCounts[s.package] ?? 0) + 1;

const md = [
  `# Next-line completion on held-out packages: ${basename(modelDir)}`,
  '',
  `\`npm run eval:completion\` (tools/eval-completion.mjs), ${new Date().toISOString().slice(0, 10)}. Greedy, first line only`,
  `(\`squeeze batch --stop-at-newline\`, CPU), prompts of at most ${maxTokens} tokens. Each case is a line that uses an identifier`,
  'defined in another file of the same package and neither defined nor mentioned earlier in its own file. "With context" puts',
  'other files of the package (always the defining one, nearest the target) before the target file in the Qwen2.5-Coder',
  'repository format; "without" gives the target file only. EM: exact match of the trimmed line; ES: edit similarity',
  '(1 − Levenshtein / longer length); id: the cross-file identifier appears in the generated line.',
  '',
  '| cases | n | EM with | EM without | ES with | ES without | id with | id without | prompt tokens with / without |',
  '|---|---|---|---|---|---|---|---|---|',
  ...table.map(
    (t) =>
      `| ${t.group} | ${t.cases} | ${pct(t.with.em)}% | ${pct(t.without.em)}% | ${pct(t.with.es)}% | ${pct(t.without.es)}% | ${pct(t.with.idHit)}% | ${pct(t.without.idHit)}% | ${Math.round(t.with.promptTokens)} / ${Math.round(t.without.promptTokens)} |`,
  ),
  '',
  `Packages (cases): ${Object.entries(pkgCounts)
    .map(([p, n]) => `${p} (${n})`)
    .join(', ')}.`,
  '',
  'Examples (target → with context | without):',
  '',
  ...scored
    .slice(0, 12)
    .map(
      (s) =>
        `- \`${s.package}:${s.path}:${s.line}\` (\`${s.identifier}\` from ${s.definer}): \`${s.target}\` → \`${s.with.text}\` | \`${s.without.text}\``,
    ),
  '',
];
writeFileSync(outMd, md.join('\n'));
writeFileSync(
  outJson,
  JSON.stringify({ model: basename(modelDir), maxTokens, perPackage, seed, table, cases: scored }, null, 1),
);
console.log(md.slice(9, 9 + 2 + table.length).join('\n'));
console.error(`[eval] wrote ${outMd} and ${outJson}`);
