// Rewrites an ONNX model saved with external data so that every external tensor and every prepacked
// blob starts on a 64-byte boundary of its data file.
//
// Why: onnxruntime (1.30, 1.31) writes the prepacked weights of an optimized model
// (session.save_external_prepacked_constant_initializers) right after the tensor they came from,
// with no padding, and maps them back at those offsets. MatMulNBits' int8-compute layout aligns its
// parts relative to the buffer's address, so a blob that lands off a 64-byte boundary is read shifted:
// wrong numbers (infinities here), no error. Measured: a second MatMulNBits whose blob sat at offset
// 8318 returned Infinity; at a 64-byte offset it matched the unpacked session exactly.
//
// This function's source also runs on its own in the packer's child process (packed-model.ts passes
// `realignExternalData.toString()` to `node -e`), so it reads nothing from outside its body.

/**
 * Reads `dir/modelFile` and `dir/dataFile`, writes `dir/outModel` and `dir/outData` with the same
 * tensors and blobs at 64-byte-aligned offsets (one copy of bytes several tensors share).
 */
export function realignExternalData(
  dir: string,
  modelFile: string,
  dataFile: string,
  outModel: string,
  outData: string,
): void {
  const fs = require('node:fs') as typeof import('node:fs');
  const path = require('node:path') as typeof import('node:path');
  const ALIGN = 64;
  /** Pieces of a page or more start on a page: onnxruntime maps those instead of reading them. */
  const PAGE = 4096;
  const LEN = 2;

  interface Field {
    field: number;
    wire: number;
    /** The whole encoded field (tag included). */
    raw: Uint8Array;
    /** A length-delimited field's payload. */
    payload?: Uint8Array;
  }
  const readVarint = (b: Uint8Array, at: number): [number, number] => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (at >= b.length) throw new Error('a protobuf varint runs past the end of the model');
      const byte = b[at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return [value, at];
      scale *= 128;
    }
  };
  const varint = (v: number): number[] => {
    const out: number[] = [];
    while (v >= 0x80) {
      out.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(v);
    return out;
  };
  const parse = (b: Uint8Array): Field[] => {
    const fields: Field[] = [];
    let at = 0;
    while (at < b.length) {
      const start = at;
      const [tag, next] = readVarint(b, at);
      at = next;
      const wire = tag % 8;
      let payload: Uint8Array | undefined;
      if (wire === 0) at = readVarint(b, at)[1];
      else if (wire === 1) at += 8;
      else if (wire === 5) at += 4;
      else if (wire === LEN) {
        const [n, from] = readVarint(b, at);
        payload = b.subarray(from, from + n);
        at = from + n;
      } else throw new Error(`unsupported protobuf wire type ${wire}`);
      if (at > b.length) throw new Error('a protobuf field runs past the end of the model');
      fields.push({ field: Math.floor(tag / 8), wire, raw: b.subarray(start, at), payload });
    }
    return fields;
  };
  const lenField = (field: number, payload: Uint8Array): Uint8Array =>
    Buffer.concat([Buffer.from(varint(field * 8 + LEN)), Buffer.from(varint(payload.length)), payload]);
  const join = (fields: Field[]) => Buffer.concat(fields.map((f) => f.raw));
  /** Rewrites the length-delimited fields numbered in `rewrite` with their functions. */
  const mapMessage = (b: Uint8Array, rewrite: Record<number, (p: Uint8Array) => Uint8Array>): Uint8Array =>
    join(
      parse(b).map((f) => {
        const fn = f.wire === LEN ? rewrite[f.field] : undefined;
        return fn ? { ...f, raw: lenField(f.field, fn(f.payload!)) } : f;
      }),
    );
  const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

  const input = fs.openSync(path.join(dir, dataFile), 'r');
  const output = fs.openSync(path.join(dir, outData), 'w');
  let size = 0;
  const moved = new Map<string, number>();
  const chunk = Buffer.alloc(1 << 22);
  /** Copies [offset, offset + length) of the input to the next aligned offset of the output. */
  const move = (offset: number, length: number): number => {
    const key = `${offset}:${length}`;
    const known = moved.get(key);
    if (known !== undefined) return known;
    const align = length >= PAGE ? PAGE : ALIGN;
    const to = Math.ceil(size / align) * align;
    if (to > size) fs.writeSync(output, Buffer.alloc(to - size), 0, to - size, size);
    for (let done = 0; done < length; ) {
      const n = fs.readSync(input, chunk, 0, Math.min(chunk.length, length - done), offset + done);
      if (n <= 0) throw new Error(`${dataFile} ends before byte ${offset + length}`);
      fs.writeSync(output, chunk, 0, n, to + done);
      done += n;
    }
    size = to + length;
    moved.set(key, to);
    return to;
  };

  /** TensorProto.external_data (13) entries: location, offset, length, and prepacked blobs. */
  const tensor = (b: Uint8Array): Uint8Array => {
    const fields = parse(b);
    const entries = fields.filter((f) => f.field === 13 && f.wire === LEN);
    if (entries.length === 0) return b;
    const kv = entries.map((f) => {
      const parts = parse(f.payload!);
      const key = text(parts.find((p) => p.field === 1)?.payload ?? new Uint8Array());
      const value = text(parts.find((p) => p.field === 2)?.payload ?? new Uint8Array());
      return { key, value };
    });
    const offset = Number(kv.find((e) => e.key === 'offset')?.value ?? 0);
    const length = Number(kv.find((e) => e.key === 'length')?.value ?? NaN);
    if (!Number.isFinite(length)) throw new Error('an external tensor without a length');
    const newOffset = move(offset, length);
    if (!kv.some((e) => e.key === 'offset')) kv.push({ key: 'offset', value: '0' }); // 0 may be left out
    const location = kv.find((e) => e.key === 'location')?.value;
    if (location !== dataFile) throw new Error(`a tensor's data is in "${location}", not in ${dataFile}`);
    const newValue = (e: { key: string; value: string }): string => {
      if (e.key === 'offset') return String(newOffset);
      if (e.key === 'location') return outData;
      if (!e.key.startsWith('prepacked')) return e.value;
      // Prepacked blobs: key prepacked_<i>, value "<kernel>+<hash>|<offset>;<length>;<checksum>",
      // with one more "|<offset>;<length>;<checksum>" for each further blob of the same kernel.
      const [kernel, ...blobs] = e.value.split('|');
      if (blobs.length === 0) throw new Error(`prepacked entry "${e.value}" names no blob`);
      const moved = blobs.map((b) => {
        const m = /^(\d+);(\d+)(;.*)?$/.exec(b);
        if (!m) throw new Error(`prepacked blob "${b}" is not <offset>;<length>[;…]`);
        return `${move(Number(m[1]), Number(m[2]))};${m[2]}${m[3] ?? ''}`;
      });
      return [kernel, ...moved].join('|');
    };
    const rest = fields.filter((f) => !(f.field === 13 && f.wire === LEN));
    const entryFields = kv.map((e) => {
      const entry = Buffer.concat([lenField(1, Buffer.from(e.key)), lenField(2, Buffer.from(newValue(e)))]);
      return { field: 13, wire: LEN, raw: lenField(13, entry) };
    });
    return join([...rest, ...entryFields]);
  };
  // GraphProto: nodes (1) hold attributes (5) whose graphs (6, 11) may hold tensors; initializers (5).
  const graph = (b: Uint8Array): Uint8Array => mapMessage(b, { 1: node, 5: tensor });
  const node = (b: Uint8Array): Uint8Array => mapMessage(b, { 5: attribute });
  // AttributeProto: t (5) and tensors (10) hold tensors, g (6) and graphs (11) hold graphs.
  const attribute = (b: Uint8Array): Uint8Array => mapMessage(b, { 5: tensor, 6: graph, 10: tensor, 11: graph });
  try {
    const model = mapMessage(fs.readFileSync(path.join(dir, modelFile)), { 7: graph });
    fs.writeFileSync(path.join(dir, outModel), model);
  } finally {
    fs.closeSync(input);
    fs.closeSync(output);
  }
}
