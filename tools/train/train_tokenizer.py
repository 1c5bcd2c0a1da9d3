#!/usr/bin/env python3
"""Trains the byte-level BPE tokenizer on the TRAIN split of packages.jsonl (file paths and
contents) and writes tokenizer.json + tokenizer_config.json (Hugging Face formats).

  /usr/bin/python3 tools/train/train_tokenizer.py --data /tmp/squeeze-train --vocab-size 4096
"""
import argparse
import json
import os
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='/tmp/squeeze-train')
    ap.add_argument('--vocab-size', type=int, default=4096)
    ap.add_argument('--min-word-count', type=int, default=2, help='pre-tokenized pieces seen fewer times are ignored')
    ap.add_argument('--max-bytes', type=int, default=60_000_000, help='train on at most this much text')
    ap.add_argument('--out', default=None, help='default: DATA/tokenizer')
    args = ap.parse_args()
    out = args.out or os.path.join(args.data, 'tokenizer')
    os.makedirs(out, exist_ok=True)
    t0 = time.time()
    counts, total = Counter(), 0
    with open(os.path.join(args.data, 'packages.jsonl'), encoding='utf8') as f:
        for line in f:
            pkg = json.loads(line)
            if pkg['split'] != 'train':
                continue
            for fl in pkg['files']:
                if total > args.max_bytes:
                    break
                text = fl['path'] + '\n' + fl['text']
                total += len(text)
                counts.update(bpe.pretokenize(text))
    words = {bpe.to_byte_chars(w): c for w, c in counts.items() if c >= args.min_word_count}
    print(f'{total / 1e6:.1f} MB of text, {len(counts)} distinct pieces, {len(words)} kept ({time.time() - t0:.0f}s)', flush=True)
    vocab, merges = bpe.train_bpe(words, args.vocab_size, log=lambda m: print(m, flush=True))
    json.dump(bpe.tokenizer_json(vocab, merges), open(os.path.join(out, 'tokenizer.json'), 'w', encoding='utf8'), ensure_ascii=False, indent=None)
    json.dump(bpe.tokenizer_config(), open(os.path.join(out, 'tokenizer_config.json'), 'w'), indent=2)
    print(f'vocab {len(vocab)}, {len(merges)} merges -> {out} ({time.time() - t0:.0f}s)')


if __name__ == '__main__':
    main()
