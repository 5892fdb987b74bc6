"""Atomic model-directory writer: build in a temporary sibling, verify, then swap it in.

A crash at any point leaves `<out>` either absent or the previous complete model, never half a model.
Leftovers of a crashed writer (`<out>.tmp-<pid>`, `<out>.old-<pid>` whose process is gone) are cleaned
up, or restored when `<out>` itself went missing between the two renames of a swap.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftovers(out: Path, tag: str):
    for p in out.parent.glob(f"{out.name}.{tag}-*"):
        suffix = p.name.rsplit("-", 1)[-1]
        if suffix.isdigit() and int(suffix) != os.getpid() and not _pid_alive(int(suffix)):
            yield p


def recover(out: Path) -> None:
    """Undo what a crashed writer left behind."""
    out = Path(out)
    for old in _leftovers(out, "old"):
        if not out.exists():
            old.rename(out)  # the crash came between the two renames: the previous model is restored
        else:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in _leftovers(out, "tmp"):
        shutil.rmtree(tmp, ignore_errors=True)


class AtomicModelDir:
    """with AtomicModelDir(out, verify) as tmp: write files into tmp; on clean exit tmp becomes out."""

    def __init__(self, out: str | Path, verify: Callable[[Path], None] | None = None):
        self.out = Path(out).absolute()
        self.verify = verify
        self.tmp = self.out.parent / f"{self.out.name}.tmp-{os.getpid()}"

    def __enter__(self) -> Path:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        recover(self.out)
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir()
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.discard()
            return False
        try:
            if self.verify is not None:
                self.verify(self.tmp)
            self._fsync_dir(self.tmp)
            self._swap()
        except BaseException:
            self.discard()
            raise
        return False

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _swap(self) -> None:
        old = self.out.parent / f"{self.out.name}.old-{os.getpid()}"
        if self.out.exists():
            if not self.out.is_dir():
                raise FileExistsError(f"{self.out} exists and is not a directory")
            os.rename(self.out, old)
        os.rename(self.tmp, self.out)
        shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def _fsync_dir(d: Path) -> None:
        for f in d.iterdir():
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
