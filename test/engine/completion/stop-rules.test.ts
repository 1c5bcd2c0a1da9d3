// Stop rules and clean-up of completions, on hand-written cursor contexts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  StopRules,
  completionMode,
  repeatCut,
  startAtCursor,
  trimSuffixOverlap,
  type CursorContext,
} from '../../../engine/completion/stop-rules';
import { firstVisibleToken } from '../../../engine/completion/pipeline';

const ctx = (c: Partial<CursorContext>): CursorContext => ({
  linePrefix: '',
  lineSuffix: '',
  previousLine: '',
  nextLines: [],
  ...c,
});

/** Feeds `text` character by character, as tokens arrive, and returns what is kept. */
function run(rules: StopRules, text: string): { kept: string; reason?: string } {
  for (let i = 1; i <= text.length; i++) {
    const d = rules.check(text.slice(0, i));
    if (d.cut !== undefined) return { kept: rules.finalize(text.slice(0, i).slice(0, d.cut)), reason: d.reason };
  }
  return { kept: rules.finalize(text) };
}

test('mode: one line inside an expression, several lines in an empty block body', () => {
  assert.equal(completionMode(ctx({ linePrefix: '  const x = ' })), 'line');
  assert.equal(completionMode(ctx({ linePrefix: '  ', previousLine: 'function f() {', nextLines: ['}'] })), 'block');
  assert.equal(
    completionMode(ctx({ linePrefix: '    ', previousLine: '  def f(x):', nextLines: ['', 'def g():'] })),
    'block',
  );
  assert.equal(completionMode(ctx({ linePrefix: '  ', previousLine: 'const f = () =>', nextLines: [] })), 'block');
  // A body that already has code is not empty: one line.
  assert.equal(
    completionMode(ctx({ linePrefix: '  ', previousLine: 'function f() {', nextLines: ['  return 1;', '}'] })),
    'line',
  );
  // Text after the cursor: one line.
  assert.equal(completionMode(ctx({ linePrefix: '  ', lineSuffix: 'x', previousLine: 'if (a) {' })), 'line');
  // The line above does not open a block.
  assert.equal(completionMode(ctx({ linePrefix: '', previousLine: 'const a = 1;' })), 'line');
});

test('line mode stops at the newline and drops what the line already has after the cursor', () => {
  assert.deepEqual(run(new StopRules(ctx({ linePrefix: 'const x = ' })), 'a + b;\nconst y = 2;'), {
    kept: 'a + b;',
    reason: 'newline',
  });
  // The closing parenthesis is already there: stop before generating it again.
  assert.deepEqual(run(new StopRules(ctx({ linePrefix: 'add(', lineSuffix: ')' })), 'a, b);'), {
    kept: 'a, b',
    reason: 'bracket',
  });
  // Balanced brackets inside the completion are kept.
  assert.deepEqual(run(new StopRules(ctx({ linePrefix: 'f(', lineSuffix: ')' })), 'g(1), h[2])'), {
    kept: 'g(1), h[2]',
    reason: 'bracket',
  });
  // Without a closer after the cursor, closing the user's bracket is right.
  assert.deepEqual(run(new StopRules(ctx({ linePrefix: 'log(' })), 'x);\n'), { kept: 'x);', reason: 'newline' });
  // Brackets inside strings do not count.
  assert.deepEqual(run(new StopRules(ctx({ linePrefix: 'f(', lineSuffix: ')' })), '")", 1)'), {
    kept: '")", 1',
    reason: 'bracket',
  });
});

test('at the end of a line with text, a completion that ends the line offers the next line', () => {
  const end = ctx({ linePrefix: '  const total = sum(xs);', previousLine: 'function f(xs) {', nextLines: ['}'] });
  // The model ends the line at once: the next line is kept, with its own indentation, and the
  // completion stops at that line's end.
  assert.deepEqual(run(new StopRules(end), '\n  return total;\n}'), { kept: '\n  return total;', reason: 'newline' });
  // Spaces before the break count as ending the line; tokens may carry the break and the indent together.
  assert.deepEqual(run(new StopRules(end), ' \n  log(total);\n'), { kept: '\n  log(total);', reason: 'newline' });
  // A blank next line, or one that re-types the document's next line, gives nothing.
  assert.deepEqual(run(new StopRules(end), '\n\n  return total;\n'), { kept: '', reason: 'newline' });
  assert.deepEqual(run(new StopRules(end), '\n}\n'), { kept: '', reason: 'newline' });
  // A model that writes CRLF line breaks: the same, shown with the editor's own break.
  assert.deepEqual(run(new StopRules(end), '\r\n  return total;\r\n}'), {
    kept: '\n  return total;',
    reason: 'newline',
  });
  // Still generating the next line: no cut yet.
  assert.deepEqual(new StopRules(end).check('\n  return to'), {});
  // Text on the cursor's line first: that line alone, as before.
  assert.deepEqual(run(new StopRules(ctx({ linePrefix: 'const x = ' })), '1;\nconst y = 2;\n'), {
    kept: '1;',
    reason: 'newline',
  });
  // Not at the end of the line (text after the cursor), or on a blank line: no next line.
  assert.deepEqual(run(new StopRules(ctx({ linePrefix: 'f(a', lineSuffix: ')' })), '\n  b\n'), {
    kept: '',
    reason: 'newline',
  });
  assert.deepEqual(run(new StopRules(ctx({ linePrefix: '  ', previousLine: 'x();' })), '\n  y();\n'), {
    kept: '',
    reason: 'newline',
  });
});

