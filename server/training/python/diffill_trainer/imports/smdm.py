"""SMDM checkpoints ("Scaling up Masked Diffusion Models on Text", github.com/ML-GSAI/SMDM) as Diffill models.

What the source says, and where (ML-GSAI/SMDM at 583aa47):
- lit_gpt/config.py, list `Diff_LLaMA`: the published configurations below. All share vocab_size 32000
  with padding_multiple 64 (so padded_vocab_size 32000), block_size 2048, rotary_percentage 1.0,
  parallel_residual False, bias False, FusedRMSNorm with eps 1e-5, LLaMAMLP; none sets condense_ratio,
  whose default is 1.
- lit_gpt/diffmodel.py, TransEncoder: `transformer.wte` is an Embedding of padded_vocab_size + 1 rows
  (the extra row is the mask token), `lm_head` a Linear to padded_vocab_size outputs without bias (not
  tied), `transformer.ln_f` the final norm. Block: x + attn(norm_1(x)), then + mlp(norm_2(x)).
  SelfAttention: one fused Linear `attn` whose output is viewed as (n_query_groups, q_per_kv + 2,
  head_size): per query group its q_per_kv query heads, then one key head, then one value head; RoPE
  (build_rope_cache: positions divided by condense_ratio, base 10000; the fused kernel rotates the first
  half against the second half, "GPT-NeoX style"); attention without a causal mask, keys and values
  repeated (repeat_interleave) over the group's query heads; `proj` the output Linear.
  LLaMAMLP wraps xformers' SwiGLU(_pack_weights=False): w3(silu(w1(x)) * w2(x)).
- pretrain/train_mdm.py: the mask token is id 32000 (`torch.where(mask_indices, total_dim, batch)`);
  evaluate_diff.py loads the published .safetensors into TransEncoder with load_state_dict, mask_id 32000.
- sft/sharegpt_data.py, reverse_data.py, gsm8k_data.py: the conditional-generation and fine-tuning data
  end the answer with EOS and pad the rest of the 2048-token row with EOS ("padding with |EOS|").

So: the pretrained scaling-law models never saw a padding convention (every position is text) and are
served with a fixed-length canvas; the fine-tuned conditional-generation and reverse-curse models learnt
EOS-as-padding and can use the "eos" length rule. The head never emits the mask row: the converted lm_head
gets a zero row for it and emit_vocab_size = 32000 makes the graph give it -1e9.

One deliberate difference: TransEncoder builds its RoPE tables in bfloat16 (build_rope_cache is called
with dtype=torch.bfloat16); the converted graph computes the same tables in float32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadData
from ..presets import ModelConfig

VOCAB = 32000
BLOCK_SIZE = 2048
NORM_EPS = 1e-5
ROPE_BASE = 10000.0

# name -> (n_layer, n_embd, n_head, n_query_groups, intermediate_size), from lit_gpt/config.py Diff_LLaMA.
# The name is the non-embedding parameter count the paper's scaling laws use; 1028M is "the 1.1B model".
CONFIGS: dict[str, tuple[int, int, int, int, int]] = {
    "6M": (6, 256, 4, 4, 1024), "19M": (8, 384, 6, 6, 1536), "34M": (8, 512, 8, 8, 2048),
    "48M": (9, 576, 9, 9, 2304), "66M": (10, 640, 10, 10, 2560), "85M": (13, 640, 10, 10, 2560),
    "75M": (16, 640, 8, 8, 1600), "113M": (12, 768, 12, 12, 3072), "142M": (15, 768, 12, 12, 3072),
    "170M": (18, 768, 12, 12, 3072), "180M": (14, 896, 14, 14, 3584), "206M": (16, 896, 14, 14, 3584),
    "231M": (18, 896, 14, 14, 3584), "268M": (16, 1024, 16, 16, 4096), "302M": (18, 1024, 16, 16, 4096),
    "336M": (20, 1024, 16, 16, 4096), "472M": (18, 1280, 10, 10, 5120), "551M": (21, 1280, 10, 10, 5120),
    "571M": (18, 1408, 11, 11, 5632), "629M": (24, 1280, 10, 10, 5120), "666M": (21, 1408, 11, 11, 5632),
    "717M": (19, 1536, 12, 12, 6144), "761M": (24, 1408, 11, 11, 5632), "831M": (22, 1536, 12, 12, 6144),
    "944M": (25, 1536, 12, 12, 6144), "1028M": (20, 1792, 14, 14, 7168), "1233M": (24, 1792, 14, 14, 7168),
    "1476M": (22, 2048, 16, 16, 8192), "1678M": (25, 2048, 16, 16, 8192), "2121M": (28, 2176, 17, 17, 8704),
}


@dataclass(frozen=True)
class SmdmConfig:
    n_layer: int
    n_embd: int
    n_head: int
    n_query_groups: int
    intermediate_size: int
    padded_vocab_size: int = VOCAB
    block_size: int = BLOCK_SIZE
    norm_eps: float = NORM_EPS
    condense_ratio: float = 1.0
    name: str | None = None

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @property
    def mask_id(self) -> int:
        return self.padded_vocab_size  # the embedding's extra row

    def model_config(self) -> ModelConfig:
        return ModelConfig(
            n_layer=self.n_layer, d_model=self.n_embd, n_head=self.n_head, d_ff=self.intermediate_size,
            vocab_size=self.padded_vocab_size + 1, rope_base=ROPE_BASE, norm_eps=self.norm_eps,
            max_position=min(self.block_size, 4096), tied_embeddings=False,
            n_kv_head=None if self.n_query_groups == self.n_head else self.n_query_groups,
            rope_condense_ratio=float(self.condense_ratio), emit_vocab_size=self.padded_vocab_size, source="smdm")


def named(name: str, **overrides) -> SmdmConfig:
    key = name.removeprefix("Diff_LLaMA_").upper().removesuffix("M") + "M"
    if key not in CONFIGS:
        raise BadData(f"unknown SMDM configuration {name!r}; the published ones are {', '.join(CONFIGS)}")
    n_layer, n_embd, n_head, groups, inter = CONFIGS[key]
    return SmdmConfig(n_layer, n_embd, n_head, groups, inter, name=f"Diff_LLaMA_{key}", **overrides)


def _shape(state: dict, key: str) -> tuple[int, ...]:
    if key not in state:
        raise BadData(f"the checkpoint has no tensor {key!r}: not an SMDM (lit-gpt TransEncoder) state dict")
    return tuple(state[key].shape)


def infer_config(state: dict, name: str | None = None, condense_ratio: float = 1.0, n_head: int | None = None,
                 n_query_groups: int | None = None) -> SmdmConfig:
    """The configuration of a TransEncoder state dict: from --smdm-config when given; else, with
    --n-head (and --n-query-groups), the tensors' own sizes; else the published configuration whose
    layer count, width and MLP size the tensors have (the head count is not in the shapes: lit-gpt's
    fused attention weight has (n_head + 2 * n_query_groups) * head_size rows)."""
    if name is not None:
        return named(name, condense_ratio=condense_ratio, padded_vocab_size=_shape(state, "lm_head.weight")[0])
    rows, n_embd = _shape(state, "transformer.wte.weight")
    layers = {int(k.split(".")[2]) for k in state if k.startswith("transformer.h.") and k.split(".")[2].isdigit()}
    n_layer = max(layers) + 1 if layers else 0
    if n_layer == 0:
        raise BadData("the checkpoint has no transformer.h.<i> tensors: not an SMDM (lit-gpt TransEncoder) state dict")
    inter = _shape(state, "transformer.h.0.mlp.swiglu.w3.weight")[1]
    if n_head is not None:
        groups = n_query_groups or n_head
        if n_embd % n_head or n_head % groups:
            raise BadData(f"--n-head {n_head} / --n-query-groups {groups} do not divide width {n_embd} into query groups")
        return SmdmConfig(n_layer, n_embd, n_head, groups, inter, padded_vocab_size=rows - 1,
                          condense_ratio=condense_ratio, name=f"custom ({n_layer} layers, width {n_embd}, {n_head} heads)")
    matches = [k for k, c in CONFIGS.items() if (c[0], c[1], c[4]) == (n_layer, n_embd, inter)]
    if len(matches) != 1:
        raise BadData(f"the checkpoint ({n_layer} layers, width {n_embd}, MLP {inter}) matches no published SMDM "
                      f"configuration: name one with --smdm-config ({', '.join(CONFIGS)}) or give --n-head")
    return named(matches[0], condense_ratio=condense_ratio, padded_vocab_size=rows - 1)


def expected_shapes(cfg: SmdmConfig) -> dict[str, tuple[int, ...]]:
    d, f, hs = cfg.n_embd, cfg.intermediate_size, cfg.head_size
    shapes = {"transformer.wte.weight": (cfg.padded_vocab_size + 1, d), "lm_head.weight": (cfg.padded_vocab_size, d),
              "transformer.ln_f.weight": (d,)}
    for i in range(cfg.n_layer):
        p = f"transformer.h.{i}."
        shapes.update({p + "norm_1.weight": (d,), p + "norm_2.weight": (d,),
                       p + "attn.attn.weight": ((cfg.n_head + 2 * cfg.n_query_groups) * hs, d),
                       p + "attn.proj.weight": (d, d), p + "mlp.swiglu.w3.weight": (d, f)})
        shapes[p + "mlp.swiglu.w1.weight"] = (f, d)
        shapes[p + "mlp.swiglu.w2.weight"] = (f, d)
    return shapes


def normalise(state: dict) -> dict:
    """xformers' packed SwiGLU (`w12`, w1 stacked over w2) as the unpacked w1/w2 that SMDM's
    _pack_weights=False writes; everything else unchanged."""
    out = {}
    for k, v in state.items():
        if k.endswith("mlp.swiglu.w12.weight"):
            half = v.shape[0] // 2
            out[k.replace("w12", "w1")], out[k.replace("w12", "w2")] = v[:half], v[half:]
        else:
            out[k] = v
    return out


def check_state(state: dict, cfg: SmdmConfig) -> None:
    want = expected_shapes(cfg)
    for key, shape in want.items():
        got = _shape(state, key)
        if got != shape:
            raise BadData(f"{key} has shape {list(got)}, expected {list(shape)} for SMDM {cfg.name or 'configuration'}")
    extra = sorted(set(state) - set(want))
    if extra:
        raise BadData(f"the checkpoint has tensors an SMDM TransEncoder does not ({', '.join(extra[:3])}"
                      f"{', ...' if len(extra) > 3 else ''}): biases, LayerNorm or another architecture")


def to_diffill(state: dict, cfg: SmdmConfig) -> dict:
    """The DiffusionLM state dict (model.py names) of a checked TransEncoder state dict, in float32."""
    g, qpk, hs, d = cfg.n_query_groups, cfg.n_head // cfg.n_query_groups, cfg.head_size, cfg.n_embd
    f32 = {k: v.detach().to(torch.float32) for k, v in state.items()}
    head = f32["lm_head.weight"]
    out = {"embed.weight": f32["transformer.wte.weight"], "norm.weight": f32["transformer.ln_f.weight"],
           # The mask row's logit is replaced by -1e9 in the graph; a zero row keeps the matrix square with the embedding.
           "lm_head.weight": torch.cat([head, torch.zeros(1, d)], dim=0)}
    for i in range(cfg.n_layer):
        p, q = f"transformer.h.{i}.", f"blocks.{i}."
        fused = f32[p + "attn.attn.weight"].view(g, qpk + 2, hs, d)
        out.update({
            q + "attn_norm.weight": f32[p + "norm_1.weight"], q + "mlp_norm.weight": f32[p + "norm_2.weight"],
            # Query head h = group * q_per_kv + j serves with key/value head `group`: DiffusionLM's
            # repeat_interleave grouping, the same as lit-gpt's.
            q + "attn.wq.weight": fused[:, :qpk].reshape(cfg.n_head * hs, d),
            q + "attn.wk.weight": fused[:, qpk].reshape(g * hs, d),
            q + "attn.wv.weight": fused[:, qpk + 1].reshape(g * hs, d),
            q + "attn.wo.weight": f32[p + "attn.proj.weight"],
            q + "mlp.w_gate.weight": f32[p + "mlp.swiglu.w1.weight"], q + "mlp.w_up.weight": f32[p + "mlp.swiglu.w2.weight"],
            q + "mlp.w_down.weight": f32[p + "mlp.swiglu.w3.weight"],
        })
    return out


def random_state(cfg: SmdmConfig, seed: int = 0, dtype=torch.float32) -> dict:
    """A randomly initialised TransEncoder state dict (its own key names and fused layout; the norms get
    random weights too, so a dropped or swapped norm shows): for tests and latency measurements."""
    gen = torch.Generator().manual_seed(seed)
    std = math.sqrt(2.0 / (5 * cfg.n_embd))
    out = {}
    for key, shape in expected_shapes(cfg).items():
        if len(shape) == 1:
            out[key] = (1.0 + 0.2 * torch.randn(shape, generator=gen)).to(dtype)
        else:
            out[key] = (torch.randn(shape, generator=gen) * std).to(dtype)
    return out


class Reference(nn.Module):
    """TransEncoder's forward in float32, on the checkpoint's own tensors and layout (not model.py):
    what the converted graph is compared against. Output: logits [B, T, padded_vocab_size]."""

    def __init__(self, state: dict, cfg: SmdmConfig):
        super().__init__()
        self.cfg = cfg
        self.w = {k: v.detach().to(torch.float32) for k, v in state.items()}

    def _norm(self, x, weight):
        return weight * (x * torch.rsqrt(torch.mean(x * x, dim=-1, keepdim=True) + self.cfg.norm_eps))

    def _rope(self, x, cos, sin):  # x: (B, T, heads, hs); cos/sin: (T, hs/2)
        x1, x2 = x.chunk(2, dim=-1)
        c, s = cos[None, :, None, :], sin[None, :, None, :]
        return torch.cat([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1)

    @torch.no_grad()
    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        cfg, w = self.cfg, self.w
        B, T = idx.shape
        hs, g = cfg.head_size, cfg.n_query_groups
        qpk = cfg.n_head // g
        theta = 1.0 / (ROPE_BASE ** (torch.arange(0, hs, 2, dtype=torch.float32) / hs))
        angles = torch.outer(torch.arange(T, dtype=torch.float32) / cfg.condense_ratio, theta)
        cos, sin = torch.cos(angles), torch.sin(angles)
        x = F.embedding(idx, w["transformer.wte.weight"])
        for i in range(cfg.n_layer):
            p = f"transformer.h.{i}."
            n1 = self._norm(x, w[p + "norm_1.weight"])
            qkv = (n1 @ w[p + "attn.attn.weight"].T).view(B, T, g, qpk + 2, hs)
            q, k, v = qkv.split((qpk, 1, 1), dim=-2)
            q, k, v = (t.reshape(B, T, -1, hs) for t in (q, k, v))
            q, k = self._rope(q, cos, sin), self._rope(k, cos, sin)
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))
            k, v = k.repeat_interleave(qpk, dim=1), v.repeat_interleave(qpk, dim=1)
            att = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(hs), dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, cfg.n_embd)
            x = x + y @ w[p + "attn.proj.weight"].T
            n2 = self._norm(x, w[p + "norm_2.weight"])
            h = F.silu(n2 @ w[p + "mlp.swiglu.w1.weight"].T) * (n2 @ w[p + "mlp.swiglu.w2.weight"].T)
            x = x + h @ w[p + "mlp.swiglu.w3.weight"].T
        return self._norm(x, w["transformer.ln_f.weight"]) @ w["lm_head.weight"].T
