// Greedy decoding through the pipeline's own `generate`, stopping at EOS and the token limit only:
// how transformers' `generate(max_new_tokens=…)` ran to make the reference outputs.
import type { Decoder } from '../../engine/completion/decoder';
import { type Generation, generate } from '../../engine/completion/pipeline';

export function greedy<Kv>(
  decoder: Decoder<Kv>,
  from: { kv: Kv; lastLogits: Float32Array },
  position: number,
  maxTokens: number,
): Promise<Generation<Kv>> {
  return generate(
    decoder,
    { kv: from.kv, lastLogits: from.lastLogits, nextPosition: position, prefillMs: 0 },
    {
      maxTokens,
      eos: new Set(decoder.spec.eosTokenIds),
      stopIds: new Set(),
      rules: null,
      decode: () => '',
    },
  );
}
