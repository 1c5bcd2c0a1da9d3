// GraphBuilder's If support (branch/ifElse), run by onnxruntime on CPU: the branch picked by the
// condition runs, branches read values of the parent graph by name, and their constants stay apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../native/onnx/graph-builder';
import { DataType } from '../../../native/onnx/onnx-proto';

const f32 = (v: number) => new Uint8Array(Float32Array.of(v).buffer);

test('ifElse runs the branch the condition picks; branches read parent values and hold their own constants', async () => {
  const g = new GraphBuilder('if-test');
  const x = g.input('x', DataType.FLOAT, ['n']);
  const cond = g.input('cond', DataType.BOOL, []);
  const shared = g.op('Mul', [x, g.constant(DataType.FLOAT, [], f32(10))]); // a parent value both branches read
  const then = g.branch('then');
  then.output(then.op('Add', [shared, then.constant(DataType.FLOAT, [], f32(1))]), 'then_out', DataType.FLOAT, ['n']);
  const otherwise = g.branch('else');
  otherwise.output(
    otherwise.op('Mul', [shared, otherwise.constant(DataType.FLOAT, [], f32(-2))]),
    'else_out',
    DataType.FLOAT,
    ['n'],
  );
  g.output(g.ifElse(cond, then, otherwise, 1)[0]!, 'y', DataType.FLOAT, ['n']);
  const session = await ort.InferenceSession.create(g.build({ '': 17 }).model, { executionProviders: ['cpu'] });
  const xs = Float32Array.from({ length: 5 }, () => Math.round(Math.random() * 100) / 10);
  for (const c of [true, false]) {
    const y = (await session.run({ x: new ort.Tensor('float32', xs, [5]), cond: new ort.Tensor('bool', [c], []) })).y!;
    const expected = Array.from(xs, (v) => (c ? Math.fround(v * 10) + 1 : Math.fround(v * 10) * -2));
    assert.deepEqual(
      Array.from(y.data as Float32Array),
      expected.map((v) => Math.fround(v)),
      `cond ${c}`,
    );
  }
  await session.release();
});

test('a branch that holds weights is refused with a message naming it', () => {
  const g = new GraphBuilder('if-test');
  const b = g.branch('heavy');
  b.weight('w', DataType.FLOAT, [1], f32(1));
  b.output('w', 'out', DataType.FLOAT, [1]);
  assert.throws(
    () => g.ifElse(g.input('c', DataType.BOOL, []), b, g.branch('light'), 1),
    /subgraph heavy holds weights/,
  );
});
