"""Model sizes and their training defaults: the one place where presets are defined.

Parameter counts assume the 8192-token vocabulary (embedding = 8192 * d_model, tied with the head):

| preset | layers | d   | heads | SwiGLU ff | params | of which embedding | use |
|--------|--------|-----|-------|-----------|--------|--------------------|-----|
| tiny   | 2      | 64  | 2     | 128       | 0.61M  | 0.52M              | tests and fixtures; trains in seconds on a CPU |
| small  | 6      | 384 | 6     | 768       | 12.0M  | 3.15M              | the shipped default |
| base   | 12     | 512 | 8     | 1408      | 42.7M  | 4.19M              | GPU experiments; too slow for 2-core inline use |

Why `small`: at 2 CPU threads an int8 model with the context K/V cache costs roughly
prefill 2*params*L / ~700 GOP/s plus ~(2*params*32)/~500 GOP/s + 3 ms per span step, so a 512-token
context and ~8 steps stay around 100 ms; fp16 safetensors (~24 MB) plus the int8 ONNX graph stay small
enough to ship. `base` is ~3.5x the compute per token and misses that budget.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ModelConfig:
    n_layer: int
    d_model: int
    n_head: int
    d_ff: int
    vocab_size: int = 8192
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    max_position: int = 4096
    tied_embeddings: bool = True
    # The fields below describe imported architectures (docs/model-format.md); their defaults are what a
    # model trained here is, so configs written before they existed read back unchanged.
    n_kv_head: int | None = None  # grouped-query attention (Qwen2); None: one K/V head per query head
    qkv_bias: bool = False  # biases on the q/k/v projections (Qwen2)
    rope_condense_ratio: float = 1.0  # positions are divided by it before RoPE (SMDM / lit-gpt)
    emit_vocab_size: int | None = None  # ids >= this are never emitted (embedding rows past the tokenizer)
    causal: bool = False  # the autoregressive fill-in-the-middle baseline; diffusion models are bidirectional
    source: str = "diffill"  # where the weights came from: diffill | smdm | qwen2

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head or self.n_head

    @property
    def emitted(self) -> int:
        return self.emit_vocab_size if self.emit_vocab_size is not None else self.vocab_size

    def validate(self) -> None:
        if self.d_model % self.n_head != 0:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")
        if self.head_dim % 2 != 0:
            raise ValueError(f"head dim {self.head_dim} must be even for RoPE")
        if min(self.n_layer, self.d_model, self.n_head, self.d_ff, self.vocab_size) <= 0:
            raise ValueError("model dimensions must be positive")
        if self.kv_heads <= 0 or self.n_head % self.kv_heads != 0:
            raise ValueError(f"n_head {self.n_head} is not a multiple of n_kv_head {self.kv_heads}")
        if not 0 < self.emitted <= self.vocab_size:
            raise ValueError(f"emit_vocab_size {self.emit_vocab_size} must lie in 1..vocab_size {self.vocab_size}")
        if not self.rope_condense_ratio > 0:
            raise ValueError("rope_condense_ratio must be positive")

    def param_count(self) -> int:
        d, f, kv = self.d_model, self.d_ff, self.kv_heads * self.head_dim
        attn = 2 * d * d + 2 * d * kv + ((d + 2 * kv) if self.qkv_bias else 0)
        per_layer = attn + 3 * d * f + 2 * d  # attention, SwiGLU, two RMSNorm weights
        head = 0 if self.tied_embeddings else self.vocab_size * d
        return self.vocab_size * d + head + self.n_layer * per_layer + d  # + final norm

    def non_embedding_params(self) -> int:
        """Without the input embedding (and without an untied head): the count the SMDM paper's
        scaling laws use."""
        head = 0 if self.tied_embeddings else self.vocab_size * self.d_model
        return self.param_count() - self.vocab_size * self.d_model - head

    def to_json(self) -> dict:
        # Unset optional fields are left out: config.json says only what differs from the defaults.
        return {k: v for k, v in asdict(self).items() if v is not None}

    @staticmethod
    def from_json(obj: dict) -> "ModelConfig":
        known = {k: obj[k] for k in ModelConfig.__dataclass_fields__ if k in obj}
        cfg = ModelConfig(**known)
        cfg.validate()
        return cfg


@dataclass(frozen=True)
class TrainDefaults:
    """Per-preset defaults; each can be overridden on the command line."""

    batch_size: int  # sequences per step per process
    seq_len: int
    lr: float
    cpu_batch_size: int  # CPU runs use a smaller batch so a step stays interactive
    warmup_steps: int = 100
    default_steps: int = 1000  # the budget when no --steps/--tokens/--minutes is given
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio (SMDM: 2e-4 -> 2e-5)


@dataclass(frozen=True)
class Preset:
    name: str
    model: ModelConfig
    train: TrainDefaults
    latency_class: str
    notes: str = field(default="")


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        "tiny",
        ModelConfig(n_layer=2, d_model=64, n_head=2, d_ff=128, max_position=1024),
        TrainDefaults(batch_size=16, seq_len=128, lr=3e-3, cpu_batch_size=8, warmup_steps=5,
                      default_steps=300),  # about half a minute on 2 CPU cores
        latency_class="test-only (~1 ms per forward)",
    ),
    "small": Preset(
        "small",
        ModelConfig(n_layer=6, d_model=384, n_head=6, d_ff=768, max_position=4096),
        TrainDefaults(batch_size=128, seq_len=512, lr=1e-3, cpu_batch_size=8, warmup_steps=200),
        latency_class="inline: ~100 ms for a cached 512-token infill, int8, 2 CPU threads",
    ),
    "base": Preset(
        "base",
        ModelConfig(n_layer=12, d_model=512, n_head=8, d_ff=1408, max_position=4096),
        TrainDefaults(batch_size=128, seq_len=512, lr=6e-4, cpu_batch_size=4, warmup_steps=300),
        latency_class="GPU experiments; ~3.5x small's compute per token",
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
