// The ContextGatherer on hand-made repositories: what it ranks first, that it keeps to the budget,
// and that the repository block stays byte-identical while the current file is edited.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RepoIndex } from '../../../engine/context/repo-index';
import { ContextGatherer } from '../../../engine/context/gatherer';
import { buildCompletionPrompt } from '../../../engine/context/build-prompt';
import { ModelTokenizer } from '../../../engine/model/tokenizer';
import type { ContextPiece } from '../../../engine/context/types';
import { makeRepo, removeRepo } from './helpers';

const tokenizer = ModelTokenizer.load('test/fixtures/qwen2-tiny-random');

const filler = (name: string, n: number) =>
  Array.from(
    { length: n },
    (_, i) =>
      `export function ${name}${i}(value: number): number {\n  const scaled = value * ${i + 2};\n  return scaled - ${i};\n}\n`,
  ).join('\n');

const MAIN = [
  "import { parseConfig, type Config } from './config';",
  "import * as fmt from './format';",
  "import { Widget } from './ui';",
  '',
  'export function start(argv: string[]): string {',
  '  const config: Config = parseConfig(argv.join(" "));',
  '  const w = new Widget(config.name);',
  '  const label = fmt.pad(w.title(), config.width);',
  '  return label;',
  '}',
  '',
  'export function report(lines: string[]): string {',
  '  let out = "";',
  '  for (const line of lines) {',
  '    out += fmt.pad(line, 40) + "\\n";',
  '  }',
  '  return out;',
  '}',
  '',
].join('\n');

const TS_REPO = {
  'src/main.ts': MAIN,
  'src/config.ts': [
    'export interface Config { name: string; width: number }',
    '/** Parses "name=x width=3". */',
    'export function parseConfig(text: string): Config {',
    '  const parts = Object.fromEntries(text.split(" ").map((p) => p.split("=")));',
    '  return { name: parts.name ?? "app", width: Number(parts.width ?? 10) };',
    '}',
    filler('configHelper', 30),
  ].join('\n'),
  'src/format.ts': [
    'export function pad(s: string, width: number): string {',
    '  return s.padEnd(width);',
    '}',
    filler('fmtHelper', 30),
  ].join('\n'),
  'src/ui/index.ts': "export * from './widget';\n",
  'src/ui/widget.ts':
    'export class Widget {\n  constructor(readonly name: string) {}\n  title(): string { return `[${this.name}]`; }\n}\n',
  'src/sibling.ts': 'export function siblingThing(a: string): string { return a; }\n',
  'lib/unrelated.ts': filler('unrelated', 60),
  'lib/printer.ts':
    'export function printAll(lines: string[]) {\n  let out = "";\n  for (const line of lines) {\n    out += line + "\\n";\n  }\n  return out;\n}\n',
};

let root: string;
let index: RepoIndex;
before(async () => {
  root = makeRepo(TS_REPO);
  index = new RepoIndex(root);
  await index.build({ parse: true });
});
after(() => removeRepo(root));

const cursorAt = (text: string, marker: string) => {
  const offset = text.indexOf(marker);
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  return { line, character: offset - before.lastIndexOf('\n') - 1 };
};

function cost(pieces: ContextPiece[], g: ContextGatherer): number {
  return pieces.reduce((n, p) => n + p.tokens + g.overhead(p.path), 0);
}

