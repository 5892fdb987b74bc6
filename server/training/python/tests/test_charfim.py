"""Character-level fill-in-the-middle rows (charfim.py) with the shipped tokenizer on the fixture corpus."""
import json

import numpy as np
import pytest
import torch

from conftest import FAST, TOKENIZER, of, run_module
from diffill_trainer.charfim import KINDS, char_fim_row, lookahead_tokens, parse_kind_shares
from diffill_trainer.data import load_corpus, sample_windows
from diffill_trainer.evaluate import val_loss, weighted_loss
from diffill_trainer.model import DiffusionLM
from diffill_trainer.modelio import load_model_dir
from diffill_trainer.objective import CONTEXT, MIDDLE, PAD, STOP, ObjectiveConfig, make_batch
from diffill_trainer.vocab import load_vocab

L = 128


@pytest.fixture(scope="module")
def vocab():
    return load_vocab(TOKENIZER)


@pytest.fixture(scope="module")
def stream(vocab, corpus):
    return np.asarray(load_corpus(corpus, vocab).train, dtype=np.int64)


def rows_of(kind, vocab, stream, n=60, seed=0, cfg=None):
    cfg = cfg or ObjectiveConfig(char_fim_fraction=1.0)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        w = sample_windows(stream, 1, L + lookahead_tokens(L), rng)[0]
        r = char_fim_row(w, L, vocab, cfg, rng, kind=kind)
        if r is not None:
            out.append((w, r))
    return out


def check_layout(w, r, vocab):
    """The row is [context] prefix_ids middle_ids [PAD]*k suffix_ids [context], each piece tokenized
    alone, cropped to L with the whole middle and its pads inside."""
    assert r.tokens.shape == (L,) and r.kinds.shape == (L,)
    assert r.prefix_ids == vocab.encode(r.prefix)
    assert r.middle_ids == vocab.encode(r.middle) and 1 <= len(r.middle_ids) <= L // 2
    assert r.suffix_ids == vocab.encode(r.suffix)
    s, e = r.piece
    assert r.text == vocab.decode(w[s:e])
    if r.synthetic_end:
        assert r.text.startswith(r.prefix + r.middle) and r.suffix == ""
    else:
        assert r.prefix + r.middle + r.suffix == r.text
    assert vocab.decode(r.prefix_ids + r.middle_ids + r.suffix_ids) == r.prefix + r.middle + r.suffix
    m, k = len(r.middle_ids), r.n_pad
    mid = slice(r.start, r.start + m)
    assert r.tokens[mid].tolist() == r.middle_ids and np.all(r.kinds[mid] == MIDDLE)
    pads = r.tokens[r.start + m:r.start + m + k]
    assert len(pads) == k and np.all(pads == vocab.pad)
    if k:
        assert r.kinds[r.start + m] == STOP and np.all(r.kinds[r.start + m + 1:r.start + m + k] == PAD)
    assert (r.kinds == STOP).sum() == int(k > 0) and (r.kinds == MIDDLE).sum() == m
    assert (r.kinds == PAD).sum() == max(k - 1, 0)
    # the prefix's tokens (as many as the crop kept) end right before the middle
    seen = min(r.start, len(r.prefix_ids))
    assert r.tokens[r.start - seen:r.start].tolist() == r.prefix_ids[len(r.prefix_ids) - seen:]
    after = r.tokens[r.start + m + k:]
    assert np.all(r.kinds[r.start + m + k:] == CONTEXT) and np.all(r.kinds[:r.start] == CONTEXT)
    n_suf = min(len(after), len(r.suffix_ids))
    assert after[:n_suf].tolist() == r.suffix_ids[:n_suf]
    if r.start == s + len(r.prefix_ids):  # not cropped: the tokens before the piece are the window's own
        assert np.array_equal(r.tokens[:s], w[:s])
    return after


