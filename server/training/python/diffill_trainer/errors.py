"""Typed failures, each mapped to an `error` event kind of the trainer protocol. Torch-free."""
from __future__ import annotations

PIP_COMMAND = "pip install -r server/training/python/requirements.txt"


class TrainerError(Exception):
    kind = "internal"


class BadData(TrainerError):
    """--data, --facts, --init or --tokenizer is missing, malformed or inconsistent."""

    kind = "bad_data"


class BadArguments(TrainerError):
    """The command line is inconsistent (e.g. --device cuda without a GPU, --resume without a checkpoint)."""

    kind = "bad_arguments"


class MissingDependency(TrainerError):
    kind = "missing_dependency"


class Interrupted(Exception):
    """SIGTERM (or --stop-after) asked the run to stop; exit code 130."""
