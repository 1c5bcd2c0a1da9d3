// The model's tokenizer, read from tokenizer.json + tokenizer_config.json with
// @huggingface/tokenizers (pure JS, same algorithm as the Rust library transformers uses).
import { join } from 'node:path';
import { BPE, Tokenizer } from '@huggingface/tokenizers';
import { ModelLoadError } from './errors';
import { readJsonFile } from './model-files';

function readJson(file: string, what: string): object {
  return readJsonFile(
    file,
    (code) => `missing ${what} (${code}); the model folder needs tokenizer.json and tokenizer_config.json`,
  ) as object;
}

/**
 * A BPE vocabulary as lists: token i is tokens[i], merges[r] is the merge of rank r ("a b").
 * GGUF files hold them so; handing them over as lists skips the library's vocab object, whose
 * conversion to a Map costs about 0.4 s for a 151,936-token vocabulary.
 */
export interface BpeLists {
  tokens: string[];
  merges: string[];
}

export class ModelTokenizer {
  private readonly tok: Tokenizer;

  /** `lists`, when given, replace `tokenizerJson.model.vocab` and `.merges` (left empty there). */
  constructor(tokenizerJson: object, tokenizerConfig: object, source = 'tokenizer.json', lists?: BpeLists) {
    try {
      this.tok = new Tokenizer(tokenizerJson, tokenizerConfig);
      if (lists) fillBpe(this.tok, lists, tokenizerJson as { added_tokens?: { id: number; content: string }[] });
    } catch (e) {
      throw new ModelLoadError(source, `cannot be used as a tokenizer (${(e as Error).message})`);
    }
  }

  static load(dir: string): ModelTokenizer {
    const file = join(dir, 'tokenizer.json');
    const json = readJson(file, 'tokenizer');
    const config = readJson(join(dir, 'tokenizer_config.json'), 'tokenizer config');
    return new ModelTokenizer(json, config, file);
  }

  /** Token ids of `text`; `addSpecialTokens` adds what the model's post-processor adds (e.g. BOS). */
  encode(text: string, addSpecialTokens = true): number[] {
    return this.tok.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: number[], skipSpecialTokens = false): string {
    // The library rejects an empty list; nothing decodes to nothing (e.g. EOS as the first token).
    if (ids.length === 0) return '';
    return this.tok.decode(ids, { skip_special_tokens: skipSpecialTokens });
  }

  /** The id of a token given its exact text (e.g. '<|fim_middle|>'), or undefined. */
  tokenId(text: string): number | undefined {
    return this.tok.token_to_id(text);
  }

  count(text: string): number {
    return this.encode(text, false).length;
  }
}

/**
 * Fills a BPE model built from an empty vocabulary the way the library's constructor would from
 * the full one (its public fields: tokens_to_ids, vocab, merges, bpe_ranks), then puts the added
 * tokens back on top, as the Tokenizer constructor does.
 */
function fillBpe(tok: Tokenizer, lists: BpeLists, json: { added_tokens?: { id: number; content: string }[] }): void {
  const model = tok.model;
  if (!(model instanceof BPE)) throw new Error('vocabulary lists are only for BPE models');
  const ids = new Map<string, number>();
  for (let i = 0; i < lists.tokens.length; i++) ids.set(lists.tokens[i]!, i);
  const vocab = lists.tokens.slice();
  for (const t of json.added_tokens ?? []) {
    ids.set(t.content, t.id);
    vocab[t.id] = t.content;
  }
  model.tokens_to_ids = ids;
  model.vocab = vocab;
  model.merges = lists.merges.map((m) => m.split(' ', 2) as [string, string]);
  model.bpe_ranks = new Map(model.merges.map((pair, rank) => [JSON.stringify(pair), rank]));
}

/**
 * Decodes a growing list of ids into text deltas. Decoding one token of a multi-byte character
 * yields U+FFFD, so the trailing replacement character is held back until the character completes.
 */
export class StreamingDecoder {
  private ids: number[] = [];
  private emitted = '';

  constructor(private readonly tokenizer: ModelTokenizer) {}

  /** Adds one id and returns the newly completed text (possibly empty). */
  push(id: number): string {
    this.ids.push(id);
    let text = this.tokenizer.decode(this.ids);
    if (text.endsWith('\uFFFD')) text = text.slice(0, -1);
    if (!text.startsWith(this.emitted)) return '';
    const delta = text.slice(this.emitted.length);
    this.emitted = text;
    return delta;
  }

  get text(): string {
    return this.emitted;
  }
}
