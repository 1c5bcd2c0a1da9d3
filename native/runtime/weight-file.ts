// A WeightSink that appends each weight to one file as the graph is built, part by part as its rows
// are converted, so the model's weights are never all in memory at once: onnxruntime then loads the
// model from its path and maps the file (docs/platform-notes.md §5). Each weight starts on a 64-byte
// boundary, which any element type's alignment divides.
import { closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { type ExternalDataEntry, partsAt, type WeightRange, type WeightSink } from '../onnx/graph-builder';

const ALIGN = 64;

export class WeightFile implements WeightSink {
  private fd: number | null;
  private size = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  write(length: number, parts: Iterable<Uint8Array>): WeightRange {
    const fd = this.fd;
    if (fd === null) throw new Error(`${this.path} is closed`);
    const offset = Math.ceil(this.size / ALIGN) * ALIGN;
    if (offset > this.size) writeSync(fd, new Uint8Array(offset - this.size));
    this.size = offset;
    for (const [part, at] of partsAt(length, parts)) {
      let done = 0;
      while (done < part.byteLength) done += writeSync(fd, part, done, part.byteLength - done);
      this.size = offset + at + part.byteLength;
    }
    return { location: basename(this.path), offset, length };
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
