// GGUF files (llama.cpp's format, version 2 and 3): the header, the metadata key/values and the
// tensor directory, read without loading any tensor data, and a writer for the files our tools and
// tests make. Layout, little-endian:
//   "GGUF" · version u32 · tensor count u64 · metadata count u64
//   metadata: key (string) · value type u32 · value       string = length u64 · UTF-8 bytes
//   tensors:  name · n_dims u32 · dims u64[n_dims] (fastest first) · ggml type u32 · offset u64
//   padding to `general.alignment` (default 32), then the data; offsets are relative to it.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ModelLoadError } from './errors';
import { ggmlTypeOf } from './ggml-types';

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensor {
  name: string;
  /** Dimensions in ggml order: dims[0] varies fastest (a [rows, cols] matrix is [cols, rows]). */
  dims: number[];
  typeId: number;
  /** Absolute byte offset in the file and byte length. */
  offset: number;
  byteLength: number;
}

export interface GgufFile {
  path: string;
  version: number;
  size: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensor[];
}

const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const TYPE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
const SCALAR_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** Whether a file starts with the GGUF magic (Ollama keeps GGUF models as extension-less blobs). */
export function isGguf(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.readUInt32LE(0) === MAGIC;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Reads the header of a GGUF file through a window that refills from the file as parsing goes. */
class HeaderReader {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
    private readonly path: string,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.size)
      throw new ModelLoadError(
        this.path,
        `is truncated or corrupt: its header runs past the end of the file (${this.size} bytes)`,
      );
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    const len = Math.min(Math.max(n, 1 << 20), this.size - this.pos);
    this.buf = Buffer.alloc(len);
    readSync(this.fd, this.buf, 0, len, this.pos);
    this.bufStart = this.pos;
  }

  private at(n: number): number {
    this.need(n);
    const o = this.pos - this.bufStart;
    this.pos += n;
    return o;
  }

  // Each reader takes the offset first: at() may replace this.buf.
  u32(): number {
    const o = this.at(4);
    return this.buf.readUInt32LE(o);
  }

  u64(): number {
    const o = this.at(8);
    const v = this.buf.readBigUInt64LE(o);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ModelLoadError(this.path, `is corrupt: a length of ${v} bytes`);
    return Number(v);
  }

  string(): string {
    const n = this.u64();
    if (n > this.size) throw new ModelLoadError(this.path, `is corrupt: a string of ${n} bytes`);
    const o = this.at(n);
    return this.buf.toString('utf8', o, o + n);
  }

  scalar(type: number): GgufValue {
    const o = this.at(SCALAR_BYTES[type]!);
    const b = this.buf;
    switch (type) {
      case TYPE.UINT8:
        return b.readUInt8(o);
      case TYPE.INT8:
        return b.readInt8(o);
      case TYPE.UINT16:
        return b.readUInt16LE(o);
      case TYPE.INT16:
        return b.readInt16LE(o);
      case TYPE.UINT32:
        return b.readUInt32LE(o);
      case TYPE.INT32:
        return b.readInt32LE(o);
      case TYPE.FLOAT32:
        return b.readFloatLE(o);
      case TYPE.BOOL:
        return b.readUInt8(o) !== 0;
      case TYPE.UINT64: {
        const v = b.readBigUInt64LE(o);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case TYPE.INT64: {
        const v = b.readBigInt64LE(o);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      default:
        return b.readDoubleLE(o);
    }
  }

  value(type: number, key: string): GgufValue {
    if (type === TYPE.STRING) return this.string();
    if (type === TYPE.ARRAY) {
      const elem = this.u32();
      const n = this.u64();
      if (elem !== TYPE.STRING && elem !== TYPE.ARRAY && !(elem in SCALAR_BYTES))
        throw new ModelLoadError(this.path, `is corrupt: metadata "${key}" is an array of unknown type ${elem}`);
      if (n * (SCALAR_BYTES[elem] ?? 8) > this.size)
        throw new ModelLoadError(this.path, `is corrupt: metadata "${key}" claims ${n} elements`);
      const out: GgufValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = this.value(elem, key);
      return out;
    }
    if (!(type in SCALAR_BYTES))
      throw new ModelLoadError(this.path, `is corrupt: metadata "${key}" has unknown type ${type}`);
    return this.scalar(type);
  }
}

/** Parses a GGUF file's header and tensor directory; checks every tensor lies inside the file. */
export function readGguf(path: string): GgufFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new ModelLoadError(path, `cannot open the model file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 24) throw new ModelLoadError(path, `is truncated (${size} bytes): not a GGUF file`);
    const r = new HeaderReader(fd, size, path);
    if (r.u32() !== MAGIC) throw new ModelLoadError(path, 'is not a GGUF file (no "GGUF" magic at its start)');
    const version = r.u32();
    if (version !== 2 && version !== 3)
      throw new ModelLoadError(path, `is GGUF version ${version}; Squeeze reads versions 2 and 3`);
    const tensorCount = r.u64();
    const kvCount = r.u64();
    if (tensorCount > size || kvCount > size)
      throw new ModelLoadError(path, 'is corrupt: impossible tensor or metadata counts');
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < kvCount; i++) {
      const key = r.string();
      metadata.set(key, r.value(r.u32(), key));
    }
    const infos: { name: string; dims: number[]; typeId: number; rel: number }[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = r.string();
      const nDims = r.u32();
      if (nDims > 8) throw new ModelLoadError(path, `is corrupt: tensor "${name}" has ${nDims} dimensions`);
      const dims = Array.from({ length: nDims }, () => r.u64());
      infos.push({ name, dims, typeId: r.u32(), rel: r.u64() });
    }
    const alignment = Number(metadata.get('general.alignment') ?? 32);
    if (!Number.isInteger(alignment) || alignment <= 0)
      throw new ModelLoadError(path, `is corrupt: general.alignment is ${alignment}`);
    const dataStart = Math.ceil(r.pos / alignment) * alignment;
    const tensors = infos.map((t): GgufTensor => {
      const type = ggmlTypeOf(t.typeId);
      const elements = t.dims.reduce((a, d) => a * d, 1);
      if (type.supported && elements % type.blockSize !== 0)
        throw new ModelLoadError(
          path,
          `tensor "${t.name}" of type ${type.name} has ${elements} elements, not a whole number of ${type.blockSize}-element blocks`,
        );
      const byteLength = type.supported ? (elements / type.blockSize) * type.typeSize : 0;
      const offset = dataStart + t.rel;
      if (offset + byteLength > size)
        throw new ModelLoadError(
          path,
          `is truncated: tensor "${t.name}" ends at byte ${offset + byteLength} but the file has ${size} bytes`,
        );
      return { name: t.name, dims: t.dims, typeId: t.typeId, offset, byteLength };
    });
    return { path, version, size, metadata, tensors };
  } finally {
    closeSync(fd);
  }
}

/** Metadata accessors that name the key and the file when a value is missing or of the wrong kind. */
export class GgufMetadata {
  constructor(readonly file: GgufFile) {}

  has(key: string): boolean {
    return this.file.metadata.has(key);
  }

  number(key: string, fallback?: number): number {
    const v = this.file.metadata.get(key);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw new ModelLoadError(this.file.path, `GGUF metadata "${key}" is missing`);
    }
    if (typeof v !== 'number') throw new ModelLoadError(this.file.path, `GGUF metadata "${key}" is not a number`);
    return v;
  }

  string(key: string, fallback?: string): string {
    const v = this.file.metadata.get(key);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw new ModelLoadError(this.file.path, `GGUF metadata "${key}" is missing`);
    }
    if (typeof v !== 'string') throw new ModelLoadError(this.file.path, `GGUF metadata "${key}" is not a string`);
    return v;
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.file.metadata.get(key);
    return typeof v === 'boolean' ? v : fallback;
  }

  array<T extends GgufValue>(key: string, check: (v: GgufValue) => v is T, what: string): T[] {
    const v = this.file.metadata.get(key);
    if (!Array.isArray(v))
      throw new ModelLoadError(this.file.path, `GGUF metadata "${key}" is missing or not an array`);
    if (!v.every(check)) throw new ModelLoadError(this.file.path, `GGUF metadata "${key}" is not an array of ${what}`);
    return v as T[];
  }
}

// ---------------------------------------------------------------------------------------------
// Writing (tools/gguf/write.ts, tools/make-random-model.ts and tests).

export type GgufWriteValue =
  | { type: 'u32' | 'i32' | 'f32' | 'u64'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; of: 'string'; value: string[] }
  | { type: 'array'; of: 'i32' | 'f32'; value: number[] };

export interface GgufWriteTensor {
  name: string;
  /** ggml order: fastest first. */
  dims: number[];
  typeId: number;
  data: Uint8Array;
}

const WRITE_TYPE: Record<string, number> = {
  u32: TYPE.UINT32,
  i32: TYPE.INT32,
  f32: TYPE.FLOAT32,
  u64: TYPE.UINT64,
  bool: TYPE.BOOL,
  string: TYPE.STRING,
};

/** Encodes a GGUF v3 header; tensor data follows at the returned offsets (relative to the data start). */
export function encodeGgufHeader(
  metadata: Record<string, GgufWriteValue>,
  tensors: Omit<GgufWriteTensor, 'data'>[],
  byteLengths: number[],
  alignment = 32,
): { header: Buffer; offsets: number[] } {
  const parts: Buffer[] = [];
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    parts.push(b);
  };
  const u64 = (v: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    parts.push(b);
  };
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    u64(b.length);
    parts.push(b);
  };
  const scalar = (t: string, v: number | boolean) => {
    if (t === 'bool') parts.push(Buffer.from([v ? 1 : 0]));
    else if (t === 'f32') {
      const b = Buffer.alloc(4);
      b.writeFloatLE(v as number);
      parts.push(b);
    } else if (t === 'i32') {
      const b = Buffer.alloc(4);
      b.writeInt32LE(v as number);
      parts.push(b);
    } else if (t === 'u64') u64(v as number);
    else u32(v as number);
  };
  u32(MAGIC);
  u32(3);
  u64(tensors.length);
  u64(Object.keys(metadata).length + 1);
  str('general.alignment');
  u32(TYPE.UINT32);
  u32(alignment);
  for (const [key, v] of Object.entries(metadata)) {
    str(key);
    if (v.type === 'array') {
      u32(TYPE.ARRAY);
      u32(WRITE_TYPE[v.of]!);
      u64(v.value.length);
      for (const x of v.value) {
        if (v.of === 'string') str(x as string);
        else scalar(v.of, x as number);
      }
    } else {
      u32(WRITE_TYPE[v.type]!);
      if (v.type === 'string') str(v.value);
      else scalar(v.type, v.value);
    }
  }
  const offsets: number[] = [];
  let next = 0;
  tensors.forEach((t, i) => {
    str(t.name);
    u32(t.dims.length);
    for (const d of t.dims) u64(d);
    u32(t.typeId);
    offsets.push(next);
    u64(next);
    next = Math.ceil((next + byteLengths[i]!) / alignment) * alignment;
  });
  const header = Buffer.concat(parts);
  const padded = Buffer.alloc(Math.ceil(header.length / alignment) * alignment);
  header.copy(padded);
  return { header: padded, offsets };
}
