"""Qwen2-architecture masked diffusion checkpoints (Hugging Face layout) as Diffill models.

What the source says (huggingface/transformers, src/transformers/models/qwen2/modeling_qwen2.py):
- Qwen2Attention: q_proj, k_proj, v_proj with bias=True, o_proj without; head_dim = hidden_size /
  num_attention_heads unless the config sets head_dim; num_key_value_heads K/V heads, each repeated over
  num_attention_heads / num_key_value_heads query heads (repeat_kv: head h uses K/V head h // n_rep);
  RoPE with inv_freq = 1 / rope_theta^(2i/dim), applied by rotate_half (first half against second half).
- Qwen2RMSNorm: weight * x * rsqrt(mean(x^2) + rms_norm_eps), computed in float32.
- Qwen2DecoderLayer: x + self_attn(input_layernorm(x)), then + mlp(post_attention_layernorm(x));
  Qwen2MLP: down_proj(silu(gate_proj(x)) * up_proj(x)). Qwen2Model ends with `norm`; Qwen2ForCausalLM's
  lm_head has no bias and is the embedding itself when tie_word_embeddings.
A diffusion model on this architecture attends without the causal mask (Open-dCoder's sampler calls the
model with is_causal=False). The embedding is often padded beyond the tokenizer (Qwen2's 151936 rows for
151665 tokens): ids from the tokenizer's size up are never emitted (emit_vocab_size).

Open-dCoder (github.com/pengzhangzhi/Open-dLLM, veomni/models/transformers/qwen2/generation_utils.py)
shifts its logits by one position before sampling (position i is predicted from the output at i - 1, as
in the autoregressive model it was adapted from; position 0 keeps its own). The graph is the same either
way: config.json's architecture.logit_shift tells the engine which output to read (convert.py decides it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadData
from ..presets import ModelConfig

MAX_POSITION = 4096  # the longest window a Diffill model supports (server/engine/config.ts)

# The published shapes this converter is for; the checkpoint's own config.json always decides.
CONFIGS = {
    # Qwen2-0.5B / Qwen2.5-0.5B / Qwen2.5-Coder-0.5B, the base of Open-dCoder 0.5B
    # (Open-dLLM configs/model_configs/qwen/Qwen2-0.5B.json, configs/pretrain/qwen2_5_coder_500M.yaml).
    "Qwen2-0.5B": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
                   "num_key_value_heads": 2, "vocab_size": 151936, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
                   "tie_word_embeddings": True, "max_position_embeddings": 32768, "model_type": "qwen2",
                   "architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu"},
}


@dataclass(frozen=True)
class Qwen2Config:
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int
    rope_theta: float
    rms_norm_eps: float
    tie_word_embeddings: bool
    max_position_embeddings: int

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def model_config(self, emit_vocab_size: int | None) -> ModelConfig:
        return ModelConfig(
            n_layer=self.num_hidden_layers, d_model=self.hidden_size, n_head=self.num_attention_heads,
            d_ff=self.intermediate_size, vocab_size=self.vocab_size, rope_base=float(self.rope_theta),
            norm_eps=float(self.rms_norm_eps), max_position=min(self.max_position_embeddings, MAX_POSITION),
            tied_embeddings=bool(self.tie_word_embeddings),
            n_kv_head=None if self.num_key_value_heads == self.num_attention_heads else self.num_key_value_heads,
            qkv_bias=True, emit_vocab_size=emit_vocab_size if emit_vocab_size != self.vocab_size else None,
            source="qwen2")


def parse_config(hf: dict, where: str) -> Qwen2Config:
    """The Hugging Face config.json of a Qwen2 checkpoint; BadData naming the key for anything this
    converter would get wrong (another architecture, rope scaling, another activation)."""
    kind = hf.get("model_type")
    archs = hf.get("architectures") or []
    if kind != "qwen2" and not any(str(a).startswith("Qwen2") for a in archs):
        raise BadData(f"{where}: model_type {kind!r} ({', '.join(map(str, archs)) or 'no architectures'}) is not "
                      "qwen2; --from hf converts Qwen2-architecture checkpoints")
    if hf.get("hidden_act", "silu") != "silu":
        raise BadData(f"{where}: hidden_act {hf.get('hidden_act')!r} is not supported (Qwen2 uses silu)")
    scaling = hf.get("rope_scaling")
    if scaling not in (None, {}) and (scaling.get("rope_type") or scaling.get("type")) not in (None, "default"):
        raise BadData(f"{where}: rope_scaling {scaling!r} is not supported (plain RoPE only)")
    need = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
    for key in need:
        if not isinstance(hf.get(key), int) or hf[key] <= 0:
            raise BadData(f"{where}: {key} must be a positive integer (got {hf.get(key)!r})")
    heads = hf["num_attention_heads"]
    if hf["hidden_size"] % heads:
        raise BadData(f"{where}: hidden_size {hf['hidden_size']} is not a multiple of num_attention_heads {heads}")
    if hf.get("head_dim") not in (None, hf["hidden_size"] // heads):
        raise BadData(f"{where}: head_dim {hf['head_dim']} differs from hidden_size / num_attention_heads; not supported")
    kv = hf.get("num_key_value_heads") or heads
    if heads % kv:
        raise BadData(f"{where}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}")
    return Qwen2Config(
        hidden_size=hf["hidden_size"], intermediate_size=hf["intermediate_size"], num_hidden_layers=hf["num_hidden_layers"],
        num_attention_heads=heads, num_key_value_heads=kv, vocab_size=hf["vocab_size"],
        rope_theta=float(hf.get("rope_theta", 10000.0)), rms_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
        max_position_embeddings=int(hf.get("max_position_embeddings", MAX_POSITION)))


def _strip(state: dict) -> dict:
    """Qwen2Model's own names (a checkpoint of the bare model lacks the `model.` prefix)."""
    if any(k.startswith("model.") for k in state):
        return state
    return {("model." + k if not k.startswith("lm_head.") else k): v for k, v in state.items()}


