"""The step loop: learning-rate schedule, forward/backward under autocast, the torch.compile fallback,
progress events, periodic checkpoints and the stop rules (budget spent, SIGTERM, --stop-after).

Under DDP the ranks agree on stopping only every `log_every` steps, and the loss is read back to the host
only then: those are the loop's only host syncs.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn

from . import events
from .errors import Interrupted
from .evaluate import weighted_loss
from .model import DiffusionLM
from .plan import RunPlan
from .prefetch import Prefetcher


class LossModule(nn.Module):
    """model + objective in one module, so torch.compile fuses the head with the cross-entropy."""

    def __init__(self, model: DiffusionLM):
        super().__init__()
        self.model = model

    def forward(self, input_ids, targets, weights):
        return weighted_loss(self.model(input_ids), targets, weights)


class StopFlag:
    def __init__(self):
        self.reason: str | None = None

    def handler(self, signum, frame):
        self.reason = "SIGTERM"


def wrap_model(model: DiffusionLM, args, device: str, world: int) -> tuple[nn.Module, nn.Module, bool]:
    """(eager module, module a full-length step runs, whether that one is compiled); DDP-wrapped under
    torchrun. torch.compile is on by default on CUDA only."""
    is_cuda = device.startswith("cuda")
    loss_mod = LossModule(model)
    ddp_mod = nn.parallel.DistributedDataParallel(loss_mod, device_ids=[torch.device(device)] if is_cuda else None) \
        if world > 1 else loss_mod
    use_compile = is_cuda if args.compile is None else args.compile
    return ddp_mod, (torch.compile(ddp_mod) if use_compile else ddp_mod), use_compile


def lr_at(step: int, progress: float, base: float, warmup: int, min_ratio: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(max(progress, 0.0), 1.0)
    return base * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * p)))


class StepLoop:
    """Trains from `start_step` until the plan's steps or seconds are spent. `save_checkpoint(step,
    train_seconds, history)` is called every --checkpoint-minutes and before an interrupted run raises."""

    def __init__(self, args, plan: RunPlan, model: DiffusionLM, opt: torch.optim.Optimizer, prefetch: Prefetcher, *,
                 device: str, eager: nn.Module, step_fn: nn.Module, compiled: bool, autocast_dtype,
                 stop: StopFlag, start_step: int, train_elapsed: float, history: list,
                 save_checkpoint: Callable[[int, float, list], None]):
        self.args, self.plan, self.model, self.opt, self.prefetch = args, plan, model, opt, prefetch
        self.device, self.is_cuda = device, device.startswith("cuda")
        self.eager, self.step_fn, self.autocast_dtype = eager, step_fn, autocast_dtype
        self.stop, self.save_checkpoint = stop, save_checkpoint
        self.start_step = self.step = start_step
        self.history = history
        self.warmup = plan.preset.train.warmup_steps if plan.total_steps is None else \
            min(plan.preset.train.warmup_steps, max(1, plan.total_steps // 10))
        self.log_every = 25 if self.is_cuda else 1
        self.sync_every = self.log_every  # DDP ranks agree on stopping only at these steps (the only host syncs)
        self.ckpt_every_s = args.checkpoint_minutes * 60.0
        self.run_steps = 0
        self.loss_sum = torch.zeros((), device=device)
        self.loss_n = 0
        self.t_log = time.time()
        self.tokens_since_log = 0
        self.t_train0 = time.time() - train_elapsed
        self.last_ckpt = time.time()
        self.compiled_ok = not compiled
        model.train()

    def run(self) -> None:
        try:
            while True:
                elapsed = time.time() - self.t_train0
                if self._finished(elapsed):
                    break
                self._step(self.prefetch.get(self.step), elapsed)
        finally:
            self.prefetch.close()

    def _checkpoint(self) -> None:
        self.save_checkpoint(self.step, time.time() - self.t_train0, self.history)

    def _finished(self, elapsed: float) -> bool:
        """True once the budget is spent; raises Interrupted (after a checkpoint) on a stop request."""
        plan, args, step = self.plan, self.args, self.step
        local_stop = self.stop.reason is not None or (args.stop_after is not None and self.run_steps >= args.stop_after)
        done = (plan.total_steps is not None and step >= plan.total_steps) or \
            (plan.budget_s is not None and elapsed >= plan.budget_s)
        if plan.world > 1:
            if step % self.sync_every == 0 or (plan.total_steps is not None and step >= plan.total_steps):
                flags = torch.tensor([float(local_stop), float(done)], device=self.device)
                dist.all_reduce(flags, op=dist.ReduceOp.MAX)
                local_stop, done = bool(flags[0]), bool(flags[1])
            else:
                local_stop = done = False
        # A --stop-after that lands on the last step still stops with a checkpoint: a chunked job
        # (scripts/gpu-train.sh) trains every chunk this way and evaluates and exports separately.
        if done and not (local_stop and self.stop.reason is None):
            return True
        if local_stop:
            self._checkpoint()
            raise Interrupted(self.stop.reason or f"--stop-after {args.stop_after}")
        return False

    def _step(self, b: dict, elapsed: float) -> None:
        plan = self.plan
        progress = self.step / plan.total_steps if plan.total_steps else elapsed / plan.budget_s
        lr = lr_at(self.step, progress, plan.base_lr, self.warmup, plan.preset.train.min_lr_ratio)
        for g in self.opt.param_groups:
            g["lr"] = lr
        ids = b["input_ids"].to(self.device, non_blocking=True)
        tgt = b["targets"].to(self.device, non_blocking=True)
        wts = b["weights"].to(self.device, non_blocking=True)
        # Truncated batches (random-length trick) run eagerly: a new shape would make the compiled
        # graph recompile, which costs far more than one eager step.
        fn = self.step_fn if b["full_length"] else self.eager
        with torch.autocast(device_type="cuda" if self.is_cuda else "cpu", dtype=self.autocast_dtype,
                            enabled=self.autocast_dtype is not None):
            loss = self._forward(fn, ids, tgt, wts)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.loss_sum += loss.detach()
        self.loss_n += 1
        self.step += 1
        self.run_steps += 1
        self.tokens_since_log += ids.numel() * plan.world
        last = plan.total_steps is not None and self.step >= plan.total_steps
        if self.step % self.log_every == 0 or last:
            self._log(lr)

    def _forward(self, fn: nn.Module, ids, tgt, wts):
        """The loss; the first compiled call falls back to eager for good if compilation fails."""
        if self.compiled_ok or fn is not self.step_fn:
            return fn(ids, tgt, wts)
        try:
            loss = fn(ids, tgt, wts)
            self.compiled_ok = True
            return loss
        except Exception as e:  # noqa: BLE001 - any compiler failure falls back to eager
            if isinstance(e, torch.cuda.OutOfMemoryError):
                raise
            events.log(f"torch.compile failed ({type(e).__name__}: {str(e)[:200]}); running eagerly")
            self.step_fn = self.eager
            self.compiled_ok = True
            self.opt.zero_grad(set_to_none=True)
            return self.eager(ids, tgt, wts)

    def _log(self, lr: float) -> None:
        """A step event with the mean loss since the last one; a checkpoint when one is due."""
        plan, step = self.plan, self.step
        if plan.world > 1:
            dist.all_reduce(self.loss_sum, op=dist.ReduceOp.SUM)
            self.loss_sum /= plan.world
        loss_val = float(self.loss_sum) / self.loss_n
        now = time.time()
        elapsed = now - self.t_train0
        tps = self.tokens_since_log / max(now - self.t_log, 1e-9)
        if plan.total_steps is not None:
            est_total = plan.total_steps
            eta = elapsed / max(step - self.start_step, 1) * (plan.total_steps - step) if step > self.start_step else None
        else:
            est_total = max(step, int(step / max(elapsed / plan.budget_s, 1e-9)))
            eta = max(plan.budget_s - elapsed, 0.0)
        self.history.append((step, loss_val))
        events.emit("step", step=step, total_steps=est_total, loss=loss_val, lr=lr, tokens_per_s=tps,
                    elapsed_s=elapsed, eta_s=eta)
        if not math.isfinite(loss_val):
            raise FloatingPointError(f"training diverged at step {step} (loss {loss_val})")
        self.loss_sum.zero_()
        self.loss_n = 0
        self.tokens_since_log = 0
        self.t_log = now
        if time.time() - self.last_ckpt >= self.ckpt_every_s:
            self._checkpoint()
            self.last_ckpt = time.time()
