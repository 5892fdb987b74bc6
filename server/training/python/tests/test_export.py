import numpy as np
import torch

from diffill_trainer.data import sample_windows
from diffill_trainer.export import (compare_int8, export_onnx, feeds_for, quantize, session, verify_fp32)
from diffill_trainer.modelio import load_model_dir


def test_fp32_graph_matches_pytorch_full_and_cached(tiny_model):
    model, cfg = load_model_dir(tiny_model)
    assert cfg["onnx"]["quantized"] is False
    report = verify_fp32(model, tiny_model / "model.onnx", seed=3)  # raises above 1e-4
    assert report["full_max_abs_diff"] <= 1e-4 and report["cached_max_abs_diff"] <= 1e-4
    assert report["mask_logit_ok"]


@torch.no_grad()
def test_zero_size_dims_in_onnxruntime(tiny_model):
    model, _ = load_model_dir(tiny_model)
    c = model.cfg
    sess = session(tiny_model / "model.onnx")
    none = np.zeros(0, dtype=np.int64)
    ids = np.array([[5, 6, 7, 3, 3]])
    # C = 0, P = 0, K = 0 all at once.
    out = sess.run(None, feeds_for(model, ids, np.arange(5), None, none, none))
    assert out[0].shape == (1, 0, c.vocab_size)
    assert all(o.shape == (1, c.n_head, 0, c.head_dim) for o in out[1:])
    # S = 0 against a cache (nothing to run) also works.
    enc = sess.run(None, feeds_for(model, ids, np.arange(5), None, none, np.arange(5)))
    past = [(enc[1 + 2 * i], enc[2 + 2 * i]) for i in range(c.n_layer)]
    empty = sess.run(None, feeds_for(model, ids[:, :0], none, past, none, none))
    assert empty[0].shape == (1, 0, c.vocab_size)
    # The cache of a batch of 2 built from B=2 input.
    two = sess.run(None, feeds_for(model, np.repeat(ids, 2, 0), np.arange(5), None, np.arange(5), none))
    ref = model(torch.from_numpy(np.repeat(ids, 2, 0))).numpy()
    assert np.abs(two[0] - ref).max() <= 1e-4


def test_int8_graph_runs_with_bounded_error(tiny_model, tmp_path, corpus):
    model, _ = load_model_dir(tiny_model)
    fp32, int8 = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    export_onnx(model, fp32)
    quantize(fp32, int8)
    assert int8.stat().st_size < 0.5 * fp32.stat().st_size
    from diffill_trainer.data import load_corpus
    from diffill_trainer.vocab import load_vocab
    vocab = load_vocab(tiny_model / "tokenizer.json")
    windows = sample_windows(load_corpus(corpus, vocab).val, 6, 48, np.random.default_rng(0))
    r = compare_int8(model, int8, windows)
    assert r["positions"] > 20
    # Measured ~0.02-0.05 on trained tiny models; 0.15 leaves room but catches a broken quantization.
    assert r["relative_rms_error"] < 0.15, r
    assert r["top1_agreement"] > 0.7, r
