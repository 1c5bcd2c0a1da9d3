// Loads a model (a Hugging Face folder or a GGUF file): validated spec, tokenizer and a decoder
// session on the chosen execution provider. The one place that wires engine/model to native/runtime.
import type { ModelSpec } from '../../engine/model/config';
import { openModelSource } from '../../engine/model/source';
import type { ModelTokenizer } from '../../engine/model/tokenizer';
import { DecoderSession, type DecoderLoadOptions } from './decoder-session';

export interface LoadedModel {
  /** The folder or file given. */
  dir: string;
  /** What the model calls itself (for the prompt family). */
  name: string;
  spec: ModelSpec;
  tokenizer: ModelTokenizer;
  decoder: DecoderSession;
  loadMs: number;
}

export async function loadModel(path: string, options: DecoderLoadOptions): Promise<LoadedModel> {
  const t0 = performance.now();
  // Headers and tokenizer first: their errors are the cheapest to report.
  const source = openModelSource(path);
  const tokenizer = source.tokenizer();
  const decoder = await DecoderSession.load(source, options);
  return { dir: path, name: source.name, spec: source.spec, tokenizer, decoder, loadMs: performance.now() - t0 };
}
