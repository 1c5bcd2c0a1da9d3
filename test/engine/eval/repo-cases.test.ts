import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  buildRepoCase,
  buildRepoCases,
  definitions,
  findTargets,
  inStringOrComment,
} from '../../../engine/eval/repo-cases';
import {
  COMMENT_FORMAT,
  QWEN_REPO_FORMAT,
  loadSourcePackage,
  repoFormatFor,
  type SourcePackage,
} from '../../../engine/eval/sources';
import { ModelTokenizer } from '../../../engine/model/tokenizer';
import { fixtureDir } from '../../helpers/fixtures';

const tok = ModelTokenizer.load(fixtureDir('qwen2'));
const count = (t: string) => tok.count(t);

test('definitions: top-level functions, classes, consts, types and CommonJS exports; not nested or destructured', () => {
  const d = definitions(
    [
      'export function computeTotal(items) {',
      '  const inner = 1;',
      '}',
      'export default class Parser {}',
      'const { fromRequire } = require("x");',
      'export const LIMIT = 3;',
      'interface Shape { w: number }',
      'type Alias = string;',
      'exports.legacyThing = function () {};',
      'async function loadAll() {}',
      'function computeTotal() {}',
    ].join('\n'),
  );
  assert.deepEqual(
    [...d.entries()],
    [
      ['computeTotal', 0],
      ['Parser', 3],
      ['LIMIT', 5],
      ['Shape', 6],
      ['Alias', 7],
      ['legacyThing', 8],
      ['loadAll', 9],
    ],
  );
});

test('inStringOrComment', () => {
  const line = `call(alpha, "beta \\" gamma", delta) // epsilon`;
  assert.equal(inStringOrComment(line, line.indexOf('alpha')), false);
  assert.equal(inStringOrComment(line, line.indexOf('beta')), true);
  assert.equal(inStringOrComment(line, line.indexOf('gamma')), true);
  assert.equal(inStringOrComment(line, line.indexOf('delta')), false);
  assert.equal(inStringOrComment(line, line.indexOf('epsilon')), true);
});

// A hand-made package: computeTotal is defined only in math.ts; Widget in two files; formatName only in
// names.ts (used there too).
const PKG: SourcePackage = {
  name: 'handmade@1.0.0',
  root: '/nowhere',
  files: [
    {
      path: 'math.ts',
      text: 'export function computeTotal(items: number[]) {\n  return items.reduce((a, b) => a + b, 0);\n}\nexport class Widget {}\n',
    },
    {
      path: 'names.ts',
      text: 'export function formatName(n: string) {\n  return n.trim();\n}\nexport class Widget {}\nconst shown = formatName(" x ");\n',
    },
    {
      path: 'cart.ts',
      text: [
        "import { computeTotal } from './math';",
        "import { formatName } from './names';",
        '',
        'export function checkout(items: number[]) {',
        '  const w = new Widget();', // Widget: defined in two files → not a target
        '  log("computeTotal is slow");', // inside a string → not a target
        '  const sum = this.computeTotal(items);', // property access → not a target
        '  const total = computeTotal(items);', // ← the target
        '  return formatName(String(total));', // a second one
        '}',
      ].join('\n'),
    },
  ],
};

test('findTargets: lines using a name defined at top level in exactly one other file', () => {
  const t = findTargets(PKG);
  assert.deepEqual(
    t.map((x) => [x.path, x.line, x.identifier, x.defPath, x.defLine]),
    [
      ['cart.ts', 7, 'computeTotal', 'math.ts', 0],
      ['cart.ts', 8, 'formatName', 'names.ts', 0],
    ],
  );
  assert.equal(t[0]!.text, '  const total = computeTotal(items);');
});

