// Symbol and import extraction per language, against hand-checked expectations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { outlineFile, enclosingSymbols } from '../../../engine/context/outline';
import { languageForPath } from '../../../engine/context/languages';
import type { FileOutline, LanguageId } from '../../../engine/context/types';

/** "kind container.name | signature" lines, for compact comparisons. */
function symbols(o: FileOutline): string[] {
  return o.symbols.map(
    (s) =>
      `${s.kind} ${s.container ? s.container + '.' : ''}${s.name}${s.exported ? '' : ' (private)'} | ${s.signature}`,
  );
}

test('TypeScript: functions, classes, methods, interfaces, types, enums, exported constants, imports', async () => {
  const src = [
    "import { a, b as c } from './x';",
    "import * as ns from '../y';",
    "import D from './d';",
    "export * from './w';",
    "export { z } from './z';",
    "const r = require('./r');",
    '/** Adds. */',
    'export function add(x: number, y: number): number {',
    '  return x + y;',
    '}',
    'export const twice = (v: number): number => v * 2;',
    'export const LIMIT = 10;',
    'export default class Store<T> extends Base implements Repo {',
    '  private items: T[] = [];',
    '  get(i: number): T { return this.items[i]; }',
    '}',
    'export interface Repo { get(i: number): unknown }',
    'export type Id = string | number;',
    'enum Color { Red, Green }',
    'function helper() { function inner() {} }',
  ].join('\n');
  const o = await outlineFile('typescript', src);
  assert.deepEqual(symbols(o), [
    'function add | export function add(x: number, y: number): number',
    'function twice | export const twice = (v: number): number =>',
    'constant LIMIT | export const LIMIT = 10;',
    'class Store | export default class Store<T> extends Base implements Repo',
    'method Store.get | get(i: number): T',
    'interface Repo | export interface Repo',
    'method Repo.get | get(i: number): unknown',
    'type Id | export type Id = string | number;',
    'enum Color (private) | enum Color',
    'function helper (private) | function helper()',
  ]);
  const add = o.symbols[0]!;
  assert.deepEqual(add.range, { startLine: 6, endLine: 9 }, 'the doc comment belongs to the range');
  assert.equal(src.slice(add.declIndex, add.declIndex + 6), 'export');
  assert.equal(src[add.bodyIndex], '{');
  assert.deepEqual(
    o.imports.map((i) => [i.source, i.names.map((n) => `${n.local}=${n.imported}`).join(','), i.reexport]),
    [
      ['./x', 'a=a,c=b', false],
      ['../y', 'ns=*', false],
      ['./d', 'D=default', false],
      ['./w', '*=*', true],
      ['./z', 'z=z', true],
      ['./r', 'r=*', false],
    ],
  );
});

test('JavaScript (CommonJS): exports assignments and destructured requires', async () => {
  const src = [
    "const { readFile, join: j } = require('./fsutil');",
    "const lib_1 = __importDefault(require('./lib'));",
    'function parse(s) { return s; }',
    'exports.parse = parse;',
    'exports.format = function (v) { return String(v); };',
    'module.exports.VERSION = "1.0";',
  ].join('\n');
  const o = await outlineFile('javascript', src);
  assert.deepEqual(symbols(o), [
    'function parse | function parse(s)',
    'function format | exports.format = function (v)',
    'constant VERSION | module.exports.VERSION = "1.0";',
  ]);
  assert.deepEqual(
    o.imports.map((i) => [i.source, i.names.map((n) => `${n.local}=${n.imported}`).join(',')]),
    [
      ['./fsutil', 'readFile=readFile,j=join'],
      ['./lib', 'lib_1=*'],
    ],
  );
});

