import numpy as np
import pytest

from diffill_trainer.data import pack_facts
from diffill_trainer.objective import CONTEXT, MIDDLE, PAD, ObjectiveConfig, make_batch, maybe_truncate, stratified_t

PAD_ID, MASK_ID = 0, 3
VOCAB = 64
NEWLINE = np.zeros(VOCAB, dtype=bool)
NEWLINE[10] = True


def windows(rng, B, L):
    tok = rng.integers(4, VOCAB, (B, L))
    tok[rng.random((B, L)) < 0.1] = 10  # line breaks, so line spans occur
    return tok


def test_stratified_t_has_one_draw_per_stratum():
    t = stratified_t(16, 1e-3, np.random.default_rng(0))
    u = (np.sort(t) - 1e-3) / (1 - 1e-3)
    assert np.array_equal(np.floor(u * 16).astype(int), np.arange(16))


def test_plain_rows_mask_fraction_and_weights():
    rng = np.random.default_rng(1)
    B, L = 8, 4000
    t = np.linspace(0.1, 0.9, B)
    b = make_batch(windows(rng, B, L), rng, ObjectiveConfig(), pad_id=PAD_ID, mask_id=MASK_ID,
                   is_newline=NEWLINE, infill=False, t=t)
    masked = b.input_ids == MASK_ID
    assert np.allclose(masked.mean(1), t, atol=0.03)
    assert np.allclose(b.weights[masked], np.repeat(1 / t, masked.sum(1)).astype(np.float32))
    assert np.all(b.weights[~masked] == 0)
    assert np.array_equal(b.input_ids[~masked], b.targets[~masked])


def test_infill_rows_keep_context_clean_and_pads_follow_the_noise_setting():
    rng = np.random.default_rng(2)
    cfg = ObjectiveConfig(infill_fraction=1.0, multi_span_fraction=0.3, pad_noise="always")
    B, L = 64, 96
    src = windows(rng, B, L)
    b = make_batch(src, rng, cfg, pad_id=PAD_ID, mask_id=MASK_ID, is_newline=NEWLINE)
    assert b.input_ids.shape == (B, L) and b.targets.shape == (B, L)
    ctx, mid, pad = b.kinds == CONTEXT, b.kinds == MIDDLE, b.kinds == PAD
    assert mid.any(axis=1).all(), "every infill row has a middle"
    assert pad.any(), "some rows get trailing pads"
    assert np.all(b.input_ids[ctx] == b.targets[ctx]) and np.all(b.weights[ctx] == 0)
    assert np.all(b.input_ids[pad] == MASK_ID) and np.all(b.targets[pad] == PAD_ID)
    assert np.allclose(b.weights[pad], cfg.pad_weight)
    m = mid & (b.input_ids == MASK_ID)
    assert np.allclose(b.weights[m], np.broadcast_to(1 / b.t[:, None], (B, L))[m])
    for r in range(B):
        # Pads only ever follow a middle, and the prefix is the source window's own start.
        first_non_ctx = np.flatnonzero(~ctx[r])[0]
        assert np.array_equal(b.targets[r, :first_non_ctx], src[r, :first_non_ctx])
        starts = np.flatnonzero(pad[r] & ~np.r_[False, pad[r][:-1]])
        assert all(s > 0 and b.kinds[r, s - 1] == MIDDLE for s in starts)
    assert any(len(np.flatnonzero(np.diff(np.r_[0, mid[r].astype(int)]) == 1)) >= 2 for r in range(B)), \
        "some rows have several blanks"


def test_pads_noised_with_t_by_default():
    rng = np.random.default_rng(6)
    cfg = ObjectiveConfig(infill_fraction=1.0)
    assert cfg.pad_noise == "t"
    B, L = 256, 64
    t = np.full(B, 0.4)
    b = make_batch(windows(rng, B, L), rng, cfg, pad_id=PAD_ID, mask_id=MASK_ID, is_newline=NEWLINE, t=t)
    pad = b.kinds == PAD
    masked = pad & (b.input_ids == MASK_ID)
    assert abs(masked.sum() / pad.sum() - 0.4) < 0.05
    assert np.all(b.input_ids[pad & ~masked] == PAD_ID) and np.all(b.weights[pad & ~masked] == 0)
    assert np.allclose(b.weights[masked], cfg.pad_weight / 0.4)