test('buildRepoCase: Qwen repository format, the defining file in the context, the prompt ends where the target line starts', () => {
  const target = findTargets(PKG)[0]!;
  const c = buildRepoCase(PKG, target, { tokens: 400, count, format: QWEN_REPO_FORMAT, seed: 3 });
  assert.equal(c.kind, 'repo');
  assert.equal(c.expected, '  const total = computeTotal(items);');
  assert.ok(c.prompt.startsWith('<|repo_name|>handmade\n'), c.prompt.slice(0, 40));
  // Every other file is in the context (the budget holds them all); the target file comes last.
  assert.ok(c.prompt.includes('<|file_sep|>math.ts\nexport function computeTotal('));
  assert.ok(c.prompt.includes('<|file_sep|>names.ts\n'));
  const last = c.prompt.lastIndexOf('<|file_sep|>');
  assert.equal(
    c.prompt.slice(last),
    '<|file_sep|>cart.ts\n' + PKG.files[2]!.text.split('\n').slice(0, 7).join('\n') + '\n',
  );
  assert.ok(!c.prompt.includes('const total = computeTotal'));
  assert.equal(c.tokens, count(c.prompt));
  // depth: the tokens before the defining file's header, over the whole prompt
  const before = c.prompt.slice(0, c.prompt.indexOf('<|file_sep|>math.ts'));
  assert.equal(c.depth, count(before) / count(c.prompt));
  assert.equal(c.meta.defPath, 'math.ts');
  assert.equal(c.meta.identifier, 'computeTotal');
});

test('repoFormatFor: Qwen tokens when the tokenizer has them as single ids, comments otherwise', () => {
  assert.equal(
    repoFormatFor((t) => tok.tokenId(t)),
    QWEN_REPO_FORMAT,
  );
  assert.equal(
    repoFormatFor(() => undefined),
    COMMENT_FORMAT,
  );
  assert.equal(COMMENT_FORMAT.fileHeader('a/b.ts'), '// file: a/b.ts\n');
});

const AJV = 'node_modules/ajv/lib';
test('repository cases from a real package (ajv): the identifier is defined in another file that is in the prompt, within the token budget', {
  skip: !existsSync(AJV) && 'ajv is not installed',
}, () => {
  const pkg = loadSourcePackage(AJV);
  assert.match(pkg.name, /^ajv@\d/);
  assert.ok(pkg.files.length > 50 && pkg.files.every((f) => !f.path.endsWith('.d.ts')));
  const L = 2048;
  const cases = buildRepoCases([pkg], 4, { tokens: L, count, format: QWEN_REPO_FORMAT, seed: 1 });
  assert.equal(cases.length, 4);
  assert.equal(new Set(cases.map((c) => c.meta.path)).size, 4, 'one case per target file');
  for (const c of cases) {
    const n = count(c.prompt);
    assert.equal(c.tokens, n);
    assert.ok(n <= L && n > 0.8 * L, `${c.id}: ${n} tokens for a budget of ${L}`);
    const defPath = String(c.meta.defPath),
      path = String(c.meta.path),
      id = String(c.meta.identifier);
    assert.notEqual(defPath, path);
    const defFile = pkg.files.find((f) => f.path === defPath)!;
    const defLine = definitions(defFile.text).get(id);
    assert.ok(defLine !== undefined, `${id} is defined in ${defPath}`);
    assert.ok(!definitions(pkg.files.find((f) => f.path === path)!.text).has(id), `${id} is not defined in ${path}`);
    // The definition line itself is inside the prompt, in the defining file's piece.
    const piece = c.prompt.indexOf(`<|file_sep|>${defPath}\n`);
    assert.ok(piece >= 0);
    assert.ok(c.prompt.indexOf(defFile.text.split('\n')[defLine]!, piece) > piece);
    // The target line follows the prompt: the target file's text continues with it.
    const targetText = pkg.files.find((f) => f.path === path)!.text;
    const tail = c.prompt.slice(c.prompt.lastIndexOf(`<|file_sep|>${path}\n`) + `<|file_sep|>${path}\n`.length);
    assert.ok(
      targetText.startsWith(tail) || targetText.includes('\n' + tail),
      'the prompt ends with a prefix of the target file',
    );
    assert.ok(targetText.includes(tail + c.expected + '\n') || targetText.endsWith(tail + c.expected));
    assert.match(c.expected, new RegExp(`\\b${id.replace(/\$/g, '\\$')}\\b`));
  }
});
