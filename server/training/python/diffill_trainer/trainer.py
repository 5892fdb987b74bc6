"""One training run, step by step: the plan from the flags (plan.py), the model and optimizer, a resumed
checkpoint (checkpoint.py), the step loop (loop.py, fed by prefetch.py), then evaluation, export and the
atomic write of the model directory (finish.py).

Speed on CUDA: bf16 autocast, fused AdamW, TF32, torch.compile of the loss (with an eager fallback if
compilation fails), batches built on the CPU by a pool of processes (prefetch.py) and pinned by prefetch
threads, and no host sync except every `log_every` steps. On CPU: fp32, deterministic for a given seed.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import torch
import torch.distributed as dist

from . import checkpoint, events
from .errors import Interrupted
from .finish import finish
from .loop import StepLoop, StopFlag, wrap_model
from .model import DiffusionLM
from .modelio import load_model_dir
from .plan import RunPlan, device_name, init_device, plan_run, remaining_budget
from .prefetch import Prefetcher, default_processes


def run(args) -> None:
    t_start = time.time()
    stop = StopFlag()
    signal.signal(signal.SIGTERM, stop.handler)
    device, rank, _, world = init_device(args)
    events.set_enabled(rank == 0)
    out = Path(args.out).absolute()
    try:
        _run(args, out, device, rank, world, stop, t_start)
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _run(args, out: Path, device: str, rank: int, world: int, stop: StopFlag, t_start: float):
    is_cuda = device.startswith("cuda")
    plan = plan_run(args, world, is_cuda, t_start)
    model, opt = _build_model(args, plan, device)
    n_params = sum(p.numel() for p in model.parameters())
    fingerprint = plan.fingerprint(args)
    start_step, train_elapsed, history = \
        checkpoint.resume(out, fingerprint, model, opt) if args.resume else (0, 0.0, [])
    eager, step_fn, compiled = wrap_model(model, args, device, world)
    autocast_dtype = torch.bfloat16 if is_cuda else None

    events.emit("start", preset=plan.preset_name, params=n_params, device=device_name(device), world_size=world,
                total_steps=plan.total_steps, tokens_per_step=plan.tokens_per_step, resumed_from_step=start_step)
    events.log(f"{plan.preset_name}: {n_params / 1e6:.2f}M params on {device} x{world}; "
               f"batch {plan.batch}x{plan.seq_len}; lr {plan.base_lr}; "
               f"data {plan.corpus.description} ({plan.corpus.train_tokens} train tokens)")

    processes = default_processes(int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    prefetch = Prefetcher(plan.corpus, plan.vocab, plan.obj, batch=plan.batch, seq_len=plan.seq_len, seed=args.seed,
                          rank=rank, first_step=start_step, last_step=plan.total_steps, pin=is_cuda,
                          workers=processes if is_cuda else 1, processes=processes if is_cuda else 0,
                          causal=plan.causal)
    if args.until is not None:
        # The model is built: the training loop gets exactly what is left of the deadline.
        plan.budget_s = remaining_budget(args, t_start)

    def save_checkpoint(step: int, train_elapsed: float, history: list) -> None:
        if rank == 0:
            checkpoint.save_training(out, fingerprint, model, opt, step=step, train_elapsed=train_elapsed,
                                     history=history)

    loop = StepLoop(args, plan, model, opt, prefetch, device=device, eager=eager, step_fn=step_fn,
                    compiled=compiled, autocast_dtype=autocast_dtype, stop=stop, start_step=start_step,
                    train_elapsed=train_elapsed, history=history, save_checkpoint=save_checkpoint)
    loop.run()

    train_s = time.time() - loop.t_train0
    events.log(f"trained {loop.step} steps in {train_s:.1f}s" + (
        f"; peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB" if is_cuda else ""))
    if world > 1:
        dist.barrier()
        if rank != 0:
            return
    # From here on SIGTERM interrupts at once: nothing but the temporary folder is lost.
    def _raise(signum, frame):
        raise Interrupted("SIGTERM during evaluation/export")
    signal.signal(signal.SIGTERM, _raise)

    finish(args, out, model, plan, device=device, steps=loop.step, start_step=start_step, n_params=n_params,
           history=loop.history, train_s=train_s, t_start=t_start, autocast_dtype=autocast_dtype)


def _build_model(args, plan: RunPlan, device: str) -> tuple[DiffusionLM, torch.optim.Optimizer]:
    """The model (seeded, or the --init model's weights) on its device, and AdamW with weight decay on
    the matrices only."""
    is_cuda = device.startswith("cuda")
    torch.manual_seed(args.seed)
    if is_cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model = DiffusionLM(plan.arch, None if plan.causal else plan.vocab.mask)
    if plan.init_dir is not None:
        init_model, _ = load_model_dir(plan.init_dir)
        model.load_state_dict(init_model.state_dict())
        del init_model
    model.to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=plan.base_lr, betas=(0.9, 0.95), eps=1e-8, fused=is_cuda)
    return model, opt
