"""Byte-level BPE for the shipped model, written for this recipe: the pre-tokenizer, a trainer, an
encoder, and the export to a Hugging Face tokenizer.json that @huggingface/tokenizers (our runtime)
and the Rust `tokenizers` library both read.

The tokenizer.json has the structure of test/fixtures/qwen2-tiny-random/tokenizer.json: added
special tokens with ids 0..6 (Qwen2.5-Coder's <|endoftext|>, <|fim_prefix|>, <|fim_middle|>,
<|fim_suffix|>, <|fim_pad|>, <|repo_name|>, <|file_sep|>), a ByteLevel pre-tokenizer with the
GPT-2 split pattern (use_regex: true), a ByteLevel decoder and post-processor, and a BPE model with
`vocab` and `merges` (pairs). This module reproduces that pipeline exactly so that the ids it
produces for training equal the ids the runtime produces at inference; tools/train/check_tokenizer
.mjs verifies it on held-out files.
"""
import heapq
import json
import re
import sys
import unicodedata
from collections import Counter, defaultdict

SPECIAL_TOKENS = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|fim_pad|>', '<|repo_name|>', '<|file_sep|>']
EOT, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD, REPO_NAME, FILE_SEP = range(7)


def byte_alphabet():
    """The byte -> printable character map of byte-level BPE: bytes that are printable Latin-1
    characters other than space keep their character; the remaining 68 bytes are given the code
    points 256, 257, ... in byte order. Returns a list of 256 characters indexed by byte."""
    keep = [b for b in range(256) if (0x21 <= b <= 0x7E) or (0xA1 <= b <= 0xAC) or (0xAE <= b <= 0xFF)]
    table, extra = [None] * 256, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_CHARS = byte_alphabet()
CHAR_BYTES = {c: b for b, c in enumerate(BYTE_CHARS)}


def to_byte_chars(text):
    return text.encode('utf8').decode('latin-1').translate(_LATIN1_TO_BYTECHAR)


_LATIN1_TO_BYTECHAR = {b: BYTE_CHARS[b] for b in range(256)}


def from_byte_chars(s):
    return bytes(CHAR_BYTES[c] for c in s).decode('utf8', errors='replace')


def _class_from(pred):
    """A regex character class body of every code point satisfying pred, as ranges."""
    ranges, start, prev = [], None, None
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            ok = False
        else:
            ok = pred(cp)
        if ok and start is None:
            start = cp
        if not ok and start is not None:
            ranges.append((start, cp - 1))
            start = None
    if start is not None:
        ranges.append((start, 0x10FFFF))
    esc = lambda cp: '\\U%08x' % cp
    return ''.join(esc(a) if a == b else f'{esc(a)}-{esc(b)}' for a, b in ranges)


# JavaScript's \s (what @huggingface/tokenizers' /.../gu pattern uses), spelled out: Python's \s
# differs on a few code points (U+001C..U+001F, U+0085, U+FEFF).
JS_SPACE = '\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff'
_L = _class_from(lambda cp: unicodedata.category(chr(cp)).startswith('L'))
_N = _class_from(lambda cp: unicodedata.category(chr(cp)).startswith('N'))
# The GPT-2 pattern: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
PRETOKENIZE = re.compile(
    "'s|'t|'re|'ve|'m|'ll|'d"
    f"| ?[{_L}]+| ?[{_N}]+| ?[^{JS_SPACE}{_L}{_N}]+"
    f"|[{JS_SPACE}]+(?![^{JS_SPACE}])|[{JS_SPACE}]+")
SPECIAL_SPLIT = re.compile('(' + '|'.join(re.escape(t) for t in SPECIAL_TOKENS) + ')')


def pretokenize(text):
    """Pieces of a text without special tokens, as the ByteLevel pre-tokenizer splits it."""
    return PRETOKENIZE.findall(text)


# ----------------------------------------------------------------------------------------- trainer