@pytest.mark.parametrize("kind", KINDS)
def test_each_cut_kind_lays_out_prefix_middle_pads_suffix(kind, vocab, stream):
    rows = rows_of(kind, vocab, stream)
    assert len(rows) >= 30, f"{kind}: only {len(rows)}/60 windows gave a row"
    for w, r in rows:
        assert r.kind == kind and r.middle.strip()
        after = check_layout(w, r, vocab)
        last_prefix_line = r.prefix[r.prefix.rfind("\n") + 1:]
        if kind in ("line", "indent"):
            assert "\n" not in r.middle.rstrip("\n") and (r.suffix.startswith("\n") or r.capped or
                                                          (kind == "line" and r.middle.endswith("\n")))
            assert r.prefix == "" or r.prefix.endswith("\n") or not last_prefix_line.strip()
        if kind == "line":
            assert r.prefix == "" or r.prefix.endswith("\n")
        if kind == "indent":
            assert not r.middle[0].isspace()
        if kind == "mid":
            assert "\n" not in r.middle and r.middle.strip()
        if kind == "eol":
            assert r.middle.startswith("\n") and not r.prefix.endswith("\n")
            assert r.suffix.startswith("\n") or r.capped
        if kind == "block" and not r.capped:
            assert r.middle.count("\n") >= 1
        if kind == "end":
            # empty suffix: the answer runs to the document's end, then <|eos|> as the engine's canvas has it
            assert r.suffix == "" and r.suffix_ids == [] and after[0] == vocab.eos
            if r.synthetic_end:
                assert len(after) == 1, "a document cut at the gap ends the row on its <|eos|>"
            else:
                assert r.piece[1] < len(w) and w[r.piece[1]] == vocab.eos
    if kind in ("line", "block"):
        # a deleted line takes its line break along and the suffix starts with the next line's indentation
        assert {r.middle.endswith("\n") for _, r in rows} == {True, False}
    if kind in ("line", "indent"):
        # the boundaries token rows never make: the gap opens with the indentation, or after it
        first = [vocab.decode(r.middle_ids[:1]) for _, r in rows]
        if kind == "line":
            assert any(t.isspace() for t in first)
        assert all(not vocab.decode(r.prefix_ids[-1:]).endswith(" ") or kind == "indent" for _, r in rows
                   if r.prefix_ids and r.prefix.endswith("\n"))
    if kind == "mid":
        assert any(r.prefix[-1:].isalnum() and r.middle[:1].isalnum() for _, r in rows), "a cut inside a word"
    if kind == "end":
        assert {r.synthetic_end for _, r in rows} == {True, False}


def test_empty_suffix_at_a_real_document_end(vocab):
    doc = "def f(x):\n    y = x + 1\n    return y\n"
    other = "import os\n\nprint(os.getcwd())\n"
    ids = [vocab.bos, *vocab.encode(other), vocab.eos] * 3 + [vocab.bos, *vocab.encode(doc), vocab.eos]
    ids += [vocab.bos, *vocab.encode(other)] * 4
    w = np.array(ids, dtype=np.int64)
    Lw = len(ids) - 10
    cfg = ObjectiveConfig(char_fim_fraction=1.0)
    found = 0
    for seed in range(80):
        r = char_fim_row(w, Lw, vocab, cfg, np.random.default_rng(seed), kind="end")
        if r is None or r.synthetic_end or r.text != doc:
            continue
        found += 1
        eos_at = r.start + len(r.middle_ids) + r.n_pad
        assert r.tokens[eos_at] == vocab.eos and r.suffix == "" and doc.endswith(r.middle)
        assert r.prefix + r.middle == doc
    assert found >= 3


def test_same_seed_same_rows_and_the_token_objective_is_unchanged_at_zero(vocab, stream):
    def batch(seed, cfg, **kw):
        rng = np.random.default_rng(seed)
        w = sample_windows(stream, 8, L + lookahead_tokens(L), rng)
        return make_batch(w[:, :L], rng, cfg, pad_id=vocab.pad, mask_id=vocab.mask, is_newline=vocab.newline,
                          lookahead=w[:, L:], **kw)

    cfg = ObjectiveConfig(infill_fraction=1.0, char_fim_fraction=0.7)
    a, b, c = batch(3, cfg, codec=vocab), batch(3, cfg, codec=vocab), batch(4, cfg, codec=vocab)
    for f in ("input_ids", "targets", "weights", "kinds"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.targets, c.targets)
    assert (a.kinds == STOP).any()
    old = ObjectiveConfig(infill_fraction=1.0)
    x, y = batch(5, old, codec=vocab), batch(5, old)
    for f in ("input_ids", "targets", "weights", "kinds"):
        assert np.array_equal(getattr(x, f), getattr(y, f))
    assert not (x.kinds == STOP).any()


def test_weights_first_pad_on_its_own_and_the_rest_at_pad_weight(vocab, stream):
    rng = np.random.default_rng(9)
    cfg = ObjectiveConfig(infill_fraction=1.0, char_fim_fraction=1.0, first_pad_weight=0.7)
    B = 32
    w = sample_windows(stream, B, L + lookahead_tokens(L), rng)
    t = np.full(B, 0.5)
    b = make_batch(w[:, :L], rng, cfg, pad_id=vocab.pad, mask_id=vocab.mask, is_newline=vocab.newline,
                   codec=vocab, lookahead=w[:, L:], t=t)
    masked = b.input_ids == vocab.mask
    stop, pad, mid, ctx = (b.kinds == STOP), (b.kinds == PAD), (b.kinds == MIDDLE), (b.kinds == CONTEXT)
    assert (stop & masked).any() and (stop & ~masked).any()
    assert np.allclose(b.weights[stop & masked], cfg.first_pad_weight / 0.5)
    assert np.allclose(b.weights[pad & masked], cfg.pad_weight / 0.5)
    assert np.allclose(b.weights[mid & masked], 1 / 0.5)
    assert np.all(b.weights[~masked] == 0) and np.all(b.input_ids[ctx] == b.targets[ctx])
    assert np.all(b.targets[stop | pad] == vocab.pad)
    # half the pad runs make middle + pads one of the engine's canvas sizes
    spans = [int(((b.kinds[r] == MIDDLE) | (b.kinds[r] == STOP) | (b.kinds[r] == PAD)).sum()) for r in range(B)]
    assert sum(s in cfg.fim_canvas_sizes for s in spans) >= B // 4