test('Python: functions, classes, methods, decorators, constants, relative and absolute imports', async () => {
  const src = [
    'import os, sys as system',
    'from .models import User, Group as G',
    'from ..pkg.sub import (a, b)',
    'import pkg.mod',
    'MAX_ITEMS = 3',
    '_private = 1',
    '@cached',
    'def load(path: str, *, strict=False) -> dict:',
    '    """Loads."""',
    '    def inner():',
    '        pass',
    '    return {}',
    'class Repo(Base):',
    '    def get(self, key):',
    '        return None',
    '    async def fetch(self):',
    '        ...',
  ].join('\n');
  const o = await outlineFile('python', src);
  assert.deepEqual(symbols(o), [
    'constant MAX_ITEMS | MAX_ITEMS = 3',
    'constant _private (private) | _private = 1',
    'function load | def load(path: str, *, strict=False) -> dict',
    'class Repo | class Repo(Base)',
    'method Repo.get | def get(self, key)',
    'method Repo.fetch | async def fetch(self)',
  ]);
  assert.equal(o.symbols[2]!.range.startLine, 6, 'the decorator belongs to the range');
  assert.deepEqual(
    o.imports.map((i) => [i.source, i.names.map((n) => `${n.local}=${n.imported}`).join(',')]),
    [
      ['os', 'os=*'],
      ['sys', 'system=*'],
      ['.models', 'User=User,G=Group'],
      ['..pkg.sub', 'a=a,b=b'],
      ['pkg.mod', 'pkg.mod=*'],
    ],
  );
});

test('Go: functions, methods with receivers, structs, interfaces, constants, package, imports', async () => {
  const src = [
    'package store',
    'import (',
    '\t"fmt"',
    '\tmh "example.com/mod/internal/hash"',
    ')',
    'const MaxSize = 10',
    'type Store struct {',
    '\titems map[string]int',
    '}',
    'type Getter interface {',
    '\tGet(k string) (int, error)',
    '}',
    'func New() *Store { return &Store{} }',
    'func (s *Store) Get(k string) (int, error) {',
    '\treturn s.items[k], nil',
    '}',
    'func helper() {}',
  ].join('\n');
  const o = await outlineFile('go', src);
  assert.equal(o.packageName, 'store');
  assert.deepEqual(symbols(o), [
    'constant MaxSize | MaxSize = 10',
    'class Store | type Store struct { items map[string]int }',
    'interface Getter | type Getter interface { Get(k string) (int, error) }',
    'method Getter.Get | Get(k string) (int, error)',
    'function New | func New() *Store',
    'method Store.Get | func (s *Store) Get(k string) (int, error)',
    'function helper (private) | func helper()',
  ]);
  assert.deepEqual(
    o.imports.map((i) => [i.source, i.names[0]!.local]),
    [
      ['fmt', 'fmt'],
      ['example.com/mod/internal/hash', 'mh'],
    ],
  );
});

test('Rust: items, impl blocks as containers, visibility, use trees and mod declarations', async () => {
  const src = [
    'use crate::store::{Store, ops::Op as O};',
    'pub use super::util;',
    'mod inner;',
    'pub const MAX: usize = 3;',
    '#[derive(Debug)]',
    'pub struct Point<T> { x: T }',
    'pub trait Shape { fn area(&self) -> f64; }',
    'impl<T> Point<T> {',
    '    pub fn new(x: T) -> Self { Point { x } }',
    '}',
    'fn private_fn() {}',
  ].join('\n');
  const o = await outlineFile('rust', src);
  assert.deepEqual(symbols(o), [
    'constant MAX | pub const MAX: usize = 3;',
    'class Point | pub struct Point<T>',
    'interface Shape | pub trait Shape',
    'method Shape.area (private) | fn area(&self) -> f64;',
    'class Point | impl<T> Point<T>',
    'method Point.new | pub fn new(x: T) -> Self',
    'function private_fn (private) | fn private_fn()',
  ]);
  assert.equal(o.symbols[1]!.range.startLine, 4, 'the attribute belongs to the range');
  assert.deepEqual(
    o.imports.map((i) => [i.source, i.names[0]!.local, i.reexport]),
    [
      ['crate::store::Store', 'Store', false],
      ['crate::store::ops::Op', 'O', false],
      ['super::util', 'util', true],
      ['self::inner', 'inner', false],
    ],
  );
});

