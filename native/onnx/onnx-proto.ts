// ONNX message encoders (ModelProto, GraphProto, NodeProto, TensorProto, ...) over the protobuf
// writer. Field numbers follow onnx.proto (checked against onnx's own decoder).
import { concat, fBytes, fFloat, fInt, fString, type Bytes } from './protobuf';

/** ONNX TensorProto.DataType values used here. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  BFLOAT16: 16,
} as const;
export type DataTypeId = (typeof DataType)[keyof typeof DataType];

export type AttrValue =
  | number
  | number[]
  | string
  | { float: number }
  | { floats: number[] }
  | { tensor: Bytes }
  | { graph: Bytes };

export function encodeAttribute(name: string, v: AttrValue): Bytes {
  const parts: Bytes[] = [fString(1, name)];
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: use {float: x} for non-integers`);
    parts.push(fInt(20, 2), fInt(3, v));
  } else if (typeof v === 'string') {
    parts.push(fInt(20, 3), fString(4, v));
  } else if (Array.isArray(v)) {
    parts.push(fInt(20, 7), ...v.map((x) => fInt(8, x)));
  } else if ('float' in v) {
    parts.push(fInt(20, 1), fFloat(2, v.float));
  } else if ('floats' in v) {
    parts.push(fInt(20, 6), ...v.floats.map((x) => fFloat(7, x)));
  } else if ('graph' in v) {
    parts.push(fInt(20, 5), fBytes(6, v.graph)); // a subgraph (If branches)
  } else {
    parts.push(fInt(20, 4), fBytes(5, v.tensor));
  }
  return concat(parts);
}

export interface NodeDef {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, AttrValue>;
}

export function encodeNode(n: NodeDef): Bytes {
  return concat([
    ...n.inputs.map((i) => fString(1, i)),
    ...n.outputs.map((o) => fString(2, o)),
    ...(n.name ? [fString(3, n.name)] : []),
    fString(4, n.op),
    ...Object.entries(n.attrs ?? {}).map(([k, v]) => fBytes(5, encodeAttribute(k, v))),
    ...(n.domain ? [fString(7, n.domain)] : []),
  ]);
}

/** A tensor with inline raw data. */
export function encodeTensor(name: string, dataType: DataTypeId, dims: number[], raw: Bytes): Bytes {
  return concat([...dims.map((d) => fInt(1, d)), fInt(2, dataType), fString(8, name), fBytes(9, raw)]);
}

/** A tensor whose data lives in an external file (or an in-memory buffer keyed by `location`). */
export function encodeExternalTensor(
  name: string,
  dataType: DataTypeId,
  dims: number[],
  location: string,
  offset: number,
  length: number,
): Bytes {
  const entry = (k: string, v: string) => fBytes(13, concat([fString(1, k), fString(2, v)]));
  return concat([
    ...dims.map((d) => fInt(1, d)),
    fInt(2, dataType),
    fString(8, name),
    entry('location', location),
    entry('offset', String(offset)),
    entry('length', String(length)),
    fInt(14, 1),
  ]);
}

/** A graph input/output declaration; string dims are symbolic. */
export function encodeValueInfo(name: string, elemType: DataTypeId, dims: (number | string)[]): Bytes {
  const shape = concat(dims.map((d) => fBytes(1, typeof d === 'number' ? fInt(1, d) : fString(2, d))));
  const tensorType = concat([fInt(1, elemType), fBytes(2, shape)]);
  return concat([fString(1, name), fBytes(2, fBytes(1, tensorType))]);
}

export interface GraphParts {
  name: string;
  nodes: Bytes[];
  initializers: Bytes[];
  inputs: Bytes[];
  outputs: Bytes[];
}

export function encodeGraph(g: GraphParts): Bytes {
  return concat([
    ...g.nodes.map((n) => fBytes(1, n)),
    fString(2, g.name),
    ...g.initializers.map((t) => fBytes(5, t)),
    ...g.inputs.map((v) => fBytes(11, v)),
    ...g.outputs.map((v) => fBytes(12, v)),
  ]);
}

export function encodeModel(g: GraphParts, opsets: Record<string, number>, irVersion = 10): Bytes {
  const graph = encodeGraph(g);
  const opsetImports = Object.entries(opsets).map(([domain, version]) =>
    fBytes(8, concat([...(domain ? [fString(1, domain)] : []), fInt(2, version)])),
  );
  return concat([fInt(1, irVersion), fString(2, 'squeeze'), fBytes(7, graph), ...opsetImports]);
}
