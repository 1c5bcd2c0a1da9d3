#!/usr/bin/env python3
"""Turns packages.jsonl into token streams for training: repository-level documents in the
Qwen2.5-Coder format, part of them ending in a fill-in-the-middle example (PSM), the format
the extension prompts with (engine/context/prompt.ts):

  <|repo_name|>{repo}\n<|file_sep|>{path}\n{content}\n<|file_sep|>{path2}\n{content2}\n ... <|endoftext|>
  <|repo_name|>{repo}\n<|file_sep|>{path}\n{content}\n ... <|file_sep|>{pathN}\n
      <|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>{middle}<|endoftext|>

Each package's files are shuffled (seeded by the package name) and cut into documents of random
size (one file up to --max-doc-chars), so the model sees every amount of cross-file context. Text
between special tokens is encoded as one string, exactly as the runtime's tokenizer does when it
splits a prompt at its added tokens.

Writes DATA/train.bin and DATA/heldout.bin (uint16 token ids, documents back to back) and
DATA/data-stats.json.

  /usr/bin/python3 tools/train/prepare_data.py --data /tmp/squeeze-train
"""
import argparse
import array
import hashlib
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
from bpe import EOT, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, FILE_SEP, REPO_NAME  # noqa: E402
from context_data import common_identifiers, pairs_document, recall_files, renamer, repeat_document  # noqa: E402


class ContextMix:
    """How much of the training split must be read from context (all zero: the shipped model's data)."""

    def __init__(self, args, common):
        self.rename_rate, self.recall_rate, self.recall_chars = args.rename_rate, args.recall_rate, args.recall_chars
        self.recall_needles, self.pairs_docs, self.repeat_docs = args.recall_needles, args.pairs_docs, args.repeat_docs
        self.common = common

    @staticmethod
    def wanted(args):
        return args.rename_rate > 0 or args.recall_rate > 0 or args.pairs_docs > 0 or args.repeat_docs > 0


def repo_name(pkg_name):
    """debian:python3-numpy/numpy -> numpy; python-stdlib/asyncio stays; npm names stay."""
    if pkg_name.startswith('debian:'):
        return pkg_name.split('/', 1)[1]
    return pkg_name


def fim_split(text, rng):
    """(prefix, middle, suffix) of a file. Half the time the middle is the rest of a line from a
    random point in it (sometimes with a few more lines): what inline completion asks for. Else a
    random span of up to 1,500 characters."""
    n = len(text)
    if rng.random() < 0.5:
        starts = [0] + [i + 1 for i, c in enumerate(text) if c == '\n' and i + 1 < n]
        ls = rng.choice(starts)
        le = text.find('\n', ls)
        le = n if le < 0 else le
        indent = ls + (len(text[ls:le]) - len(text[ls:le].lstrip()))
        a = indent if rng.random() < 0.3 else rng.randint(ls, le)
        b = le
        for _ in range(rng.choice([0, 0, 0, 1, 2, 4])):
            nxt = text.find('\n', b + 1)
            b = n if nxt < 0 else nxt
        if b < n and rng.random() < 0.5:
            b += 1  # the middle ends with the newline
    else:
        a = rng.randint(0, n)
        b = min(n, a + int(rng.random() ** 2 * 1500))
    # The suffix is cut to a few hundred characters (at a line end): in a short training window
    # the end of the prefix must stay visible from the middle.
    suffix = text[b:]
    cap = rng.choice([0, 200, 400, 800, 1600])
    if len(suffix) > cap:
        cut = suffix.rfind('\n', 0, cap)
        suffix = suffix[:cut + 1] if cut >= 0 else ''
    return text[:a], text[a:b], suffix


