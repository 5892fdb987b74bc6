"""Chunked training (scripts/gpu-train.sh, chunked.py) and its compact state (compact.py): the script end
to end on the CPU at the tiny preset, resuming from the compact files; the size limits it enforces; how
closely each state level continues a run; the clock that stops a chunk."""
import copy
import json
import os
import subprocess
import time

import numpy as np
import pytest
import torch

from conftest import FAST, REPO, TOKENIZER, env, of, run_module
from diffill_trainer import compact
from diffill_trainer.chunk_trainer import Clock
from diffill_trainer.data import load_corpus
from diffill_trainer.flops import flops_per_token, mfu, peak_bf16_flops
from diffill_trainer.loop import LossModule
from diffill_trainer.model import DiffusionLM
from diffill_trainer.modelio import load_model_dir
from diffill_trainer.objective import ObjectiveConfig
from diffill_trainer.prefetch import Prefetcher, default_processes
from diffill_trainer.presets import get_preset
from diffill_trainer.vocab import load_vocab

SCRIPT = REPO / "scripts" / "gpu-train.sh"
# The trainer flags FAST gives, minus those the script sets itself (preset, sequence, batch, device).
TRAINER_FLAGS = ["--no-compile", "--eval-cases", "2", "--eval-windows", "2", "--tokenizer", str(TOKENIZER)]
SHAPE = ["--seq-len", "32", "--batch-size", "4", "--device", "cpu", "--seed", "7"]


def script(*args, timeout=300):
    p = subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                       env=env(), cwd=str(REPO))
    return p.returncode, p.stdout, p.stderr


def files_of(d):
    return sorted(p for p in d.iterdir())


def chunk_losses(state_dir):
    run = json.loads((state_dir / "state.json").read_text())["run"]
    return {s: loss for s, loss in run["chunks"][-1]["losses"]}


def test_script_trains_in_chunks_resumes_from_the_compact_state_and_finishes(corpus, tmp_path):
    """Two chunks of 6 steps through the script (the first with a state small enough to be fp16 weights
    and fp8 moments, the second under a limit of 6 files of 1 MiB) continue the run that 12 steps in one go make,
    and `finish` writes a model directory whose config and card carry the chunks."""
    code, events, err = run_module("diffill_trainer.train", [*FAST, "--data", str(corpus), "--steps", "12",
                                                             "--seed", "7", "--out", str(tmp_path / "straight")])
    assert code == 0, err[-2000:]
    straight = {e["step"]: e["loss"] for e in of(events, "step")}

    one, two = tmp_path / "one", tmp_path / "two"
    code, out, err = script("tiny", one, "--data", corpus, "--steps", 12, "--chunk-steps", 6, *SHAPE,
                            "--max-total-mib", 3, "--", *TRAINER_FLAGS)
    assert code == 0, err[-3000:]
    m = compact.read_manifest(one)
    assert m["level"] == "fp16-fp8" and m["step"] == 6 and not m["run"]["complete"], out
    assert sum(f.stat().st_size for f in files_of(one)) <= 3 * compact.MIB
    assert "resume with: scripts/gpu-train.sh tiny NEW_OUT --resume-from" in out
    first = chunk_losses(one)
    assert first == {s: straight[s] for s in range(1, 7)}  # the same run, bit for bit, up to the stop

    code, out, err = script("tiny", two, "--data", corpus, "--resume-from", one, "--max-file-mib", 1, "--max-files", 6)
    assert code == 0, err[-3000:]
    m = compact.read_manifest(two)
    # Exact (6.9 MiB) would need 7 parts of 1 MiB and the manifest: 8 files, over the limit of 6.
    assert m["level"] == "fp32-fp8" and m["step"] == 12 and m["run"]["complete"]
    sizes = [f.stat().st_size for f in files_of(two)]
    assert len(sizes) == 5 and max(sizes) <= compact.MIB
    second = chunk_losses(two)
    assert sorted(second) == list(range(7, 13))
    # fp16 weights and fp8 moments: the first resumed step differs only by the weights' rounding, the
    # later ones by the moments' too (measured: at most 2e-4 relative here).
    for s in range(7, 13):
        assert second[s] == pytest.approx(straight[s], rel=2e-3), (s, second[s], straight[s])
    assert second[7] == pytest.approx(straight[7], rel=1e-4)

    code, _, err = script("tiny", tmp_path / "three", "--data", corpus, "--resume-from", two)
    assert code == 2 and "the run is complete" in err and err.count("\n") == 1

    model = tmp_path / "model"
    code, out, err = script("finish", two, model)
    assert code == 0, err[-3000:]
    cfg = json.loads((model / "config.json").read_text())
    t = cfg["training"]
    assert t["steps"] == 12 and [c["steps"] for c in t["chunks"]] == [[0, 6], [6, 12]]
    assert [c["state"] for c in t["chunks"]] == ["fp16-fp8", "fp32-fp8"]
    assert all(c["tokens_per_s"] > 0 and c["mfu"] is None for c in t["chunks"])  # no GPU peak on a CPU
    card = (model / "README.md").read_text()
    assert "| training chunks | 2, by `scripts/gpu-train.sh`" in card and "scripts/gpu-train.sh finish" in card
    load_model_dir(model)
    assert not (tmp_path / "model.ckpt").exists()


