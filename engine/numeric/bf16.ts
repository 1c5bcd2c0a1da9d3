// bfloat16 ↔ float32 on the host (weights in bf16 checkpoints).

/** bfloat16 bits → float32 (exact: bf16 is the top half of a float32). */
export function bf16ToFloat32(src: Uint16Array): Float32Array {
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! << 16;
  return new Float32Array(out.buffer);
}
