// realignExternalData on a hand-made model: every tensor and prepacked blob (several in one entry
// too, as onnxruntime writes them) lands on a 64-byte boundary with its bytes intact, tensors that
// shared bytes still share them, a subgraph's tensor is reached, and a model it cannot read is refused
// with a message rather than rewritten wrong. The reading side here is written apart from the function.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realignExternalData } from '../../../native/onnx/realign-external-data';
import { DataType, encodeGraph, encodeModel, encodeNode } from '../../../native/onnx/onnx-proto';
import { concat, fBytes, fInt, fString } from '../../../native/onnx/protobuf';

/** An external tensor with the given external_data entries (key, value). */
const tensor = (name: string, entries: [string, string][]) =>
  concat([
    fInt(1, 1),
    fInt(2, DataType.UINT8),
    fString(8, name),
    ...entries.map(([k, v]) => fBytes(13, concat([fString(1, k), fString(2, v)]))),
    fInt(14, 1),
  ]);

/** Every (tensor name → external_data entries) in the model, subgraphs included (a reader of its own). */
function externalData(model: Uint8Array): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  const fields = (b: Uint8Array) => {
    const list: { f: number; v: Uint8Array | number }[] = [];
    let i = 0;
    const varint = () => {
      let x = 0;
      let m = 1;
      for (;;) {
        const c = b[i++]!;
        x += (c & 127) * m;
        if (c < 128) return x;
        m *= 128;
      }
    };
    while (i < b.length) {
      const key = varint();
      if (key % 8 === 0) list.push({ f: key >> 3, v: varint() });
      else {
        const n = varint();
        list.push({ f: key >> 3, v: b.subarray(i, i + n) });
        i += n;
      }
    }
    return list;
  };
  const text = (v: unknown) => Buffer.from(v as Uint8Array).toString();
  const graph = (g: Uint8Array) => {
    for (const { f, v } of fields(g)) {
      if (f === 5) {
        const t = fields(v as Uint8Array);
        const entries: Record<string, string> = {};
        for (const e of t.filter((x) => x.f === 13)) {
          const kv = fields(e.v as Uint8Array);
          entries[text(kv.find((x) => x.f === 1)!.v)] = text(kv.find((x) => x.f === 2)!.v);
        }
        out.set(text(t.find((x) => x.f === 8)!.v), entries);
      }
      if (f === 1)
        for (const a of fields(v as Uint8Array).filter((x) => x.f === 5))
          for (const s of fields(a.v as Uint8Array).filter((x) => x.f === 6)) graph(s.v as Uint8Array);
    }
  };
  graph(fields(model).find((x) => x.f === 7)!.v as Uint8Array);
  return out;
}

/** The entries of bytes [off, off + len) of in.data. */
const at = (off: number, len: number): [string, string][] => [
  ['location', 'in.data'],
  ['offset', String(off)],
  ['length', String(len)],
];

function setup(entriesA: [string, string][]) {
  const dir = mkdtempSync(join(tmpdir(), 'sq-realign-'));
  const data = Uint8Array.from({ length: 40 }, (_, i) => i + 1);
  writeFileSync(join(dir, 'in.data'), data);
  const branch = encodeGraph({ name: 'b', nodes: [], initializers: [tensor('D', at(30, 4))], inputs: [], outputs: [] });
  const model = encodeModel(
    {
      name: 'g',
      nodes: [encodeNode({ op: 'If', inputs: ['c'], outputs: ['y'], attrs: { then_branch: { graph: branch } } })],
      initializers: [
        tensor('A', entriesA),
        tensor('B', at(22, 3)),
        tensor('C', at(0, 10)), // the same bytes as A (an alias)
        tensor('Z', [
          ['location', 'in.data'],
          ['length', '2'],
        ]), // offset 0 left out
      ],
      inputs: [],
      outputs: [],
    },
    { '': 17 },
  );
  writeFileSync(join(dir, 'in.onnx'), model);
  return { dir, data };
}

test('tensors and every prepacked blob move to 64-byte offsets with their bytes; shared bytes stay shared', () => {
  const { dir, data } = setup([...at(0, 10), ['prepacked_0', 'K+7|10;7;0|17;5;0']]);
  realignExternalData(dir, 'in.onnx', 'in.data', 'out.onnx', 'out.data');
  const out = readFileSync(join(dir, 'out.data'));
  const ext = externalData(readFileSync(join(dir, 'out.onnx')));
  const bytesAt = (off: number, len: number) => Array.from(out.subarray(off, off + len));
  const original = (off: number, len: number) => Array.from(data.subarray(off, off + len));
  for (const [name, off, len] of [
    ['A', 0, 10],
    ['B', 22, 3],
    ['C', 0, 10],
    ['D', 30, 4],
    ['Z', 0, 2],
  ] as const) {
    const e = ext.get(name)!;
    assert.equal(e.location, 'out.data', name);
    assert.equal(Number(e.offset) % 64, 0, `${name} at ${e.offset}`);
    assert.deepEqual(bytesAt(Number(e.offset), len), original(off, len), name);
  }
  assert.equal(ext.get('C')!.offset, ext.get('A')!.offset, 'an alias keeps sharing its bytes');
  const [kernel, ...blobs] = ext.get('A')!.prepacked_0!.split('|');
  assert.equal(kernel, 'K+7');
  assert.equal(blobs.length, 2);
  const want = [
    [10, 7],
    [17, 5],
  ];
  blobs.forEach((b, i) => {
    const [off, len, check] = b.split(';');
    assert.equal(Number(off) % 64, 0);
    assert.equal(Number(len), want[i]![1]);
    assert.equal(check, '0');
    assert.deepEqual(bytesAt(Number(off), Number(len)), original(want[i]![0]!, want[i]![1]!));
  });
});

test('a tensor in another file, an unreadable blob entry or a cut model is refused, not rewritten', () => {
  const other = setup([
    ['location', 'elsewhere.data'],
    ['offset', '0'],
    ['length', '10'],
  ]);
  assert.throws(
    () => realignExternalData(other.dir, 'in.onnx', 'in.data', 'out.onnx', 'out.data'),
    /in "elsewhere.data", not in in.data/,
  );
  const bad = setup([...at(0, 10), ['prepacked_0', 'K+7|ten;7;0']]);
  assert.throws(
    () => realignExternalData(bad.dir, 'in.onnx', 'in.data', 'out.onnx', 'out.data'),
    /prepacked blob "ten;7;0"/,
  );
  const cut = setup(at(0, 10));
  const model = readFileSync(join(cut.dir, 'in.onnx'));
  writeFileSync(join(cut.dir, 'in.onnx'), model.subarray(0, model.length - 7));
  assert.throws(() => realignExternalData(cut.dir, 'in.onnx', 'in.data', 'out.onnx', 'out.data'), /past the end/);
});