def test_a_chunk_past_its_stop_time_saves_at_once_and_the_next_one_goes_on(corpus, tmp_path):
    """The clock, not a step count, ends a chunk: started long enough ago that only the saving reserve
    is left, the chunk asks the trainer to stop as soon as it runs, and the state it writes resumes."""
    started = time.time() - 9 * 60 + 200  # 200 s of the 9-minute limit left; 240 s are kept for saving
    code, out, err = script("tiny", tmp_path / "a", "--data", corpus, "--steps", 50, *SHAPE, "--started-at",
                            started, "--reserve-s", 240, "--", *TRAINER_FLAGS)
    assert code == 0, err[-3000:]
    assert "asking the trainer to save and stop" in out
    m = compact.read_manifest(tmp_path / "a")
    assert m["step"] < 50 and m["run"]["chunks"][0]["end"] == "stopped at the deadline"
    code, out, err = script("tiny", tmp_path / "b", "--data", corpus, "--resume-from", tmp_path / "a",
                            "--chunk-steps", 2)
    assert code == 0, err[-3000:]
    assert compact.read_manifest(tmp_path / "b")["step"] == m["step"] + 2


def test_the_script_refuses_before_training_what_cannot_fit_or_resume(corpus, tmp_path):
    code, out, err = script("tiny", tmp_path / "x", "--data", corpus, "--steps", 4, *SHAPE, "--max-total-mib", 0.3)
    assert code == 2 and "cannot fit 8 files of at most 16 MiB, 0.3 MiB in all" in err, err
    assert err.count("\n") == 1 and not (tmp_path / "x").exists()
    code, _, err = script("tiny", tmp_path / "x", "--data", corpus, "--max-files", 1)
    assert code == 2 and "--max-files at least 2" in err
    code, _, err = script("tiny", tmp_path / "x", "--resume-from", tmp_path / "nothing")
    assert code == 2 and "--resume-from" in err and "no readable training state" in err
    code, _, err = script("tiny", tmp_path / "x", "--bogus")
    assert code == 2 and err.strip() == "scripts/gpu-train.sh: unrecognized arguments: --bogus"


