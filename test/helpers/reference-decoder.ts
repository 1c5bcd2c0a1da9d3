// A float64 forward pass of a Llama/Qwen2 decoder written directly from the model definition
// (plain loops, no ONNX), used to check the ONNX graph independently of transformers' fixtures.
import type { ModelSpec } from '../../engine/model/config';
import { loadWeightIndex, readTensorBytes } from '../../engine/model/safetensors';
import { bf16ToFloat32 } from '../../engine/numeric/bf16';
import { decodeFp16 } from '../../engine/numeric/fp16';
import { ropeInvFreq } from '../../engine/model/rope';

type Mat = Float64Array;

function loadAll(dir: string): Map<string, { shape: number[]; data: Mat }> {
  const out = new Map<string, { shape: number[]; data: Mat }>();
  for (const [name, t] of loadWeightIndex(dir)) {
    const raw = new Uint8Array(readTensorBytes(t)).buffer;
    const f =
      t.dtype === 'BF16'
        ? bf16ToFloat32(new Uint16Array(raw))
        : t.dtype === 'F16'
          ? decodeFp16(new Uint16Array(raw))
          : new Float32Array(raw);
    out.set(name, { shape: t.shape, data: Float64Array.from(f) });
  }
  return out;
}

/** y[s, o] = Σ_i x[s, i]·W[o, i] (+ b[o]) for a [out, in] weight. */
function linear(x: Mat, S: number, inF: number, W: Mat, outF: number, b?: Mat): Mat {
  const y = new Float64Array(S * outF);
  for (let s = 0; s < S; s++)
    for (let o = 0; o < outF; o++) {
      let acc = b ? b[o]! : 0;
      for (let i = 0; i < inF; i++) acc += x[s * inF + i]! * W[o * inF + i]!;
      y[s * outF + o] = acc;
    }
  return y;
}

function rmsNorm(x: Mat, S: number, H: number, w: Mat, eps: number): Mat {
  const y = new Float64Array(S * H);
  for (let s = 0; s < S; s++) {
    let ms = 0;
    for (let i = 0; i < H; i++) ms += x[s * H + i]! ** 2;
    const inv = 1 / Math.sqrt(ms / H + eps);
    for (let i = 0; i < H; i++) y[s * H + i] = x[s * H + i]! * inv * w[i]!;
  }
  return y;
}

export interface ReferenceOutput {
  /** [S, V] logits of every position. */
  logits: Float64Array;
  /** Per layer [Hq, S, S] attention probabilities. */
  attn: Float64Array[];
}

export function referenceForward(dir: string, spec: ModelSpec, ids: number[]): ReferenceOutput {
  const W = loadAll(dir);
  const get = (n: string) => W.get(n)?.data;
  const req = (n: string) => {
    const d = get(n);
    if (!d) throw new Error(`missing ${n}`);
    return d;
  };
  const { hiddenSize: H, qHeads: Hq, kvHeads: Hkv, headDim: D, intermediateSize: I, vocabSize: V } = spec;
  const S = ids.length,
    g = Hq / Hkv,
    half = D / 2;
  const inv = ropeInvFreq(D, spec.ropeTheta, spec.ropeScaling);
  const embed = req('model.embed_tokens.weight');
  const x = new Float64Array(S * H);
  for (let s = 0; s < S; s++) for (let i = 0; i < H; i++) x[s * H + i] = embed[ids[s]! * H + i]!;
  const rope = (v: Mat, heads: number) => {
    for (let s = 0; s < S; s++)
      for (let h = 0; h < heads; h++)
        for (let i = 0; i < half; i++) {
          const a = s * inv[i]!,
            c = Math.cos(a),
            sn = Math.sin(a);
          const o = s * heads * D + h * D;
          const x1 = v[o + i]!,
            x2 = v[o + half + i]!;
          v[o + i] = x1 * c - x2 * sn;
          v[o + half + i] = x2 * c + x1 * sn;
        }
  };
  const attnOut: Float64Array[] = [];
  for (let l = 0; l < spec.layers; l++) {
    const p = `model.layers.${l}`;
    const h = rmsNorm(x, S, H, req(`${p}.input_layernorm.weight`), spec.rmsNormEps);
    const q = linear(h, S, H, req(`${p}.self_attn.q_proj.weight`), Hq * D, get(`${p}.self_attn.q_proj.bias`));
    const k = linear(h, S, H, req(`${p}.self_attn.k_proj.weight`), Hkv * D, get(`${p}.self_attn.k_proj.bias`));
    const v = linear(h, S, H, req(`${p}.self_attn.v_proj.weight`), Hkv * D, get(`${p}.self_attn.v_proj.bias`));
    rope(q, Hq);
    rope(k, Hkv);
    const probs = new Float64Array(Hq * S * S);
    const ctx = new Float64Array(S * Hq * D);
    for (let hq = 0; hq < Hq; hq++) {
      const hk = Math.floor(hq / g);
      for (let i = 0; i < S; i++) {
        let max = -Infinity;
        const row = new Float64Array(i + 1);
        for (let j = 0; j <= i; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[i * Hq * D + hq * D + d]! * k[j * Hkv * D + hk * D + d]!;
          row[j] = dot / Math.sqrt(D);
          max = Math.max(max, row[j]!);
        }
        let sum = 0;
        for (let j = 0; j <= i; j++) {
          row[j] = Math.exp(row[j]! - max);
          sum += row[j]!;
        }
        for (let j = 0; j <= i; j++) {
          const pr = row[j]! / sum;
          probs[(hq * S + i) * S + j] = pr;
          for (let d = 0; d < D; d++) ctx[i * Hq * D + hq * D + d]! += pr * v[j * Hkv * D + hk * D + d]!;
        }
      }
    }
    attnOut.push(probs);
    const o = linear(ctx, S, Hq * D, req(`${p}.self_attn.o_proj.weight`), H, get(`${p}.self_attn.o_proj.bias`));
    for (let i = 0; i < x.length; i++) x[i]! += o[i]!;
    const h2 = rmsNorm(x, S, H, req(`${p}.post_attention_layernorm.weight`), spec.rmsNormEps);
    const gate = linear(h2, S, H, req(`${p}.mlp.gate_proj.weight`), I);
    const up = linear(h2, S, H, req(`${p}.mlp.up_proj.weight`), I);
    for (let i = 0; i < gate.length; i++) gate[i] = (gate[i]! / (1 + Math.exp(-gate[i]!))) * up[i]!;
    const down = linear(gate, S, I, req(`${p}.mlp.down_proj.weight`), H);
    for (let i = 0; i < x.length; i++) x[i]! += down[i]!;
  }
  const xn = rmsNorm(x, S, H, req('model.norm.weight'), spec.rmsNormEps);
  const head = get('lm_head.weight') ?? embed;
  return { logits: linear(xn, S, H, head, V), attn: attnOut };
}
