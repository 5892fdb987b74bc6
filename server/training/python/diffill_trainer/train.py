"""Trainer entry point: `python -m diffill_trainer.train` (CLI and protocol: docs/training-protocol.md).

This module only parses arguments, guards the heavy imports and maps failures to `error` events; the
training run itself lives in `trainer.py`. Exit codes: 0 after `done`, 130 after SIGTERM, 2 for bad
arguments, 1 for every other failure.
"""
from __future__ import annotations

import argparse
import errno
import sys
import traceback
from pathlib import Path

from . import checkpoint, events
from .errors import PIP_COMMAND, BadArguments, Interrupted, TrainerError

REQUIRED_MODULES = ("torch", "numpy", "safetensors", "tokenizers", "onnx", "onnxruntime")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage and exit(2) without an error event
        raise BadArguments(message)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m diffill_trainer.train", description="Train a Diffill masked diffusion model "
                 "(or, with --objective arm-fim, its autoregressive fill-in-the-middle baseline).")
    ap.add_argument("--preset", default="small", help="tiny | small | base (see presets.py)")
    ap.add_argument("--data", help="packed corpus dir, .tar.xz bundle, or a folder/file of plain text")
    ap.add_argument("--out", required=True, help="model directory to write (atomically)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int)
    budget.add_argument("--tokens", type=int)
    budget.add_argument("--minutes", type=float)
    budget.add_argument("--until", type=float, metavar="UNIX_TIME",
                        help="train until this wall-clock time (seconds since the epoch): a caller's deadline, "
                             "so the interpreter's start and the data loading come out of the same budget")
    ap.add_argument("--resume", action="store_true",
                    help="continue from <out>.ckpt/ (an error when there is none: nothing starts afresh unasked)")
    ap.add_argument("--force", action="store_true", help="replace --out when it already holds files (a model)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", help="fine-tune: start from this model directory's config and weights")
    ap.add_argument("--tokenizer", help="tokenizer.json (default: the --init model's, else models/default/)")
    ap.add_argument("--facts", help="fine-tune on facts: each non-empty line is one training example")
    ap.add_argument("--batch-size", type=int, help="sequences per step per process")
    ap.add_argument("--seq-len", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--quantize", action=argparse.BooleanOptionalAction, default=True,
                    help="write an int8 model.onnx (default) or keep the fp32 graph")
    ap.add_argument("--weights-dtype", default="float16", choices=["float32", "float16", "bfloat16"],
                    help="dtype of model.safetensors (the exported graph uses exactly these values)")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                    help="torch.compile the training step (default: on with CUDA, off on CPU)")
    ap.add_argument("--objective", choices=["mdm", "arm-fim"],
                    help="mdm: masked diffusion (default; with --init, the init model's own); arm-fim: a causal "
                         "model of the same preset trained with next-token loss and fill-in-the-middle rows "
                         "(armfim.py), the baseline to compare with")
    ap.add_argument("--pad-noise", default="t", choices=["t", "always"],
                    help="infill pads: noised with t like the middle (default), or always masked (objective.py)")
    ap.add_argument("--char-fim-fraction", type=float, default=1.0,
                    help="share of the single-blank infill rows cut at character positions and tokenized "
                         "piece by piece (charfim.py; multi-blank rows stay token rows; 0: token rows only)")
    ap.add_argument("--char-fim-kinds", metavar="KIND=SHARE,...",
                    help="shares of the character cut kinds line, indent, mid, eol, block, span, end "
                         "(default in charfim.DEFAULT_KIND_SHARES; kinds left out get 0)")
    ap.add_argument("--first-pad-weight", type=float,
                    help="loss weight of the first [PAD] after a character-level middle (default in objective.py)")
    ap.add_argument("--name", help="model name in config.json (default: the --out folder's name)")
    ap.add_argument("--eval-cases", type=int, help="held-out single-line infill cases (default by device)")
    ap.add_argument("--eval-windows", type=int, help="held-out windows for the loss (default by device)")
    ap.add_argument("--checkpoint-minutes", type=float, default=5.0, help="periodic checkpoint interval")
    ap.add_argument("--stop-after", type=int,
                    help="stop like a cancel (checkpoint, exit 130) after this many steps of this invocation")
    ap.add_argument("--run-notes", metavar="JSON_FILE",
                    help="a JSON object added to config.json's training summary (the chunked GPU script's "
                         "throughput per chunk, scripts/gpu-train.sh)")
    return ap


def _dependency_message(missing: str) -> str:
    return f"Python package '{missing}' is missing for the trainer; install the pinned set with: {PIP_COMMAND}"


def check_out(args) -> None:
    """Refuses, before any work, to overwrite a model unasked or to "resume" what has no checkpoint."""
    out = Path(args.out).absolute()
    if args.resume and not checkpoint.exists(out):
        raise BadArguments(f"--resume: no checkpoint at {checkpoint.checkpoint_dir(out)} to continue from; "
                           "run without --resume to start afresh")
    if out.exists() and not args.force:
        if not out.is_dir():
            raise BadArguments(f"--out {out} exists and is not a directory")
        if any(out.iterdir()):
            raise BadArguments(f"--out {out} already exists and is not empty; pass --force to replace it")


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        check_out(args)
    except BadArguments as e:
        return events.report(e)
    for mod in REQUIRED_MODULES:
        try:
            __import__(mod)
        except ImportError as e:
            events.emit("error", message=_dependency_message(mod), kind="missing_dependency", detail=str(e))
            events.log(f"error: {_dependency_message(mod)} ({e})")
            return 1
    from .trainer import run  # imports torch

    try:
        run(args)
        return 0
    except Interrupted as e:
        events.log(f"stopped: {e}")
        return 130
    except TrainerError as e:
        return events.report(e)
    except BaseException as e:  # noqa: BLE001 - every failure must become an error event
        kind, message = classify(e)
        events.emit("error", message=message, kind=kind)
        traceback.print_exc(file=sys.stderr)
        return 1


def classify(e: BaseException) -> tuple[str, str]:
    import torch

    text = str(e)
    if isinstance(e, torch.cuda.OutOfMemoryError) or isinstance(e, MemoryError) or "out of memory" in text.lower():
        return "out_of_memory", f"out of memory: {text.splitlines()[0] if text else type(e).__name__}; " \
                                "try a smaller --batch-size or --seq-len"
    if (isinstance(e, OSError) and e.errno == errno.ENOSPC) or "No space left on device" in text:
        return "disk_full", f"disk full: {text}"
    return "internal", f"{type(e).__name__}: {text}"


if __name__ == "__main__":
    sys.exit(main())
