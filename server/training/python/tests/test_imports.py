"""`python -m diffill_trainer.imports`: published checkpoint formats (SMDM's lit-gpt state dict as
safetensors and as a torch.save file; Qwen2 safetensors + config.json, tied and untied), randomly
initialised at a tiny size, converted into model directories whose fp32 graph matches a forward written in
the source's own layout; greedy decoding of the converted model matches the reference sampler over that
forward; and every bad input is one error naming what is wrong, with --out untouched."""
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import of, run_module
from diffill_trainer.export import feeds_for, session
from diffill_trainer.imports import greedy, qwen2, samples, smdm
from diffill_trainer.modelio import load_model_dir
from diffill_trainer.sample import infill as model_infill

IMPORT = "diffill_trainer.imports"
TINY_HEADS = ["--n-head", "4", "--n-query-groups", "2"]


@pytest.fixture(scope="module")
def smdm_files(tmp_path_factory):
    pytest.importorskip("sentencepiece")
    d = tmp_path_factory.mktemp("smdm")
    files = samples.write_smdm(d, samples.TINY_SMDM, "safetensors", seed=1, head_scale=12.0)
    files["pth"] = samples.write_smdm(d / "pth", samples.TINY_SMDM, "pth", seed=1, tokenizer=False, head_scale=12.0)["checkpoint"]
    return files


@pytest.fixture(scope="module")
def qwen_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("qwen")
    tied = samples.write_qwen2(d / "tied", samples.TINY_QWEN2, 8192, seed=2)
    untied = samples.write_qwen2(d / "untied", replace(samples.TINY_QWEN2, tie_word_embeddings=False), 8192, seed=3)
    return {"tied": tied, "untied": untied}


def _import(args: list[str]):
    code, events, err = run_module(IMPORT, args, timeout=300)
    return code, events, err


def _graph_logits(model_dir: Path, ids: np.ndarray) -> np.ndarray:
    model, _ = load_model_dir(model_dir)
    every = np.arange(ids.shape[1])
    return session(model_dir / "model.onnx").run(["logits"], feeds_for(model, ids, every, None, every, np.zeros(0, np.int64)))[0]


def _compare(model_dir: Path, reference, emitted: int, mask: int) -> float:
    rng = np.random.default_rng(5)
    ids = rng.integers(0, emitted, (2, 40))
    ids[:, 5:12] = mask
    ids[1, 30:] = mask
    got = _graph_logits(model_dir, ids)[..., :emitted]
    want = reference(torch.from_numpy(ids)).numpy()[..., :emitted]
    keep = np.arange(emitted) != mask
    return float(np.abs(got[..., keep] - want[..., keep]).max())


@pytest.mark.parametrize("fmt", ["safetensors", "pth"])
def test_smdm_checkpoint_converts_to_a_graph_that_matches_the_lit_gpt_forward(smdm_files, tmp_path, fmt):
    ckpt = smdm_files["checkpoint"] if fmt == "safetensors" else smdm_files["pth"]
    out = tmp_path / "m"
    code, events, err = _import(["--from", "smdm", "--checkpoint", ckpt, "--tokenizer", smdm_files["tokenizer"],
                                 "--out", str(out), "--no-int8", *TINY_HEADS])
    assert code == 0, err[-2000:]
    assert of(events, "done")[0]["quantized"] is False
    cfg = json.loads((out / "config.json").read_text())
    a = cfg["architecture"]
    assert (a["vocab_size"], a["emit_vocab_size"], a["n_kv_head"], a["tied_embeddings"], a["source"]) == (641, 640, 2, False, "smdm")
    assert cfg["special_tokens"] == {"pad": None, "bos": 1, "eos": 2, "mask": 640}
    assert cfg["length_rule"] == "fixed"
    assert {p.name for p in out.iterdir()} == {"config.json", "tokenizer.json", "model.onnx", "model.safetensors", "README.md"}
    state, _ = greedy.read_checkpoint("smdm", Path(ckpt))
    scfg = smdm.infer_config(state, None, 1.0, 4, 2)
    assert _compare(out, smdm.Reference(state, scfg), 640, 640) < 1e-4
    # The mask row is never emitted, and the head's zero row for it changes no other logit.
    logits = _graph_logits(out, np.array([[1, 640, 5, 6]]))
    assert np.all(logits[..., 640] == np.float32(-1e9))
    card = (out / "README.md").read_text()
    assert "Apache License 2.0" in card and "checkpoint." + fmt in card


