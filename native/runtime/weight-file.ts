// A WeightSink that appends each weight to one file as the graph is built, so the model's weights
// are never all in memory at once: onnxruntime then loads the model from its path and maps the file
// (docs/platform-notes.md §5). Each weight starts on a 64-byte boundary, which any element type's
// alignment divides.
import { closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import type { ExternalDataEntry, WeightRange, WeightSink } from '../onnx/graph-builder';

const ALIGN = 64;

export class WeightFile implements WeightSink {
  private fd: number | null;
  private size = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  write(data: Uint8Array): WeightRange {
    if (this.fd === null) throw new Error(`${this.path} is closed`);
    const offset = Math.ceil(this.size / ALIGN) * ALIGN;
    if (offset > this.size) writeSync(this.fd, new Uint8Array(offset - this.size));
    let done = 0;
    while (done < data.byteLength) done += writeSync(this.fd, data, done, data.byteLength - done);
    this.size = offset + data.byteLength;
    return { location: basename(this.path), offset, length: data.byteLength };
  }

  entries(): ExternalDataEntry[] {
    return [];
  }

  /** Bytes written, padding included. */
  get bytes(): number {
    return this.size;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
