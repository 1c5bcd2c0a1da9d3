// GGUF copies of test models, written by the project's writer (tools/gguf) from a safetensors folder:
// matrices in `type`, norm weights and biases in F32 (as llama.cpp's converter keeps them).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dequantize, type GgmlTypeName } from '../../engine/model/ggml-types';
import { openModelSource, readTensorBytes } from '../../engine/model/source';
import { GgufWriter, modelMetadata, q4kmType, tokenizerMetadata } from '../../tools/gguf/write';

export type GgufKind = GgmlTypeName | 'Q4_K_M';

export function ggufFrom(
  dir: string,
  kind: GgufKind,
  out = join(mkdtempSync(join(tmpdir(), 'sq-gguf-')), `${kind}.gguf`),
): string {
  const src = openModelSource(dir);
  const { spec } = src;
  const typeOf = (name: string, shape: number[]): GgmlTypeName =>
    shape.length === 1 ? 'F32' : kind === 'Q4_K_M' ? q4kmType(name, spec.layers) : kind;
  const tensors = [...src.tensors.values()];
  const w = new GgufWriter(
    out,
    { ...modelMetadata(spec, `test-${spec.family}`), ...tokenizerMetadata(dir, spec.vocabSize, spec) },
    tensors.map((t) => ({ name: t.name, shape: t.shape, type: typeOf(t.name, t.shape) })),
  );
  try {
    for (const t of tensors) {
      const values = dequantize(
        t.type,
        readTensorBytes(t),
        t.shape.reduce((a, b) => a * b, 1),
      );
      const heads =
        spec.family === 'qwen2'
          ? undefined
          : /q_proj/.test(t.name)
            ? spec.qHeads
            : /k_proj/.test(t.name)
              ? spec.kvHeads
              : undefined;
      w.write(t.name, values, heads);
    }
  } finally {
    w.close();
  }
  return out;
}
