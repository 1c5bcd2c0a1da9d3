// RoPE tables computed on the host for explicit positions. Keeping positions an input (rather than
// deriving them in the graph) is what lets a pruned cache keep its tokens' original positions and
// keeps int64 index math off GPU providers.
import type { ModelSpec, RopeScaling, WeightDtype } from './config';
import { roundToFp16 } from '../numeric/fp16';

/** Inverse frequencies for each pair of dimensions, with the configured scaling applied. */
export function ropeInvFreq(headDim: number, theta: number, scaling: RopeScaling): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  // float32 arithmetic step by step, as transformers computes it, so angles match at long positions.
  for (let i = 0; i < half; i++) inv[i] = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / headDim)));
  if (scaling.type === 'linear') for (let i = 0; i < half; i++) inv[i]! /= scaling.factor;
  if (scaling.type === 'llama3') {
    // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, a smooth ramp between.
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions } = scaling;
    const lowWavelen = originalMaxPositions / lowFreqFactor;
    const highWavelen = originalMaxPositions / highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i]!;
      if (wavelen > lowWavelen) inv[i]! /= factor;
      else if (wavelen >= highWavelen) {
        const smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i]! / factor) + smooth * inv[i]!;
      }
    }
  }
  return inv;
}

/**
 * How precisely the inverse frequencies are held. `float32` is what models are trained with.
 * `checkpoint` reproduces transformers, which keeps `inv_freq` as a module buffer: loading a bf16 or
 * fp16 checkpoint rounds it to that dtype, and a later `.float()` does not bring the bits back. The
 * shared fixtures' references were made that way (matching them to 1e-6 instead of 2e-3 shows it).
 */
export type RopeFrequencyPrecision = 'float32' | 'checkpoint';

/** inv_freq rounded to the checkpoint dtype, as transformers holds it after loading (see above). */
export function roundInvFreqTo(inv: Float64Array, dtype: WeightDtype): Float64Array {
  if (dtype === 'float32') return inv;
  return inv.map((v) => (dtype === 'float16' ? roundToFp16(v) : roundToBf16(v)));
}

/** Nearest bfloat16 (ties to even) of a float32 value. */
function roundToBf16(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  const rounded = (u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000;
  return new Float32Array(new Uint32Array([rounded >>> 0]).buffer)[0]!;
}

/**
 * cos/sin tables [positions.length, headDim / 2]: cos(p·f_i), sin(p·f_i) for each position p and
 * frequency f_i, as onnxruntime's RotaryEmbedding reads its caches (rotate-half convention: the
 * same angle rotates elements i and i + D/2).
 */
export function ropeTables(
  spec: ModelSpec,
  positions: ArrayLike<number>,
  invFreq = ropeInvFreq(spec.headDim, spec.ropeTheta, spec.ropeScaling),
): { cos: Float32Array; sin: Float32Array } {
  const half = spec.headDim / 2;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  for (let s = 0; s < positions.length; s++) {
    for (let i = 0; i < half; i++) {
      // float32 angle, as transformers computes it, so cos/sin match at large positions.
      const angle = Math.fround(positions[s]! * Math.fround(invFreq[i]!));
      cos[s * half + i] = Math.cos(angle);
      sin[s * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
