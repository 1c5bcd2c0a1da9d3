#!/usr/bin/env python3
"""Writes a trained checkpoint as a Hugging Face model folder (transformers-4 style Qwen2):
config.json, generation_config.json, model.safetensors (float16, written by this file's own
safetensors writer), tokenizer.json and tokenizer_config.json.

  /usr/bin/python3 tools/train/export.py --ckpt /tmp/squeeze-train/run/final.pt \
      --tokenizer /tmp/squeeze-train/tokenizer --out models/squeeze-coder-4m --context 4096
"""
import argparse
import json
import os
import shutil
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Qwen2Config, Qwen2ForCausalLM  # noqa: E402

ST_DTYPES = {torch.float16: 'F16', torch.bfloat16: 'BF16', torch.float32: 'F32'}


def write_safetensors(path, tensors, metadata=None):
    """safetensors: u64 little-endian header length, a JSON header {name: {dtype, shape,
    data_offsets: [begin, end]}} (offsets relative to the data area), padded with spaces to a
    multiple of 8 bytes, then the tensors' raw little-endian bytes back to back."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.view(torch.uint8).numpy().tobytes() if t.dtype in (torch.float16, torch.bfloat16) else t.numpy().tobytes()
        header[name] = {'dtype': ST_DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hj = json.dumps(header, separators=(',', ':')).encode('utf8')
    hj += b' ' * ((8 - len(hj) % 8) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """The reader twin of write_safetensors (used to reload exactly what was shipped)."""
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    inv = {v: k for k, v in ST_DTYPES.items()}
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        a, b = info['data_offsets']
        buf = bytearray(data[a:b])
        t = torch.frombuffer(buf, dtype=torch.uint8) if len(buf) else torch.zeros(0, dtype=torch.uint8)
        out[name] = t.view(inv[info['dtype']]).reshape(info['shape']).clone()
    return out


def load_exported(folder):
    """The shipped model as PyTorch: fp16 weights from model.safetensors, computed in float32."""
    cfg = json.load(open(os.path.join(folder, 'config.json')))
    c = Qwen2Config(vocab_size=cfg['vocab_size'], hidden_size=cfg['hidden_size'], intermediate_size=cfg['intermediate_size'],
                    num_hidden_layers=cfg['num_hidden_layers'], num_attention_heads=cfg['num_attention_heads'],
                    num_key_value_heads=cfg['num_key_value_heads'], head_dim=cfg.get('head_dim', cfg['hidden_size'] // cfg['num_attention_heads']),
                    rms_norm_eps=cfg['rms_norm_eps'], rope_theta=cfg['rope_theta'], tie_word_embeddings=True)
    m = Qwen2ForCausalLM(c)
    sd = {k: v.float() for k, v in read_safetensors(os.path.join(folder, 'model.safetensors')).items()}
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert not unexpected and all(k == 'lm_head.weight' for k in missing), (missing, unexpected)
    m.eval()
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', required=True, help='final.pt or ckpt.pt from train.py')
    ap.add_argument('--tokenizer', required=True, help='folder with tokenizer.json and tokenizer_config.json')
    ap.add_argument('--out', required=True)
    ap.add_argument('--context', type=int, default=4096, help='max_position_embeddings: the longest context trained at')
    ap.add_argument('--dtype', default='float16', choices=['float16', 'bfloat16'])
    args = ap.parse_args()
    ck = torch.load(args.ckpt, map_location='cpu')
    c = Qwen2Config(**ck['config'])
    assert c.head_dim * c.num_attention_heads == c.hidden_size, 'transformers-4 Qwen2 derives head_dim from hidden_size'
    dtype = torch.float16 if args.dtype == 'float16' else torch.bfloat16
    sd = {k: v.to(dtype) for k, v in ck['model'].items() if k != 'lm_head.weight'}
    for k, v in sd.items():
        assert torch.isfinite(v.float()).all(), f'{k} is not finite in {args.dtype}'
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, 'model.safetensors'), sd, {'format': 'pt'})
    config = {
        'architectures': ['Qwen2ForCausalLM'],
        'attention_dropout': 0.0,
        'bos_token_id': None,
        'eos_token_id': 0,
        'pad_token_id': None,
        'hidden_act': 'silu',
        'hidden_size': c.hidden_size,
        'initializer_range': 0.02,
        'intermediate_size': c.intermediate_size,
        'max_position_embeddings': args.context,
        'max_window_layers': c.num_hidden_layers,
        'model_type': 'qwen2',
        'num_attention_heads': c.num_attention_heads,
        'num_hidden_layers': c.num_hidden_layers,
        'num_key_value_heads': c.num_key_value_heads,
        'rms_norm_eps': c.rms_norm_eps,
        'rope_scaling': None,
        'rope_theta': c.rope_theta,
        'sliding_window': None,
        'tie_word_embeddings': True,
        'torch_dtype': args.dtype,
        'transformers_version': '4.45.0',
        'use_cache': True,
        'use_sliding_window': False,
        'vocab_size': c.vocab_size,
    }
    json.dump(config, open(os.path.join(args.out, 'config.json'), 'w'), indent=2)
    json.dump({'bos_token_id': None, 'eos_token_id': 0, 'do_sample': False, 'max_new_tokens': 64, 'transformers_version': '4.45.0'},
              open(os.path.join(args.out, 'generation_config.json'), 'w'), indent=2)
    for f in ('tokenizer.json', 'tokenizer_config.json'):
        shutil.copyfile(os.path.join(args.tokenizer, f), os.path.join(args.out, f))
    tc = json.load(open(os.path.join(args.out, 'tokenizer_config.json')))
    tc['model_max_length'] = args.context
    json.dump(tc, open(os.path.join(args.out, 'tokenizer_config.json'), 'w'), indent=2)
    # Round trip: the file holds exactly the checkpoint's weights in the shipped dtype.
    back = read_safetensors(os.path.join(args.out, 'model.safetensors'))
    assert set(back) == set(sd) and all(torch.equal(back[k], sd[k]) for k in sd)
    size = os.path.getsize(os.path.join(args.out, 'model.safetensors'))
    print(f'wrote {args.out}: {sum(v.numel() for v in sd.values()) / 1e6:.2f}M parameters, model.safetensors {size / 2**20:.1f} MiB')


if __name__ == '__main__':
    main()
