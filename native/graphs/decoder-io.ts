// The decoder graph's inputs and outputs: the contract between native/graphs/decoder.ts, which
// builds the graph, and native/runtime/decoder-session.ts, which feeds it.
//
// Batch size is 1 and dropped from every shape. Per call the engine supplies:
//   input_ids [S] int64                     the new tokens
//   rope_cos, rope_sin [S, D/2] float32     RoPE tables for the new tokens' explicit positions, so a
//                                           pruned cache keeps its tokens' original positions
//   causal_bias [S, S] float32              causal mask among the new tokens (0 or MASKED)
// and per layer L the cache, post-RoPE keys, in up to five parts:
//   past_key_L, past_value_L [Hkv, P, D]    settled full-precision tier (kv dtype), read only
//   qk{b}_L, qk{b}_scale_L, qk{b}_zero_L    b-bit keys, per-channel groups of G tokens
//   qv{b}_L, qv{b}_scale_L, qv{b}_zero_L    b-bit values, per-token groups of Gv channels
//   recent_key_L, recent_value_L [Hkv,R,D]  tokens added since the cache was settled
//   past_bias_L [Hkv, 1, P + Σ N_b + R]     0 for held tokens, MASKED for padding slots (heads of
//                                           one layer may keep different numbers of tokens)
//   few_query_rows [] bool                  float32 graphs: attend over each tier in place (few
//                                           query rows, decode) or over the concatenated,
//                                           dequantized cache (many rows, prefill); see
//                                           native/kernels/tier-attention.ts
//   observe [] bool                         graphs with an observation window: compute attn_L and
//                                           scores_L on this call (else they come back empty)
//   value_split_L [2 + tiers] int64         float32 graphs: slot counts [P, N_b…, R + S], where
//                                           the in-place way splits the probabilities
// and gets back:
//   logits [1 or S, V] float32              last position only unless allLogits
//   present_key_L, present_value_L          [Hkv, R+S, D] the recent tokens + the new ones
//   attn_L [Hq, min(W,S), P+ΣN_b+S] float32 attention probabilities of the last W queries over
//                                           the key slots (fp tier, q8, q4, q2, recent, new), which KV
//                                           policies score tokens with
//   scores_L [Hkv, P+ΣN_b+S] float32        SnapKV scores pooled from attn_L on the device

export type QuantPart = 'codes' | 'scale' | 'zero';

export const decoderNames = {
  inputIds: 'input_ids',
  ropeCos: 'rope_cos',
  ropeSin: 'rope_sin',
  causalBias: 'causal_bias',
  logits: 'logits',
  pastKey: (l: number) => `past_key_${l}`,
  pastValue: (l: number) => `past_value_${l}`,
  pastBias: (l: number) => `past_bias_${l}`,
  valueSplit: (l: number) => `value_split_${l}`,
  fewQueryRows: 'few_query_rows',
  observe: 'observe',
  recentKey: (l: number) => `recent_key_${l}`,
  recentValue: (l: number) => `recent_value_${l}`,
  quant: (kind: 'k' | 'v', bits: number, l: number, part: QuantPart) => `q${kind}${bits}_${part}_${l}`,
  presentKey: (l: number) => `present_key_${l}`,
  presentValue: (l: number) => `present_value_${l}`,
  attn: (l: number) => `attn_${l}`,
  scores: (l: number) => `scores_${l}`,
};
