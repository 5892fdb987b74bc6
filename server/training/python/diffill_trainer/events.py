"""JSON-lines progress events on stdout (docs/training-protocol.md); human logs go to stderr.

Torch-free on purpose: it must work to report that torch is missing.
"""
from __future__ import annotations

import json
import math
import sys
import time

from .errors import BadArguments, TrainerError

_enabled = True  # only rank 0 speaks the protocol under DDP


def set_enabled(flag: bool) -> None:
    global _enabled
    _enabled = flag


def _clean(value):
    # JSON has no NaN/Infinity; a diverged loss is reported as null rather than breaking the parser.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def emit(event: str, **fields) -> None:
    if not _enabled:
        return
    line = json.dumps(_clean({"event": event, **fields}), separators=(",", ":"))
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def report(e: TrainerError) -> int:
    """A typed failure as the protocol's `error` event and a log line; the exit code: 2 for a bad command
    line, 1 for everything else."""
    emit("error", message=str(e), kind=e.kind)
    log(f"error: {e}")
    return 2 if isinstance(e, BadArguments) else 1