def package_documents(pkg, rng, max_doc_chars, fim_rate, context=None):
    """Yields documents as lists of segments: ints (special ids) and strings (plain text). With
    `context` (a ContextMix), some documents are recall documents or renamed (context_data.py)."""
    files = [f for f in pkg['files'] if not any(t in f['text'] or t in f['path'] for t in bpe.SPECIAL_TOKENS)]
    rng.shuffle(files)
    name = repo_name(pkg['name'])
    for _ in range(context.pairs_docs if context else 0):
        doc = [REPO_NAME, name + '\n']
        for path, text in pairs_document(files, rng, rng.randint(4, 16)):
            doc += [FILE_SEP, path + '\n' + text]
        yield doc + [EOT], False
    for _ in range(context.repeat_docs if context and files else 0):
        rename = renamer(context.common, rng) if rng.random() < 0.5 else (lambda t: t)
        doc = [REPO_NAME, name + '\n']
        for path, text in repeat_document(files, rng):
            doc += [FILE_SEP, rename(path) + '\n' + rename(text)]
        yield doc + [EOT], False
    i = 0
    while i < len(files):
        recall = context is not None and rng.random() < context.recall_rate
        target = rng.choice([0, max_doc_chars // 8, max_doc_chars // 2, max_doc_chars])
        if recall:
            target = rng.randint(context.recall_chars // 4, context.recall_chars)
        doc = [REPO_NAME, name + '\n']
        size = 0
        j = i
        while j < len(files) and (j == i or size + len(files[j]['text']) <= target):
            size += len(files[j]['text'])
            j += 1
        group = files[i:j]
        i = j
        if recall:
            group = [{'path': p, 'text': t} for p, t in (recall_files(group, rng, rng.randint(1, context.recall_needles)) or [])] or group
        if context is not None and rng.random() < context.rename_rate:
            rename = renamer(context.common, rng)
            group = [{'path': rename(f['path']), 'text': rename(f['text'])} for f in group]
        fim_last = rng.random() < fim_rate
        for k, f in enumerate(group):
            body = f['text'] if f['text'].endswith('\n') else f['text'] + '\n'
            if k == len(group) - 1 and fim_last:
                pre, mid, suf = fim_split(f['text'], rng)
                doc += [FILE_SEP, f['path'] + '\n', FIM_PREFIX, pre, FIM_SUFFIX, suf, FIM_MIDDLE, mid, EOT]
            else:
                doc += [FILE_SEP, f['path'] + '\n' + body]
        if not fim_last:
            doc.append(EOT)
        yield doc, fim_last


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='/tmp/squeeze-train')
    ap.add_argument('--tokenizer', default=None, help='tokenizer.json (default DATA/tokenizer/tokenizer.json)')
    ap.add_argument('--max-doc-chars', type=int, default=24_000)
    ap.add_argument('--fim-rate', type=float, default=0.5)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--rename-rate', type=float, default=0.0, help='share of training documents with package-local identifiers renamed')
    ap.add_argument('--recall-rate', type=float, default=0.0, help='share of training documents that are recall documents')
    ap.add_argument('--recall-chars', type=int, default=6000, help='longest recall document, in characters')
    ap.add_argument('--recall-needles', type=int, default=6, help='most name = "value" pairs in a recall document')
    ap.add_argument('--pairs-docs', type=int, default=0, help='short definitions-and-uses documents per training package')
    ap.add_argument('--repeat-docs', type=int, default=0, help='documents that repeat a span of code verbatim, per training package')
    args = ap.parse_args()
    enc = bpe.Encoder.from_tokenizer_json(args.tokenizer or os.path.join(args.data, 'tokenizer', 'tokenizer.json'))
    t0 = time.time()
    streams = {'train': array.array('H'), 'heldout': array.array('H')}
    stats = {s: {'docs': 0, 'fim_docs': 0, 'tokens': 0, 'chars': 0} for s in streams}
    context = None
    if ContextMix.wanted(args):
        with open(os.path.join(args.data, 'packages.jsonl'), encoding='utf8') as f:
            common = common_identifiers([p for p in map(json.loads, f) if p['split'] == 'train'])
        context = ContextMix(args, common)
        print(f'{len(common)} common identifiers kept by renaming', flush=True)
    with open(os.path.join(args.data, 'packages.jsonl'), encoding='utf8') as f:
        for line in f:
            pkg = json.loads(line)
            seed = int(hashlib.sha256(f'{args.seed}:{pkg["name"]}'.encode()).hexdigest()[:12], 16)
            rng = random.Random(seed)
            split = pkg['split']
            mix = context if split == 'train' else None
            for doc, fim in package_documents(pkg, rng, args.max_doc_chars, args.fim_rate, mix):
                ids = []
                for seg in doc:
                    if isinstance(seg, int):
                        ids.append(seg)
                    elif seg:
                        ids.extend(enc.encode_plain(seg))
                        stats[split]['chars'] += len(seg)
                streams[split].extend(ids)
                st = stats[split]
                st['docs'] += 1
                st['fim_docs'] += int(fim)
                st['tokens'] += len(ids)
    for split, arr in streams.items():
        with open(os.path.join(args.data, f'{split}.bin'), 'wb') as out:
            arr.tofile(out)
        stats[split]['chars_per_token'] = round(stats[split]['chars'] / max(1, stats[split]['tokens']), 3)
    stats['fim_rate'] = args.fim_rate
    stats['max_doc_chars'] = args.max_doc_chars
    stats['rename_rate'], stats['recall_rate'] = args.rename_rate, args.recall_rate
    json.dump(stats, open(os.path.join(args.data, 'data-stats.json'), 'w'), indent=1)
    print(json.dumps(stats), f'({time.time() - t0:.0f}s)')


if __name__ == '__main__':
    main()
