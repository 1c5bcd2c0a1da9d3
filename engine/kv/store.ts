// The CPU KvStore: the reference implementation of the tiered cache (the GPU store mirrors its
// layouts). Per (layer, KV head) it holds
//   fp16 tier     K, V as fp16 bits [n][D], and the tokens' positions
//   q8/q4/q2      k·G quantized tokens: key codes [group][channel][token] + key scale/zero
//                 [group][channel]; value codes [token][channel] + value scale/zero [token][D/Gv]
//                 (quantize.ts), plus a residual: the tier's newest n mod G tokens in fp16, waiting
//                 for a key group of G tokens to fill
// Every kept token remembers its ORIGINAL position: keys are cached after RoPE, so pruning never
// shifts positions, and tokens appended while decoding continue after the original length.
// All arrays are exactly sized (reallocated on growth), so bytesByTier() is the sum of their
// byteLength and must equal planBytes() of the plan applied (plus what append added).

import { KvGeometry, validateGeometry } from './geometry';
import { decodeFp16, encodeFp16, fp16Table } from '../numeric/fp16';
import { QuantBits, dequantizeKeys, dequantizeValues, quantizeKeys, quantizeValues } from './quantize';
import {
  type PlanBytes,
  type QuantLayout,
  TIERS,
  type Tier,
  type TierBytes,
  type TierCounts,
  emptyCounts,
  quantLayout,
  sumBytes,
} from './budget';
import { type KvPlan, validatePlan } from './policy';

/** K or V of one layer, [kvHeads][tokens][headDim] row-major: float32 values or fp16 bits. */
export type KvTensor = Float32Array | Uint16Array;

export interface Fp16Part {
  positions: Int32Array;
  k: Uint16Array;
  v: Uint16Array;
}

export interface QuantPart {
  bits: QuantBits;
  /** positions of the quantized (grouped) tokens, ascending; a multiple of G */
  positions: Int32Array;
  kCodes: Uint8Array;
  kScale: Uint16Array;
  kZero: Uint16Array;
  vCodes: Uint8Array;
  vScale: Uint16Array;
  vZero: Uint16Array;
  /** the tier's newest tokens (fewer than G), fp16 */
  residual: Fp16Part;
}

export type QuantTier = Exclude<Tier, 'fp16'>;
const QUANT_TIERS: readonly QuantTier[] = ['q8', 'q4', 'q2'];

export interface HeadStore {
  fp16: Fp16Part;
  quant: Record<QuantTier, QuantPart>;
}

/** One KV head's cache, dequantized, in position order. */
export interface MaterializedHead {
  positions: Int32Array;
  keys: Float32Array;
  values: Float32Array;
  /** tier of each token (index into TIERS) */
  tiers: Uint8Array;
  count: number;
}

function emptyFp16(): Fp16Part {
  return { positions: new Int32Array(0), k: new Uint16Array(0), v: new Uint16Array(0) };
}

function emptyQuant(bits: QuantBits): QuantPart {
  return {
    bits,
    positions: new Int32Array(0),
    kCodes: new Uint8Array(0),
    kScale: new Uint16Array(0),
    kZero: new Uint16Array(0),
    vCodes: new Uint8Array(0),
    vScale: new Uint16Array(0),
    vZero: new Uint16Array(0),
    residual: emptyFp16(),
  };
}

function emptyHeadStore(): HeadStore {
  return { fp16: emptyFp16(), quant: { q8: emptyQuant(8), q4: emptyQuant(4), q2: emptyQuant(2) } };
}

