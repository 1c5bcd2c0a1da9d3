// Loads a Hugging Face model folder: validated config, tokenizer and a decoder session on the
// chosen execution provider. The one place that wires engine/model to native/runtime.
import { loadModelConfig, type ModelSpec } from '../../engine/model/config';
import { ModelTokenizer } from '../../engine/model/tokenizer';
import { DecoderSession, type DecoderLoadOptions } from './decoder-session';

export interface LoadedModel {
  dir: string;
  spec: ModelSpec;
  tokenizer: ModelTokenizer;
  decoder: DecoderSession;
  loadMs: number;
}

export async function loadModel(dir: string, options: DecoderLoadOptions): Promise<LoadedModel> {
  const t0 = performance.now();
  // Config and tokenizer first: their errors are the cheapest to report.
  const spec = loadModelConfig(dir);
  const tokenizer = ModelTokenizer.load(dir);
  const decoder = await DecoderSession.load(dir, spec, options);
  return { dir, spec, tokenizer, decoder, loadMs: performance.now() - t0 };
}
