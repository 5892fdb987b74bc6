"""The command line the two reference decoders share (sample.py: the diffusion sampler; sample_arm.py: the
autoregressive fill-in-the-middle decoder). A request, or a list of them, of token ids comes in as JSON;
one JSON line goes out, `{"error": ...}` with exit code 2 for a bad request. The engine's parity tests
drive them, so both answer in the same way."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable

import torch

from .errors import TrainerError


def check_request(req: dict, keys: tuple[str, ...], vocab: int) -> None:
    for key in keys:
        if key not in req:
            raise ValueError(f"request lacks {key!r}")
    ids = list(req["prefix"]) + list(req["suffix"])
    if any((not isinstance(i, int)) or i < 0 or i >= vocab for i in ids):
        raise ValueError(f"ids must be integers in [0, {vocab})")


def serve(argv, prog: str, doc: str | None, run: Callable[[object, dict, dict], dict],
          model_format: str | None = None) -> int:
    from .modelio import load_model_dir

    ap = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help=f"model directory (format {model_format})" if model_format else "model directory")
    ap.add_argument("--ids-json", required=True, help="request JSON, or - for stdin")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # single-threaded matmuls: deterministic and cheap on shared cores
    try:
        req = json.loads(sys.stdin.read() if args.ids_json == "-" else args.ids_json)
        model, cfg = load_model_dir(args.model)
        if model_format is not None and cfg.get("format") != model_format:
            raise ValueError(f"{args.model} is a {cfg.get('format')} model, not {model_format}")
        out = [run(model, cfg, r) for r in req] if isinstance(req, list) else run(model, cfg, req)
    except (ValueError, TypeError, KeyError, TrainerError) as e:
        sys.stdout.write(json.dumps({"error": str(e)}) + "\n")
        return 2
    sys.stdout.write(json.dumps(out) + "\n")
    return 0
