import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compareSteps,
  exactMatchLine,
  firstLine,
  klDivergence,
  klFromLogits,
  mean,
  needleHit,
  sharedPrefix,
} from '../../../engine/eval/metrics';
import { argmax } from '../../../engine/completion/logprobs';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('KL of known distributions: KL([½,½] ‖ [¼,¾]) = ½ln2 + ½ln(2/3)', () => {
  const expected = 0.5 * Math.log(2) + 0.5 * Math.log(2 / 3); // 0.1438410362…
  close(klDivergence([0.5, 0.5], [0.25, 0.75]), expected);
  close(expected, 0.14384103622589045);
  // KL is not symmetric: KL([¼,¾] ‖ [½,½]) = ¼ln½ + ¾ln(3/2)
  close(klDivergence([0.25, 0.75], [0.5, 0.5]), 0.25 * Math.log(0.5) + 0.75 * Math.log(1.5));
  assert.equal(klDivergence([0.5, 0.5], [1, 0]), Infinity);
  assert.equal(klDivergence([1, 0], [0.5, 0.5]), Math.log(2));
});

test('KL from logits: softmax of the rows, invariant to a constant shift, exactly 0 for equal rows', () => {
  // softmax([0, 0]) = [½, ½]; softmax([0, ln 3]) = [¼, ¾]
  close(klFromLogits([0, 0], [0, Math.log(3)]), 0.14384103622589045, 1e-12);
  close(klFromLogits([5, 5], [-2, -2 + Math.log(3)]), 0.14384103622589045, 1e-12);
  assert.equal(klFromLogits([0.3, -1.2, 4, 2], [0.3, -1.2, 4, 2]), 0);
  // three classes, hand-checked: p = softmax([ln1, ln2, ln1]) = [¼, ½, ¼], q uniform → Σ p ln(3p)
  close(klFromLogits([0, Math.log(2), 0], [1, 1, 1]), 0.25 * Math.log(0.75) * 2 + 0.5 * Math.log(1.5), 1e-12);
  assert.throws(() => klFromLogits([0, 1], [0, 1, 2]), /rows of 2 and 3/);
});

test('argmax reads one row of a [rows, vocab] matrix and breaks ties towards the lowest id', () => {
  const m = Float32Array.from([1, 3, 3, 0, /* row 1 */ 9, 2, 9, 9]);
  assert.equal(argmax(m, 0, 4), 1);
  assert.equal(argmax(m, 1, 4), 0);
});

test('compareSteps counts top-1 agreement and KL(full ‖ compressed) per step', () => {
  const V = 3;
  const full = Float32Array.from([0, 2, 0, /**/ 0, 0, 0, /**/ 5, 1, 1]);
  const comp = Float32Array.from([0, 2, 0, /**/ 0, 0, 1, /**/ 1, 5, 1]);
  const r = compareSteps(full, comp, 3, V);
  assert.deepEqual(r.fullTop1, [1, 0, 0]);
  assert.deepEqual(r.top1, [1, 2, 1]);
  assert.equal(r.agree, 1);
  assert.equal(r.kl[0], 0);
  // step 1: p uniform, q = softmax([0,0,1]) = [1,1,e]/(2+e) → KL = Σ ⅓(ln ⅓ − ln q) = ln((2+e)/3) − ⅓ ≈ 0.11950
  close(r.kl[1]!, Math.log((2 + Math.E) / 3) - 1 / 3, 1e-9);
  close(r.kl[1]!, 0.119499, 1e-6);
  assert.ok(r.kl[2]! > 1);
  // Only the first `steps` rows are compared.
  assert.equal(compareSteps(full, comp, 1, V).agree, 1);
  assert.throws(() => compareSteps(full, comp, 4, V), /need 4×3/);
});

test('exact match of the first line: trailing whitespace ignored, indentation and content count', () => {
  assert.equal(exactMatchLine('  return foo(x);\n}\n', '  return foo(x);'), true);
  assert.equal(exactMatchLine('  return foo(x);   ', '  return foo(x);\r'), true);
  assert.equal(exactMatchLine('return foo(x);', '  return foo(x);'), false);
  assert.equal(exactMatchLine('  return foo(y);', '  return foo(x);'), false);
  assert.equal(exactMatchLine('  return foo(x); // more', '  return foo(x);'), false);
  assert.equal(exactMatchLine('', ''), true);
  assert.equal(firstLine('a\nb'), 'a');
  assert.equal(firstLine('ab'), 'ab');
});

test('needle scoring: the output must start with the exact value', () => {
  assert.equal(needleHit('3f9a0c2e");\n', '3f9a0c2e'), true);
  assert.equal(needleHit('3f9a0c2e', '3f9a0c2e'), true);
  assert.equal(needleHit('3f9a0c2', '3f9a0c2e'), false);
  assert.equal(needleHit(' 3f9a0c2e', '3f9a0c2e'), false);
  assert.equal(needleHit('3F9A0C2E', '3f9a0c2e'), false);
  assert.throws(() => needleHit('x', ''), /empty needle/);
});

test('sharedPrefix: the compressed greedy output follows the full one until its top-1 disagrees', () => {
  // full greedy g = 5 6 7 8; top1[i] is the compressed top-1 after g0..gi
  assert.deepEqual(sharedPrefix([5, 6, 7, 8], [6, 7, 9, 1]), { length: 3, next: 9 });
  assert.deepEqual(sharedPrefix([5, 6, 7, 8], [6, 7, 8, 4]), { length: 4, next: null });
  assert.deepEqual(sharedPrefix([5, 6, 7, 8], [0, 7, 8, 4]), { length: 1, next: 0 });
  assert.deepEqual(sharedPrefix([5], [3]), { length: 1, next: null });
});

test('mean', () => {
  assert.equal(mean([1, 2, 6]), 3);
  assert.ok(Number.isNaN(mean([])));
});