def test_middle_noise_follows_t():
    rng = np.random.default_rng(3)
    cfg = ObjectiveConfig(infill_fraction=1.0, multi_span_fraction=0.0)
    B, L = 256, 64
    t = np.full(B, 0.3)
    b = make_batch(windows(rng, B, L), rng, cfg, pad_id=PAD_ID, mask_id=MASK_ID, is_newline=NEWLINE, t=t)
    mid = b.kinds == MIDDLE
    assert abs((b.input_ids[mid] == MASK_ID).mean() - 0.3) < 0.05


def test_truncation_keeps_rows_aligned():
    rng = np.random.default_rng(4)
    b = make_batch(windows(rng, 4, 50), rng, ObjectiveConfig(), pad_id=PAD_ID, mask_id=MASK_ID, is_newline=NEWLINE)
    short = maybe_truncate(b, np.random.default_rng(0), ObjectiveConfig(random_length_prob=1.0))
    n = short.input_ids.shape[1]
    assert 1 <= n < 50 and short.weights.shape == (4, n) and short.targets.shape == (4, n)
    same = maybe_truncate(b, np.random.default_rng(0), ObjectiveConfig(random_length_prob=0.0))
    assert same.input_ids.shape == (4, 50)


def test_facts_rows_hold_whole_facts_and_pad_is_not_trained():
    facts = [np.array([1, 5, 6, 2]), np.array([1, 7, 8, 9, 2]), np.array([1, 11, 2])]
    tok, trainable = pack_facts(facts, 6, 12, PAD_ID, np.random.default_rng(0))
    for row, tr in zip(tok, trainable):
        body = row[tr]
        assert body[0] == 1 and body[-1] == 2
        assert np.all(row[~tr] == PAD_ID) and np.all(np.flatnonzero(~tr) >= tr.sum())
    b = make_batch(tok, np.random.default_rng(1), ObjectiveConfig(), pad_id=PAD_ID, mask_id=MASK_ID,
                   is_newline=NEWLINE, trainable=trainable, infill=False, t=np.full(6, 0.99))
    assert np.all(b.weights[~trainable] == 0) and np.all(b.input_ids[~trainable] == PAD_ID)


def test_facts_infill_rows_blank_a_span_inside_one_fact_then_pads():
    facts = [np.array([1, 5, 6, 7, 2]), np.array([1, 8, 9, 12, 13, 2]), np.array([1, 11, 14, 2])]
    tok, trainable = pack_facts(facts, 64, 24, PAD_ID, np.random.default_rng(0))
    b = make_batch(tok, np.random.default_rng(2), ObjectiveConfig(infill_fraction=1.0), pad_id=PAD_ID,
                   mask_id=MASK_ID, is_newline=NEWLINE, trainable=trainable, fact_bos=1, t=np.full(64, 0.999))
    edges = 0
    for r in range(64):
        mid = np.flatnonzero(b.kinds[r] == MIDDLE)
        pads = np.flatnonzero(b.kinds[r] == PAD)
        assert len(mid) >= 1, "every row of whole facts gets a blank"
        assert np.all(np.diff(mid) == 1), "one contiguous middle"
        # the middle lies inside one fact: no <|bos|>/<|eos|> in it, and its neighbours are fact tokens
        assert not np.isin(b.targets[r, mid], [1, 2]).any()
        if len(pads):
            assert pads[0] == mid[-1] + 1 and np.all(np.diff(pads) == 1) and np.all(b.targets[r, pads] == PAD_ID)
        # the context stays clean, filler carries no loss
        ctx = b.kinds[r] == CONTEXT
        assert np.all(b.input_ids[r, ctx] == b.targets[r, ctx]) and np.all(b.weights[r, ctx] == 0)
        nxt = mid[-1] + 1 + len(pads)
        edges += int(b.targets[r, mid[0] - 1] == 1 or (nxt < tok.shape[1] and b.targets[r, nxt] == 2))
    assert edges >= 16, f"only {edges}/64 blanks touch the start or the end of their fact"


@pytest.mark.parametrize("eps", [1e-3])
def test_t_bounds(eps):
    t = stratified_t(1000, eps, np.random.default_rng(5))
    assert t.min() >= eps and t.max() <= 1.0