test('line mode drops a repeat of the next line and whitespace-only text', () => {
  const r = new StopRules(ctx({ linePrefix: '  ', previousLine: 'x();', nextLines: ['  return total;'] }));
  assert.equal(r.finalize('return total;'), '');
  assert.equal(new StopRules(ctx({ linePrefix: 'a' })).finalize('   \t'), '');
});

test('block mode: the body until the block would end', () => {
  const c = ctx({ linePrefix: '  ', previousLine: 'function area(r) {', nextLines: ['}', '', 'function next() {'] });
  const r = run(new StopRules(c), 'const a = Math.PI * r * r;\n  return a;\n}\n\nfunction other() {');
  assert.deepEqual(r, { kept: 'const a = Math.PI * r * r;\n  return a;', reason: 'bracket' });
  // Python: a dedented line ends the body.
  const py = ctx({ linePrefix: '    ', previousLine: 'def f(x):', nextLines: [] });
  assert.deepEqual(run(new StopRules(py), 'y = x * 2\n    return y\ndef g():\n'), {
    kept: 'y = x * 2\n    return y',
    reason: 'dedent',
  });
  // Nested blocks inside the body are fine.
  const nested = run(new StopRules(c), 'for (const x of xs) {\n    total += x;\n  }\n  return total;\n}');
  assert.equal(nested.kept, 'for (const x of xs) {\n    total += x;\n  }\n  return total;');
});

test('block mode: two blank lines or maxLines end it; trailing repeats of the next lines go', () => {
  const c = ctx({ linePrefix: '  ', previousLine: 'if (x) {', nextLines: ['}'] });
  assert.deepEqual(run(new StopRules(c), 'a();\n\n\n  b();'), { kept: 'a();', reason: 'blank-lines' });
  assert.deepEqual(run(new StopRules(c, 2), 'a();\n  b();\n  c();\n  d();'), {
    kept: 'a();\n  b();',
    reason: 'max-lines',
  });
  const dup = ctx({ linePrefix: '  ', previousLine: 'try {', nextLines: ['} finally {', '  done();'] });
  assert.equal(new StopRules(dup).finalize('work();\n  done();'), 'work();');
});

test('trimSuffixOverlap removes only what the line already has', () => {
  assert.equal(trimSuffixOverlap('a, b);', ');'), 'a, b');
  assert.equal(trimSuffixOverlap('value }', '}'), 'value');
  assert.equal(trimSuffixOverlap('x + 1', ') * 2'), 'x + 1');
  assert.equal(trimSuffixOverlap('name', ''), 'name');
  // Letters are not trimmed as an overlap (only the whole rest of the line would be).
  assert.equal(trimSuffixOverlap('foo.bar', 'baz'), 'foo.bar');
});

test('repetition is cut where it starts, real code is not', () => {
  assert.equal(repeatCut('foo(foo(foo('), 'foo('.length);
  assert.equal(repeatCut('x = a.b.c.d.e'), undefined, 'short units do not count');
  assert.equal(repeatCut('[0, 0, 0, 0]'), undefined);
  // One line three times in a row: cut before the second.
  const thrice = 'log(x);\nlog(x);\nlog(x);\n';
  assert.equal(thrice.slice(0, repeatCut(thrice)), 'log(x);');
  // A group of two lines twice.
  const pair = 'a = 1;\nb = 2;\na = 1;\nb = 2;\n';
  assert.equal(pair.slice(0, repeatCut(pair)), 'a = 1;\nb = 2;');
  // Closing brackets and blank lines repeat in real code.
  assert.equal(repeatCut('    }\n  }\n}\n'), undefined);
  assert.equal(repeatCut('}\n}\n}\n'), undefined);
  assert.equal(repeatCut('x++;\nx++;\n'), undefined, 'one line twice is allowed');
  // Through the rules: the block ends with reason "repeat".
  const r = new StopRules(ctx({ linePrefix: '  ', previousLine: 'function f() {' }));
  assert.deepEqual(r.check('call();\n  call();\n  call();\n'), { cut: 'call();'.length, reason: 'repeat' });
});

test('a multi-line ghost starts at the cursor', () => {
  // The model ended the cursor line first: its blank line and the indentation the cursor has go.
  assert.equal(startAtCursor('\n    return a;\n  }', '    '), 'return a;\n  }');
  assert.equal(startAtCursor('return a;\n    b();', '    '), 'return a;\n    b();');
  assert.equal(startAtCursor('\n  \n\treturn a;', '\t'), 'return a;');
  assert.equal(startAtCursor('\n  x();', ''), '  x();', "at column 0 the indentation is the ghost's");
  const r = new StopRules(ctx({ linePrefix: '    ', previousLine: '  if (a) {' }));
  assert.equal(r.mode, 'block');
  assert.equal(r.finalize('\n    return a;\n    b();'), 'return a;\n    b();');
});

test('an empty block body starts with the likeliest token that writes something', () => {
  // Hand-made vocabulary: 0 EOS, 1 a stop token, 2 "\n", 3 "  ", 4 "}", 5 "return", 6 "x".
  const words = ['', '', '\n', '  ', '}', 'return', 'x'];
  const logits = Float32Array.from([9, 8, 7, 6, 5, 4, 3]);
  const added = (id: number) => words[id]!;
  assert.equal(firstVisibleToken(logits, 7, new Set([0, 1]), added), 5);
  // Nothing visible among the candidates: the best token that is not a stop.
  assert.equal(firstVisibleToken(Float32Array.from([9, 8, 7, 6, 5]), 5, new Set([0, 1]), added), 2);
});
