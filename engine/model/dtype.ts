// Host-side float format conversions for weights. fp16 lives in engine/kv/fp16.ts (one
// implementation, with the directed roundings the quantizer needs); this adds bfloat16.

/** bfloat16 bits → float32 (exact: bf16 is the top half of a float32). */
export function bf16ToFloat32(src: Uint16Array): Float32Array {
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! << 16;
  return new Float32Array(out.buffer);
}