function concat<A extends Uint8Array | Uint16Array | Int32Array>(a: A, b: A): A {
  const out = new (a.constructor as { new (n: number): A })(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Rows of one head of a [kvHeads][T][D] tensor as float64 values (fp16 bits decoded). */
function rowsOf(x: KvTensor, kvHead: number, T: number, D: number, rows: ArrayLike<number>): Float64Array {
  const out = new Float64Array(rows.length * D);
  const table = x instanceof Uint16Array ? fp16Table() : undefined;
  for (let i = 0; i < rows.length; i++) {
    const base = (kvHead * T + rows[i]!) * D;
    for (let c = 0; c < D; c++) out[i * D + c] = table ? table[(x as Uint16Array)[base + c]!]! : x[base + c]!;
  }
  return out;
}

/** Same rows as fp16 bits (round-to-nearest-even from float32; copied when already fp16). */
function fp16RowsOf(x: KvTensor, kvHead: number, T: number, D: number, rows: ArrayLike<number>): Uint16Array {
  if (x instanceof Uint16Array) {
    const out = new Uint16Array(rows.length * D);
    for (let i = 0; i < rows.length; i++)
      out.set(x.subarray((kvHead * T + rows[i]!) * D, (kvHead * T + rows[i]! + 1) * D), i * D);
    return out;
  }
  return encodeFp16(rowsOf(x, kvHead, T, D, rows));
}

export class KvStore {
  readonly geometry: KvGeometry;
  readonly layout: QuantLayout;
  /** [layer][kvHead] */
  heads: HeadStore[][] = [];
  /** where append() puts new tokens */
  appendTier: Tier = 'fp16';
  /** the position the next appended token gets by default */
  nextPosition = 0;

  constructor(geometry: KvGeometry, group: number) {
    validateGeometry(geometry);
    this.geometry = geometry;
    this.layout = quantLayout(geometry.headDim, group);
    this.reset();
  }

  reset(): void {
    this.heads = Array.from({ length: this.geometry.layers }, () =>
      Array.from({ length: this.geometry.kvHeads }, emptyHeadStore),
    );
    this.nextPosition = 0;
  }

  /**
   * Replace the contents with the prompt cache compressed by `plan`. keys/values: one KvTensor per
   * layer, [kvHeads][plan.tokens][headDim]. positions[i] is prompt token i's position (default i).
   */
  apply(plan: KvPlan, keys: KvTensor[], values: KvTensor[], positions?: Int32Array): void {
    const g = this.geometry;
    const T = plan.tokens;
    const D = g.headDim;
    if (plan.geometry.layers !== g.layers || plan.geometry.kvHeads !== g.kvHeads || plan.geometry.headDim !== D)
      throw new Error('KvStore.apply: the plan is for another geometry');
    if (plan.group !== this.layout.group)
      throw new Error(`KvStore.apply: plan group ${plan.group} ≠ store group ${this.layout.group}`);
    validatePlan(plan);
    this.checkTensors(keys, values, T, 'apply');
    const pos = positions ?? Int32Array.from({ length: T }, (_, i) => i);
    if (pos.length !== T) throw new Error(`KvStore.apply: ${pos.length} positions for ${T} tokens`);
    this.reset();
    this.appendTier = plan.appendTier;
    for (let l = 0; l < g.layers; l++) {
      for (let h = 0; h < g.kvHeads; h++) {
        const hp = plan.heads[l]![h]!;
        const hs = this.heads[l]![h]!;
        const fpIdx = hp.fp16;
        hs.fp16 = {
          positions: gatherPositions(pos, fpIdx),
          k: fp16RowsOf(keys[l]!, h, T, D, fpIdx),
          v: fp16RowsOf(values[l]!, h, T, D, fpIdx),
        };
        for (const t of QUANT_TIERS) {
          const idx = hp[t];
          if (idx.length === 0) continue;
          const part = hs.quant[t];
          const q = Math.floor(idx.length / this.layout.group) * this.layout.group;
          this.quantizeInto(
            part,
            rowsOf(keys[l]!, h, T, D, idx.subarray(0, q)),
            rowsOf(values[l]!, h, T, D, idx.subarray(0, q)),
            gatherPositions(pos, idx.subarray(0, q)),
          );
          const rest = idx.subarray(q);
          part.residual = {
            positions: gatherPositions(pos, rest),
            k: fp16RowsOf(keys[l]!, h, T, D, rest),
            v: fp16RowsOf(values[l]!, h, T, D, rest),
          };
        }
      }
    }
    let max = -1;
    for (let i = 0; i < T; i++) max = Math.max(max, pos[i]!);
    this.nextPosition = max + 1;
  }

  /**
   * Add n decoded tokens to every (layer, KV head), in appendTier. newK/newV: one KvTensor per layer,
   * [kvHeads][n][headDim]. positions default to nextPosition, nextPosition+1, …
   */
  append(newK: KvTensor[], newV: KvTensor[], positions?: Int32Array): void {
    const g = this.geometry;
    const D = g.headDim;
    const n = newK[0] ? newK[0].length / (g.kvHeads * D) : 0;
    if (!Number.isInteger(n)) throw new Error('KvStore.append: tensor length is not kvHeads·n·headDim');
    this.checkTensors(newK, newV, n, 'append');
    const pos = positions ?? Int32Array.from({ length: n }, (_, i) => this.nextPosition + i);
    if (pos.length !== n) throw new Error(`KvStore.append: ${pos.length} positions for ${n} tokens`);
    const all = Int32Array.from({ length: n }, (_, i) => i);
    for (let l = 0; l < g.layers; l++) {
      for (let h = 0; h < g.kvHeads; h++) {
        const hs = this.heads[l]![h]!;
        const add: Fp16Part = {
          positions: pos.slice(),
          k: fp16RowsOf(newK[l]!, h, n, D, all),
          v: fp16RowsOf(newV[l]!, h, n, D, all),
        };
        if (this.appendTier === 'fp16') {
          hs.fp16 = appendFp16(hs.fp16, add);
          continue;
        }
        const part = hs.quant[this.appendTier];
        part.residual = appendFp16(part.residual, add);
        // A key group of G tokens has filled: quantize it (KIVI's streaming step).
        const G = this.layout.group;
        while (part.residual.positions.length >= G) {
          const r = part.residual;
          this.quantizeInto(
            part,
            decodeFp16(r.k.subarray(0, G * D)),
            decodeFp16(r.v.subarray(0, G * D)),
            r.positions.slice(0, G),
          );
          part.residual = { positions: r.positions.slice(G), k: r.k.slice(G * D), v: r.v.slice(G * D) };
        }
      }
    }
    for (let i = 0; i < n; i++) this.nextPosition = Math.max(this.nextPosition, pos[i]! + 1);
  }

  /** Quantize whole key groups (rows a multiple of G) and append them to part. */
  private quantizeInto(part: QuantPart, k: ArrayLike<number>, v: ArrayLike<number>, positions: Int32Array): void {
    const rows = positions.length;
    if (rows === 0) return;
    const D = this.geometry.headDim;
    const qk = quantizeKeys(k, rows, D, part.bits, this.layout.group);
    const qv = quantizeValues(v, rows, D, part.bits, this.layout.valueGroup);
    part.positions = concat(part.positions, positions);
    part.kCodes = concat(part.kCodes, qk.codes);
    part.kScale = concat(part.kScale, qk.scale);
    part.kZero = concat(part.kZero, qk.zero);
    part.vCodes = concat(part.vCodes, qv.codes);
    part.vScale = concat(part.vScale, qv.scale);
    part.vZero = concat(part.vZero, qv.zero);
  }

  private checkTensors(k: KvTensor[], v: KvTensor[], T: number, what: string): void {
    const g = this.geometry;
    if (k.length !== g.layers || v.length !== g.layers)
      throw new Error(`KvStore.${what}: need one K and one V tensor per layer (${g.layers})`);
    const want = g.kvHeads * T * g.headDim;
    for (let l = 0; l < g.layers; l++) {
      if (k[l]!.length !== want || v[l]!.length !== want)
        throw new Error(
          `KvStore.${what}: layer ${l} K/V have ${k[l]!.length}/${v[l]!.length} values, expected ${g.kvHeads}·${T}·${g.headDim}`,
        );
    }
  }

  /** Tokens per tier of every (layer, KV head); a quantized tier's residual counts in its tier. */
  counts(): TierCounts[][] {
    return this.heads.map((layer) =>
      layer.map((hs) => {
        const c = emptyCounts();
        c.fp16 = hs.fp16.positions.length;
        for (const t of QUANT_TIERS) c[t] = hs.quant[t].positions.length + hs.quant[t].residual.positions.length;
        return c;
      }),
    );
  }

  /** Bytes actually held, from the typed arrays' byteLength (positions excluded, as in planBytes). */
  bytesByTier(): PlanBytes {
    return sumBytes(
      this.heads.map((layer) =>
        layer.map((hs) => [
          ['fp16', { codes: 0, scales: 0, fp16: hs.fp16.k.byteLength + hs.fp16.v.byteLength }],
          ...QUANT_TIERS.map((t): [Tier, TierBytes] => {
            const p = hs.quant[t];
            return [
              t,
              {
                codes: p.kCodes.byteLength + p.vCodes.byteLength,
                scales: p.kScale.byteLength + p.kZero.byteLength + p.vScale.byteLength + p.vZero.byteLength,
                fp16: p.residual.k.byteLength + p.residual.v.byteLength,
              },
            ];
          }),
        ]),
      ),
    );
  }

  /** Bytes of the position arrays (metadata, not counted in the budget). */
  positionBytes(): number {
    let n = 0;
    for (const layer of this.heads)
      for (const hs of layer) {
        n += hs.fp16.positions.byteLength;
        for (const t of QUANT_TIERS) n += hs.quant[t].positions.byteLength + hs.quant[t].residual.positions.byteLength;
      }
    return n;
  }

  /** Every KV head of `layer`, dequantized to float32 and merged in position order. */
  materialize(layer: number): MaterializedHead[] {
    const D = this.geometry.headDim;
    return this.heads[layer]!.map((hs) => {
      const pieces: { positions: Int32Array; k: ArrayLike<number>; v: ArrayLike<number>; tier: number }[] = [];
      pieces.push({ positions: hs.fp16.positions, k: decodeFp16(hs.fp16.k), v: decodeFp16(hs.fp16.v), tier: 0 });
      for (const t of QUANT_TIERS) {
        const p = hs.quant[t];
        const tier = TIERS.indexOf(t);
        const rows = p.positions.length;
        if (rows > 0) {
          const bits = p.bits;
          const k = dequantizeKeys({
            bits,
            tokens: rows,
            headDim: D,
            group: this.layout.group,
            codes: p.kCodes,
            scale: p.kScale,
            zero: p.kZero,
          });
          const v = dequantizeValues({
            bits,
            tokens: rows,
            headDim: D,
            group: this.layout.valueGroup,
            codes: p.vCodes,
            scale: p.vScale,
            zero: p.vZero,
          });
          pieces.push({ positions: p.positions, k, v, tier });
        }
        pieces.push({
          positions: p.residual.positions,
          k: decodeFp16(p.residual.k),
          v: decodeFp16(p.residual.v),
          tier,
        });
      }
      const order: [number, number, number][] = []; // [position, piece, row]
      pieces.forEach((pc, pi) => pc.positions.forEach((pos, r) => order.push([pos, pi, r])));
      order.sort((a, b) => a[0] - b[0]);
      const n = order.length;
      const out: MaterializedHead = {
        positions: new Int32Array(n),
        keys: new Float32Array(n * D),
        values: new Float32Array(n * D),
        tiers: new Uint8Array(n),
        count: n,
      };
      order.forEach(([pos, pi, r], i) => {
        const pc = pieces[pi]!;
        out.positions[i] = pos;
        out.tiers[i] = pc.tier;
        for (let c = 0; c < D; c++) {
          out.keys[i * D + c] = pc.k[r * D + c]!;
          out.values[i * D + c] = pc.v[r * D + c]!;
        }
      });
      return out;
    });
  }
}

function gatherPositions(pos: Int32Array, idx: ArrayLike<number>): Int32Array {
  const out = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = pos[idx[i]!]!;
  return out;
}

function appendFp16(a: Fp16Part, b: Fp16Part): Fp16Part {
  return { positions: concat(a.positions, b.positions), k: concat(a.k, b.k), v: concat(a.v, b.v) };
}
