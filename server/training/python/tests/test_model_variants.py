"""The optional architecture fields (docs/model-format.md) behave as their sources define them, in
PyTorch and in the exported graph: grouped-query attention, q/k/v biases, RoPE condense ratio, an untied
head, never-emitted rows, and the causal mask of the autoregressive baseline."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from diffill_trainer.export import export_onnx, feeds_for, session, verify_fp32
from diffill_trainer.model import DiffusionLM, MASK_LOGIT
from diffill_trainer.presets import ModelConfig

BASE = dict(n_layer=2, d_model=32, n_head=4, d_ff=48, vocab_size=50)

VARIANTS = {
    "gqa+bias (Qwen2-style)": dict(n_kv_head=2, qkv_bias=True, rope_base=1e6, tied_embeddings=True, emit_vocab_size=45),
    "untied+condense (SMDM-style)": dict(tied_embeddings=False, rope_condense_ratio=4.0, emit_vocab_size=49),
    "causal": dict(causal=True, n_kv_head=1),
}


def _model(fields: dict, mask: int | None) -> DiffusionLM:
    torch.manual_seed(0)
    m = DiffusionLM(ModelConfig(**BASE, **fields), mask).eval()
    with torch.no_grad():  # non-trivial norms and biases, so a dropped term would show
        for name, p in m.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.3)
    return m


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_graph_matches_pytorch(name, tmp_path):
    fields = VARIANTS[name]
    m = _model(fields, None if fields.get("causal") else 49)
    export_onnx(m, tmp_path / "m.onnx")
    report = verify_fp32(m, tmp_path / "m.onnx", seed=1)  # raises above 1e-4
    assert report["mask_logit_ok"]
    ids = np.array([[5, 6, 7, 8, 9]])
    out = session(tmp_path / "m.onnx").run(None, feeds_for(m, ids, np.arange(5), None, np.arange(5), np.arange(5)))
    assert out[1].shape == (1, m.cfg.kv_heads, 5, m.cfg.head_dim)  # the cache holds K/V heads only
    assert np.all(out[0][..., m.cfg.emitted:] == np.float32(MASK_LOGIT))


def test_param_count_counts_the_optional_weights():
    for fields in VARIANTS.values():
        m = _model(fields, None if fields.get("causal") else 49)
        assert m.cfg.param_count() == sum(p.numel() for p in m.parameters())


@torch.no_grad()
def test_gqa_equals_attention_with_repeated_heads():
    m = _model(VARIANTS["gqa+bias (Qwen2-style)"], 49)
    a = m.blocks[0].attn
    x = torch.randn(1, 6, 32)
    from diffill_trainer.model import apply_rope, rope_tables
    cos, sin = rope_tables(torch.arange(6), 8, 1e6)
    q = apply_rope(a.wq(x).view(1, 6, 4, 8).transpose(1, 2), cos, sin)
    k = apply_rope(a.wk(x).view(1, 6, 2, 8).transpose(1, 2), cos, sin)
    v = a.wv(x).view(1, 6, 2, 8).transpose(1, 2)
    # Query heads 0,1 use K/V head 0; heads 2,3 use head 1 (Qwen2's repeat_kv layout).
    k4, v4 = k[:, [0, 0, 1, 1]], v[:, [0, 0, 1, 1]]
    want = a.wo(F.scaled_dot_product_attention(q, k4, v4).transpose(1, 2).reshape(1, 6, 32))
    got, _ = a(x, cos, sin)
    assert torch.allclose(got, want, atol=1e-6)


@torch.no_grad()
def test_causal_model_ignores_the_future_and_the_condense_ratio_scales_positions():
    m = _model(VARIANTS["causal"], None)
    ids = torch.tensor([[3, 4, 5, 6, 7, 8]])
    other = ids.clone()
    other[0, 4:] = torch.tensor([20, 21])
    assert torch.allclose(m(ids)[0, :4], m(other)[0, :4], atol=1e-6)
    assert not torch.allclose(m(ids)[0, 4:], m(other)[0, 4:])
    from diffill_trainer.model import rope_tables
    c1, _ = rope_tables(torch.tensor([8]), 8, 10000.0, 4.0)
    c2, _ = rope_tables(torch.tensor([2]), 8, 10000.0)
    assert torch.allclose(c1, c2)
