// Reads safetensors headers (single file or sharded with model.safetensors.index.json) into a
// WeightIndex: where each tensor's bytes live. Data is not loaded here; the graph builder either
// points onnxruntime at the file region (external data) or reads and converts it.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from './errors';
import { readRange } from './model-files';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I8' | 'U8' | 'BOOL' | 'F64' | 'I16';

const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export interface TensorEntry {
  name: string;
  /** Absolute path of the file holding the bytes. */
  file: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset in `file`. */
  offset: number;
  byteLength: number;
}

export type WeightIndex = Map<string, TensorEntry>;

/** Largest header we accept; real headers are well under 10 MB even for 70B models. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Parses one .safetensors file's header and checks every tensor lies inside the file. */
export function readSafetensorsHeader(file: string): TensorEntry[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new ModelLoadError(file, `cannot open weights (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 8)
      throw new ModelLoadError(
        file,
        `is truncated (${size} bytes; a safetensors file starts with an 8-byte header length)`,
      );
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen <= 0 || headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
      throw new ModelLoadError(
        file,
        `is corrupt or truncated: header length ${headerLen} does not fit the file size ${size}`,
      );
    }
    const headerBuf = Buffer.alloc(headerLen);
    readSync(fd, headerBuf, 0, headerLen, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(headerBuf.toString('utf8'));
    } catch {
      throw new ModelLoadError(file, 'is corrupt: its header is not valid JSON');
    }
    const dataStart = 8 + headerLen;
    const entries: TensorEntry[] = [];
    for (const [name, info] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const {
        dtype,
        shape,
        data_offsets: offs,
      } = (info ?? {}) as { dtype?: string; shape?: number[]; data_offsets?: number[] };
      if (!dtype || !(dtype in DTYPE_BYTES))
        throw new ModelLoadError(file, `tensor "${name}" has unsupported dtype ${JSON.stringify(dtype)}`);
      if (!Array.isArray(shape) || !Array.isArray(offs) || offs.length !== 2)
        throw new ModelLoadError(file, `tensor "${name}" has a malformed header entry`);
      const [b, e] = offs as [number, number];
      const expected = shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[dtype as SafetensorsDtype];
      if (e - b !== expected)
        throw new ModelLoadError(
          file,
          `tensor "${name}" spans ${e - b} bytes but its shape [${shape}] needs ${expected}`,
        );
      if (dataStart + e > size) {
        throw new ModelLoadError(
          file,
          `is truncated: tensor "${name}" ends at byte ${dataStart + e} but the file has ${size} bytes`,
        );
      }
      entries.push({ name, file, dtype: dtype as SafetensorsDtype, shape, offset: dataStart + b, byteLength: e - b });
    }
    return entries;
  } finally {
    closeSync(fd);
  }
}

/** Indexes every tensor of a model folder: model.safetensors, or the shards named by the index. */
export function loadWeightIndex(dir: string): WeightIndex {
  const single = join(dir, 'model.safetensors');
  const indexFile = join(dir, 'model.safetensors.index.json');
  let files: string[];
  if (existsSync(indexFile)) {
    let weightMap: Record<string, string>;
    try {
      weightMap = JSON.parse(readFileSync(indexFile, 'utf8')).weight_map;
    } catch (e) {
      throw new ModelLoadError(indexFile, `is not valid JSON (${(e as Error).message})`);
    }
    if (!weightMap || typeof weightMap !== 'object') throw new ModelLoadError(indexFile, 'has no "weight_map" object');
    files = [...new Set(Object.values(weightMap))].sort().map((f) => join(dir, f));
  } else if (existsSync(single)) {
    files = [single];
  } else {
    throw new ModelLoadError(
      single,
      'not found (nor model.safetensors.index.json): the model folder has no safetensors weights',
    );
  }
  const index: WeightIndex = new Map();
  for (const f of files) for (const t of readSafetensorsHeader(f)) index.set(t.name, t);
  return index;
}

/** Reads a tensor's raw bytes. */
export function readTensorBytes(t: TensorEntry): Buffer {
  const buf = Buffer.alloc(t.byteLength);
  readRange(t.file, t.offset, t.byteLength, t.name, buf);
  return buf;
}
