import torch

from diffill_trainer.model import MASK_LOGIT, DiffusionLM
from diffill_trainer.presets import PRESETS

MASK = 3


def tiny():
    torch.manual_seed(0)
    return DiffusionLM(PRESETS["tiny"].model, MASK).eval()


def test_param_count_matches_the_preset_table():
    for p in PRESETS.values():
        m = DiffusionLM(p.model, MASK)
        assert sum(x.numel() for x in m.parameters()) == p.model.param_count()
    assert 11.5e6 < PRESETS["small"].model.param_count() < 12.5e6


@torch.no_grad()
def test_mask_logit_is_forced_and_model_is_bidirectional():
    m = tiny()
    ids = torch.randint(4, 8192, (1, 12))
    logits = m(ids)
    assert torch.all(logits[..., MASK] == MASK_LOGIT)
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1) % 8192
    # No causal mask: changing the last token changes the first position's logits.
    assert not torch.allclose(m(changed)[0, 0], logits[0, 0])


@torch.no_grad()
def test_cached_path_equals_full_recompute_and_has_no_length_cap():
    m = tiny()
    cfg = m.cfg
    S = 20
    ids = torch.randint(4, 8192, (2, S))
    full = m(ids)
    empty = [(torch.zeros(2, cfg.n_head, 0, cfg.head_dim),) * 2 for _ in range(cfg.n_layer)]
    ctx = torch.arange(0, 14)
    _, pres = m.forward_cached(ids, torch.arange(S), empty, torch.zeros(0, dtype=torch.long), ctx)
    step, _ = m.forward_cached(ids[:, 14:], torch.arange(14, S), pres, torch.arange(6), torch.zeros(0, dtype=torch.long))
    assert torch.allclose(step, full[:, 14:], atol=1e-5)
    # Positions beyond max_position still run (RoPE is computed from the ids, not a table).
    far, _ = m.forward_cached(ids, torch.arange(100_000, 100_000 + S), empty, torch.arange(S), torch.zeros(0, dtype=torch.long))
    assert torch.isfinite(far).all()