def train_bpe(word_counts, vocab_size, min_frequency=2, log=print):
    """Learns merges from {byte-char word: count}. Returns (vocab {token: id}, merges [(a, b)]).
    Ids: the special tokens 0..6, then the 256 byte characters (sorted), then merges in order."""
    alphabet = sorted(BYTE_CHARS)
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    for ch in alphabet:
        vocab[ch] = len(vocab)
    words = [list(w) for w in word_counts]
    counts = [word_counts[w] for w in word_counts]
    pair_count = defaultdict(int)
    where = defaultdict(set)
    for i, w in enumerate(words):
        c = counts[i]
        for a, b in zip(w, w[1:]):
            pair_count[(a, b)] += c
            where[(a, b)].add(i)
    # Max-heap of (-count, pair); stale entries are skipped when popped. Ties: the smaller pair.
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    while len(vocab) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        cur = pair_count.get(pair, 0)
        if cur <= 0:
            continue
        if -neg != cur:
            heapq.heappush(heap, (-cur, pair))
            continue
        if cur < min_frequency:
            break
        a, b = pair
        new = a + b
        merges.append(pair)
        if new not in vocab:
            vocab[new] = len(vocab)
        changed = set()
        for i in list(where[pair]):
            w, c = words[i], counts[i]
            j, out = 0, []
            hit = False
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(new)
                    j += 2
                    hit = True
                else:
                    out.append(w[j])
                    j += 1
            if not hit:
                continue
            for p in zip(w, w[1:]):
                pair_count[p] -= c
                changed.add(p)
            for p in zip(out, out[1:]):
                pair_count[p] += c
                where[p].add(i)
                changed.add(p)
            words[i] = out
        del where[pair]
        pair_count.pop(pair, None)
        for p in changed:
            if p != pair and pair_count.get(p, 0) > 0:
                heapq.heappush(heap, (-pair_count[p], p))
        if len(merges) % 500 == 0:
            log(f'bpe: {len(merges)} merges, last {a!r}+{b!r} ({cur})')
    return vocab, merges


# ----------------------------------------------------------------------------------------- encoder

class Encoder:
    """Encodes text to ids exactly as the exported tokenizer.json does in @huggingface/tokenizers."""

    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.inv = {i: t for t, i in vocab.items()}
        self.ranks = {tuple(m): r for r, m in enumerate(merges)}
        self.cache = {}

    @classmethod
    def from_tokenizer_json(cls, path):
        tj = json.load(open(path, encoding='utf8'))
        merges = [tuple(m) if isinstance(m, list) else tuple(m.split(' ')) for m in tj['model']['merges']]
        return cls(tj['model']['vocab'], merges)

    def _bpe(self, word):
        parts = list(word)
        ranks = self.ranks
        while len(parts) > 1:
            best, best_rank = -1, None
            for i in range(len(parts) - 1):
                r = ranks.get((parts[i], parts[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best < 0:
                break
            a, b = parts[best], parts[best + 1]
            out, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            parts = out
        return [self.vocab[p] for p in parts]

    def encode_plain(self, text):
        ids = []
        cache = self.cache
        for piece in PRETOKENIZE.findall(text):
            r = cache.get(piece)
            if r is None:
                r = self._bpe(to_byte_chars(piece))
                if len(cache) < 2_000_000:
                    cache[piece] = r
            ids.extend(r)
        return ids

    def encode(self, text):
        """Special tokens written in the text become their ids (as the added tokens do in HF)."""
        ids = []
        for i, part in enumerate(SPECIAL_SPLIT.split(text)):
            if i % 2 == 1:
                ids.append(SPECIAL_TOKENS.index(part))
            elif part:
                ids.extend(self.encode_plain(part))
        return ids

    def decode(self, ids):
        out, buf = [], []
        for i in ids:
            t = self.inv[i]
            if i < len(SPECIAL_TOKENS):
                if buf:
                    out.append(from_byte_chars(''.join(buf)))
                    buf = []
                out.append(t)
            else:
                buf.append(t)
        if buf:
            out.append(from_byte_chars(''.join(buf)))
        return ''.join(out)


# ------------------------------------------------------------------------------------------ export

def tokenizer_json(vocab, merges):
    added = [{'id': i, 'content': t, 'single_word': False, 'lstrip': False, 'rstrip': False, 'normalized': False, 'special': True}
             for i, t in enumerate(SPECIAL_TOKENS)]
    return {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': added,
        'normalizer': None,
        'pre_tokenizer': {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': True},
        'post_processor': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': False, 'use_regex': True},
        'decoder': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True},
        'model': {
            'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': None, 'end_of_word_suffix': None,
            'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False,
            'vocab': vocab,
            'merges': [list(m) for m in merges],
        },
    }


def tokenizer_config():
    """transformers-4 style (also read by transformers 5): the added tokens and their roles."""
    return {
        'add_bos_token': False,
        'add_prefix_space': False,
        'added_tokens_decoder': {str(i): {'content': t, 'lstrip': False, 'normalized': False, 'rstrip': False, 'single_word': False, 'special': True}
                                 for i, t in enumerate(SPECIAL_TOKENS)},
        'additional_special_tokens': SPECIAL_TOKENS[1:],
        'bos_token': None,
        'clean_up_tokenization_spaces': False,
        'eos_token': '<|endoftext|>',
        'errors': 'replace',
        'model_max_length': 32768,
        'pad_token': '<|endoftext|>',
        'split_special_tokens': False,
        'tokenizer_class': 'PreTrainedTokenizerFast',
        'unk_token': None,
    }


if __name__ == '__main__':
    enc = Encoder.from_tokenizer_json(sys.argv[1])
    text = open(sys.argv[2], encoding='utf8').read()
    print(json.dumps(enc.encode(text)))
