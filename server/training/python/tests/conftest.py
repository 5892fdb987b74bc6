"""Shared helpers: paths to the committed fixtures, a subprocess runner for the trainer, and one tiny
model directory trained once per test session."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PKG_ROOT = Path(__file__).resolve().parents[1]  # server/training/python
REPO = PKG_ROOT.parents[2]
sys.path.insert(0, str(PKG_ROOT))

TOKENIZER = REPO / "models" / "default" / "tokenizer.json"
CORPUS = Path(os.environ.get("DIFFILL_TEST_CORPUS", REPO / "test" / "fixtures" / "corpus"))
# Small and fast: the tiny preset's cost is dominated by the 8192-row head.
FAST = ["--preset", "tiny", "--seq-len", "32", "--batch-size", "4", "--device", "cpu", "--no-compile",
        "--eval-cases", "2", "--eval-windows", "2", "--tokenizer", str(TOKENIZER)]


def env(**extra) -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(PKG_ROOT) + (os.pathsep + extra.pop("PYTHONPATH") if "PYTHONPATH" in extra else "")
    e["OMP_NUM_THREADS"] = "1"  # tests share two cores; one thread per process is also deterministic
    e.update(extra)
    return e


def run_module(module: str, args: list[str], timeout: float = 120, **env_extra) -> tuple[int, list[dict], str]:
    """Run `python -m module args`; returns (exit code, JSON events from stdout, stderr)."""
    p = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout,
                       env=env(**env_extra), cwd=str(REPO))
    events = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    return p.returncode, events, p.stderr


def of(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["event"] == kind]


@pytest.fixture(scope="session")
def corpus() -> Path:
    assert CORPUS.is_dir(), f"the committed test corpus {CORPUS} is missing"
    return CORPUS


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, corpus) -> Path:
    out = tmp_path_factory.mktemp("fixture") / "tiny"
    code, events, err = run_module("diffill_trainer.fixtures", ["tiny", str(out), "--data", str(corpus),
                                                                 "--tokenizer", str(TOKENIZER)])
    assert code == 0, err[-3000:]
    assert of(events, "done"), events
    return out


@pytest.fixture(scope="session")
def tiny_arm_model(tmp_path_factory, corpus) -> Path:
    """The autoregressive fill-in-the-middle baseline at the tiny preset (format diffill-arm)."""
    out = tmp_path_factory.mktemp("fixture") / "tiny-arm"
    # A generous limit: 40 steps take ~30 s alone, several times that on a machine shared with other work.
    code, events, err = run_module("diffill_trainer.fixtures", ["tiny-arm", str(out), "--data", str(corpus),
                                                                 "--tokenizer", str(TOKENIZER)], timeout=600)
    assert code == 0, err[-3000:]
    assert of(events, "done"), events
    return out
