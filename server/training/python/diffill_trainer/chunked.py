"""Training in chunks that each end within a wall-clock limit and hand on a size-limited state
(`scripts/gpu-train.sh`; docs/training.md):

    python -m diffill_trainer.chunked train PRESET OUT [--resume-from STATE] [options] [-- trainer flags]
    python -m diffill_trainer.chunked finish STATE MODEL_DIR [--device D] [-- trainer flags]

`train` runs the trainer (`python -m diffill_trainer.train`, as a child process) from step 0 or from a
compact state, stops it with SIGTERM when the time left is the reserve it needs to save (the trainer
checkpoints at the next step boundary), and writes the compact state (compact.py) into OUT within the
file limits, refusing before training when not even the smallest state could fit. The whole run's step
total is fixed by the first chunk (the learning-rate schedule spans all chunks), and every later chunk
takes the run's settings from the state. `finish` turns the last chunk's state into a model directory
(evaluation, ONNX export) on any machine, the CPU included; the chunks' throughput goes into its
config.json and model card.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .chunk_trainer import run_trainer

COMMAND = "scripts/gpu-train.sh"
WALL_MINUTES = 9.0
DEFAULT_TOKENS = {"tiny": 10_000_000, "small": 1_000_000_000, "base": 1_000_000_000}
LONG_CONTEXT = 1024  # the sequence length of small and base here: the model then serves 1024 positions
TOKENS_PER_STEP_CUDA = 65_536  # the presets' 128 x 512, kept at any sequence length
THROUGHPUT_NOTE = ("tokens_per_s: the median over the trainer's logged intervals after the first (which holds "
                   "compilation); mfu: tokens_per_s * flops_per_token / peak_flops, with flops_per_token "
                   "6N + 12 * layers * seq_len * d_model (flops.py) and the GPU's dense bf16 peak")


DEFAULT_DATA = Path(__file__).resolve().parents[4] / "data" / "bundle.tar.xz"


def _run_data(run: dict) -> str:
    """The run's data path where it exists here, else this checkout's default bundle: a later chunk
    may run in a checkout at another path (the bytes are checked either way)."""
    given = run.get("data")
    return given if given and Path(given).exists() else str(DEFAULT_DATA)


class Usage(Exception):
    """A usage error: one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise Usage(message)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog=COMMAND, description=__doc__.split("\n\n")[0],
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train one chunk")
    t.add_argument("preset", help="tiny | small | base")
    t.add_argument("out", help="folder for the compact state (created; must be new or empty)")
    t.add_argument("--resume-from", metavar="STATE", help="a previous chunk's OUT folder")
    t.add_argument("--data", help="training data (default data/bundle.tar.xz); must be the same data on resume")
    budget = t.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="steps of the whole run, all chunks together")
    budget.add_argument("--tokens", type=float, help="tokens of the whole run (default per preset: "
                        + ", ".join(f"{k} {v:.0e}" for k, v in DEFAULT_TOKENS.items()) + ")")
    t.add_argument("--seq-len", type=int, help=f"default {LONG_CONTEXT} for small and base, the preset's for tiny")
    t.add_argument("--batch-size", type=int, help=f"default: {TOKENS_PER_STEP_CUDA} tokens per step on CUDA")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    t.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    t.add_argument("--wall-minutes", type=float, default=WALL_MINUTES,
                   help="the whole chunk, start to the last file written (default %(default)s)")
    t.add_argument("--started-at", type=float, help="when the chunk's clock started (UNIX time; default now)")
    t.add_argument("--reserve-s", type=float, help="seconds kept for saving the state (default by model size)")
    t.add_argument("--chunk-steps", type=int, help="stop this chunk after so many steps at the latest")
    t.add_argument("--state", default="auto", help="compact state level: auto (the most exact that fits) or "
                   "one of exact, fp32-fp8, fp16-fp8, bf16-zlib, int8")
    t.add_argument("--max-file-mib", type=float, default=16.0)
    t.add_argument("--max-total-mib", type=float, default=64.0)
    t.add_argument("--max-files", type=int, default=8)
    t.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak, when it is not in flops.py")
    f = sub.add_parser("finish", help="evaluate and export the model of a finished run")
    f.add_argument("state", help="the last chunk's OUT folder")
    f.add_argument("model_dir")
    f.add_argument("--data", help="the run's data, when its path differs from the first chunk's")
    f.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    f.add_argument("--force", action="store_true", help="replace model_dir")
    return ap


