"""Tiny model directories for tests: `python -m diffill_trainer.fixtures tiny|tiny-arm OUT_DIR [--seed S] [--data D]`.

Trains the tiny preset for a few dozen steps on test/fixtures/corpus (or --data) and writes a complete
model directory with an fp32 ONNX graph and fp32 weights, so the engine's tests can check parity with the
reference sampler exactly. `tiny-arm` is the autoregressive fill-in-the-middle baseline of the same size
(format diffill-arm; its reference decoder is sample_arm.py). Exit code and stdout are those of the trainer (JSON lines).
"""
from __future__ import annotations

import argparse
import sys

from .train import main as train_main
from .plan import REPO_ROOT

# seq_len 128 so the fixture's max_position (the trained length) leaves room for test contexts.
# Token rows only: the tests that use the fixture need a fixed recipe, not the trainer's current
# default objective (a change of default would change every fixture's answers under the tests).
FIXTURE_ARGS = {"tiny": ["--preset", "tiny", "--steps", "40", "--seq-len", "128", "--batch-size", "4",
                         "--char-fim-fraction", "0"],
                "tiny-arm": ["--preset", "tiny", "--steps", "40", "--seq-len", "128", "--batch-size", "4",
                             "--objective", "arm-fim", "--char-fim-fraction", "1"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m diffill_trainer.fixtures", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("preset", choices=sorted(FIXTURE_ARGS))
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=str(REPO_ROOT / "test" / "fixtures" / "corpus"))
    ap.add_argument("--tokenizer", default=None)
    args = ap.parse_args(argv)
    argv = [*FIXTURE_ARGS[args.preset], "--data", args.data, "--out", args.out_dir, "--seed", str(args.seed),
            "--device", "cpu", "--no-quantize", "--weights-dtype", "float32", "--no-compile",
            "--eval-cases", "4", "--eval-windows", "4", "--name", f"fixture-{args.preset}"]
    if args.tokenizer:
        argv += ["--tokenizer", args.tokenizer]
    return train_main(argv)


if __name__ == "__main__":
    sys.exit(main())