test('imported definitions rank first, through barrels, with the used symbols', async () => {
  const g = new ContextGatherer(index, tokenizer);
  const pieces = await g.gather({
    path: 'src/main.ts',
    text: MAIN,
    position: cursorAt(MAIN, 'return label'),
    budgetTokens: 6000,
  });
  const ids = pieces.map((p) => p.id);
  assert.deepEqual(ids.slice(0, 4), [
    'import:src/config.ts',
    'import:src/format.ts',
    'import:src/ui/index.ts',
    'import:src/ui/widget.ts',
  ]);
  const config = pieces[0]!;
  assert.match(config.text, /export function parseConfig\(text: string\): Config \{/);
  assert.match(config.reason, /Config, parseConfig from import \.\/config/);
  assert.match(pieces[3]!.reason, /Widget from import \.\/ui/, 'found through the export * barrel');
  assert.equal(pieces[2]!.text, "export * from './widget';\n", 'the barrel itself is small');
  assert.ok(!ids.includes('sibling:src/format.ts'), 'an imported file is not repeated as a sibling');
  assert.ok(ids.includes('sibling:src/sibling.ts'));
  assert.ok(cost(pieces, g) <= 6000);
});

test('small budgets: imports are kept as compact renderings, nothing unrelated, never over budget', async () => {
  const g = new ContextGatherer(index, tokenizer);
  for (const budget of [0, 60, 150, 400, 1000, 3000, 20000]) {
    const pieces = await g.gather({
      path: 'src/main.ts',
      text: MAIN,
      position: cursorAt(MAIN, 'return label'),
      budgetTokens: budget,
    });
    assert.ok(cost(pieces, g) <= budget, `budget ${budget}: used ${cost(pieces, g)}`);
    if (budget >= 400) {
      assert.ok(
        pieces.some((p) => p.id === 'import:src/config.ts' && /parseConfig/.test(p.text)),
        `budget ${budget}`,
      );
    }
    if (budget < 3000)
      assert.ok(!pieces.some((p) => p.path === 'lib/unrelated.ts'), `budget ${budget}: no unrelated file`);
  }
});

test("similar snippets come from the chunk that shares the cursor's identifiers", async () => {
  const g = new ContextGatherer(index, tokenizer);
  const pieces = await g.gather({
    path: 'src/main.ts',
    text: MAIN,
    position: cursorAt(MAIN, '  return out;'),
    budgetTokens: 20000,
  });
  const similar = pieces.filter((p) => p.kind === 'similar');
  assert.ok(
    similar.some((p) => p.path === 'lib/printer.ts'),
    JSON.stringify(pieces.map((p) => p.id)),
  );
});

test('recently edited files are included around the edit', async () => {
  const g = new ContextGatherer(index, tokenizer);
  const pieces = await g.gather({
    path: 'src/main.ts',
    text: MAIN,
    position: cursorAt(MAIN, 'return label'),
    budgetTokens: 20000,
    recentFiles: [{ path: 'lib/unrelated.ts', line: 120 }],
  });
  const recent = pieces.find((p) => p.kind === 'recent')!;
  assert.equal(recent.path, 'lib/unrelated.ts');
  assert.ok(recent.range.startLine <= 120 && recent.range.endLine >= 120);
  assert.match(recent.reason, /recently edited \(#1\)/);
});

test('the repository block is byte-identical while the current file is edited', async () => {
  const g = new ContextGatherer(index, tokenizer);
  const pos = cursorAt(MAIN, 'return label');
  const base = await buildCompletionPrompt(g, {
    family: 'qwen2.5-coder',
    path: 'src/main.ts',
    text: MAIN,
    position: pos,
    budgetTokens: 4000,
  });
  assert.equal(pos.line, 8);
  assert.ok(base.pieces.length >= 3);
  const lines = MAIN.split('\n');
  const edit = (l: number, newLine: string) => lines.map((x, i) => (i === l ? newLine : x)).join('\n');
  const variants: [string, { line: number; character: number }][] = [
    // typing on the cursor line, character by character
    [edit(pos.line, '  return lab'), pos],
    [edit(pos.line, '  return labelX'), pos],
    [edit(pos.line, '  return label.toUpperCase('), pos],
    // a new line above the cursor, and one deleted
    [
      lines.slice(0, pos.line).concat(['  const extra = 1;'], lines.slice(pos.line)).join('\n'),
      { line: pos.line + 1, character: 2 },
    ],
    [lines.filter((_, i) => i !== 12).join('\n'), { line: pos.line, character: 2 }],
    // the cursor moving a line within the same 8-line block (line 8 → 9)
    [MAIN, { line: pos.line + 1, character: 0 }],
  ];
  let previous = base.pieces.map((p) => p.id);
  for (const [text, position] of variants) {
    const r = await buildCompletionPrompt(g, {
      family: 'qwen2.5-coder',
      path: 'src/main.ts',
      text,
      position,
      budgetTokens: 4000,
      previous,
    });
    assert.equal(
      r.prompt.stablePrefix,
      base.prompt.stablePrefix,
      `block changed for:\n${text.split('\n')[position.line]}`,
    );
    assert.equal(r.prompt.cacheKey, base.prompt.cacheKey);
    assert.ok(r.prompt.text.startsWith(r.prompt.stablePrefix));
    assert.ok(!r.prompt.stablePrefix.includes('src/main.ts'), 'the current file is not in the block');
    previous = r.pieces.map((p) => p.id);
  }
});

test('a changed import appends its piece after the pieces kept from the previous request', async () => {
  const g = new ContextGatherer(index, tokenizer);
  const pos = cursorAt(MAIN, 'return label');
  const base = await g.gather({ path: 'src/main.ts', text: MAIN, position: pos, budgetTokens: 8000 });
  const withPrinter =
    "import { printAll } from '../lib/printer';\n" + MAIN.replace('return label;', 'return printAll([label]);');
  const next = await g.gather({
    path: 'src/main.ts',
    text: withPrinter,
    position: { line: pos.line + 1, character: 2 },
    budgetTokens: 8000,
    previous: base.map((p) => p.id),
  });
  const ids = next.map((p) => p.id);
  assert.ok(ids.includes('import:lib/printer.ts'));
  const kept = ids.filter((id) => base.some((p) => p.id === id));
  assert.deepEqual(ids.slice(0, kept.length), kept, 'old pieces first, in their old order');
});

test('Python: from-imports resolve through package __init__ re-exports', async () => {
  const repo = makeRepo({
    'app/main.py':
      'from .models import User\nfrom . import util\n\ndef run():\n    u = User("a")\n    return util.slug(u.name)\n',
    'app/__init__.py': '',
    'app/models/__init__.py': 'from .user import User\n',
    'app/models/user.py':
      'class User:\n    def __init__(self, name):\n        self.name = name\n\n    def greet(self):\n        return "hi " + self.name\n',
    'app/util.py': 'def slug(s):\n    return s.lower()\n\ndef unused():\n    pass\n',
  });
  try {
    const idx = new RepoIndex(repo);
    await idx.build();
    const g = new ContextGatherer(idx, tokenizer);
    const text = idx.get('app/main.py')!.text;
    const pieces = await g.gather({
      path: 'app/main.py',
      text,
      position: { line: 5, character: 4 },
      budgetTokens: 3000,
    });
    const user = pieces.find((p) => p.id === 'import:app/models/user.py');
    assert.ok(user && /class User:/.test(user.text), JSON.stringify(pieces.map((p) => p.id)));
    const util = pieces.find((p) => p.id === 'import:app/util.py');
    assert.ok(util && /def slug/.test(util.text));
    assert.match(util.reason, /slug from import \./);
  } finally {
    removeRepo(repo);
  }
});

test('Go: imported packages by module path and same-package definitions', async () => {
  const repo = makeRepo({
    'go.mod': 'module example.com/shop\n',
    'cmd/main.go':
      'package main\n\nimport "example.com/shop/store"\n\nfunc main() {\n\ts := store.New()\n\tprintTotal(s)\n}\n',
    'cmd/print.go': 'package main\n\nfunc printTotal(s any) {}\n',
    'store/store.go':
      'package store\n\ntype Store struct{ items []int }\n\nfunc New() *Store { return &Store{} }\n\nfunc Unused() {}\n',
  });
  try {
    const idx = new RepoIndex(repo);
    await idx.build();
    const g = new ContextGatherer(idx, tokenizer);
    const text = idx.get('cmd/main.go')!.text;
    const pieces = await g.gather({
      path: 'cmd/main.go',
      text,
      position: { line: 6, character: 1 },
      budgetTokens: 3000,
    });
    const st = pieces.find((p) => p.id === 'import:store/store.go');
    assert.ok(st && /func New\(\) \*Store/.test(st.text), JSON.stringify(pieces.map((p) => [p.id, p.reason])));
    const same = pieces.find((p) => p.id === 'import:cmd/print.go');
    assert.ok(same && /same package/.test(same.reason));
  } finally {
    removeRepo(repo);
  }
});

test('Rust: use crate:: paths bring the struct and its impl', async () => {
  const repo = makeRepo({
    'Cargo.toml': '[package]\nname = "geo"\n',
    'src/lib.rs': 'pub mod point;\npub mod shapes;\n',
    'src/point.rs':
      'pub struct Point { pub x: f64, pub y: f64 }\n\nimpl Point {\n    pub fn norm(&self) -> f64 { (self.x * self.x + self.y * self.y).sqrt() }\n}\n\npub fn origin() -> Point { Point { x: 0.0, y: 0.0 } }\n',
    'src/shapes.rs':
      'use crate::point::Point;\n\npub fn longest(ps: &[Point]) -> f64 {\n    ps.iter().map(|p| p.norm()).fold(0.0, f64::max)\n}\n',
  });
  try {
    const idx = new RepoIndex(repo);
    await idx.build();
    const g = new ContextGatherer(idx, tokenizer);
    const text = idx.get('src/shapes.rs')!.text;
    const pieces = await g.gather({
      path: 'src/shapes.rs',
      text,
      position: { line: 3, character: 4 },
      budgetTokens: 3000,
    });
    const point = pieces.find((p) => p.id === 'import:src/point.rs')!;
    assert.match(point.text, /pub struct Point/);
    assert.match(point.text, /impl Point/);
  } finally {
    removeRepo(repo);
  }
});

test('C#: types named in the enclosing class signature are found by name', async () => {
  const repo = makeRepo({
    'Services/OrderService.cs':
      'namespace Shop.Services {\n  public class OrderService : ServiceBase, IOrders {\n    public void Place() {\n      \n    }\n  }\n}\n',
    'Core/ServiceBase.cs':
      'namespace Shop.Core {\n  public abstract class ServiceBase {\n    protected void Log(string m) {}\n  }\n}\n',
    'Core/IOrders.cs': 'namespace Shop.Core {\n  public interface IOrders { void Place(); }\n}\n',
  });
  try {
    const idx = new RepoIndex(repo);
    await idx.build({ parse: true });
    const g = new ContextGatherer(idx, tokenizer);
    const text = idx.get('Services/OrderService.cs')!.text;
    const pieces = await g.gather({
      path: 'Services/OrderService.cs',
      text,
      position: { line: 3, character: 6 },
      budgetTokens: 3000,
    });
    const base = pieces.find((p) => p.id === 'scope:Core/ServiceBase.cs');
    assert.ok(base && /abstract class ServiceBase/.test(base.text), JSON.stringify(pieces.map((p) => p.id)));
    assert.match(base.reason, /named in the signature of the enclosing OrderService/);
    assert.ok(pieces.some((p) => p.id === 'scope:Core/IOrders.cs'));
  } finally {
    removeRepo(repo);
  }
});
