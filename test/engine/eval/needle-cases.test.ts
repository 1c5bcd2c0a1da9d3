import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildNeedleCase,
  buildNeedleCases,
  makeNeedle,
  needleLine,
  needleQuestion,
} from '../../../engine/eval/needle-cases';
import { existsSync } from 'node:fs';
import { QWEN_REPO_FORMAT, loadSourcePackage, type SourceFile } from '../../../engine/eval/sources';
import { ModelTokenizer } from '../../../engine/model/tokenizer';
import { fixtureDir } from '../../helpers/fixtures';

const tok = ModelTokenizer.load(fixtureDir('qwen2'));
const count = (t: string) => tok.count(t);

// Filler: 12 files of top-level functions, ~60 lines each.
const FILES: SourceFile[] = Array.from({ length: 12 }, (_, f) => ({
  path: `src/mod${f}.js`,
  text:
    Array.from({ length: 20 }, (_, i) => `function step_${f}_${i}(x) {\n  return x * ${i + 1} + ${f};\n}`).join('\n') +
    '\n',
}));

test('makeNeedle: a zq_ identifier and 8 hex digits, the same for the same seed', () => {
  const a = makeNeedle(5),
    b = makeNeedle(5),
    c = makeNeedle(6);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.match(a.name, /^zq_[a-z]+_\d{3}$/);
  assert.match(a.value, /^[0-9a-f]{8}$/);
  assert.equal(needleLine(a), `const ${a.name} = "${a.value}";`);
  assert.equal(needleQuestion(a), `assert(${a.name} === "`);
});

for (const depth of [0, 0.25, 0.5, 0.75, 1]) {
  test(`needle case at depth ${depth}: defined once, at that depth within 5% of the prompt, prompt ends with the question`, () => {
    const L = 1500;
    const c = buildNeedleCase(FILES, 'haystack', { tokens: L, depth, count, format: QWEN_REPO_FORMAT, seed: 11 });
    const name = String(c.meta.identifier);
    const line = `const ${name} = "${c.expected}";`;
    assert.match(c.expected, /^[0-9a-f]{8}$/);
    assert.equal(c.prompt.split(line).length, 2, 'the needle line occurs exactly once');
    assert.equal(c.prompt.split(name).length, 3, 'the identifier occurs in the definition and the question only');
    assert.ok(c.prompt.endsWith(`\nassert(${name} === "`));
    assert.ok(c.prompt.startsWith('<|repo_name|>haystack\n<|file_sep|>src/'));
    const n = count(c.prompt);
    assert.equal(c.tokens, n);
    assert.ok(n <= L && n > 0.9 * L, `${n} tokens for ${L}`);
    // Depth measured independently: tokens before the needle line over all tokens.
    const measured = count(c.prompt.slice(0, c.prompt.indexOf(line))) / n;
    assert.ok(Math.abs(measured - depth) <= 0.05, `depth ${measured.toFixed(3)} for ${depth}`);
    assert.ok(Math.abs(c.depth - measured) < 0.01);
    // Between top-level statements: the line after the needle starts at column 0 (or is the question).
    const after = c.prompt.slice(c.prompt.indexOf(line) + line.length + 1);
    assert.match(after, /^(?:\S|$)/);
    if (depth === 1) assert.equal(after, `assert(${name} === "`);
  });
}

test('buildNeedleCases cycles the depths with a different needle per case', () => {
  const cs = buildNeedleCases(FILES, 'haystack', 6, { tokens: 600, count, format: QWEN_REPO_FORMAT, seed: 1 });
  assert.deepEqual(
    cs.map((c) => c.meta.requestedDepth),
    [0, 0.25, 0.5, 0.75, 1, 0],
  );
  assert.equal(new Set(cs.map((c) => c.expected)).size, 6);
  assert.ok(cs.every((c) => c.kind === 'needle' && c.tokens <= 600));
  assert.throws(
    () => buildNeedleCase(FILES, 'h', { tokens: 600, depth: 1.5, count, format: QWEN_REPO_FORMAT, seed: 1 }),
    /depth must be in \[0, 1\]/,
  );
});

const AJV = 'node_modules/ajv/lib';
test('needle cases in real filler (ajv sources): the measured depth is within 5% of the requested one', {
  skip: !existsSync(AJV) && 'ajv is not installed',
}, () => {
  const files = loadSourcePackage(AJV).files;
  for (const depth of [0, 0.25, 0.5, 0.75, 1]) {
    const c = buildNeedleCase(files, 'ajv', { tokens: 2000, depth, count, format: QWEN_REPO_FORMAT, seed: 102 });
    const line = `const ${c.meta.identifier} = "${c.expected}";`;
    const measured = count(c.prompt.slice(0, c.prompt.indexOf(line))) / count(c.prompt);
    assert.ok(Math.abs(measured - depth) <= 0.05, `depth ${measured.toFixed(3)} for ${depth}`);
    assert.ok(c.tokens <= 2000 && c.tokens > 1800, `${c.tokens}`);
  }
});

test('long indented bodies: the needle stays within 2% of the requested depth rather than moving to a distant top-level line', () => {
  // Each file is one class of 150 indented lines: top-level lines are ~900 tokens apart.
  const files: SourceFile[] = Array.from({ length: 4 }, (_, f) => ({
    path: `big${f}.js`,
    text:
      `class Big${f} {\n` + Array.from({ length: 150 }, (_, i) => `  m${i}() { return ${i}; }`).join('\n') + '\n}\n',
  }));
  for (const depth of [0.3, 0.6]) {
    const c = buildNeedleCase(files, 'big', { tokens: 2500, depth, count, format: QWEN_REPO_FORMAT, seed: 9 });
    const line = `const ${c.meta.identifier} = "${c.expected}";`;
    const measured = count(c.prompt.slice(0, c.prompt.indexOf(line))) / count(c.prompt);
    assert.ok(Math.abs(measured - depth) <= 0.05, `depth ${measured.toFixed(3)} for ${depth}`);
  }
});
