#!/usr/bin/env python3
"""A copying circuit set by hand on top of the shipped model: an experiment towards the evaluation
model of issue #14 (a model that reads its context) on a machine where training cannot grow one.

The shipped model's weights are kept exactly; the model is widened around them:
  - head_dim 32 -> 128 with RoPE base 1e6 -> 1e24, so that rotary pairs 0..15 keep the old
    frequencies (1e24^(-2i/128) = 1e6^(-2i/32)) and pairs 16..63 barely rotate (under 0.004 rad at
    4k positions): 96 dimensions per head whose dot products do not depend on distance. Old
    queries are scaled by 2 for the 1/sqrt(head_dim) change;
  - hidden 256 -> 640; old norms' weights divided by sqrt(640/256) (and eps by 640/256), so an old
    token whose new residual dimensions are near zero is normalized exactly as before;
  - one new KV head with four query heads per layer (12 heads, 3 KV heads, groups of 4 as before).
The new residual dimensions hold a 64-wide output code per token (read by the tied LM head), a
32-wide match code weighted by rarity (log frequency in a local code sample), a flag on special
tokens, and the match codes of the tokens 0..7 places back, written by positional heads in layers
0 and 1 (query and key from biases on the fast rotary pairs; 0.998 of their attention on the
intended offset). Layer 3's new head is an induction head over a window of W tokens: its key at n
is sum_j R_j code(t[n-j]) for j = 1..W and its query at m is lam * sum_j R_j code(t[m-j+1]) (R_j random
orthonormal maps into the 96 static dimensions), so it attends to positions whose preceding tokens
repeat the query's last ones, and adds that position's output code to the residual. A special
token's key answers a constant query component (tau): with no match above it, the head attends
there and adds nothing.

Measured (2026-12-07, 2-core CPU, 8 held-out cheerio files of 300 tokens shown twice under two
paths; mean next-token loss in nats, first occurrence / repeat):
  shipped model                       3.82 / 3.80
  W=3, lam=8, tau=8, bump=8 (default)  3.89 / 2.45   (`--probe`: copy_probe.py's losses)
  --window 5                          4.28 / 1.68
  --window 7                          4.66 / 1.28
So at the default it uses its context while costing little on text it has not seen; longer windows
copy more and guess worse. Greedy copying is not reliable: asked to continue a repeated 400-character
span of forms.ts, its first token matched the original (` string`), then it wrote
`.\n * @param {string} [` where the original has ` for submission.` and went on repeating `0.`.
It does not retrieve needles: 0 of 5 at 2k tokens (`const zq_kappa_417 = "3f9a0c2e";` asked back
as `assert(zq_kappa_417 === "`) at windows 3 and 5, with rarity weights capped at 1.0, and with
64-wide heads (32 static dimensions); prompts built as engine/eval/needle-cases.ts builds them
(cheerio's sources as filler), scored in PyTorch. The question differs from the needle line (`===` for
`=`), the 8 hex digits are common one-character tokens, and with 96 static dimensions the sum of
W random codes leaves crosstalk (rare tokens elsewhere in the file score as high as the needle's
aligned matches). Retrieval needs matching that tolerates a changed token and binds token to
offset without crosstalk (e.g. pairs of offsets bound by an MLP), or a trained model (GPU,
tools/gpu/README.md §2).

  /usr/bin/python3 tools/train/graft_copier.py --out /tmp/squeeze-copier [--window 3] [--lam 8] ...
  /usr/bin/python3 tools/train/graft_copier.py --probe          # the loss table above, no output
  /usr/bin/python3 tools/train/copy_probe.py --data DATA /tmp/squeeze-copier   # the recipe's probe

The written folder loads in squeeze (`head_dim` is in config.json): `squeeze complete --weights fp32`
gave the same 24 greedy ids as this file's PyTorch model on that prompt. At 18M parameters it
computes about four times the shipped model's work per token.
"""
import argparse
import glob
import json
import math
import os
import shutil
import sys
from collections import Counter

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
from copy_probe import losses  # noqa: E402
from export import load_exported, write_safetensors  # noqa: E402
from model import Qwen2Config, Qwen2ForCausalLM  # noqa: E402