def expected_shapes(cfg: Qwen2Config) -> dict[str, tuple[int, ...]]:
    d, f, hd = cfg.hidden_size, cfg.intermediate_size, cfg.head_dim
    kv = cfg.num_key_value_heads * hd
    shapes = {"model.embed_tokens.weight": (cfg.vocab_size, d), "model.norm.weight": (d,)}
    if not cfg.tie_word_embeddings:
        shapes["lm_head.weight"] = (cfg.vocab_size, d)
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (d,), p + "post_attention_layernorm.weight": (d,),
            p + "self_attn.q_proj.weight": (cfg.num_attention_heads * hd, d), p + "self_attn.q_proj.bias": (cfg.num_attention_heads * hd,),
            p + "self_attn.k_proj.weight": (kv, d), p + "self_attn.k_proj.bias": (kv,),
            p + "self_attn.v_proj.weight": (kv, d), p + "self_attn.v_proj.bias": (kv,),
            p + "self_attn.o_proj.weight": (d, cfg.num_attention_heads * hd),
            p + "mlp.gate_proj.weight": (f, d), p + "mlp.up_proj.weight": (f, d), p + "mlp.down_proj.weight": (d, f),
        })
    return shapes


def check_state(state: dict, cfg: Qwen2Config) -> dict:
    """The state dict with Qwen2ForCausalLM's names, checked key by key against the config; a tied
    checkpoint may still carry lm_head.weight (equal to the embedding), which is dropped."""
    state = _strip(state)
    want = expected_shapes(cfg)
    for key, shape in want.items():
        if key not in state:
            raise BadData(f"the checkpoint has no tensor {key!r} (a Qwen2 checkpoint of config.json's shape needs it)")
        got = tuple(state[key].shape)
        if got != shape:
            raise BadData(f"{key} has shape {list(got)}, expected {list(shape)} from config.json")
    extra = sorted(k for k in set(state) - set(want) if not (k == "lm_head.weight" and cfg.tie_word_embeddings)
                   and not k.endswith("rotary_emb.inv_freq"))
    if extra:
        raise BadData(f"the checkpoint has tensors a Qwen2 model does not ({', '.join(extra[:3])}{', ...' if len(extra) > 3 else ''})")
    return {k: state[k] for k in want}


