#!/usr/bin/env python3
"""Writes {"path", "text", "ids"} per held-out file (ids from bpe.Encoder) for check_tokenizer.ts,
which compares them with the runtime tokenizer's ids. A few documents with special tokens and
non-ASCII text are added.

  /usr/bin/python3 tools/train/dump_heldout_ids.py --data /tmp/squeeze-train --tokenizer DIR/tokenizer.json
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402

EXTRA = [
    '<|repo_name|>demo\n<|file_sep|>a.py\nimport os\n<|file_sep|>b.py\n<|fim_prefix|>def f(x):\n    return <|fim_suffix|>\n\nprint(f(1))\n<|fim_middle|>x + 1<|endoftext|>',
    'const s = "naïve café — 日本語 😀 \\u00e9";\r\n\tlet x = 1;\u00a0\u2003y\ufeffz\x1c\x1d\u0085 done',
    "it's we're they've I'm you'll he'd 'S  '  x'' 123456 3.14e10 ٣٤ Ⅻ",
    '    \n\n\n        \t\t  \n   end   ',
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='/tmp/squeeze-train')
    ap.add_argument('--tokenizer', required=True)
    ap.add_argument('--out', default=None)
    ap.add_argument('--max-files', type=int, default=400)
    args = ap.parse_args()
    enc = bpe.Encoder.from_tokenizer_json(args.tokenizer)
    out = open(args.out or os.path.join(args.data, 'heldout-ids.jsonl'), 'w', encoding='utf8')
    n = 0
    for i, text in enumerate(EXTRA):
        out.write(json.dumps({'path': f'extra-{i}', 'text': text, 'ids': enc.encode(text)}) + '\n')
    for line in open(os.path.join(args.data, 'packages.jsonl'), encoding='utf8'):
        pkg = json.loads(line)
        if pkg['split'] != 'heldout':
            continue
        for f in pkg['files']:
            if n >= args.max_files:
                break
            out.write(json.dumps({'path': pkg['name'] + ':' + f['path'], 'text': f['text'], 'ids': enc.encode(f['text'])}) + '\n')
            n += 1
    print(f'{n + len(EXTRA)} texts')


if __name__ == '__main__':
    main()
