"""A Qwen2 decoder in plain PyTorch (1.13+), written for this recipe: RMSNorm, RoPE with the
rotate-half convention, grouped-query attention with q/k/v biases, SwiGLU MLP, tied embeddings.
Parameter names are exactly those of Hugging Face's Qwen2ForCausalLM (model.layers.N.self_attn.
q_proj.weight, ...), so the state dict is written to safetensors as is.

The numerics follow transformers' Qwen2 where they matter for matching another runtime: RMSNorm
in float32, RoPE inverse frequencies and angles in float32, softmax in float32, and the query heads
i*n_rep .. (i+1)*n_rep-1 share key/value head i.
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint


@dataclass
class Qwen2Config:
    vocab_size: int = 4096
    hidden_size: int = 256
    intermediate_size: int = 704
    num_hidden_layers: int = 6
    num_attention_heads: int = 8
    num_key_value_heads: int = 2
    head_dim: int = 32
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1000000.0
    max_position_embeddings: int = 32768
    tie_word_embeddings: bool = True

    def to_dict(self):
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rope_cos_sin(positions, head_dim, theta, dtype=torch.float32):
    """cos, sin of shape [S, head_dim] for integer positions [S] (halves duplicated)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    freqs = positions.float()[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class Attention(nn.Module):
    def __init__(self, c: Qwen2Config):
        super().__init__()
        self.c = c
        self.q_proj = nn.Linear(c.hidden_size, c.num_attention_heads * c.head_dim, bias=True)
        self.k_proj = nn.Linear(c.hidden_size, c.num_key_value_heads * c.head_dim, bias=True)
        self.v_proj = nn.Linear(c.hidden_size, c.num_key_value_heads * c.head_dim, bias=True)
        self.o_proj = nn.Linear(c.num_attention_heads * c.head_dim, c.hidden_size, bias=False)

    def forward(self, x, cos, sin, past=None, kv_round=None):
        """x [B, S, H]; cos/sin [S, D]; past: (k, v) [B, Hkv, P, D] post-RoPE, or None.
        Returns (out, (k, v)) with the new tokens appended to the cache. Without a cache the mask
        is causal; with one, new tokens see every cached token and the causal part among themselves.
        kv_round: optional function applied to the cached k/v before use (e.g. fp16 rounding, to
        reproduce a runtime that stores its cache in fp16)."""
        B, S, _ = x.shape
        c = self.c
        q = self.q_proj(x).view(B, S, c.num_attention_heads, c.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, S, c.num_key_value_heads, c.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, S, c.num_key_value_heads, c.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        new_kv = (k, v)
        P = 0
        if past is not None:
            pk, pv = past
            if kv_round is not None:
                pk, pv = kv_round(pk), kv_round(pv)
            P = pk.shape[2]
            k = torch.cat([pk, k], dim=2)
            v = torch.cat([pv, v], dim=2)
            new_kv = (torch.cat([past[0], new_kv[0]], dim=2), torch.cat([past[1], new_kv[1]], dim=2))
        rep = c.num_attention_heads // c.num_key_value_heads
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(c.head_dim))
        mask = torch.ones(S, P + S, dtype=torch.bool, device=x.device).tril(diagonal=P)
        scores = scores.float().masked_fill(~mask, float('-inf'))
        probs = torch.softmax(scores, dim=-1).to(q.dtype)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(B, S, -1)
        return self.o_proj(out), new_kv


class MLP(nn.Module):
    def __init__(self, c: Qwen2Config):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c: Qwen2Config):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, past=None, kv_round=None):
        a, kv = self.self_attn(self.input_layernorm(x), cos, sin, past, kv_round)
        x = x + a
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, kv


class Qwen2Model(nn.Module):
    def __init__(self, c: Qwen2Config):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList([DecoderLayer(c) for _ in range(c.num_hidden_layers)])
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)


class Qwen2ForCausalLM(nn.Module):
    def __init__(self, c: Qwen2Config):
        super().__init__()
        self.config = c
        self.model = Qwen2Model(c)
        self.gradient_checkpointing = False
        self._init_weights()

    def _init_weights(self):
        std = 0.02
        for name, p in self.named_parameters():
            if name.endswith('norm.weight') or 'layernorm' in name:
                nn.init.ones_(p)
            elif name.endswith('.bias'):
                nn.init.zeros_(p)
            elif name.endswith(('o_proj.weight', 'down_proj.weight')):
                nn.init.normal_(p, std=std / math.sqrt(2 * self.config.num_hidden_layers))
            else:
                nn.init.normal_(p, std=std)

    def state_dict_hf(self):
        """The weights under Hugging Face names (tied: no lm_head.weight)."""
        return {k: v.detach() for k, v in self.state_dict().items()}

    def forward(self, ids, positions=None, past=None, kv_round=None, return_hidden=False):
        """ids [B, S] -> logits [B, S, V] (float32) and the new cache (list of (k, v) per layer)."""
        B, S = ids.shape
        c = self.config
        if positions is None:
            start = 0 if past is None else past[0][0].shape[2]
            positions = torch.arange(start, start + S, device=ids.device)
        cos, sin = rope_cos_sin(positions, c.head_dim, c.rope_theta)
        x = self.model.embed_tokens(ids)
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        new_past = []
        for i, layer in enumerate(self.model.layers):
            lp = None if past is None else past[i]
            if self.gradient_checkpointing and self.training:
                x, kv = torch.utils.checkpoint.checkpoint(layer, x, cos, sin, use_reentrant=False)
            else:
                x, kv = layer(x, cos, sin, lp, kv_round)
            new_past.append(kv)
        x = self.model.norm(x)
        if return_hidden:
            return x, new_past
        logits = F.linear(x, self.model.embed_tokens.weight).float()
        return logits, new_past

    def loss(self, ids, targets):
        """Mean next-token cross entropy; targets < 0 are ignored."""
        hidden, _ = self.forward(ids, return_hidden=True)
        logits = F.linear(hidden, self.model.embed_tokens.weight)
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())
