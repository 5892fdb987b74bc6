"""The SMDM-style bidirectional transformer.

Llama-like block without a causal mask and without a timestep input: pre-RMSNorm, RoPE over the full
head dim computed from explicit position ids (so the graph has no maximum length), SwiGLU MLP, no biases,
tied input/output embeddings. The `<|mask|>` id is input-only: its logit is forced to -1e9 with a
`where` (not an add) so the value is bit-exact in PyTorch and in the exported graph.

The same module also holds what imported checkpoints need (ModelConfig's optional fields,
docs/model-format.md): grouped-query attention, q/k/v biases, RoPE's condense ratio, an untied head and
never-emitted embedding rows; and a causal mask for the autoregressive fill-in-the-middle baseline.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .presets import ModelConfig

MASK_LOGIT = -1e9


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Written as x * rsqrt(mean(x^2) + eps) * w, which ONNX Runtime fuses to SimplifiedLayerNormalization.
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.to(x.dtype) * self.weight


def rope_tables(position_ids: torch.Tensor, head_dim: int, base: float,
                condense_ratio: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin of shape [S, head_dim] for the given absolute positions (rotate-half layout). SMDM's
    lit-gpt RoPE divides positions by a condense ratio (longer context from the same table); 1 = none."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=position_ids.device, dtype=torch.float32) / head_dim))
    positions = position_ids.to(torch.float32)
    if condense_ratio != 1.0:
        positions = positions / condense_ratio
    freqs = positions[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: [B, H, S, Dh]; cos/sin: [S, Dh]
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.n_head = cfg.n_head
        self.n_kv_head = cfg.kv_heads
        self.head_dim = cfg.head_dim
        self.causal = cfg.causal
        kv = cfg.kv_heads * cfg.head_dim
        self.wq = nn.Linear(d, d, bias=cfg.qkv_bias)
        self.wk = nn.Linear(d, kv, bias=cfg.qkv_bias)
        self.wv = nn.Linear(d, kv, bias=cfg.qkv_bias)
        self.wo = nn.Linear(d, d, bias=False)
        # Set by the ONNX export only: a plain attribute (not torch.onnx.is_in_onnx_export()) so that
        # torch.compile sees a constant.
        self.manual_attention = False

    def forward(self, x, cos, sin, past_k=None, past_v=None, keep_index=None):
        B, S, _ = x.shape
        q = self.wq(x).view(B, S, self.n_head, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(B, S, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(B, S, self.n_kv_head, self.head_dim).transpose(1, 2)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        present = None
        if keep_index is not None:
            present = (k.index_select(2, keep_index), v.index_select(2, keep_index))
        if past_k is not None:
            k = torch.cat([past_k.to(k.dtype), k], dim=2)
            v = torch.cat([past_v.to(v.dtype), v], dim=2)
        if self.n_kv_head != self.n_head:
            # Grouped-query attention: the cache keeps n_kv_head heads (smaller), each serving a group.
            k = k.repeat_interleave(self.n_head // self.n_kv_head, dim=1)
            v = v.repeat_interleave(self.n_head // self.n_kv_head, dim=1)
        if self.manual_attention:
            # Plain matmul/softmax/matmul: ONNX Runtime fuses q@k^T into FusedMatMul and it runs on
            # every CPU. A diffusion model needs no mask; a causal one masks the new tokens' future
            # (every cached past position precedes them, so stays visible).
            scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
            if self.causal:
                total = k.shape[2]
                query_pos = torch.arange(S, device=x.device) + (total - S)
                future = torch.arange(total, device=x.device)[None, :] > query_pos[:, None]
                scores = scores.masked_fill(future, float("-inf"))
            y = torch.matmul(torch.softmax(scores, dim=-1), v)
        elif self.causal and past_k is not None and past_k.shape[2] > 0:
            total = k.shape[2]
            allowed = torch.arange(total, device=x.device)[None, :] <= (torch.arange(S, device=x.device) + (total - S))[:, None]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        y = y.transpose(1, 2).reshape(B, S, self.n_head * self.head_dim)
        return self.wo(y), present


class SwiGLU(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.w_gate = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.w_up = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.w_down = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x):
        return self.w_down(F.silu(self.w_gate(x)) * self.w_up(x))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = SwiGLU(cfg)

    def forward(self, x, cos, sin, past_k=None, past_v=None, keep_index=None):
        a, present = self.attn(self.attn_norm(x), cos, sin, past_k, past_v, keep_index)
        x = x + a
        x = x + self.mlp(self.mlp_norm(x))
        return x, present


class DiffusionLM(nn.Module):
    def __init__(self, cfg: ModelConfig, mask_id: int | None):
        super().__init__()
        cfg.validate()
        if mask_id is None and not cfg.causal:
            raise ValueError("a diffusion model needs a mask id")
        if mask_id is not None and not 0 <= mask_id < cfg.vocab_size:
            raise ValueError(f"mask id {mask_id} outside the vocabulary of {cfg.vocab_size}")
        self.cfg = cfg
        self.mask_id = mask_id
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        # Imported checkpoints may have an untied head (SMDM's lm_head); ours ties it to the embedding.
        self.lm_head = None if cfg.tied_embeddings else nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        # Columns the head never emits: [MASK] (input-only) and embedding rows past emit_vocab_size.
        is_mask = torch.zeros(cfg.vocab_size, dtype=torch.bool)
        if mask_id is not None:
            is_mask[mask_id] = True
        is_mask[cfg.emitted:] = True
        self.register_buffer("is_mask_column", is_mask, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # SMDM init: std sqrt(2/(5d)) everywhere, output projections 1/(sqrt(d)*n_layer) so the residual
        # stream does not grow with depth.
        d = self.cfg.d_model
        std = math.sqrt(2.0 / (5.0 * d))
        out_std = 1.0 / (math.sqrt(d) * self.cfg.n_layer)
        for name, p in self.named_parameters():
            if name.endswith(".bias"):
                nn.init.zeros_(p)
            elif p.dim() < 2:
                nn.init.ones_(p)
            elif name.endswith("wo.weight") or name.endswith("w_down.weight"):
                nn.init.normal_(p, mean=0.0, std=out_std)
            else:
                nn.init.normal_(p, mean=0.0, std=std)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        weight = self.embed.weight if self.lm_head is None else self.lm_head.weight
        logits = F.linear(self.norm(h), weight)
        return logits.masked_fill(self.is_mask_column, MASK_LOGIT)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Training / reference path: logits [B, S, V] for positions 0..S-1."""
        S = input_ids.shape[1]
        positions = torch.arange(S, device=input_ids.device)
        cos, sin = rope_tables(positions, self.cfg.head_dim, self.cfg.rope_base, self.cfg.rope_condense_ratio)
        x = self.embed(input_ids)
        for block in self.blocks:
            x, _ = block(x, cos, sin)
        return self.head(x)

    def forward_cached(self, input_ids, position_ids, past, gather_index, keep_index):
        """The served graph's semantics (docs/model-format.md): returns logits at gather_index and the
        K/V of keep_index; `past` is a list of (k, v) per layer with C >= 0 cached positions."""
        cos, sin = rope_tables(position_ids, self.cfg.head_dim, self.cfg.rope_base, self.cfg.rope_condense_ratio)
        x = self.embed(input_ids)
        presents = []
        for i, block in enumerate(self.blocks):
            pk, pv = past[i]
            x, present = block(x, cos, sin, pk, pv, keep_index)
            presents.append(present)
        logits = self.head(x.index_select(1, gather_index))
        return logits, presents