@pytest.mark.parametrize("tie", ["tied", "untied"])
def test_qwen2_checkpoint_converts_with_gqa_biases_and_the_padded_embedding(qwen_files, tmp_path, tie):
    files = qwen_files[tie]
    out = tmp_path / "m"
    # The default logit shift of --from hf is 1 (Open-dCoder's); --logit-shift 0 imports an in-place model.
    shift = [] if tie == "tied" else ["--logit-shift", "0"]
    code, events, err = _import(["--from", "hf", "--checkpoint", files["checkpoint"], "--tokenizer", files["tokenizer"],
                                 "--out", str(out), "--no-int8", *shift])
    assert code == 0, err[-2000:]
    cfg = json.loads((out / "config.json").read_text())
    a = cfg["architecture"]
    assert (a["vocab_size"], a["emit_vocab_size"], a["n_kv_head"], a["qkv_bias"], a["rope_base"]) == (8256, 8192, 2, True, 1e6)
    card = (out / "README.md").read_text()
    if tie == "tied":
        assert a["logit_shift"] == 1
        assert "**Logit shift**: 1: the logits of position i are read from the model's output at position i - 1" in card
        assert "the default of --from hf" in card
    else:
        assert a["logit_shift"] == 0
        assert "**Logit shift**: 0: each position's logits are read from its own output (--logit-shift 0 was given)" in card
    assert a["tied_embeddings"] is (tie == "tied")
    assert a["max_position"] == 4096  # the engine's limit, below config.json's 32768
    # The tokenizer's <M> (id 3 in the test tokenizer) is the mask; <|endoftext|> the eos; no [PAD].
    assert cfg["special_tokens"] == {"pad": None, "bos": None, "eos": 2, "mask": 3}
    hf = json.loads((Path(files["checkpoint"]) / "config.json").read_text())
    qcfg = qwen2.parse_config(hf, "test")
    state, _ = greedy.read_checkpoint("hf", Path(files["checkpoint"]))
    assert _compare(out, qwen2.Reference(state, qcfg), 8192, 3) < 1e-4
    logits = _graph_logits(out, np.array([[5, 3, 6]]))
    assert np.all(logits[..., 8192:] == np.float32(-1e9))


def test_int8_is_the_default_and_its_agreement_is_reported(qwen_files, tmp_path):
    files = qwen_files["tied"]
    out = tmp_path / "m"
    code, events, err = _import(["--from", "hf", "--checkpoint", files["checkpoint"], "--tokenizer", files["tokenizer"],
                                 "--out", str(out), "--int8"])
    assert code == 0, err[-2000:]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["onnx"]["quantized"] is True
    int8 = cfg["training"]["onnx_verify"]["int8"]
    assert 0 <= int8["top1_agreement"] <= 1 and int8["positions"] > 0
    assert f"top-1 agreement {int8['top1_agreement']:.3f}" in (out / "README.md").read_text()


def _reference_greedy(reference, cfg: dict, case: dict) -> dict:
    a, s = cfg["architecture"], cfg["special_tokens"]
    return greedy.infill(reference, case["prefix"], case["suffix"], case["n"], vocab=a["vocab_size"],
                         emitted=a.get("emit_vocab_size", a["vocab_size"]), mask_id=s["mask"], bos=s["bos"],
                         eos=s["eos"], rule="fixed", threshold=case["threshold"])


def test_the_reference_sampler_reads_position_i_from_output_i_minus_1_under_a_shift():
    """A forward whose output at position i is sure of token 100 + i: in place, span position p takes
    100 + p; shifted, 100 + p - 1, and position 0 (a span at the canvas start) its own output's 100, as
    Open-dLLM's sampler does."""
    def forward(idx):
        T = idx.shape[1]
        logits = torch.zeros(1, T, 200)
        logits[0, torch.arange(T), 100 + torch.arange(T)] = 50.0
        return logits

    kw = dict(vocab=200, emitted=200, mask_id=3, bos=None, eos=2, rule="fixed")
    assert greedy.infill(forward, [10, 11], [12], 3, **kw)["span"] == [102, 103, 104]
    assert greedy.infill(forward, [10, 11], [12], 3, shift=1, **kw)["span"] == [101, 102, 103]
    assert greedy.infill(forward, [], [12], 3, shift=1, **kw)["span"] == [100, 100, 101]


