import os
import subprocess
import sys

import pytest

from conftest import env
from diffill_trainer.modeldir import AtomicModelDir, recover


def write(d, text):
    (d / "config.json").write_text(text)


def test_replaces_an_existing_model(tmp_path):
    out = tmp_path / "m"
    with AtomicModelDir(out) as d:
        write(d, "v1")
    with AtomicModelDir(out) as d:
        write(d, "v2")
    assert (out / "config.json").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_failure_or_failed_verification_keeps_the_old_model(tmp_path):
    out = tmp_path / "m"
    with AtomicModelDir(out) as d:
        write(d, "v1")
    with pytest.raises(RuntimeError):
        with AtomicModelDir(out) as d:
            write(d, "half")
            raise RuntimeError("crash while writing")

    def reject(d):
        raise ValueError("bad graph")

    with pytest.raises(ValueError):
        with AtomicModelDir(out, verify=reject) as d:
            write(d, "unverified")
    assert (out / "config.json").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


CRASH = """
import os, sys
from diffill_trainer.modeldir import AtomicModelDir
with AtomicModelDir(sys.argv[1]) as d:
    (d / "config.json").write_text("half")
    os._exit(9)  # a hard crash: no cleanup runs
"""


def test_hard_crash_never_leaves_half_a_model_and_is_cleaned_up(tmp_path):
    out = tmp_path / "m"
    p = subprocess.run([sys.executable, "-c", CRASH, str(out)], env=env())
    assert p.returncode == 9
    assert not out.exists()
    leftovers = [x.name for x in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith("m.tmp-")
    with AtomicModelDir(out) as d:
        write(d, "ok")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["m"]


def test_crash_between_the_two_renames_restores_the_previous_model(tmp_path):
    out = tmp_path / "m"
    with AtomicModelDir(out) as d:
        write(d, "v1")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    os.rename(out, tmp_path / f"m.old-{int(dead.stdout)}")  # as if the writer died right after this rename
    recover(out)
    assert (out / "config.json").read_text() == "v1"