# --- the compact state, in process -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(corpus):
    """40 batches of the tiny preset and a way to train on them exactly as the trainer's loop does."""
    torch.set_num_threads(1)
    vocab = load_vocab(TOKENIZER)
    c = load_corpus(corpus, vocab)
    pf = Prefetcher(c, vocab, ObjectiveConfig(), batch=4, seq_len=32, seed=3, rank=0, first_step=0, last_step=0,
                    pin=False)
    batches = [pf.build(s) for s in range(40)]
    pf.close()

    def make():
        torch.manual_seed(0)
        m = DiffusionLM(get_preset("tiny").model, vocab.mask)
        groups = [{"params": [p for p in m.parameters() if p.dim() >= 2], "weight_decay": 0.1},
                  {"params": [p for p in m.parameters() if p.dim() < 2], "weight_decay": 0.0}]
        return m, torch.optim.AdamW(groups, lr=3e-3, betas=(0.9, 0.95), eps=1e-8)

    def steps(m, opt, a, b):
        lm, out = LossModule(m), []
        for s in range(a, b):
            bt = batches[s]
            loss = lm(bt["input_ids"], bt["targets"], bt["weights"])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            out.append(loss.item())
        return np.array(out)

    return make, steps


def _state(m, opt, step):
    return {"fingerprint": {"preset": "tiny", "objective": {"kinds": ("a", 1)}}, "model": m.state_dict(),
            "optimizer": opt.state_dict(), "step": step, "train_elapsed": 1.5, "history": [(step, 1.0)],
            "torch_rng": torch.get_rng_state()}


# Measured on this 40-step run (relative loss difference over the 20 steps after the resume): exact 0;
# fp32-fp8 and fp16-fp8 at most 9e-4; the warm restarts (moments anew) 4e-2 at most and 1.2e-2 on average,
# with the first resumed step within 2e-5 (its loss depends on the weights alone).
LEVEL_BOUNDS = {"exact": (0.0, 0.0), "fp32-fp8": (0.0, 3e-3), "fp16-fp8": (1e-4, 3e-3),
                "bf16-zlib": (1e-4, 0.1), "int8": (1e-4, 0.1)}


@pytest.mark.parametrize("level", compact.LEVELS)
def test_each_level_continues_the_run(tiny_run, level):
    make, steps = tiny_run
    m, opt = make()
    straight = steps(m, opt, 0, 40)
    m, opt = make()
    steps(m, opt, 0, 20)
    saved = copy.deepcopy(_state(m, opt, 20))
    manifest, data = compact.encode_state(saved, level)
    state = compact.decode_state(json.loads(json.dumps(manifest)), data)  # as it travels: through JSON
    assert state["step"] == 20 and state["fingerprint"]["objective"] == {"kinds": ["a", 1]}
    assert torch.equal(state["torch_rng"], saved["torch_rng"])  # carried whatever the level
    if level in compact.WARM_RESTART_LEVELS:
        # Moments start at zero but the step count is kept: no bias-corrected jump.
        assert all(float(s["step"]) == 20 and not s["exp_avg"].any() and not s["exp_avg_sq"].any()
                   for s in state["optimizer"]["state"].values())
    m2, o2 = make()
    m2.load_state_dict(state["model"])
    o2.load_state_dict(state["optimizer"])
    resumed = steps(m2, o2, 20, 40)
    rel = np.abs(resumed - straight[20:]) / straight[20:]
    first_bound, bound = LEVEL_BOUNDS[level]
    assert rel[0] <= first_bound and rel.max() <= bound, (level, rel[0], rel.max())
    if level in compact.WARM_RESTART_LEVELS:
        assert rel.max() > 1e-3  # a warm restart really differs from the exact one


