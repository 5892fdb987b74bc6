"""Evaluate an existing model directory on held-out data: `python -m diffill_trainer.evaluate_cli`.

    python -m diffill_trainer.evaluate_cli --model DIR [--model DIR ...] (--data PATH | --facts FILE)
        [--seq-len L] [--windows N] [--cases N] [--device auto|cpu|cuda]

Prints one JSON line per model, in order: `{"model", "val_loss", "infill_exact", "seq_len", "windows",
"val_tokens", "data"}`; or `{"error": message, "kind": kind}` with exit code 1 (2 for bad arguments).
Several models in one call share the interpreter start and the data loading.

Fine-tuning compares the base model and the candidate on the *same* held-out slice with the same draws:
the data is read exactly as the trainer reads it (`load_corpus` / `load_facts`, the held-out split by file),
and the loss and the infill cases use the fixed evaluation seeds of `evaluate.py`. The model's own
tokenizer is used, so a base and a candidate of one vocabulary see the same ids.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import PIP_COMMAND, BadArguments, TrainerError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # a JSON answer instead of argparse's usage text and exit(2)
        raise BadArguments(message)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m diffill_trainer.evaluate_cli", description="Held-out loss and infill exact match.")
    ap.add_argument("--model", required=True, action="append", help="model directory (docs/model-format.md); repeatable")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="packed corpus dir, .tar.xz bundle, or a folder/file of plain text")
    src.add_argument("--facts", help="facts file: each non-empty line is one example (evaluated on the facts)")
    ap.add_argument("--seq-len", type=int, default=128, help="window length of the loss (default 128)")
    ap.add_argument("--windows", type=int, default=8, help="held-out windows per t of the loss (default 8)")
    ap.add_argument("--cases", type=int, default=8, help="single-line infill cases (default 8; 0 = none)")
    ap.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    return ap


def evaluate(args, model_arg: str) -> dict:
    import torch

    from .armfim import arm_val_loss
    from .data import load_corpus, load_facts
    from .evaluate import infill_cases, infill_exact, val_loss
    from .modelio import load_model_dir, read_config
    from .sample_arm import infill_exact_arm
    from .vocab import load_vocab

    if args.seq_len < 2 or args.windows < 1 or args.cases < 0:
        raise BadArguments("--seq-len must be >= 2, --windows >= 1 and --cases >= 0")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model_dir = Path(model_arg)
    cfg = read_config(model_dir)
    vocab = load_vocab(model_dir / cfg.get("tokenizer", "tokenizer.json"))
    corpus = load_facts(args.facts, vocab) if args.facts else load_corpus(args.data, vocab)
    model, cfg = load_model_dir(model_dir, device)
    seq_len = min(args.seq_len, int(cfg["architecture"]["max_position"]))
    is_cuda = device.startswith("cuda")
    cases = infill_cases(corpus.val, vocab, args.cases) if args.cases > 0 and corpus.facts is None else []
    if model.cfg.causal:
        # The autoregressive baseline (armfim.py): its own loss (next-token CE) and greedy FIM decoding.
        loss = arm_val_loss(model, corpus.val, n_windows=args.windows, seq_len=seq_len, device=device,
                            batch_size=32 if is_cuda else 4, autocast_dtype=torch.bfloat16 if is_cuda else None)
        exact = infill_exact_arm(model, cases, cfg["special_tokens"], device=device) if cases else None
    else:
        loss = val_loss(model, corpus.val, vocab, n_windows=args.windows, seq_len=seq_len, device=device,
                        batch_size=32 if is_cuda else 4, autocast_dtype=torch.bfloat16 if is_cuda else None)
        exact = infill_exact(model, cases, vocab, device=device) if cases else None
    return {"model": str(model_dir), "val_loss": loss, "infill_exact": exact, "seq_len": seq_len,
            "windows": args.windows, "val_tokens": int(corpus.val.shape[0]), "data": corpus.description}


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except BadArguments as e:
        print(json.dumps({"error": str(e), "kind": e.kind}))
        return 2
    try:
        import torch  # noqa: F401
    except ImportError as e:
        print(json.dumps({"error": f"PyTorch is missing ({e}); install the trainer's packages with: {PIP_COMMAND}",
                          "kind": "missing_dependency"}))
        return 1
    try:
        for model in args.model:
            print(json.dumps(evaluate(args, model)), flush=True)
        return 0
    except BadArguments as e:
        print(json.dumps({"error": str(e), "kind": e.kind}))
        return 2
    except TrainerError as e:
        print(json.dumps({"error": str(e), "kind": e.kind}))
        return 1


if __name__ == "__main__":
    sys.exit(main())
