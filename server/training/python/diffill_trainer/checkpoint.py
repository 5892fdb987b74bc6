"""Resumable training state in `<out>.ckpt/`: weights, optimizer, step, elapsed time, loss history, RNG.

Batches are a pure function of (seed, rank, step), so no data-loader state needs saving. The file is
written to a temporary name and renamed, so a crash mid-save keeps the previous checkpoint.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from . import events
from .errors import BadArguments


def checkpoint_dir(out: Path) -> Path:
    out = Path(out).absolute()
    return out.parent / f"{out.name}.ckpt"


def exists(out: Path) -> bool:
    """Whether a run writing `out` left a checkpoint to resume (torch-free, so it can be asked first)."""
    return (checkpoint_dir(out) / "state.pt").is_file()


def save(out: Path, state: dict) -> Path:
    import torch  # here, not at the top: exists() is asked before torch is imported

    d = checkpoint_dir(out)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f"state.pt.tmp-{os.getpid()}"
    torch.save(state, tmp)
    os.replace(tmp, d / "state.pt")
    return d


def load(out: Path) -> dict | None:
    import torch

    f = checkpoint_dir(out) / "state.pt"
    if not f.is_file():
        return None
    return torch.load(f, map_location="cpu", weights_only=True)


def check_compatible(saved: dict, current: dict) -> None:
    """The run being resumed must train the same thing: same preset, data, shapes and seed."""
    # A key the checkpoint lacks was not recorded by the trainer that wrote it (the objective, before
    # character-level rows): not a difference.
    # Compared as JSON values: a fingerprint that travelled in a JSON manifest (compact.py) has lists
    # where the run has tuples.
    diffs = [f"{k}: checkpoint {saved.get(k)!r} vs now {v!r}" for k, v in current.items()
             if k in saved and _as_json(saved[k]) != _as_json(v)]
    if diffs:
        raise BadArguments("--resume: the checkpoint belongs to a different run (" + "; ".join(diffs) + ")")


def _as_json(value):
    return json.loads(json.dumps(value))


def save_training(out: Path, fingerprint: dict, model, opt, *, step: int, train_elapsed: float,
                  history: list) -> None:
    """Saves everything the step loop needs to go on from `step`, and announces it."""
    import torch

    path = save(out, {
        "fingerprint": fingerprint, "model": model.state_dict(), "optimizer": opt.state_dict(),
        "step": step, "train_elapsed": train_elapsed, "history": [list(h) for h in history],
        "torch_rng": torch.get_rng_state()})
    events.emit("checkpoint", step=step, path=str(path))


def resume(out: Path, fingerprint: dict, model, opt) -> tuple[int, float, list]:
    """Loads the checkpoint of `out` into model and optimizer: (step, train seconds, loss history); a
    missing checkpoint starts fresh at (0, 0.0, [])."""
    import torch

    state = load(out)
    if state is None:
        events.log(f"--resume: no checkpoint at {checkpoint_dir(out)}; starting fresh")
        return 0, 0.0, []
    check_compatible(state["fingerprint"], fingerprint)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    step = int(state["step"])
    events.log(f"resumed from step {step}")
    return step, float(state["train_elapsed"]), [tuple(h) for h in state["history"]]


def remove(out: Path) -> None:
    shutil.rmtree(checkpoint_dir(out), ignore_errors=True)
