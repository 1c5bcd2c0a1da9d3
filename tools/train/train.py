#!/usr/bin/env python3
"""Trains the Qwen2-architecture model of tools/train/model.py on DATA/train.bin.

Sizes, steps, context lengths and device are flags, so the same recipe runs the 2-core CPU
build of the shipped model and a larger GPU run:

  # what models/squeeze-coder-4m was trained with (2-core CPU shared with other jobs, 40 minutes;
  # OMP_WAIT_POLICY=PASSIVE helps when the cores are oversubscribed):
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 tools/train/train.py --data /tmp/squeeze-train \
      --out /tmp/squeeze-train/run --steps 3000 --time-limit 40
  # a 15-minute H100 run of a bigger model (bf16 autocast):
  python tools/train/train.py --device cuda --dtype bfloat16 --hidden 768 --layers 12 --heads 12 \
      --kv-heads 2 --head-dim 64 --intermediate 2048 --tokens-per-step 262144 --lr 1e-3 \
      --steps 4000 --time-limit 15 --phases 1024:0.7,4096:0.3
  # on a CPU, run it under tools/train/with-jemalloc.sh (glibc's page faults otherwise cost 4-5x
  # the step time at 1,024 tokens on the 2-core VM: 6.2-7.0 s against 1.45-1.48 s, 2026-12-07)
  # a few steps of a tiny model (CI):
  /usr/bin/python3 tools/train/train.py --smoke --data DIR --out DIR/run

Progress is max(step / steps, elapsed / time-limit): the learning-rate schedule (linear warmup,
cosine decay to --min-lr-ratio) and the context-length phases follow it, so a run that is slower
than planned still finishes its schedule inside the time limit (with --time-limit 0 the run is
step-determined and reproducible). A checkpoint (model, optimiser, step, elapsed time, RNG state)
is written every --ckpt-minutes; --resume continues from it.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Qwen2Config, Qwen2ForCausalLM, count_parameters  # noqa: E402


def parse_phases(text):
    phases = []
    for part in text.split(','):
        seq, frac = part.split(':')
        phases.append((int(seq), float(frac)))
    total = sum(f for _, f in phases)
    return [(s, f / total) for s, f in phases]


def phase_at(phases, progress):
    acc = 0.0
    for seq, frac in phases:
        acc += frac
        if progress < acc:
            return seq
    return phases[-1][0]


def lr_at(args, step, progress):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    p = min(1.0, progress)
    return args.lr * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


class Batches:
    """Random windows of seq+1 tokens from a uint16 token stream. A share `fim_focus` of the
    windows end a few tokens after a <|fim_middle|> token, so that fill-in-the-middle examples
    (whose middle sits at the end of a long document) are seen with their prefix and suffix."""

    def __init__(self, path, seed, fim_focus=0.0, fim_middle_id=2, copy_share=0.0, vocab=0):
        self.data = np.memmap(path, dtype=np.uint16, mode='r')
        self.rng = np.random.default_rng(seed)
        self.fim_focus = fim_focus
        self.copy_share, self.vocab = copy_share, vocab
        self.middles = np.flatnonzero(np.asarray(self.data) == fim_middle_id) if fim_focus > 0 else np.zeros(0, dtype=np.int64)

    def get(self, batch, seq):
        starts = self.rng.integers(0, len(self.data) - seq - 1, size=batch)
        if len(self.middles):
            for i in range(batch):
                if self.rng.random() < self.fim_focus:
                    end = int(self.rng.choice(self.middles)) + int(self.rng.integers(8, 65))
                    starts[i] = min(max(0, end - seq - 1), len(self.data) - seq - 1)
        x = np.stack([self.data[s:s + seq + 1].astype(np.int64) for s in starts])
        # Without planted copies no draw is made, so a run without them keeps its random stream.
        for row in x if self.copy_share > 0 else ():
            if self.rng.random() < self.copy_share:
                plant_copies(row, self.rng, self.vocab)
        t = torch.from_numpy(x)
        return t[:, :-1], t[:, 1:]


FIRST_PLAIN_ID = 16  # planted tokens skip the 7 special tokens (bpe.SPECIAL_TOKENS) and the first 9 byte characters


def plant_copies(row, rng, vocab):
    """Overwrites a window in place with a span of uniformly random tokens and, further on, the same
    span again (up to three such pairs). Only the copy is predictable, and only by finding the first
    occurrence: the plainest signal for learning induction heads, which a small model trained on code
    alone forms slowly (tools/train/run_reader.sh). The gap is drawn up to the whole window, so the
    lookup is learnt at every distance the phase trains."""
    n = len(row)
    for _ in range(rng.integers(1, 4)):
        span = int(rng.integers(8, max(9, min(128, n // 4))))
        first = int(rng.integers(0, n - 2 * span))
        second = int(rng.integers(first + span, n - span + 1))
        tokens = rng.integers(FIRST_PLAIN_ID, vocab, size=span)
        row[first:first + span] = tokens
        row[second:second + span] = tokens


def heldout_windows(path, seq, count, seed=1234):
    data = np.memmap(path, dtype=np.uint16, mode='r')
    if len(data) <= seq + 1:
        return None
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(data) - seq - 1, size=count)
    return torch.from_numpy(np.stack([data[s:s + seq + 1].astype(np.int64) for s in starts]))


@torch.no_grad()
def evaluate(model, windows, device, batch=8, autocast=None):
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(windows), batch):
        w = windows[i:i + batch].to(device)
        with autocast():
            loss = model.loss(w[:, :-1], w[:, 1:])
        total += loss.item() * w.shape[0]
        n += w.shape[0]
    model.train()
    return total / n


def save_atomic(obj, path):
    tmp = path + '.tmp'
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default='/tmp/squeeze-train')
    ap.add_argument('--out', default=None, help='checkpoints and logs (default DATA/run)')
    ap.add_argument('--vocab-size', type=int, default=None, help='default: from DATA/tokenizer/tokenizer.json')
    ap.add_argument('--hidden', type=int, default=256)
    ap.add_argument('--layers', type=int, default=4)
    ap.add_argument('--heads', type=int, default=8)
    ap.add_argument('--kv-heads', type=int, default=2)
    ap.add_argument('--head-dim', type=int, default=32)
    ap.add_argument('--intermediate', type=int, default=704)
    ap.add_argument('--rope-theta', type=float, default=1e6)
    ap.add_argument('--steps', type=int, default=1400)
    ap.add_argument('--time-limit', type=float, default=40.0, help='minutes; 0 = no limit (step-determined)')
    ap.add_argument('--tokens-per-step', type=int, default=2048)
    ap.add_argument('--phases', default='256:0.55,1024:0.35,4096:0.1', help='context length:share of progress, ...')
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--min-lr-ratio', type=float, default=0.1)
    ap.add_argument('--warmup', type=int, default=30)
    ap.add_argument('--weight-decay', type=float, default=0.1)
    ap.add_argument('--grad-clip', type=float, default=1.0)
    ap.add_argument('--grad-checkpoint-from', type=int, default=2048, help='recompute activations for sequences at least this long')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16'], help='autocast dtype (bfloat16 on GPUs)')
    ap.add_argument('--threads', type=int, default=0, help='CPU threads (0: all cores)')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--fim-focus', type=float, default=0.25, help='share of windows that end just after a FIM middle starts')
    ap.add_argument('--copy-share', type=float, default=0.0, help='share of windows given planted random spans and their copies (plant_copies)')
    ap.add_argument('--eval-every', type=int, default=100)
    ap.add_argument('--eval-windows', type=int, default=48)
    ap.add_argument('--ckpt-minutes', type=float, default=3.0)
    ap.add_argument('--resume', action='store_true')
    ap.add_argument('--init', default=None, help='start from an exported model folder (fine-tuning; its sizes replace the size flags)')
    ap.add_argument('--smoke', action='store_true', help='tiny model, 20 steps, short context (CI)')
    args = ap.parse_args()
    if args.smoke:
        args.hidden, args.layers, args.heads, args.kv_heads, args.head_dim, args.intermediate = 64, 2, 4, 2, 16, 128
        args.steps, args.time_limit, args.tokens_per_step, args.phases = 20, 0, 512, '64:0.8,128:0.2'
        args.warmup, args.eval_every, args.eval_windows, args.lr = 5, 10, 8, 3e-3
    out = args.out or os.path.join(args.data, 'run')
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(args.seed)
    if args.device == 'cpu':
        torch.set_num_threads(args.threads or os.cpu_count() or 1)
    if args.init:
        cfg_file = json.load(open(os.path.join(args.init, 'config.json')))
        args.vocab_size, args.hidden, args.intermediate = cfg_file['vocab_size'], cfg_file['hidden_size'], cfg_file['intermediate_size']
        args.layers, args.heads, args.kv_heads = cfg_file['num_hidden_layers'], cfg_file['num_attention_heads'], cfg_file['num_key_value_heads']
        args.head_dim, args.rope_theta = args.hidden // args.heads, cfg_file['rope_theta']
    if args.vocab_size is None:
        tj = json.load(open(os.path.join(args.data, 'tokenizer', 'tokenizer.json'), encoding='utf8'))
        args.vocab_size = len(tj['model']['vocab'])
    cfg = Qwen2Config(vocab_size=args.vocab_size, hidden_size=args.hidden, intermediate_size=args.intermediate,
                      num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
                      head_dim=args.head_dim, rope_theta=args.rope_theta)
    model = Qwen2ForCausalLM(cfg)
    if args.init:
        from export import load_exported
        model.load_state_dict(load_exported(args.init).state_dict())
        print(f'initialised from {args.init}', flush=True)
    model = model.to(args.device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': args.weight_decay}, {'params': no_decay, 'weight_decay': 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    phases = parse_phases(args.phases)
    ckpt_path = os.path.join(out, 'ckpt.pt')
    step, elapsed_before, tokens_seen, tokens_by_seq = 0, 0.0, 0, {}
    batches = Batches(os.path.join(args.data, 'train.bin'), args.seed, args.fim_focus,
                      copy_share=args.copy_share, vocab=args.vocab_size)
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=args.device)
        model.load_state_dict(ck['model'])
        opt.load_state_dict(ck['opt'])
        step, elapsed_before, tokens_seen = ck['step'], ck['elapsed'], ck['tokens_seen']
        tokens_by_seq = {int(k): v for k, v in ck.get('tokens_by_seq', {}).items()}
        batches.rng = np.random.default_rng([args.seed, step])
        torch.set_rng_state(ck['torch_rng'])
        print(f'resumed at step {step} ({elapsed_before / 60:.1f} min)', flush=True)
    eval_seq = phases[0][0]
    windows = heldout_windows(os.path.join(args.data, 'heldout.bin'), eval_seq, args.eval_windows)
    if args.device.startswith('cuda') and args.dtype == 'bfloat16':
        autocast = lambda: torch.autocast('cuda', dtype=torch.bfloat16)  # noqa: E731
    else:
        import contextlib
        autocast = contextlib.nullcontext
    log = open(os.path.join(out, 'train-log.jsonl'), 'a')
    n_params = count_parameters(model)
    meta = {'event': 'start', 'params': n_params, 'config': cfg.to_dict(), 'args': vars(args), 'torch': torch.__version__,
            'threads': torch.get_num_threads(), 'device': args.device}
    log.write(json.dumps(meta) + '\n'); log.flush()
    print(f'{n_params / 1e6:.2f}M parameters; phases {phases}; {args.steps} steps, time limit {args.time_limit} min', flush=True)

    t_start = time.time()
    last_ckpt = time.time()
    loss_ema = None
    model.train()

    def elapsed():
        return elapsed_before + time.time() - t_start

    def progress():
        p = step / args.steps
        if args.time_limit > 0:
            p = max(p, elapsed() / (args.time_limit * 60))
        return p

    def checkpoint():
        save_atomic({'model': model.state_dict(), 'opt': opt.state_dict(), 'step': step, 'elapsed': elapsed(), 'tokens_seen': tokens_seen,
                     'tokens_by_seq': tokens_by_seq, 'torch_rng': torch.get_rng_state(), 'config': cfg.to_dict(), 'args': vars(args)}, ckpt_path)

    while progress() < 1.0:
        p = progress()
        seq = phase_at(phases, p)
        batch = max(1, args.tokens_per_step // seq)
        lr = lr_at(args, step, p)
        for g in opt.param_groups:
            g['lr'] = lr
        model.gradient_checkpointing = seq >= args.grad_checkpoint_from
        t0 = time.time()
        x, y = batches.get(batch, seq)
        x, y = x.to(args.device), y.to(args.device)
        with autocast():
            loss = model.loss(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        step += 1
        tokens_seen += batch * seq
        tokens_by_seq[seq] = tokens_by_seq.get(seq, 0) + batch * seq
        lv = loss.item()
        loss_ema = lv if loss_ema is None else 0.95 * loss_ema + 0.05 * lv
        rec = {'step': step, 'progress': round(progress(), 4), 'seq': seq, 'batch': batch, 'lr': round(lr, 6), 'loss': round(lv, 4),
               'loss_ema': round(loss_ema, 4), 'gnorm': round(float(gnorm), 3), 'step_s': round(time.time() - t0, 3),
               'elapsed_min': round(elapsed() / 60, 2), 'tokens': tokens_seen}
        if windows is not None and (step % args.eval_every == 0):
            rec['heldout_loss'] = round(evaluate(model, windows, args.device, autocast=autocast), 4)
        log.write(json.dumps(rec) + '\n'); log.flush()
        if step % 10 == 0 or 'heldout_loss' in rec:
            print(json.dumps(rec), flush=True)
        if time.time() - last_ckpt > args.ckpt_minutes * 60:
            checkpoint()
            last_ckpt = time.time()

    checkpoint()
    final = {'event': 'end', 'steps': step, 'elapsed_min': round(elapsed() / 60, 2), 'tokens_seen': tokens_seen,
             'tokens_by_seq': tokens_by_seq, 'params': n_params, 'loss_ema': loss_ema}
    if windows is not None:
        final['heldout_loss'] = round(evaluate(model, windows, args.device, autocast=autocast), 4)
        final['heldout_eval_seq'] = eval_seq
    torch.save({'model': model.state_dict(), 'config': cfg.to_dict(), 'summary': final}, os.path.join(out, 'final.pt'))
    json.dump(final, open(os.path.join(out, 'train-summary.json'), 'w'), indent=1)
    log.write(json.dumps(final) + '\n'); log.close()
    print(json.dumps(final), flush=True)


if __name__ == '__main__':
    main()