def test_the_state_is_cut_into_parts_within_the_limits_or_refused(tiny_run):
    make, steps = tiny_run
    m, opt = make()
    steps(m, opt, 0, 2)
    state = _state(m, opt, 2)
    n = sum(p.numel() for p in m.parameters())
    level, text, parts = compact.choose_level(state, compact.Limits())
    assert level == "exact" and len(parts) == 1 and len(parts[0][1]) == pytest.approx(12 * n, rel=0.01)
    small = compact.Limits(max_file_bytes=compact.MIB // 2, max_total_bytes=3 * compact.MIB, max_files=8)
    level, text, parts = compact.choose_level(state, small)
    assert level == "fp16-fp8" and all(len(c) <= compact.MIB // 2 for _, c in parts)
    assert len(text) + sum(len(c) for _, c in parts) <= 3 * compact.MIB
    with pytest.raises(compact.StateTooLarge, match="the exact state takes"):
        compact.choose_level(state, small, "exact")
    with pytest.raises(compact.StateTooLarge):
        compact.choose_level(state, compact.Limits(max_total_bytes=300_000))
    with pytest.raises(compact.StateTooLarge, match="3.5 MiB in 5 files"):  # 4 parts of 1 MiB, the manifest
        compact.choose_level(state, compact.Limits(max_file_bytes=compact.MIB, max_files=3), "fp32-fp8")


def test_parts_are_checked_when_read(tiny_run, tmp_path):
    make, steps = tiny_run
    m, opt = make()
    level, text, parts = compact.choose_level(_state(m, opt, 0), compact.Limits(max_file_bytes=compact.MIB))
    compact.write_parts(tmp_path, text, parts)
    manifest, data = compact.read_state(tmp_path)
    assert compact.decode_state(manifest, data)["model"].keys() == m.state_dict().keys()
    with open(tmp_path / "state-01.bin", "r+b") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="state-01.bin: the part is damaged"):
        compact.read_state(tmp_path)
    os.remove(tmp_path / "state-01.bin")
    with pytest.raises(ValueError, match="missing part"):
        compact.read_state(tmp_path)


def test_bf16_planes_round_trip_exactly_and_shrink():
    torch.manual_seed(0)
    w = torch.randn(256, 512) * 0.03
    state = {"fingerprint": {}, "model": {"w": w, "v": torch.ones(512)}, "step": 0, "train_elapsed": 0.0,
             "optimizer": {"state": {}, "param_groups": []}}
    manifest, data = compact.encode_state(state, "bf16-zlib")
    back = compact.decode_state(manifest, data)["model"]
    assert torch.equal(back["w"], w.to(torch.bfloat16).float()) and torch.equal(back["v"], state["model"]["v"])
    assert len(data) < 0.8 * 2 * w.numel()  # the high bytes deflate


def test_the_clock_stops_the_trainer_only_once_it_listens():
    c = Clock(deadline=1000.0, reserve=40.0)
    assert c.action(900.0, started=True, stopping=False) is None
    assert c.action(970.0, started=False, stopping=False) is None  # no SIGTERM handler before `start`
    assert c.action(970.0, started=True, stopping=False) == "stop"
    assert c.action(980.0, started=True, stopping=True) is None
    assert c.action(990.0, started=True, stopping=True) == "kill"


def test_flops_and_mfu():
    arch = get_preset("base").model
    n = arch.param_count()
    per = flops_per_token(n, arch.n_layer, arch.d_model, 1024)
    assert per == 6 * n + 12 * 12 * 1024 * 512
    assert peak_bf16_flops("cuda (NVIDIA H200)") == 989e12 and peak_bf16_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_bf16_flops("NVIDIA H100 PCIe") == 756e12 and peak_bf16_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_bf16_flops("cpu (2 cores)") is None and mfu(1e6, per, None) is None
    assert mfu(1e6, per, 989e12) == pytest.approx(1e6 * per / 989e12)


def test_a_process_pool_builds_the_same_batches(corpus):
    """On CUDA the batches come from forked processes (character-level rows cost ~0.7 s of CPU per
    64 x 1024 batch): the same batch for each step as building it in place, in step order."""
    vocab = load_vocab(TOKENIZER)
    c = load_corpus(corpus, vocab)
    obj = ObjectiveConfig(char_fim_fraction=1.0)
    here = Prefetcher(c, vocab, obj, batch=4, seq_len=128, seed=5, rank=0, first_step=3, last_step=3, pin=False)
    pooled = Prefetcher(c, vocab, obj, batch=4, seq_len=128, seed=5, rank=0, first_step=3, last_step=9, pin=False,
                        workers=2, processes=2)
    try:
        for step in range(3, 9):
            a, b = pooled.get(step), here.build(step)
            assert all(torch.equal(a[k], b[k]) for k in ("input_ids", "targets", "weights")), step
    finally:
        pooled.close()
        here.close()
    assert default_processes() >= 2
