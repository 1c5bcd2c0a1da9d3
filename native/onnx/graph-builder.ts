// GraphBuilder: assembles an ONNX model node by node with generated value names, inline constants
// and weights handed to onnxruntime as in-memory external data (so no large .onnx is written and
// the protobuf stays far below its 2 GB limit).
import {
  DataType,
  encodeExternalTensor,
  encodeGraph,
  encodeModel,
  encodeNode,
  encodeTensor,
  encodeValueInfo,
  type AttrValue,
  type DataTypeId,
} from './onnx-proto';
import type { Bytes } from './protobuf';
import { encodeFp16 } from '../../engine/numeric/fp16';

export interface ExternalDataEntry {
  path: string;
  data: Uint8Array;
}

/** Where a weight's bytes went: a location onnxruntime resolves, and the byte range there. */
export interface WeightRange {
  location: string;
  offset: number;
  length: number;
}

/**
 * Where weights go as the graph is built. In memory (the default): each weight becomes an
 * externalData entry handed to onnxruntime with the model, which copies it. To a file
 * (native/runtime/weight-file.ts): weights are appended to one file next to the model as they are
 * made, so a large model never sits in memory twice; onnxruntime then maps the file.
 */
export interface WeightSink {
  /**
   * One weight of `length` bytes, given as consecutive parts: a large matrix arrives a few rows at a
   * time in buffers its producer reuses, so a sink copies (or writes) each part before taking the next.
   */
  write(length: number, parts: Iterable<Uint8Array>): WeightRange;
  /** The in-memory entries to pass as session externalData (none for a file). */
  entries(): ExternalDataEntry[];
}

export class MemorySink implements WeightSink {
  private readonly list: ExternalDataEntry[] = [];

  write(length: number, parts: Iterable<Uint8Array>): WeightRange {
    const path = `w${this.list.length}.bin`;
    const data = new Uint8Array(length);
    for (const [part, at] of partsAt(length, parts)) data.set(part, at);
    this.list.push({ path, data });
    return { location: path, offset: 0, length };
  }

  entries(): ExternalDataEntry[] {
    return this.list;
  }
}

/** A weight's parts (WeightSink.write) with the offset each starts at, checked to fill `length` exactly. */
export function* partsAt(length: number, parts: Iterable<Uint8Array>): Generator<[Uint8Array, number]> {
  let at = 0;
  for (const part of parts) {
    if (at + part.byteLength > length)
      throw new Error(`weight parts overrun the declared ${length} bytes (at ${at} + ${part.byteLength})`);
    yield [part, at];
    at += part.byteLength;
  }
  if (at !== length) throw new Error(`weight parts gave ${at} of the declared ${length} bytes`);
}

export interface BuiltModel {
  model: Uint8Array;
  externalData: ExternalDataEntry[];
}

export interface OpOptions {
  attrs?: Record<string, AttrValue>;
  domain?: string;
  /** Number of outputs (default 1). */
  outputs?: number;
  /** Explicit output names (graph outputs must have fixed names). */
  names?: string[];
}

export class GraphBuilder {
  private readonly nodes: Bytes[] = [];
  private readonly initializers: Bytes[] = [];
  private readonly inputs: Bytes[] = [];
  private readonly outputs: Bytes[] = [];
  private readonly ranges = new Map<string, WeightRange>();
  private readonly constCache = new Map<string, string>();
  private counter = 0;

  /**
   * `prefix` keeps a subgraph's generated names apart from its parent's; a subgraph's constants
   * live in the root graph (`root`), which its nodes read by name, so no subgraph holds initializers
   * (onnxruntime's optimized-model files then reload cleanly).
   */
  constructor(
    private readonly graphName: string,
    private readonly prefix = '',
    private readonly sink: WeightSink = new MemorySink(),
    private readonly root?: GraphBuilder,
  ) {}

  private fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  /**
   * A branch graph for `ifElse`: its nodes may read any value of this graph by name; it declares
   * its results with `output`. Weights belong in the parent (subgraphs hold only small constants).
   */
  branch(name: string): GraphBuilder {
    return new GraphBuilder(name, `${this.prefix}${name}_${this.counter++}/`, this.sink, this.root ?? this);
  }

  /** An If node: `cond` (a one-element bool) picks which branch's outputs become the results. */
  ifElse(cond: string, then: GraphBuilder, otherwise: GraphBuilder, outputs: number): string[] {
    return this.opMulti('If', [cond], {
      outputs,
      attrs: { then_branch: { graph: then.graphBytes() }, else_branch: { graph: otherwise.graphBytes() } },
    });
  }

