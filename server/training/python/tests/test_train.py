import hashlib
import json
import signal
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest
import torch

from conftest import FAST, TOKENIZER, env, of, run_module
from diffill_trainer.data import load_corpus
from diffill_trainer.errors import BadData
from diffill_trainer.evaluate import val_loss
from diffill_trainer.model import DiffusionLM
from diffill_trainer.modelio import load_model_dir
from diffill_trainer.vocab import load_vocab


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, corpus):
    """The fixture corpus packed (meta.json, train.bin, val.bin as uint16) and bundled as .tar.xz."""
    vocab = load_vocab(TOKENIZER)
    c = load_corpus(corpus, vocab)
    root = tmp_path_factory.mktemp("bundle")
    packed = root / "corpus"
    packed.mkdir()
    np.asarray(c.train, dtype="<u2").tofile(packed / "train.bin")
    np.asarray(c.val, dtype="<u2").tofile(packed / "val.bin")
    (packed / "meta.json").write_text(json.dumps({
        "vocab_size": vocab.size, "dtype": "uint16", "byte_order": "little", "special_ids": vocab.special_tokens(),
        "tokenizer_sha256": hashlib.sha256(TOKENIZER.read_bytes()).hexdigest()}))
    (packed / "tokenizer.json").write_bytes(TOKENIZER.read_bytes())  # bundles carry their tokenizer
    tar = root / "bundle.tar.xz"
    with tarfile.open(tar, "w:xz", preset=0) as t:
        t.add(packed, arcname="corpus")
    return tar


def test_bundle_and_packed_dir_load_the_same_streams(bundle, corpus, tmp_path):
    vocab = load_vocab(TOKENIZER)
    a = load_corpus(bundle, vocab)
    b = load_corpus(corpus, vocab)
    assert np.array_equal(np.asarray(a.train), np.asarray(b.train, dtype=np.uint16))
    assert a.train[0] == vocab.bos
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "meta.json").write_text("{}")
    np.array([1, 9000, 2], dtype="<u2").tofile(bad / "train.bin")
    np.array([1, 5, 2], dtype="<u2").tofile(bad / "val.bin")
    with pytest.raises(BadData, match="9000"):
        load_corpus(bad, vocab)
    np.array([1, 5, 2], dtype="<u2").tofile(bad / "train.bin")
    (bad / "meta.json").write_text(json.dumps({"tokenizer_sha256": "0" * 64}))
    with pytest.raises(BadData, match="another tokenizer"):
        load_corpus(bad, vocab)
    (bad / "val.bin").unlink()
    with pytest.raises(BadData, match="val.bin"):
        load_corpus(bad, vocab)


def test_trained_model_beats_its_initialisation(tiny_model, corpus):
    """The fixture run (40 tiny steps) lowers the held-out loss well below the untrained model's."""
    trained, cfg = load_model_dir(tiny_model)
    vocab = load_vocab(tiny_model / "tokenizer.json")
    val = load_corpus(corpus, vocab).val
    torch.manual_seed(0)
    untrained = DiffusionLM(trained.cfg, vocab.mask)
    kw = dict(n_windows=4, seq_len=128, device="cpu")  # the fixture's own evaluation settings
    before, after = val_loss(untrained, val, vocab, **kw), val_loss(trained, val, vocab, **kw)
    assert after < before - 1.0, (before, after)
    assert cfg["training"]["val_loss"] == pytest.approx(after, rel=1e-4)
    assert cfg["training"]["steps"] == 40 and cfg["training"]["infill_exact"]["cases"] > 0
    assert cfg["architecture"]["max_position"] == 128  # the trained length, not the preset cap


def losses(events):
    return {e["step"]: e["loss"] for e in of(events, "step")}


def test_deterministic_and_resume_continues_the_same_run(bundle, tmp_path):
    base = [*FAST, "--data", str(bundle), "--steps", "12", "--seed", "7"]
    code_a, ev_a, err = run_module("diffill_trainer.train", [*base, "--out", str(tmp_path / "a"), "--stop-after", "8"])
    assert code_a == 130, err[-2000:]
    assert of(ev_a, "checkpoint") and not (tmp_path / "a").exists()
    assert len(losses(ev_a)) == 8

    code_r, ev_r, err = run_module("diffill_trainer.train", [*base, "--out", str(tmp_path / "a"), "--resume"])
    assert code_r == 0, err[-2000:]
    assert of(ev_r, "start")[0]["resumed_from_step"] == 8
    assert sorted(losses(ev_r)) == [9, 10, 11, 12]
    assert of(ev_r, "done")[0]["steps"] == 12
    assert not (tmp_path / "a.ckpt").exists(), "a finished run removes its checkpoint"

    code_c, ev_c, err = run_module("diffill_trainer.train", [*base, "--out", str(tmp_path / "c")])
    assert code_c == 0, err[-2000:]
    straight = losses(ev_c)
    assert {s: straight[s] for s in range(1, 9)} == losses(ev_a)  # same seed: the same losses, bit for bit
    for s in range(9, 13):
        assert straight[s] == pytest.approx(losses(ev_r)[s], rel=1e-5, abs=1e-6)
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    assert cfg["training"]["data"].startswith("bundle:") and cfg["onnx"]["quantized"] is True
    assert cfg["weights"]["dtype"] == "float16"
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "README.md", "config.json", "loss.svg", "model.onnx", "model.safetensors", "tokenizer.json"]


