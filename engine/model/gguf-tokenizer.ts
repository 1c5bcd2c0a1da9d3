// The tokenizer of a GGUF file, from its tokenizer.ggml.* metadata, as a Hugging Face
// tokenizer.json object (the form @huggingface/tokenizers reads). Byte-level BPE ("gpt2" in
// ggml's words: Qwen2.5-Coder, DeepSeek-Coder, StarCoder2, Llama 3) is supported; the pre-tokenizer
// follows tokenizer.ggml.pre the way llama.cpp maps it to split patterns. Control and user-defined
// tokens become special added tokens, so the prompt format's markers encode as single ids.
import { ModelLoadError } from './errors';
import type { BpeLists } from './tokenizer';
import { type GgufFile, GgufMetadata, type GgufValue } from './gguf';

const isString = (v: GgufValue): v is string => typeof v === 'string';
const isNumber = (v: GgufValue): v is number => typeof v === 'number';

// ggml's token types.
const CONTROL = 3;
const USER_DEFINED = 4;

/** Split patterns per tokenizer.ggml.pre (llama.cpp's llama-vocab.cpp lists them; Qwen2's and Llama 3's are the ones seen in code models). */
const PRE_PATTERNS: Record<string, string[]> = {
  'gpt-2': ["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"],
  qwen2: [
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ],
  'llama-bpe': [
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ],
  'deepseek-coder': ['[\\r\\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', '[一-龥ࠀ-一가-퟿]+', '\\p{N}'],
  default: [
    '[\\p{P}\\$\\+<=>\\^~\\|]+',
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    '\\p{N}+',
    '[0-9][0-9][0-9]',
  ],
};
PRE_PATTERNS.llama3 = PRE_PATTERNS['llama-bpe']!;
PRE_PATTERNS['deepseek-llm'] = PRE_PATTERNS['llama-bpe']!;
PRE_PATTERNS.starcoder = PRE_PATTERNS['gpt-2']!;

export interface GgufTokenizer {
  /** tokenizer.json without its vocab and merges: those travel as `lists` (see ModelTokenizer). */
  tokenizerJson: object;
  lists: BpeLists;
  tokenizerConfig: object;
  bosTokenId: number | null;
  eosTokenIds: number[];
  vocabSize: number;
}

export function tokenizerFromGguf(file: GgufFile): GgufTokenizer {
  const m = new GgufMetadata(file);
  const model = m.string('tokenizer.ggml.model');
  if (model !== 'gpt2')
    throw new ModelLoadError(
      file.path,
      `tokenizer.ggml.model "${model}" is not supported (Squeeze reads byte-level BPE, "gpt2": Qwen2.5-Coder, DeepSeek-Coder, StarCoder2, Llama 3); use the model's Hugging Face folder instead`,
    );
  const tokens = m.array('tokenizer.ggml.tokens', isString, 'strings');
  const types = m.has('tokenizer.ggml.token_type') ? m.array('tokenizer.ggml.token_type', isNumber, 'numbers') : [];
  const merges = m.array('tokenizer.ggml.merges', isString, 'strings');
  const pre = m.string('tokenizer.ggml.pre', 'default');
  const patterns = PRE_PATTERNS[pre];
  if (!patterns)
    throw new ModelLoadError(
      file.path,
      `tokenizer.ggml.pre "${pre}" is a pre-tokenizer Squeeze does not know (known: ${Object.keys(PRE_PATTERNS).join(', ')})`,
    );
  const added: object[] = [];
  tokens.forEach((t, id) => {
    if (types[id] === CONTROL || types[id] === USER_DEFINED)
      added.push({
        id,
        content: t,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      });
  });
  const bos = m.has('tokenizer.ggml.bos_token_id') ? m.number('tokenizer.ggml.bos_token_id') : null;
  const addBos = m.boolean('tokenizer.ggml.add_bos_token', false) && bos !== null;
  const eos = ['tokenizer.ggml.eos_token_id', 'tokenizer.ggml.eot_token_id']
    .filter((k) => m.has(k))
    .map((k) => m.number(k));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: pre === 'qwen2' ? { type: 'NFC' } : null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        ...patterns.map((p) => ({ type: 'Split', pattern: { Regex: p }, behavior: 'Isolated', invert: false })),
        byteLevel,
      ],
    },
    post_processor: addBos
      ? {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: tokens[bos!], type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { [tokens[bos!]!]: { id: tokens[bos!], ids: [bos], tokens: [tokens[bos!]] } },
        }
      : null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: {},
      merges: [],
    },
  };
  const tokenizerConfig = { add_bos_token: addBos, eos_token: eos.length ? tokens[eos[0]!] : null };
  return {
    tokenizerJson,
    lists: { tokens, merges },
    tokenizerConfig,
    bosTokenId: bos,
    eosTokenIds: [...new Set(eos)],
    vocabSize: tokens.length,
  };
}
