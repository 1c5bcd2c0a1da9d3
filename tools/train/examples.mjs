// Ten ordinary TypeScript/JavaScript/Python prompts (plus FIM) completed greedily by a model folder
// through `squeeze batch`, printed as Markdown for the model card. Nothing is picked afterwards:
// the prompts are fixed here and every output is printed.
//   node tools/train/examples.mjs --model models/squeeze-coder-4m [--max-new-tokens 24]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const opt = (n, d) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? argv[i + 1] : d;
};
const model = opt('model', 'models/squeeze-coder-4m');
const maxNew = +opt('max-new-tokens', 24);
export const PROMPTS = [
  ['Python', 'import os\nimport sys\n\n\ndef main():\n    '],
  ['Python', 'def fibonacci(n):\n    if n < 2:\n        return n\n    return '],
  [
    'Python',
    'class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        self.items.',
  ],
  ['Python', 'def read_lines(path):\n    with open(path) as f:\n        return '],
  ['Python', 'import argparse\n\nparser = argparse.ArgumentParser()\nparser.add_argument('],
  ['JavaScript', "const fs = require('fs');\nconst path = require("],
  ['JavaScript', 'function sum(a, b) {\n  return '],
  [
    'JavaScript',
    'module.exports = function debounce(fn, wait) {\n  let timer;\n  return function (...args) {\n    clearTimeout(',
  ],
  [
    'TypeScript',
    'export interface User {\n  id: number;\n  name: string;\n}\n\nexport function getUserName(user: User): string {\n  return ',
  ],
  [
    'TypeScript',
    "import { readFile } from 'node:fs/promises';\n\nexport async function loadJson(file: string) {\n  const text = await ",
  ],
  ['Python (FIM)', '<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n\n\nprint(add(1, 2))\n<|fim_middle|>'],
  [
    'TypeScript (repo)',
    '<|repo_name|>demo\n<|file_sep|>src/math.ts\nexport function clamp(x: number, lo: number, hi: number): number {\n  return Math.min(hi, Math.max(lo, x));\n}\n<|file_sep|>src/main.ts\nimport { ',
  ],
];

const dir = mkdtempSync(join(tmpdir(), 'sq-examples-'));
writeFileSync(
  join(dir, 'in.jsonl'),
  PROMPTS.map(([, p], i) => JSON.stringify({ id: i, prompt: p, max_new_tokens: maxNew })).join('\n') + '\n',
);
const r = spawnSync(
  process.execPath,
  [
    'dist/cli.js',
    'batch',
    '--model',
    model,
    '--ep',
    'cpu',
    '--cases',
    join(dir, 'in.jsonl'),
    '--out',
    join(dir, 'out.jsonl'),
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
if (r.status !== 0) process.exit(r.status ?? 1);
const rows = readFileSync(join(dir, 'out.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l));
const show = (s) => '`' + JSON.stringify(s).slice(1, -1).replace(/`/g, '\\`').replace(/\|/g, '\\|') + '`';
console.log('| language | prompt (end) | greedy completion (' + maxNew + ' tokens max) |\n|---|---|---|');
for (const row of rows) {
  const [lang, prompt] = PROMPTS[row.id];
  const tail = prompt.split('\n').slice(-3).join('\n');
  console.log(`| ${lang} | ${show(tail)} | ${show(row.text)} |`);
}
