// GGUF copies of test models, written by the project's writer (tools/gguf) from a safetensors folder.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GgufKind, writeGgufFromFolder } from '../../tools/gguf/write';

export type { GgufKind };

export function ggufFrom(
  dir: string,
  kind: GgufKind,
  out = join(mkdtempSync(join(tmpdir(), 'sq-gguf-')), `${kind}.gguf`),
): string {
  writeGgufFromFolder(dir, kind, out);
  return out;
}