test('every listed language parses and yields its main symbol', async () => {
  const samples: [string, string, string][] = [
    ['a.ts', 'export class A { m(): void {} }', 'A'],
    ['a.tsx', 'export function App() { return <div className="x">hi</div>; }', 'App'],
    ['a.js', 'export function run(x) { return x; }', 'run'],
    ['a.py', 'def run(x):\n    return x\n', 'run'],
    ['a.go', 'package a\nfunc Run() {}\n', 'Run'],
    ['a.rs', 'pub fn run() {}\n', 'run'],
    [
      'A.java',
      'package p;\nimport java.util.List;\npublic class A { public static final int K = 1; void m() {} }',
      'A',
    ],
    ['a.c', '#include "b.h"\nstatic int helper(void) { return 0; }\nint run(int x) { return x; }\n', 'run'],
    ['a.cpp', '#include <vector>\nnamespace n { class A { public: int m() const { return 1; } }; }\n', 'A'],
    ['a.cs', 'using System;\nnamespace N { public class A { public const int K = 1; public void M() {} } }', 'A'],
  ];
  for (const [path, src, name] of samples) {
    const lang = languageForPath(path) as LanguageId;
    const o = await outlineFile(lang, src);
    assert.equal(o.hasErrors, false, `${path} parses without errors`);
    assert.ok(
      o.symbols.some((s) => s.name === name),
      `${path}: ${name} in ${JSON.stringify(symbols(o))}`,
    );
  }
  const java = await outlineFile('java', samples[6]![1]);
  assert.deepEqual(symbols(java), [
    'class A | public class A',
    'constant A.K | public static final int K = 1;',
    'method A.m | void m()',
  ]);
  assert.equal(java.packageName, 'p');
  const c = await outlineFile('c', samples[7]![1]);
  assert.deepEqual(symbols(c), [
    'function helper (private) | static int helper(void)',
    'function run | int run(int x)',
  ]);
  assert.deepEqual(
    c.imports.map((i) => i.source),
    ['b.h'],
  );
  const cs = await outlineFile('csharp', samples[9]![1]);
  assert.deepEqual(symbols(cs), [
    'class A | public class A',
    'constant A.K | public const int K = 1;',
    'method A.M | public void M()',
  ]);
});

test('malformed, binary-looking and huge inputs never throw', async () => {
  const junk = [
    'function (',
    'class {{{{',
    ')))]]]',
    'def :\n  return',
    '\u0000\u0001\u0002garbage\uFFFD',
    'fn main( { let x = ; }',
    '"unterminated',
    '',
  ];
  for (const lang of [
    'typescript',
    'tsx',
    'javascript',
    'python',
    'go',
    'rust',
    'java',
    'c',
    'cpp',
    'csharp',
  ] as LanguageId[]) {
    for (const src of junk) {
      const o = await outlineFile(lang, src);
      assert.ok(Array.isArray(o.symbols) && Array.isArray(o.imports));
    }
  }
  // 1.5 MB of generated functions plus an unterminated tail.
  const huge =
    Array.from({ length: 30000 }, (_, i) => `function f${i}(a) { return a + ${i}; }`).join('\n') + '\nfunction broken(';
  const t0 = performance.now();
  const o = await outlineFile('javascript', huge);
  assert.ok(o.symbols.length >= 29000, `found ${o.symbols.length}`);
  assert.ok(performance.now() - t0 < 15000);
});

test('enclosingSymbols lists the scopes around an offset, outermost first', async () => {
  const src = 'export class Repo {\n  find(id: string) {\n    return id;\n  }\n}\n';
  const o = await outlineFile('typescript', src);
  const inside = src.indexOf('return');
  assert.deepEqual(
    enclosingSymbols(o, inside).map((s) => s.name),
    ['Repo', 'find'],
  );
});

test('multi-line imports report their last line too', async () => {
  const ts = await outlineFile(
    'typescript',
    "import {\n  a,\n  b,\n} from './x';\nconst {\n  c,\n} = require('./y');\n",
  );
  assert.deepEqual(
    ts.imports.map((i) => [i.line, i.endLine]),
    [
      [0, 3],
      [4, 6],
    ],
  );
  const py = await outlineFile('python', 'from x import (\n    a,\n    b,\n)\n');
  assert.deepEqual(
    py.imports.map((i) => [i.line, i.endLine]),
    [[0, 3]],
  );
});