def to_diffill(state: dict, cfg: Qwen2Config) -> dict:
    """The DiffusionLM state dict of a checked Qwen2 state dict, in float32 (the layouts agree tensor for
    tensor: DiffusionLM's grouped-query attention repeats K/V heads the way repeat_kv does)."""
    f32 = {k: v.detach().to(torch.float32) for k, v in state.items()}
    out = {"embed.weight": f32["model.embed_tokens.weight"], "norm.weight": f32["model.norm.weight"]}
    if not cfg.tie_word_embeddings:
        out["lm_head.weight"] = f32["lm_head.weight"]
    names = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "mlp_norm.weight",
             "self_attn.q_proj.weight": "attn.wq.weight", "self_attn.q_proj.bias": "attn.wq.bias",
             "self_attn.k_proj.weight": "attn.wk.weight", "self_attn.k_proj.bias": "attn.wk.bias",
             "self_attn.v_proj.weight": "attn.wv.weight", "self_attn.v_proj.bias": "attn.wv.bias",
             "self_attn.o_proj.weight": "attn.wo.weight", "mlp.gate_proj.weight": "mlp.w_gate.weight",
             "mlp.up_proj.weight": "mlp.w_up.weight", "mlp.down_proj.weight": "mlp.w_down.weight"}
    for i in range(cfg.num_hidden_layers):
        for src, dst in names.items():
            out[f"blocks.{i}.{dst}"] = f32[f"model.layers.{i}.{src}"]
    return out


def random_state(cfg: Qwen2Config, seed: int = 0, dtype=torch.float32) -> dict:
    """A randomly initialised Qwen2ForCausalLM state dict (random norms and biases, so a dropped one
    shows): for tests and latency measurements."""
    gen = torch.Generator().manual_seed(seed)
    std = math.sqrt(2.0 / (5 * cfg.hidden_size))
    out = {}
    for key, shape in expected_shapes(cfg).items():
        if key.endswith("layernorm.weight") or key == "model.norm.weight":
            out[key] = (1.0 + 0.2 * torch.randn(shape, generator=gen)).to(dtype)
        elif key.endswith(".bias"):
            out[key] = (0.1 * torch.randn(shape, generator=gen)).to(dtype)
        else:
            out[key] = (torch.randn(shape, generator=gen) * std).to(dtype)
    return out


class Reference(nn.Module):
    """Qwen2ForCausalLM's forward without the causal mask, in float32 on the checkpoint's own tensors
    (q/k/v biases, repeat_kv, rotate_half RoPE): what the converted graph is compared against."""

    def __init__(self, state: dict, cfg: Qwen2Config):
        super().__init__()
        self.cfg = cfg
        self.w = {k: v.detach().to(torch.float32) for k, v in _strip(state).items()}

    def _norm(self, x, weight):
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg.rms_norm_eps))

    @staticmethod
    def _rotate_half(x):
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return torch.cat((-x2, x1), dim=-1)

    @staticmethod
    def _repeat_kv(x, n_rep: int):
        b, h, s, d = x.shape
        return x if n_rep == 1 else x[:, :, None].expand(b, h, n_rep, s, d).reshape(b, h * n_rep, s, d)

    @torch.no_grad()
    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        cfg, w = self.cfg, self.w
        B, T = idx.shape
        hd, nh, nkv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
        inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        freqs = torch.arange(T, dtype=torch.float32)[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        x = F.embedding(idx, w["model.embed_tokens.weight"])
        for i in range(cfg.num_hidden_layers):
            p = f"model.layers.{i}."
            h = self._norm(x, w[p + "input_layernorm.weight"])
            q = F.linear(h, w[p + "self_attn.q_proj.weight"], w[p + "self_attn.q_proj.bias"]).view(B, T, nh, hd).transpose(1, 2)
            k = F.linear(h, w[p + "self_attn.k_proj.weight"], w[p + "self_attn.k_proj.bias"]).view(B, T, nkv, hd).transpose(1, 2)
            v = F.linear(h, w[p + "self_attn.v_proj.weight"], w[p + "self_attn.v_proj.bias"]).view(B, T, nkv, hd).transpose(1, 2)
            q, k = q * cos + self._rotate_half(q) * sin, k * cos + self._rotate_half(k) * sin
            k, v = self._repeat_kv(k, nh // nkv), self._repeat_kv(v, nh // nkv)
            att = torch.softmax((q @ k.transpose(2, 3)) * hd ** -0.5, dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, nh * hd)
            x = x + F.linear(y, w[p + "self_attn.o_proj.weight"])
            h = self._norm(x, w[p + "post_attention_layernorm.weight"])
            x = x + F.linear(F.silu(F.linear(h, w[p + "mlp.gate_proj.weight"])) * F.linear(h, w[p + "mlp.up_proj.weight"]),
                             w[p + "mlp.down_proj.weight"])
        head = w["model.embed_tokens.weight"] if cfg.tie_word_embeddings else w["lm_head.weight"]
        return self._norm(x, w["model.norm.weight"]) @ head.T