def test_greedy_decoding_of_the_converted_model_matches_the_reference_sampler(smdm_files, tmp_path):
    """The converted DiffusionLM (loaded back from the directory) against the reference forward, through
    sample.py's commit rule; the engine's side of the same comparison is test/unit/import-parity.test.ts."""
    out = tmp_path / "m"
    code, _, err = _import(["--from", "smdm", "--checkpoint", smdm_files["checkpoint"], "--tokenizer",
                            smdm_files["tokenizer"], "--out", str(out), "--no-int8", *TINY_HEADS])
    assert code == 0, err[-2000:]
    model, cfg = load_model_dir(out)
    reference, _ = greedy.load_reference(out, Path(smdm_files["checkpoint"]))
    rng = np.random.default_rng(0)
    several = 0
    for threshold in (1.0, 0.75, 0.5):
        case = {"prefix": [1, *rng.integers(3, 640, 9).tolist()], "suffix": rng.integers(3, 640, 6).tolist(), "n": 10,
                "threshold": threshold}
        want = _reference_greedy(reference, cfg, case)
        got = model_infill(model, case["prefix"], case["suffix"], case["n"], mask_id=640, pad_id=-1,
                           threshold=threshold, banned=(1, 2))
        assert got.span == want["span"], f"threshold {threshold}"
        assert got.trace == want["trace"], f"threshold {threshold}"
        several += any(len(t) > 1 for t in want["trace"])
    assert several >= 1  # some step committed several tokens, not only one-per-step decoding


# ------------------------------------------------------------------------------------------- bad input


def _fails(args: list[str], out: Path, expect_code: int = 1) -> str:
    before = sorted(p.name for p in out.iterdir()) if out.exists() else None
    code, events, err = _import([*args, "--out", str(out)])
    assert code == expect_code, err[-2000:]
    errors = of(events, "error")
    assert len(errors) == 1 and not of(events, "done")
    msg = errors[0]["message"]
    assert "\n" not in msg and "Traceback" not in err
    # Nothing half-written: --out as it was, and no temporary sibling left.
    assert (sorted(p.name for p in out.iterdir()) if out.exists() else None) == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(out.name + ".tmp-")]
    return msg


def _save(state: dict, path: Path) -> str:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return str(path)


def test_bad_smdm_checkpoints_name_the_tensor_and_leave_out_untouched(smdm_files, tmp_path):
    from safetensors.torch import load_file

    good = load_file(smdm_files["checkpoint"])
    tok = ["--tokenizer", smdm_files["tokenizer"], *TINY_HEADS]
    out = tmp_path / "existing"
    out.mkdir()
    (out / "keep.txt").write_text("previous model")

    wrong = dict(good)
    wrong["transformer.h.1.attn.proj.weight"] = torch.zeros(64, 32)
    msg = _fails(["--from", "smdm", "--checkpoint", _save(wrong, tmp_path / "w.safetensors"), *tok, "--force"], out)
    assert msg == "transformer.h.1.attn.proj.weight has shape [64, 32], expected [64, 64] for SMDM custom (2 layers, width 64, 4 heads)"

    missing = {k: v for k, v in good.items() if k != "transformer.h.0.norm_2.weight"}
    msg = _fails(["--from", "smdm", "--checkpoint", _save(missing, tmp_path / "m.safetensors"), *tok, "--force"], out)
    assert "'transformer.h.0.norm_2.weight'" in msg and "no tensor" in msg

    extra = dict(good, **{"transformer.h.0.attn.attn.bias": torch.zeros(128)})
    msg = _fails(["--from", "smdm", "--checkpoint", _save(extra, tmp_path / "e.safetensors"), *tok, "--force"], out)
    assert "transformer.h.0.attn.attn.bias" in msg

    other = {"model.embed_tokens.weight": torch.zeros(10, 4)}
    msg = _fails(["--from", "smdm", "--checkpoint", _save(other, tmp_path / "o.safetensors"), *tok, "--force"], out)
    assert "'transformer.wte.weight'" in msg and "not an SMDM" in msg

    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 40)
    msg = _fails(["--from", "smdm", "--checkpoint", str(tmp_path / "junk.safetensors"), *tok, "--force"], out)
    assert msg.startswith(f"cannot read {tmp_path / 'junk.safetensors'} as safetensors")

    # A pickle that is not tensors only: refused by weights_only loading, never executed.
    class Evil:
        def __reduce__(self):
            return (shutil.rmtree, (str(out),))

    torch.save({"model": Evil()}, tmp_path / "evil.pth", _use_new_zipfile_serialization=True)
    msg = _fails(["--from", "smdm", "--checkpoint", str(tmp_path / "evil.pth"), *tok, "--force"], out)
    assert msg.startswith(f"cannot read {tmp_path / 'evil.pth'} as a PyTorch state dict (weights only)")
    assert (out / "keep.txt").read_text() == "previous model"

    msg = _fails(["--from", "smdm", "--checkpoint", str(tmp_path / "absent.safetensors"), *tok, "--force"], out)
    assert msg == f"checkpoint file not found: {tmp_path / 'absent.safetensors'}"