def _split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, extra = _split_passthrough(argv)
    try:
        args = build_parser().parse_args(own)
        if args.command == "train":
            return train(args, extra)
        return finish(args, extra)
    except Usage as e:
        print(f"{COMMAND}: {e}", file=sys.stderr)
        return 2


# --- what a chunk trains --------------------------------------------------------------------------------

def data_identity(path: Path) -> str:
    """sha256 over the data's bytes (a bundle file, or every file of a folder by relative name), so a
    resumed chunk is refused on other data whatever path it has on that machine."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _trainer_args(args, preset, is_cuda: bool) -> tuple[list[str], int]:
    """(the trainer flags that fix the run, its total steps) for a first chunk."""
    seq_len = args.seq_len or (preset.train.seq_len if preset.name == "tiny" else LONG_CONTEXT)
    if seq_len > preset.model.max_position:
        raise Usage(f"--seq-len {seq_len} exceeds the {preset.name} preset's limit {preset.model.max_position}")
    batch = args.batch_size or (max(1, TOKENS_PER_STEP_CUDA // seq_len) if is_cuda else preset.train.cpu_batch_size)
    if args.steps is not None:
        steps = args.steps
    else:
        steps = math.ceil((args.tokens or DEFAULT_TOKENS.get(preset.name, DEFAULT_TOKENS["small"])) / (batch * seq_len))
    if steps < 1 or seq_len < 2 or batch < 1:
        raise Usage("--steps/--tokens, --seq-len and --batch-size must be positive")
    return ["--preset", preset.name, "--seq-len", str(seq_len), "--batch-size", str(batch), "--seed", str(args.seed),
            "--steps", str(steps)], steps


def _limits(args):
    from .compact import MIB, Limits

    if args.max_file_mib <= 0 or args.max_total_mib <= 0 or args.max_files < 2:
        raise Usage("--max-file-mib and --max-total-mib must be positive and --max-files at least 2")
    return Limits(max_file_bytes=int(args.max_file_mib * MIB), max_total_bytes=int(args.max_total_mib * MIB),
                  max_files=args.max_files)


def _out_folder(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise Usage(f"{out} already holds files; give a new or empty folder for the state")


def train(args, extra: list[str]) -> int:
    from . import compact
    from .presets import get_preset

    t0 = args.started_at if args.started_at is not None else time.time()
    deadline = t0 + args.wall_minutes * 60.0
    out = Path(args.out).absolute()
    _out_folder(out)
    limits = _limits(args)
    if args.state != "auto" and args.state not in compact.LEVELS:
        raise Usage(f"--state {args.state}: choose auto or one of {', '.join(compact.LEVELS)}")
    try:
        preset = get_preset(args.preset)
    except ValueError as e:
        raise Usage(str(e)) from None

    import torch

    want = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    is_cuda = want == "cuda"
    resumed = None
    if args.resume_from:
        try:
            resumed = compact.read_state(Path(args.resume_from))
        except ValueError as e:
            raise Usage(f"--resume-from: {e}") from None
        run = resumed[0].get("run", {})
        if run.get("preset") != preset.name:
            raise Usage(f"--resume-from holds a {run.get('preset')!r} run, not {preset.name!r}")
        given = [f for f, v in (("--steps", args.steps), ("--tokens", args.tokens), ("--seq-len", args.seq_len),
                                ("--batch-size", args.batch_size)) if v is not None] + (["-- flags"] if extra else [])
        if given:
            raise Usage(f"{', '.join(given)}: a resumed run keeps the settings of its first chunk; leave them out")
        trainer_args, total = list(run["trainer_args"]), int(run["total_steps"])
        if resumed[0]["step"] >= total:
            raise Usage(f"--resume-from: the run is complete ({total} steps); make its model with "
                        f"{COMMAND} finish {args.resume_from} MODEL_DIR")
        chunks = list(run.get("chunks", []))
        data_arg = args.data or _run_data(run)
    else:
        trainer_args, total = _trainer_args(args, preset, is_cuda)
        trainer_args += extra
        chunks = []
        data_arg = args.data or str(DEFAULT_DATA)
    data = Path(data_arg)
    if not data.exists():
        raise Usage(f"--data {data_arg}: no such file or folder")
    data_sha = data_identity(data)
    if resumed is not None and resumed[0]["run"].get("data_sha256") != data_sha:
        raise Usage(f"--data {data_arg}: not the data this run started on (its sha256 differs)")
    start_step = resumed[0]["step"] if resumed else 0

    # Refuse before any training when not even the smallest state can come back.
    n_params = preset.model.param_count()
    smallest = min(compact.estimate_bytes(level, n_params) for level in compact.LEVELS)
    if smallest > limits.max_total_bytes or -(-smallest // limits.max_file_bytes) + 1 > limits.max_files:
        raise Usage(f"the {preset.name} preset's smallest state is about {smallest / compact.MIB:.1f} MiB; "
                    f"it cannot fit {limits.describe()}")
    # Saving: the trainer's checkpoint (12 bytes a parameter), reading it back and encoding the state
    # (base: about 25 s on one CPU thread; bf16-zlib deflates 85 MB), with room to spare.
    reserve = args.reserve_s if args.reserve_s is not None else 20.0 + n_params / 1.5e6

    work = Path(tempfile.mkdtemp(prefix="diffill-chunk-"))
    try:
        return _train_chunk(args, out, work, preset, trainer_args, total, start_step, resumed, chunks, data_arg,
                            data_sha, limits, deadline, reserve, is_cuda)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _train_chunk(args, out, work, preset, trainer_args, total, start_step, resumed, chunks, data_arg, data_sha,
                 limits, deadline, reserve, is_cuda) -> int:
    from . import checkpoint, compact

    model_out = work / "model"
    cmd = [sys.executable, "-m", "diffill_trainer.train", *trainer_args, "--data", data_arg, "--out", str(model_out),
           "--device", "cuda" if is_cuda else "cpu", "--checkpoint-minutes", "1e9"]
    if args.compile is not None:
        cmd.append("--compile" if args.compile else "--no-compile")
    if resumed is not None:
        state = compact.decode_state(*resumed)
        # The data may lie elsewhere on this machine; its bytes were checked above.
        state["fingerprint"] = dict(state["fingerprint"], data=data_arg)
        checkpoint.save(model_out, state)
        del state
        cmd.append("--resume")
    remaining = total - start_step
    cmd += ["--stop-after", str(min(remaining, args.chunk_steps) if args.chunk_steps else remaining)]

    print(f"chunk: {preset.name}, steps {start_step} -> {total} of the run, "
          f"{max(0.0, deadline - time.time()):.0f}s left of the wall limit, {reserve:.0f}s kept for saving", flush=True)
    chunk = run_trainer(cmd, deadline, reserve, args, preset)
    state_file = checkpoint.checkpoint_dir(model_out) / "state.pt"
    # A chunk ends with the trainer's own checkpoint and exit code 130 (stopped), nothing else.
    if chunk["exit_code"] != 130 or "checkpointed" not in chunk or not state_file.is_file():
        return _hand_back(args, out, resumed, f"the trainer left no checkpoint ({chunk['end']})")

    import torch

    state = torch.load(state_file, map_location="cpu", weights_only=True)
    end_step = int(state["step"])
    chunk.update(steps=[start_step, end_step])
    chunks.append(chunk)
    run = {"preset": preset.name, "trainer_args": trainer_args, "total_steps": total, "data": data_arg,
           "data_sha256": data_sha, "complete": end_step >= total, "chunks": chunks}
    try:
        level, text, parts = _encode(state, args.state, limits, run)
    except compact.StateTooLarge as e:
        return _hand_back(args, out, resumed, str(e))
    files = compact.write_parts(out, text, parts)
    size = sum(f.stat().st_size for f in files)
    print(f"state: {level} at step {end_step}, {size / compact.MIB:.1f} MiB in {len(files)} files "
          f"(limit {limits.describe()}) in {out}", flush=True)
    _print_summary(chunk, end_step, total)
    if end_step >= total:
        print(f"the run is complete: make its model directory with {COMMAND} finish {args.out} MODEL_DIR", flush=True)
    else:
        print(f"resume with: {COMMAND} {preset.name} NEW_OUT --resume-from {args.out}", flush=True)
    return 0


def _encode(state: dict, want: str, limits, run: dict):
    """compact.choose_level with the run record, this chunk marked with the level, in the manifest."""
    from . import compact

    def annotate(level: str) -> dict:
        return {"run": dict(run, chunks=[*run["chunks"][:-1], dict(run["chunks"][-1], state=level)])}

    return compact.choose_level(state, limits, want, annotate)


def _hand_back(args, out: Path, resumed, why: str) -> int:
    """On failure the state this chunk started from goes out again, so the next chunk loses nothing."""
    from . import compact

    print(f"{COMMAND}: this chunk saved nothing: {why}", file=sys.stderr, flush=True)
    if resumed is not None:
        src = Path(args.resume_from)
        out.mkdir(parents=True, exist_ok=True)
        for p in resumed[0]["parts"]:
            shutil.copyfile(src / p["file"], out / p["file"])
        shutil.copyfile(src / compact.MANIFEST, out / compact.MANIFEST)
        print(f"{COMMAND}: {out} holds the state it started from (step {resumed[0]['step']})", file=sys.stderr)
    return 1


def _print_summary(chunk: dict, end: int, total: int) -> None:
    tps = chunk.get("tokens_per_s")
    m = chunk.get("mfu")
    print(f"chunk summary: steps {chunk['steps'][0]} -> {end} of {total}; {chunk.get('device')}; "
          + (f"{tps / 1e3:.1f}k tokens/s" if tps else "tokens/s not measured (too few logged steps)")
          + (f", MFU {100 * m:.1f}% of {chunk['peak_flops'] / 1e12:.0f} TFLOP/s" if m else "")
          + f"; {chunk['wall_s']}s in the trainer ({chunk.get('setup_s')}s before its first step)", flush=True)


# --- finishing ----------------------------------------------------------------------------------------------

def finish(args, extra: list[str]) -> int:
    from . import checkpoint, compact

    try:
        manifest, data = compact.read_state(Path(args.state))
    except ValueError as e:
        raise Usage(str(e)) from None
    run = manifest.get("run") or {}
    if manifest["step"] < int(run.get("total_steps", 0)):
        raise Usage(f"{args.state} is at step {manifest['step']} of {run['total_steps']}: train on with "
                    f"{COMMAND} {run['preset']} NEW_OUT --resume-from {args.state}")
    model_dir = Path(args.model_dir).absolute()
    if model_dir.exists() and any(model_dir.iterdir()) and not args.force:
        raise Usage(f"{args.model_dir} already holds files; pass --force to replace it")
    data_arg = args.data or _run_data(run)
    if not Path(data_arg).exists():
        raise Usage(f"the run's data {data_arg} is not here; pass --data")
    if data_identity(Path(data_arg)) != run["data_sha256"]:
        raise Usage(f"--data {data_arg}: not the data this run trained on (its sha256 differs)")
    state = compact.decode_state(manifest, data)
    state["fingerprint"] = dict(state["fingerprint"], data=data_arg)
    checkpoint.save(model_dir, state)
    notes = Path(tempfile.mkdtemp(prefix="diffill-finish-")) / "notes.json"
    chunks = [{k: v for k, v in c.items() if k != "losses"} for c in run.get("chunks", [])]
    notes.write_text(json.dumps({"chunks": chunks, "command": COMMAND, "throughput_note": THROUGHPUT_NOTE}),
                     encoding="utf-8")
    cmd = [sys.executable, "-m", "diffill_trainer.train", *run["trainer_args"], "--data", data_arg,
           "--out", str(model_dir), "--device", args.device, "--resume", "--run-notes", str(notes), *extra]
    if args.force:
        cmd.append("--force")
    try:
        code = subprocess.call(cmd, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    finally:
        shutil.rmtree(notes.parent, ignore_errors=True)
        checkpoint.remove(model_dir)
    return code


if __name__ == "__main__":
    sys.exit(main())