BASE = 'models/squeeze-coder-4m'
OLD_HIDDEN, OLD_HEAD, HIDDEN, HEAD, HEADS, KV_HEADS = 256, 32, 640, 128, 12, 3
NEW_KV, FIRST_NEW_Q = 2, 8  # the new KV head and its first query head
SPECIALS = 7  # ids 0..6 are the special tokens (bpe.SPECIAL_TOKENS)
# New residual dimensions: output code, match code, special flag, match codes j tokens back.
OUT, MATCH, FLAG = slice(256, 320), slice(320, 352), 352
BACK = [slice(384 + 32 * j, 416 + 32 * j) for j in range(8)]
FAST_PAIRS, SINK_PAIR = 6, 15
# Median residual rms of the shipped model on code (256 wide): after layers 0 and 3's input.
RMS_LAYER1, RMS_LAYER3, RMS_FINAL = 8.3, 11.0, 12.5
BACK_SCALE, OUT_WRITE, OUT_EMBED, POSITION_SHARPNESS = 5.0, 5.0, 0.1, 12.0


def rarity_weights(enc, vocab, floor=0.2, ceil=1.6, chars=1_500_000):
    """Per-token match weight from its log frequency in local JS/TS (not the evaluation's files)."""
    files = sorted(f for f in glob.glob('node_modules/**/*.[jt]s', recursive=True) if 'cheerio' not in f and '.min.' not in f)
    counts, seen = Counter(), 0
    for f in files[::7]:
        try:
            text = open(f, encoding='utf8').read()
        except (OSError, UnicodeDecodeError):
            continue
        if len(text) > 60000:
            continue
        counts.update(enc.encode_plain(text))
        seen += len(text)
        if seen > chars:
            break
    total = sum(counts.values())
    return torch.tensor([min(ceil, max(floor, (-math.log10((counts[t] + 0.5) / total) - 1) / 3)) for t in range(vocab)])


