// Reading a model's files with errors that name the file: a JSON file, and a byte range of a
// tensor. Shared by the config, tokenizer, safetensors and GGUF readers.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { ModelLoadError } from './errors';

/** `file` parsed as JSON; `missing` turns the read error's code into advice. */
export function readJsonFile(file: string, missing: (code: string) => string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ModelLoadError(file, missing((e as NodeJS.ErrnoException).code ?? String(e)));
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelLoadError(file, `is not valid JSON (${(e as Error).message})`);
  }
}

/** `length` bytes of `file` from `offset` into `into`; a file that ends sooner names tensor `what`. */
export function readRange(file: string, offset: number, length: number, what: string, into: Uint8Array): void {
  const fd = openSync(file, 'r');
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, into, done, length - done, offset + done);
      if (n === 0) throw new ModelLoadError(file, `ended while reading tensor "${what}"`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}
