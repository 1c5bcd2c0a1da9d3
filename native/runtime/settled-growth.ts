// A prefill's settled tier growing in place (host tensors only). Each prefill chunk's new keys and
// values would otherwise join the recent tokens, which the graph re-concatenates and hands back in
// full after every chunk: O(n²) bytes copied and a fresh copy of the whole cache per chunk (a 16k
// prompt on the 1.5B model peaked at 3.9 GB). Here the chunk's rows move into one buffer per layer
// that was sized for the whole prompt, so the graph outputs only the chunk's own rows.
import * as ort from 'onnxruntime-node';

type KvArray = Uint16Array | Float32Array;

/** One layer's keys or values [Hkv, P, D] at the front of a buffer with room for `capacity` tokens per head. */
export class GrowingTier {
  private filled = 0;
  private buffer: KvArray;

  constructor(
    private readonly type: 'float16' | 'float32',
    private readonly heads: number,
    private readonly headDim: number,
    private capacity: number,
  ) {
    this.buffer = this.allocate(capacity);
  }

  private allocate(tokens: number): KvArray {
    const n = this.heads * tokens * this.headDim;
    return this.type === 'float16' ? new Uint16Array(n) : new Float32Array(n);
  }

  /**
   * Appends `rows` ([Hkv, c, D]) after the tokens held and returns the tier as a tensor over the
   * buffer (no copy). Tensors returned before are invalid afterwards: their heads have moved.
   */
  append(rows: KvArray, c: number): ort.Tensor {
    const [H, D, P] = [this.heads, this.headDim, this.filled];
    if (P + c > this.capacity) this.grow(Math.max(P + c, 2 * this.capacity));
    const b = this.buffer;
    // Heads sit back to back, so each head from the last to the second moves up by c rows per head before it.
    for (let h = H - 1; h >= 1; h--) b.copyWithin(h * (P + c) * D, h * P * D, (h + 1) * P * D);
    for (let h = 0; h < H; h++) b.set(rows.subarray(h * c * D, (h + 1) * c * D), (h * (P + c) + P) * D);
    this.filled = P + c;
    return this.view();
  }

  private grow(capacity: number): void {
    const next = this.allocate(capacity);
    next.set(this.buffer.subarray(0, this.heads * this.filled * this.headDim));
    this.buffer = next;
    this.capacity = capacity;
  }

  /** The tier as a tensor, trimmed to the tokens held (a copy only when the buffer has spare room). */
  finish(): ort.Tensor {
    if (this.filled < this.capacity) this.grow(this.filled);
    return this.view();
  }

  private view(): ort.Tensor {
    const n = this.heads * this.filled * this.headDim;
    return new ort.Tensor(this.type, this.buffer.subarray(0, n), [this.heads, this.filled, this.headDim]);
  }
}
