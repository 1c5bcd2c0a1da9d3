#!/usr/bin/env python3
"""PyTorch reference for the shipped model: 20 prompts from HELD-OUT packages (plain code, the
repository format and fill-in-the-middle), each with its token ids, PyTorch's greedy continuation
and the last prompt position's logits. test/models/squeeze-coder.test.ts holds our runtime to it.

The reference runs the exported model.safetensors (float16 weights, computed in float32) with the
independent implementation in tools/train/model.py. The runtime stores its KV cache in float16, so
the reference rounds cached keys/values to float16 too before a decode step reads them (prefill is
all float32 on both sides). A prompt whose greedy path passes through a near tie (top-2 logit
margin below --min-margin) is skipped: two correct float32 implementations may break such a tie
differently, so it would test rounding luck rather than the runtime.

  /usr/bin/python3 tools/train/make_reference.py --model models/squeeze-coder-4m \
      --data /tmp/squeeze-train --out test/models/squeeze-coder-4m.reference.json
"""
import argparse
import json
import os
import random
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
from bpe import EOT  # noqa: E402
from export import load_exported  # noqa: E402


def fp16_round(t):
    return t.half().float()


@torch.no_grad()
def greedy(model, ids, max_new, kv_round):
    """Greedy decoding with a KV cache; returns (new ids, min top-2 margin, last prompt logits)."""
    logits, past = model(torch.tensor([ids]))
    last = logits[0, -1].clone()
    out, margin, pos = [], float('inf'), len(ids)
    cur = logits[0, -1]
    while len(out) < max_new:
        top = torch.topk(cur, 2).values
        margin = min(margin, float(top[0] - top[1]))
        nxt = int(torch.argmax(cur))
        if nxt == EOT:
            break
        out.append(nxt)
        if len(out) >= max_new:
            break
        logits, past = model(torch.tensor([[nxt]]), positions=torch.tensor([pos]), past=past, kv_round=kv_round)
        pos += 1
        cur = logits[0, -1]
    return out, margin, last


def candidate_prompts(data, rng):
    """(name, kind, text) from held-out packages: plain code cut at a line or mid-line, the
    repository format with another file as context, and FIM."""
    pkgs = [json.loads(l) for l in open(os.path.join(data, 'packages.jsonl'), encoding='utf8')]
    pkgs = [p for p in pkgs if p['split'] == 'heldout']
    rng.shuffle(pkgs)
    out = []
    for round_ in range(6):
        for p in pkgs:
            files = [f for f in p['files'] if len(f['text']) > 600 and not any(t in f['text'] for t in bpe.SPECIAL_TOKENS)]
            if not files:
                continue
            f = rng.choice(files)
            text = f['text']
            lines = text.split('\n')
            k = rng.randint(3, max(3, len(lines) - 2))
            head = '\n'.join(lines[max(0, k - 25):k]) + '\n'
            nxt = lines[k] if k < len(lines) else ''
            indent = nxt[:len(nxt) - len(nxt.lstrip())]
            cut = rng.choice(['line', 'indent', 'mid'])
            if cut == 'indent':
                head += indent
            elif cut == 'mid' and len(nxt.strip()) > 6:
                head += nxt[:len(indent) + rng.randint(1, len(nxt.strip()) - 1)]
            kind = ['plain', 'plain', 'repo', 'fim'][(len(out) + round_) % 4]
            name = f"{p['name']}:{f['path']}:{k + 1}"
            if kind == 'plain':
                out.append((name, kind, head))
            elif kind == 'repo':
                others = [g for g in p['files'] if g is not f and not any(t in g['text'] for t in bpe.SPECIAL_TOKENS)]
                ctx = ''
                if others:
                    g = rng.choice(others)
                    ctx = f"<|file_sep|>{g['path']}\n" + '\n'.join(g['text'].split('\n')[:30]) + '\n'
                repo = p['name'].split('/', 1)[1] if p['name'].startswith('debian:') else p['name']
                out.append((name, kind, f"<|repo_name|>{repo}\n{ctx}<|file_sep|>{f['path']}\n{head}"))
            else:
                suffix = '\n'.join(lines[k + 1:k + 8]) + '\n'
                out.append((name, kind, f"<|file_sep|>{f['path']}\n<|fim_prefix|>{head}<|fim_suffix|>{suffix}<|fim_middle|>"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--data', default='/tmp/squeeze-train')
    ap.add_argument('--out', required=True)
    ap.add_argument('--count', type=int, default=20)
    ap.add_argument('--max-new-tokens', type=int, default=24)
    ap.add_argument('--min-margin', type=float, default=2e-3)
    ap.add_argument('--seed', type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    model = load_exported(args.model)
    enc = bpe.Encoder.from_tokenizer_json(os.path.join(args.model, 'tokenizer.json'))
    rng = random.Random(args.seed)
    cases, skipped, fp32_cache_same = [], 0, 0
    for name, kind, text in candidate_prompts(args.data, rng):
        if len(cases) >= args.count:
            break
        ids = enc.encode(text)
        if not 24 <= len(ids) <= 480:  # one prefill chunk in the runtime (512)
            continue
        gen, margin, last = greedy(model, ids, args.max_new_tokens, fp16_round)
        if margin < args.min_margin:
            skipped += 1
            continue
        gen32, _, _ = greedy(model, ids, args.max_new_tokens, None)
        fp32_cache_same += int(gen32 == gen)
        cases.append({'name': name, 'kind': kind, 'text': text, 'prompt_ids': ids, 'greedy_ids': gen, 'greedy_text': enc.decode(gen),
                      'min_margin': round(margin, 5), 'last_logits': [round(float(x), 5) for x in last]})
        print(f'{kind:5} {len(ids):4} tokens, margin {margin:.4f}: {enc.decode(gen)!r}', flush=True)
    ref = {
        'model': os.path.basename(os.path.normpath(args.model)),
        'reference': f'tools/train/model.py (PyTorch {torch.__version__}, float32 compute on the float16 weights of model.safetensors; '
                     'KV cache rounded to float16 as the runtime stores it)',
        'max_new_tokens': args.max_new_tokens,
        'min_margin': args.min_margin,
        'skipped_near_ties': skipped,
        'greedy_same_with_float32_cache': fp32_cache_same,
        'cases': cases,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w', encoding='utf8') as f:
        json.dump(ref, f, ensure_ascii=False, separators=(',', ':'))
    print(f'{len(cases)} cases -> {args.out} (skipped {skipped} near ties; greedy identical with a float32 cache in {fp32_cache_same})')


if __name__ == '__main__':
    main()