def test_sigterm_stops_cleanly_with_exit_130(corpus, tmp_path):
    out = tmp_path / "m"
    p = subprocess.Popen([sys.executable, "-m", "diffill_trainer.train", *FAST, "--data", str(corpus), "--out",
                          str(out), "--steps", "100000"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, env=env())
    for line in p.stdout:
        if json.loads(line)["event"] == "step":
            break
    p.send_signal(signal.SIGTERM)
    rest = p.stdout.read()
    assert p.wait(timeout=60) == 130
    assert '"event":"done"' not in rest
    assert sorted(x.name for x in tmp_path.iterdir()) == ["m.ckpt"], "no model and no temporary folder"


def test_missing_torch_is_reported_as_an_error_event(tmp_path):
    shim = tmp_path / "shim" / "torch"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError(\"No module named 'torch' (simulated)\")\n")
    code, events, _ = run_module("diffill_trainer.train", ["--data", "x", "--out", str(tmp_path / "m")],
                                 PYTHONPATH=str(tmp_path / "shim"))
    assert code == 1
    (err,) = of(events, "error")
    assert err["kind"] == "missing_dependency"
    assert "pip install -r server/training/python/requirements.txt" in err["message"]


def test_bad_inputs_give_typed_errors(tmp_path):
    code, events, _ = run_module("diffill_trainer.train", [*FAST, "--data", str(tmp_path / "nope"), "--out",
                                                           str(tmp_path / "m"), "--steps", "2"])
    assert code == 1 and of(events, "error")[0]["kind"] == "bad_data"
    code, events, _ = run_module("diffill_trainer.train", ["--out", str(tmp_path / "m"), "--steps", "x"])
    assert code == 2 and of(events, "error")[0]["kind"] == "bad_arguments"
    assert not (tmp_path / "m").exists()


def test_facts_fine_tune_from_an_existing_model(tiny_model, tmp_path):
    facts = tmp_path / "facts.txt"
    facts.write_text("The build server is called lighthouse.\n\nOur API keys rotate every 30 days.\n")
    code, events, err = run_module("diffill_trainer.train", [
        "--init", str(tiny_model), "--facts", str(facts), "--out", str(tmp_path / "ft"), "--tokens", "100",
        "--batch-size", "2", "--device", "cpu", "--no-quantize", "--eval-windows", "2"])
    assert code == 0, err[-2000:]
    assert of(events, "start")[0]["preset"] == "tiny"
    assert of(events, "start")[0]["total_steps"] == 4  # ceil(100 tokens / (2 rows x 16 tokens))
    cfg = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert cfg["training"]["facts"] is True and cfg["training"]["init"] == str(tiny_model)
    assert cfg["training"]["seq_len"] == 16


def test_out_and_resume_are_checked_before_any_work(tmp_path):
    """An existing model is not overwritten unasked, and --resume without a checkpoint is an error, not a
    fresh start (both answered before torch is imported)."""
    out = tmp_path / "model"
    out.mkdir()
    (out / "config.json").write_text("{}")
    code, events, _ = run_module("diffill_trainer.train", [*FAST, "--data", "x", "--out", str(out), "--steps", "1"])
    assert code == 2
    err = of(events, "error")[0]
    assert err["kind"] == "bad_arguments" and "already exists" in err["message"] and "--force" in err["message"]
    assert (out / "config.json").read_text() == "{}"

    code, events, _ = run_module("diffill_trainer.train", [*FAST, "--data", "x", "--out", str(tmp_path / "new"), "--resume"])
    assert code == 2
    err = of(events, "error")[0]
    assert err["kind"] == "bad_arguments" and "no checkpoint" in err["message"], err
    assert not (tmp_path / "new").exists()

    # An empty folder is fine, and --force replaces a model (here it gets as far as the data check).
    (tmp_path / "empty").mkdir()
    for extra, folder in (([], tmp_path / "empty"), (["--force"], out)):
        code, events, _ = run_module("diffill_trainer.train", [*FAST, "--data", str(tmp_path / "nope"), "--out",
                                                               str(folder), "--steps", "1", *extra])
        assert of(events, "error")[0]["kind"] == "bad_data", events


def test_until_is_a_deadline_with_no_step_total(corpus, tmp_path):
    """--until (a caller's deadline): the step count is not known in advance; a deadline already past is
    refused before training."""
    code, events, err = run_module("diffill_trainer.train", [*FAST, "--data", str(corpus), "--out", str(tmp_path / "m"),
                                                             "--until", str(time.time() + 600), "--stop-after", "2"])
    assert code == 130, err[-2000:]
    assert of(events, "start")[0]["total_steps"] is None
    steps = of(events, "step")
    assert [s["step"] for s in steps] == [1, 2] and all(0 < s["eta_s"] <= 600 for s in steps)
    code, events, _ = run_module("diffill_trainer.train", [*FAST, "--data", str(corpus), "--out", str(tmp_path / "p"),
                                                           "--until", str(time.time() - 1)])
    assert code == 2 and "deadline passed" in of(events, "error")[0]["message"]