  private graphBytes(): Uint8Array {
    if (this.ranges.size) throw new Error(`subgraph ${this.graphName} holds weights; declare them in the parent graph`);
    return encodeGraph({
      name: this.graphName,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: [],
      outputs: this.outputs,
    });
  }

  input(name: string, type: DataTypeId, dims: (number | string)[]): string {
    this.inputs.push(encodeValueInfo(name, type, dims));
    return name;
  }

  /** Declares `value` as a graph output named `name` (adds an Identity when the names differ). */
  output(value: string, name: string, type: DataTypeId, dims: (number | string)[]): void {
    if (value !== name) this.nodes.push(encodeNode({ op: 'Identity', inputs: [value], outputs: [name] }));
    this.outputs.push(encodeValueInfo(name, type, dims));
  }

  /** Adds a node; returns its output name(s). */
  op(op: string, inputs: string[], opts: OpOptions = {}): string {
    return this.opMulti(op, inputs, { ...opts, outputs: 1 })[0]!;
  }

  opMulti(op: string, inputs: string[], opts: OpOptions = {}): string[] {
    const outs = opts.names ?? Array.from({ length: opts.outputs ?? 1 }, () => this.fresh(op.toLowerCase()));
    this.nodes.push(encodeNode({ op, inputs, outputs: outs, attrs: opts.attrs, domain: opts.domain }));
    return outs;
  }

  /** An int64 constant (shapes, axes, slice bounds), deduplicated. */
  int64(values: number[], dims: number[] = [values.length]): string {
    if (this.root) return this.root.int64(values, dims);
    const k = `i64:${dims}:${values}`;
    const hit = this.constCache.get(k);
    if (hit) return hit;
    const raw = new Uint8Array(new BigInt64Array(values.map((v) => BigInt(v))).buffer);
    const name = this.fresh('c_i64');
    this.initializers.push(encodeTensor(name, DataType.INT64, dims, raw));
    this.constCache.set(k, name);
    return name;
  }

  /** A scalar or small float constant in the given float type (raw bytes supplied by the caller for fp16). */
  constant(type: DataTypeId, dims: number[], raw: Uint8Array, hint = 'c'): string {
    if (this.root) return this.root.constant(type, dims, raw, hint);
    const k = `${type}:${dims}:${Buffer.from(raw).toString('base64')}`;
    const hit = this.constCache.get(k);
    if (hit) return hit;
    const name = this.fresh(hint);
    this.initializers.push(encodeTensor(name, type, dims, raw));
    this.constCache.set(k, name);
    return name;
  }

  /** A float32 or float16 constant from numbers (fp16: rounded to nearest), deduplicated. */
  floats(
    type: typeof DataType.FLOAT | typeof DataType.FLOAT16,
    dims: number[],
    values: ArrayLike<number>,
    hint = 'c',
  ): string {
    const raw = type === DataType.FLOAT16 ? encodeFp16(values) : Float32Array.from(values);
    return this.constant(type, dims, new Uint8Array(raw.buffer), hint);
  }

  /** A float32 or float16 scalar constant. */
  scalar(type: typeof DataType.FLOAT | typeof DataType.FLOAT16, v: number): string {
    return this.floats(type, [], [v]);
  }

  /** A weight whose bytes go to the sink (see WeightSink); returns its name. */
  weight(name: string, type: DataTypeId, dims: number[], data: Uint8Array): string {
    return this.weightParts(name, type, dims, data.byteLength, [data]);
  }

  /** A weight of `length` bytes made in consecutive parts (WeightSink.write); returns its name. */
  weightParts(name: string, type: DataTypeId, dims: number[], length: number, parts: Iterable<Uint8Array>): string {
    const range = this.sink.write(length, parts);
    this.ranges.set(name, range);
    this.initializers.push(encodeExternalTensor(name, type, dims, range.location, range.offset, range.length));
    return name;
  }

  /**
   * A second weight over the bytes of `of` (written once), seen with another type or shape: a tied
   * embedding is gathered as [V, H] and multiplied as MatMulNBits' [V, blocks, blob].
   */
  alias(name: string, of: string, type: DataTypeId, dims: number[]): string {
    const range = this.ranges.get(of);
    if (!range) throw new Error(`alias ${name}: no weight named ${of}`);
    this.ranges.set(name, range);
    this.initializers.push(encodeExternalTensor(name, type, dims, range.location, range.offset, range.length));
    return name;
  }

  build(opsets: Record<string, number>): BuiltModel {
    const model = encodeModel(
      {
        name: this.graphName,
        nodes: this.nodes,
        initializers: this.initializers,
        inputs: this.inputs,
        outputs: this.outputs,
      },
      opsets,
    );
    return { model, externalData: this.sink.entries() };
  }
}
