"""The trainer child of one training chunk (chunked.py) and the clock that stops it: SIGTERM when only the
reserve for saving is left (the trainer checkpoints at its next step), SIGKILL if it does not stop; its
events give the chunk's record (losses, tokens/s, MFU)."""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time


class Clock:
    """When to ask the trainer to stop (SIGTERM: it checkpoints at its next step) and when to give up on
    it (SIGKILL), from the chunk's deadline and the seconds kept for saving."""

    def __init__(self, deadline: float, reserve: float):
        self.stop_at = deadline - reserve
        self.kill_at = deadline - reserve / 4

    def action(self, now: float, started: bool, stopping: bool) -> str | None:
        # Before its `start` event the trainer has no SIGTERM handler yet: a stop then would lose the
        # state it was given, so only the kill time applies.
        if now >= self.kill_at:
            return "kill"
        if started and not stopping and now >= self.stop_at:
            return "stop"
        return None


def run_trainer(cmd: list[str], deadline: float, reserve: float, args, preset) -> dict:
    """Runs the trainer until it exits, stopping it by the clock; returns the chunk's record."""
    from .flops import flops_per_token, mfu, peak_bf16_flops

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    t_launch = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=None, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in p.stdout] + [lines.put(None)], daemon=True).start()
    clock = Clock(deadline, reserve)
    started = stopping = False
    record: dict = {"end": "running"}
    rates: list[float] = []  # tokens/s of each logged interval after the first
    per_token = peak = None
    last_print = 0.0
    first_step_event = True
    eof = False
    while not eof or p.poll() is None:
        act = clock.action(time.time(), started, stopping)
        if act == "stop":
            p.send_signal(signal.SIGTERM)
            stopping = True
            record["end"] = "stopped at the deadline"
            print(f"deadline: {deadline - time.time():.0f}s left, asking the trainer to save and stop", flush=True)
        elif act == "kill" and p.poll() is None:
            p.kill()
            record["end"] = "killed: the trainer did not stop in time"
            break
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            eof = True
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        kind = ev.get("event")
        if kind == "start":
            started = True
            record.update(device=ev.get("device"), params=ev.get("params"), tokens_per_step=ev.get("tokens_per_step"),
                          setup_s=round(time.time() - t_launch, 1))
            arch = preset.model
            per_token = flops_per_token(ev["params"], arch.n_layer, arch.d_model, int(flag(cmd, "--seq-len")),
                                        causal=flag(cmd, "--objective") == "arm-fim")
            name = str(ev.get("device") or "")
            peak = args.peak_tflops * 1e12 if args.peak_tflops else (
                peak_bf16_flops(name) if name.startswith("cuda") else None)
            record.update(flops_per_token=per_token, peak_flops=peak)
        elif kind == "step":
            if first_step_event:
                first_step_event = False  # includes compilation and warm-up
            else:
                rates.append(ev["tokens_per_s"])
            now = time.time()
            if now - last_print >= 30 or ev.get("step") == ev.get("total_steps"):
                last_print = now
                m = mfu(ev["tokens_per_s"], per_token, peak) if per_token else None
                print(f"step {ev['step']}/{ev.get('total_steps')} loss {ev['loss']:.4f} "
                      f"{ev['tokens_per_s'] / 1e3:.1f}k tokens/s" + (f" MFU {100 * m:.1f}%" if m else ""), flush=True)
            record.setdefault("losses", []).append([ev["step"], ev["loss"]])
        elif kind == "checkpoint":
            record["checkpointed"] = ev.get("step")
        elif kind == "error":
            record["end"] = f"trainer error: {ev.get('message')}"
    code = p.wait()
    record["exit_code"] = code
    if record["end"] == "running":
        record["end"] = "chunk steps done" if code == 130 else f"the trainer exited with code {code}"
    record["wall_s"] = round(time.time() - t_launch, 1)
    if rates:
        tps = sorted(rates)[len(rates) // 2]
        record["tokens_per_s"] = round(tps, 1)
        record["mfu"] = round(mfu(tps, per_token, peak), 4) if per_token and peak else None
    return record


def flag(cmd: list[str], name: str) -> str | None:
    """The value after the last `name` in a command line (the trainer reads the last one too)."""
    at = [i for i, a in enumerate(cmd[:-1]) if a == name]
    return cmd[at[-1] + 1] if at else None