def test_kind_shares_parse():
    shares = dict(parse_kind_shares("line=0.5, mid=1"))
    assert shares["line"] == 0.5 and shares["mid"] == 1.0 and shares["end"] == 0.0
    for bad in ("nope=1", "line", "line=-1", "line=0"):
        with pytest.raises(ValueError):
            parse_kind_shares(bad)


def test_tiny_run_with_character_rows_learns_and_records_the_objective(corpus, tmp_path, vocab):
    out = tmp_path / "m"
    code, events, err = run_module("diffill_trainer.train", [
        *FAST, "--seq-len", "64", "--data", str(corpus), "--out", str(out), "--steps", "40", "--seed", "3",
        "--char-fim-fraction", "1", "--char-fim-kinds", "line=1,mid=1,end=1,block=1", "--no-quantize"])
    assert code == 0, err[-2000:]
    cfg = json.loads((out / "config.json").read_text())
    obj = cfg["training"]["objective"]
    assert obj["char_fim_fraction"] == 1.0 and obj["first_pad_weight"] == 0.2
    assert dict(obj["char_fim_kinds"]) == {"line": 1.0, "indent": 0.0, "mid": 1.0, "eol": 0.0, "block": 1.0,
                                           "span": 0.0, "end": 1.0}
    trained, _ = load_model_dir(out)
    torch.manual_seed(0)
    untrained = DiffusionLM(trained.cfg, vocab.mask)
    val = load_corpus(corpus, vocab).val
    kw = dict(n_windows=4, seq_len=64, device="cpu")
    assert val_loss(trained, val, vocab, **kw) < val_loss(untrained, val, vocab, **kw) - 1.0
    # and on held-out character-level rows themselves (fixed draws, every row an infill row)
    rng = np.random.default_rng(0)
    w = sample_windows(np.asarray(val, dtype=np.int64), 16, 64 + lookahead_tokens(64), rng)
    b = make_batch(w[:, :64], rng, ObjectiveConfig(infill_fraction=1.0, char_fim_fraction=1.0), pad_id=vocab.pad,
                   mask_id=vocab.mask, is_newline=vocab.newline, codec=vocab, lookahead=w[:, 64:], t=np.full(16, 0.7))
    assert (b.kinds == STOP).any()
    with torch.no_grad():
        fim = [float(weighted_loss(m(torch.from_numpy(b.input_ids)), torch.from_numpy(b.targets),
                                   torch.from_numpy(b.weights))) for m in (untrained, trained)]
    assert fim[1] < fim[0] - 0.5, fim

    code, events, _ = run_module("diffill_trainer.train", [*FAST, "--data", str(corpus), "--out", str(out) + "x",
                                                           "--char-fim-fraction", "1.5"])
    assert code == 2 and of(events, "error")[0]["kind"] == "bad_arguments"
    code, events, _ = run_module("diffill_trainer.train", [*FAST, "--data", str(corpus), "--out", str(out) + "x",
                                                           "--char-fim-kinds", "line=1,word=2"])
    assert code == 2 and "word" in of(events, "error")[0]["message"]
    code, events, _ = run_module("diffill_trainer.train", [*FAST, "--data", str(corpus), "--out", str(out) + "x",
                                                           "--first-pad-weight", "-1"])
    assert code == 2 and of(events, "error")[0]["kind"] == "bad_arguments"


def test_multi_blank_rows_stay_token_rows(vocab, stream):
    rng = np.random.default_rng(12)
    B = 64
    cfg = ObjectiveConfig(infill_fraction=1.0, char_fim_fraction=1.0, multi_span_fraction=0.3)
    w = sample_windows(stream, B, L + lookahead_tokens(L), rng)
    b = make_batch(w[:, :L], rng, cfg, pad_id=vocab.pad, mask_id=vocab.mask, is_newline=vocab.newline,
                   codec=vocab, lookahead=w[:, L:])
    runs = [len(np.flatnonzero(np.diff(np.r_[0, (b.kinds[r] == MIDDLE).astype(int)]) == 1)) for r in range(B)]
    char = [(b.kinds[r] == STOP).any() for r in range(B)]
    assert sum(n >= 2 for n in runs) >= 8, "multi-blank token rows remain"
    assert all(n == 1 for n, c in zip(runs, char) if c), "a character row holds one gap"
    assert sum(char) >= B // 2
