// Writes a GGUF copy of a Hugging Face model folder (llama or qwen2, byte-level BPE tokenizer):
//   npx tsx tools/gguf/convert.ts --model DIR --type F16|Q8_0|Q4_0|Q4_K_M|Q5_K|Q6_K --out FILE.gguf
// The same values the folder holds, encoded as llama.cpp encodes them (tools/gguf/write.ts).
import { writeGgufFromFolder, type GgufKind } from './write';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
};
const model = arg('model');
const out = arg('out');
const kind = (arg('type') ?? 'Q8_0') as GgufKind;
if (!model || !out) {
  console.error('usage: convert.ts --model DIR --type F16|Q8_0|Q4_0|Q4_K_M|Q5_K|Q6_K --out FILE.gguf');
  process.exit(2);
}
writeGgufFromFolder(model, kind, out);
console.log(`wrote ${out} (${kind}) from ${model}`);