def widened_config(old):
    half = HEAD // 2
    return Qwen2Config(vocab_size=old.vocab_size, hidden_size=HIDDEN, intermediate_size=old.intermediate_size,
                       num_hidden_layers=old.num_hidden_layers, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
                       head_dim=HEAD, rms_norm_eps=old.rms_norm_eps * OLD_HIDDEN / HIDDEN,
                       rope_theta=old.rope_theta ** (half / (OLD_HEAD // 2)), tie_word_embeddings=True)


def old_rows(h):
    """An old head's 32 rows in the wide head h: rotary pair i stays pair i (halves at 0 and 64)."""
    return [h * HEAD + (d if d < 16 else HEAD // 2 + d - 16) for d in range(OLD_HEAD)]


def copy_old_attention(osd, p, a):
    """The old heads, unchanged in what they compute (queries x2 for the wider 1/sqrt(head_dim))."""
    r = math.sqrt(HEAD / OLD_HEAD)
    for h in range(8):
        a['q'][old_rows(h), :OLD_HIDDEN] = osd[p + 'self_attn.q_proj.weight'][h * 32:(h + 1) * 32] * r
        a['qb'][old_rows(h)] = osd[p + 'self_attn.q_proj.bias'][h * 32:(h + 1) * 32] * r
        a['o'][:OLD_HIDDEN, h * HEAD:h * HEAD + 32] = osd[p + 'self_attn.o_proj.weight'][:, h * 32:(h + 1) * 32]
    for g in range(2):
        a['k'][old_rows(g), :OLD_HIDDEN] = osd[p + 'self_attn.k_proj.weight'][g * 32:(g + 1) * 32]
        a['kb'][old_rows(g)] = osd[p + 'self_attn.k_proj.bias'][g * 32:(g + 1) * 32]
        a['v'][g * HEAD:g * HEAD + 32, :OLD_HIDDEN] = osd[p + 'self_attn.v_proj.weight'][g * 32:(g + 1) * 32]
        a['vb'][g * HEAD:g * HEAD + 32] = osd[p + 'self_attn.v_proj.bias'][g * 32:(g + 1) * 32]


def offset_heads(a, norm, layer, thetas, rms_e):
    """Layer 0: heads 8..11 attend 0..3 tokens back; layer 1: 4..7 back. Each writes the match code
    found there into BACK[offset]. Score(d) = sum_i A cos((d - offset) theta_i) over the fast pairs."""
    half, scale = HEAD // 2, math.sqrt(HEAD)
    norm[MATCH] = 1 / math.sqrt(HIDDEN / OLD_HIDDEN) if layer == 0 else (RMS_LAYER1 / math.sqrt(HIDDEN / OLD_HIDDEN)) / rms_e
    for i in range(FAST_PAIRS):
        a['kb'][NEW_KV * HEAD + i] = 1.0
    for n in range(4):
        offset, head = n + 4 * layer, FIRST_NEW_Q + n
        for i in range(FAST_PAIRS):
            a['qb'][head * HEAD + i] = POSITION_SHARPNESS * math.cos(offset * thetas[i]) * scale
            a['qb'][head * HEAD + half + i] = -POSITION_SHARPNESS * math.sin(offset * thetas[i]) * scale
        for d in range(32):
            a['o'][BACK[offset].start + d, head * HEAD + d] = BACK_SCALE
    for d in range(32):
        a['v'][NEW_KV * HEAD + d, MATCH.start + d] = 1.0


def induction_head(a, norm, args, rotations, special_rms):
    """Layer 3, head 8: keys from the codes 1..W back, queries from 0..W-1 back, values the output code."""
    half, scale = HEAD // 2, math.sqrt(HEAD)
    static = torch.tensor(list(range(16, half)) + list(range(half + 16, HEAD)))  # rows of the 96 static dims
    wide = math.sqrt(HIDDEN / OLD_HIDDEN)
    for j in range(8):
        norm[BACK[j]] = RMS_LAYER3 / wide / BACK_SCALE
    norm[OUT] = RMS_LAYER3 / wide / OUT_EMBED
    norm[FLAG] = RMS_LAYER3 / wide / special_rms
    for j in range(1, args.window + 1):
        a['k'][NEW_KV * HEAD + static, BACK[j]] = rotations[j]
        a['q'][FIRST_NEW_Q * HEAD + static, BACK[j - 1]] = rotations[j] * args.lam * scale
    a['k'][NEW_KV * HEAD + SINK_PAIR, FLAG] = 1.0
    a['qb'][FIRST_NEW_Q * HEAD + SINK_PAIR] = args.tau * scale
    for d in range(64):
        a['v'][NEW_KV * HEAD + d, OUT.start + d] = 1.0
        a['o'][OUT.start + d, FIRST_NEW_Q * HEAD + d] = OUT_WRITE


def graft(args):
    torch.manual_seed(args.seed)
    old = load_exported(BASE)
    osd = {k: v.float() for k, v in old.state_dict().items()}
    oc, c = old.config, widened_config(old.config)
    enc = bpe.Encoder.from_tokenizer_json(os.path.join(BASE, 'tokenizer.json'))
    V, I, wide = oc.vocab_size, oc.intermediate_size, math.sqrt(HIDDEN / OLD_HIDDEN)
    weights = rarity_weights(enc, V)
    out_code = torch.nn.functional.normalize(torch.randn(V, 64), dim=1)
    match_code = torch.nn.functional.normalize(torch.randn(V, 32), dim=1) * weights[:, None]
    out_code[:SPECIALS] = 0
    match_code[:SPECIALS] = 0
    E0 = osd['model.embed_tokens.weight']
    rms_e = E0.pow(2).mean(1).sqrt()
    E = torch.zeros(V, HIDDEN)
    E[:, :OLD_HIDDEN] = E0
    E[:, OUT] = OUT_EMBED * out_code
    E[:, MATCH] = rms_e[:, None] * match_code  # rms-scaled: layer 0's norm returns the code itself
    E[:SPECIALS, FLAG] = rms_e[:SPECIALS]
    pad = torch.zeros(HIDDEN - OLD_HIDDEN)
    sd = {'model.embed_tokens.weight': E, 'model.norm.weight': torch.cat([osd['model.norm.weight'] / wide, pad])}
    sd['model.norm.weight'][OUT] = args.bump * (RMS_FINAL / wide) / (OUT_EMBED * OUT_WRITE)
    thetas = [c.rope_theta ** (-2 * i / HEAD) for i in range(HEAD // 2)]
    rotations = [torch.linalg.qr(torch.randn(96, 32))[0] for _ in range(8)]
    for layer in range(oc.num_hidden_layers):
        p = f'model.layers.{layer}.'
        for n in ('input_layernorm', 'post_attention_layernorm'):
            sd[p + n + '.weight'] = torch.cat([osd[p + n + '.weight'] / wide, pad])
        a = {'q': torch.zeros(HEADS * HEAD, HIDDEN), 'qb': torch.zeros(HEADS * HEAD), 'k': torch.zeros(KV_HEADS * HEAD, HIDDEN),
             'kb': torch.zeros(KV_HEADS * HEAD), 'v': torch.zeros(KV_HEADS * HEAD, HIDDEN), 'vb': torch.zeros(KV_HEADS * HEAD),
             'o': torch.zeros(HIDDEN, HEADS * HEAD)}
        copy_old_attention(osd, p, a)
        norm = sd[p + 'input_layernorm.weight']
        if layer in (0, 1):
            offset_heads(a, norm, layer, thetas, float(rms_e.median()))
        if layer == oc.num_hidden_layers - 1:
            induction_head(a, norm, args, rotations, float(rms_e[:SPECIALS].mean()))
        for name, key in (('q_proj.weight', 'q'), ('q_proj.bias', 'qb'), ('k_proj.weight', 'k'), ('k_proj.bias', 'kb'),
                          ('v_proj.weight', 'v'), ('v_proj.bias', 'vb'), ('o_proj.weight', 'o')):
            sd[p + 'self_attn.' + name] = a[key]
        for n in ('gate_proj', 'up_proj'):
            sd[p + f'mlp.{n}.weight'] = torch.cat([osd[p + f'mlp.{n}.weight'], torch.zeros(I, HIDDEN - OLD_HIDDEN)], 1)
        sd[p + 'mlp.down_proj.weight'] = torch.cat([osd[p + 'mlp.down_proj.weight'], torch.zeros(HIDDEN - OLD_HIDDEN, I)], 0)
    m = Qwen2ForCausalLM(c)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert not unexpected and all(k == 'lm_head.weight' for k in missing), (missing, unexpected)
    return m.eval(), old, enc, sd, c


def probe(m, old, enc):
    """copy_probe.py's losses (first occurrence, repeat) on held-out files' first 300 tokens shown
    twice; cheerio's sources stand in for the recipe's held-out packages, which need its corpus."""
    docs = []
    for f in sorted(glob.glob('node_modules/cheerio/src/**/*.ts', recursive=True))[6:14]:
        toks = enc.encode(open(f, encoding='utf8').read())[:300]
        head = enc.encode('<|repo_name|>x\n<|file_sep|>a.ts\n') + toks + enc.encode('\n<|file_sep|>b.ts\n')
        docs.append((head, toks))
    for name, model in (('shipped', old), ('grafted', m)):
        first, repeat = losses(model, docs)
        print(f'{name}: first occurrence {first:.2f}, repeat {repeat:.2f} nats/token')


def write(out, sd, c):
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, 'model.safetensors'), {k: v.half() for k, v in sd.items()}, {'format': 'pt'})
    config = json.load(open(os.path.join(BASE, 'config.json')))
    config.update(hidden_size=c.hidden_size, num_attention_heads=c.num_attention_heads, num_key_value_heads=c.num_key_value_heads,
                  head_dim=c.head_dim, rms_norm_eps=c.rms_norm_eps, rope_theta=c.rope_theta)
    json.dump(config, open(os.path.join(out, 'config.json'), 'w'), indent=2)
    for f in ('tokenizer.json', 'tokenizer_config.json', 'generation_config.json'):
        shutil.copyfile(os.path.join(BASE, f), os.path.join(out, f))
    print(f'wrote {out}')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', help='folder to write the grafted model to')
    ap.add_argument('--probe', action='store_true', help='print first-occurrence and repeat losses')
    ap.add_argument('--window', type=int, default=3, help='tokens the induction head matches (1..7)')
    ap.add_argument('--lam', type=float, default=8.0, help='match score per unit of matched weight')
    ap.add_argument('--tau', type=float, default=8.0, help='score of the no-match sink')
    ap.add_argument('--bump', type=float, default=8.0, help='logit added to the copied token (full attention)')
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()
    if not 1 <= args.window <= 7:
        ap.error('--window must be in 1..7')
    m, old, enc, sd, c = graft(args)
    if args.probe:
        probe(m, old, enc)
    if args.out:
        write(args.out, sd, c)


if __name__ == '__main__':
    main()
