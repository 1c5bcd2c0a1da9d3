// Stand-ins for prepared-model cache entries of given sizes, for the eviction tests: the cache
// counts the bytes meta.json lists, so the files' contents do not matter.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A build for PreparedCache.getOrBuild that writes a model.onnx of `bytes` bytes. */
export const modelOfBytes = (bytes: number) => async (dir: string) => {
  writeFileSync(join(dir, 'model.onnx'), Buffer.alloc(bytes));
  return {};
};

/** Gives the entry in `dir` a packed copy whose meta.json lists `bytes` bytes. */
export function withPackedCopy(dir: string, bytes: number): void {
  mkdirSync(join(dir, 'packed'));
  writeFileSync(join(dir, 'packed', 'meta.json'), JSON.stringify({ sizes: { 'model.data': bytes } }));
}