def test_a_tokenizer_that_does_not_fit_the_vocabulary_is_refused(smdm_files, qwen_files, tmp_path):
    out = tmp_path / "m"
    # SMDM's head has 640 outputs here; the 8192-token byte-level tokenizer has more ids than rows.
    msg = _fails(["--from", "smdm", "--checkpoint", smdm_files["checkpoint"], "--tokenizer",
                  qwen_files["tied"]["tokenizer"], *TINY_HEADS], out)
    assert msg == "the tokenizer has 8192 tokens but the checkpoint's embedding has 640 rows"
    # A smaller tokenizer than the head: the head would emit ids no token spells.
    small = samples.sentencepiece_model(tmp_path, 600)
    msg = _fails(["--from", "smdm", "--checkpoint", smdm_files["checkpoint"], "--tokenizer", str(small), *TINY_HEADS], out)
    assert msg.startswith("the tokenizer has 600 tokens but the SMDM head has 640 outputs")


def test_unknown_architectures_and_bad_hf_configs_are_refused(qwen_files, tmp_path):
    files = qwen_files["tied"]
    src = Path(files["checkpoint"])
    tok = ["--tokenizer", files["tokenizer"]]
    out = tmp_path / "m"
    for change, expected in [
        ({"model_type": "llama", "architectures": ["LlamaForCausalLM"]},
         "model_type 'llama' (LlamaForCausalLM) is not qwen2; --from hf converts Qwen2-architecture checkpoints"),
        ({"rope_scaling": {"type": "yarn", "factor": 4.0}}, "rope_scaling {'type': 'yarn', 'factor': 4.0} is not supported (plain RoPE only)"),
        ({"num_key_value_heads": 3}, "num_attention_heads 4 is not a multiple of num_key_value_heads 3"),
        ({"intermediate_size": 100}, "model.layers.0.mlp.gate_proj.weight has shape [96, 64], expected [100, 64] from config.json"),
    ]:
        d = tmp_path / f"ck{len(change)}-{abs(hash(expected)) % 1000}"
        shutil.copytree(src, d)
        hf = json.loads((d / "config.json").read_text())
        hf.update(change)
        (d / "config.json").write_text(json.dumps(hf))
        msg = _fails(["--from", "hf", "--checkpoint", str(d), *tok], out)
        assert msg.endswith(expected), msg
    # No mask token anywhere: the user is told the flag.
    plain = tmp_path / "plain"
    plain.mkdir()
    doc = json.loads(Path(files["tokenizer"]).read_text())
    doc["added_tokens"] = [t for t in doc["added_tokens"] if t["content"] != "<M>"]
    doc["model"]["vocab"] = {k: v for k, v in doc["model"]["vocab"].items() if k not in ("<M>", "<|mask|>")}
    (plain / "tokenizer.json").write_text(json.dumps(doc))
    msg = _fails(["--from", "hf", "--checkpoint", str(src), "--tokenizer", str(plain / "tokenizer.json")], out)
    assert msg.endswith("pass --mask-id")


def test_usage_errors_exit_2(smdm_files, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "config.json").write_text("{}")
    msg = _fails(["--from", "smdm", "--checkpoint", smdm_files["checkpoint"], "--tokenizer", smdm_files["tokenizer"]],
                 out, expect_code=2)
    assert msg == f"--out {out} already exists; pass --force to replace it"
    msg = _fails(["--from", "gguf", "--checkpoint", "x", "--tokenizer", "y"], out, expect_code=2)
    assert "--from" in msg and "'gguf'" in msg
    msg = _fails(["--from", "smdm", "--checkpoint", smdm_files["checkpoint"], "--tokenizer", smdm_files["tokenizer"],
                  "--logit-shift", "1", "--force"], out, expect_code=2)
    assert msg == "--logit-shift is for --from hf only (SMDM predicts each position in place)"
