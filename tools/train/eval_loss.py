#!/usr/bin/env python3
"""Held-out loss of an exported model (model.safetensors as shipped, float32 compute) by position
in long windows: how well the model uses context at each distance it was (or was not) trained at.

  /usr/bin/python3 tools/train/eval_loss.py --model models/squeeze-coder-4m --data /tmp/squeeze-train
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export import load_exported  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--data', default='/tmp/squeeze-train')
    ap.add_argument('--seq', type=int, default=4096)
    ap.add_argument('--windows', type=int, default=8)
    ap.add_argument('--buckets', default='0,64,256,1024,2048,4096')
    ap.add_argument('--out', default=None)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    model = load_exported(args.model)
    data = np.memmap(os.path.join(args.data, 'heldout.bin'), dtype=np.uint16, mode='r')
    rng = np.random.default_rng(4321)
    edges = [int(x) for x in args.buckets.split(',')]
    sums = np.zeros(len(edges) - 1)
    counts = np.zeros(len(edges) - 1)
    total, n = 0.0, 0
    with torch.no_grad():
        for s in rng.integers(0, len(data) - args.seq - 1, size=args.windows):
            w = torch.from_numpy(data[s:s + args.seq + 1].astype(np.int64))[None]
            logits, _ = model(w[:, :-1])
            nll = F.cross_entropy(logits[0], w[0, 1:], reduction='none').numpy()
            for b in range(len(edges) - 1):
                seg = nll[edges[b]:edges[b + 1]]
                sums[b] += seg.sum()
                counts[b] += len(seg)
            total += nll.sum()
            n += len(nll)
    res = {'seq': args.seq, 'windows': args.windows, 'tokens': n, 'loss': round(total / n, 4),
           'by_position': {f'{edges[b]}-{edges[b + 1]}': round(sums[b] / counts[b], 4) for b in range(len(edges) - 1) if counts[b]}}
    res['perplexity'] = round(math.exp(res['loss']), 2)
    print(json.dumps(res))
    if args.out:
        json.dump(res, open(args.out, 'w'), indent=1)


if __name__ == '__main__':
    main()
