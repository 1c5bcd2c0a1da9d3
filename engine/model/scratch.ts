// Output arrays for weight conversions. A large matrix is converted a few rows at a time
// (engine/model/weight-precision.ts), and each chunk's arrays are written out before the next chunk
// is made, so one small set of buffers can serve them all: on the 2-core VM, memory touched for the
// first time costs about 3 ms per MB (the kernel zeroes and maps each page), which made fresh arrays
// for a 0.5B model's 530 MB of Q8_0 weights cost more than the conversion itself.

/** Where a conversion gets its arrays, zero-filled, by a name that says what each holds. */
export interface Arrays {
  bytes(slot: string, length: number): Uint8Array;
  floats(slot: string, length: number): Float32Array;
}

/** New arrays every time: what callers get that keep the results. */
export const freshArrays: Arrays = {
  bytes: (_slot, length) => new Uint8Array(length),
  floats: (_slot, length) => new Float32Array(length),
};

/**
 * One buffer per slot, grown to the largest length asked and handed out again: an array from a slot
 * is valid until the slot is asked for again.
 */
export class Scratch implements Arrays {
  private readonly buffers = new Map<string, ArrayBuffer>();

  bytes(slot: string, length: number): Uint8Array {
    const out = new Uint8Array(this.buffer(slot, length), 0, length);
    out.fill(0);
    return out;
  }

  floats(slot: string, length: number): Float32Array {
    const out = new Float32Array(this.buffer(slot, length * 4), 0, length);
    out.fill(0);
    return out;
  }

  private buffer(slot: string, bytes: number): ArrayBuffer {
    let b = this.buffers.get(slot);
    if (!b || b.byteLength < bytes) {
      b = new ArrayBuffer(bytes);
      this.buffers.set(slot, b);
    }
    return b;
  }
}
