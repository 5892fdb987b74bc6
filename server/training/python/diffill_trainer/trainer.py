"""One training run: set-up, the step loop, evaluation and the atomic write of the model directory.

Speed on CUDA: bf16 autocast, fused AdamW, TF32, torch.compile of the loss (with an eager fallback if
compilation fails), batches built on the CPU by a prefetch thread into pinned memory, and no host sync
except every `log_every` steps. On CPU: fp32, deterministic for a given seed.
"""
from __future__ import annotations

import json
import math
import os
import queue
import shutil
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from . import checkpoint, events
from .charfim import DEFAULT_KIND_SHARES, lookahead_tokens, parse_kind_shares
from .data import Corpus, load_corpus, locate_packed, load_facts, pack_facts, sample_windows
from .errors import BadArguments, BadData, Interrupted, MissingDependency
from .evaluate import infill_cases, infill_exact, val_loss, weighted_loss
from .export import export_model
from .model import DiffusionLM
from .modeldir import AtomicModelDir
from .modelio import load_model_dir, make_config, read_config, round_to_dtype, save_weights
from .objective import ObjectiveConfig, make_batch, maybe_truncate
from .plot import loss_svg
from .presets import ModelConfig, get_preset
from .vocab import Vocab, load_vocab

REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_TOKENIZER = REPO_ROOT / "models" / "default" / "tokenizer.json"


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


def _device(args) -> tuple[str, int, int, int]:
    """(device, rank, local_rank, world_size); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    want = args.device
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want == "cuda" and not torch.cuda.is_available():
        raise MissingDependency("--device cuda: no CUDA device is available to this torch build "
                                f"({torch.__version__})")
    device = f"cuda:{local}" if want == "cuda" else "cpu"
    if want == "cuda":
        torch.cuda.set_device(local)
    if world > 1:
        dist.init_process_group(backend="nccl" if want == "cuda" else "gloo")
    return device, rank, local, world


def _resolve_model(args) -> tuple[ModelConfig, str, dict | None, Path | None]:
    """(architecture, preset name, init config or None, init dir or None)."""
    if args.init:
        init_dir = Path(args.init)
        cfg = read_config(init_dir)
        try:
            arch = ModelConfig.from_json(cfg["architecture"])
        except (TypeError, ValueError) as e:
            raise BadData(f"--init {init_dir}: bad architecture: {e}") from e
        events.log(f"--init: architecture and preset {cfg.get('preset')!r} come from {init_dir}")
        return arch, str(cfg.get("preset", args.preset)), cfg, init_dir
    try:
        preset = get_preset(args.preset)
    except ValueError as e:
        raise BadArguments(str(e)) from e
    return preset.model, preset.name, None, None


def _tokenizer_path(args, init_dir: Path | None, packed: Path | None) -> Path:
    """--tokenizer, else the --init model's, else the one packed with the corpus (the data's ids were made
    with it), else models/default/tokenizer.json."""
    if args.tokenizer:
        return Path(args.tokenizer)
    if init_dir is not None:
        return init_dir / read_config(init_dir).get("tokenizer", "tokenizer.json")
    if packed is not None and (packed / "tokenizer.json").is_file():
        return packed / "tokenizer.json"
    return DEFAULT_TOKENIZER


class Prefetcher:
    """Builds the batch of step s (a pure function of seed, rank and s) in background threads; worker i
    builds the steps s with s % workers == i, so several workers keep up with a fast GPU."""

    def __init__(self, corpus: Corpus, vocab: Vocab, obj: ObjectiveConfig, *, batch: int, seq_len: int,
                 seed: int, rank: int, first_step: int, last_step: int | None, pin: bool, workers: int = 1,
                 depth: int = 4):
        self.corpus, self.vocab, self.obj = corpus, vocab, obj
        self.batch, self.seq_len, self.seed, self.rank = batch, seq_len, seed, rank
        self.pin = pin
        self.workers = workers
        self.first_step = first_step
        self.queues = [queue.Queue(maxsize=depth) for _ in range(workers)]
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.threads = [threading.Thread(target=self._loop, args=(first_step + i, last_step, i), daemon=True)
                        for i in range(workers)]
        for t in self.threads:
            t.start()

    def build(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, self.rank, step])
        if self.corpus.facts is not None:
            tokens, trainable = pack_facts(self.corpus.facts, self.batch, self.seq_len, self.vocab.pad, rng)
            b = make_batch(tokens, rng, self.obj, pad_id=self.vocab.pad, mask_id=self.vocab.mask,
                           is_newline=self.vocab.newline, trainable=trainable, fact_bos=self.vocab.bos)
        else:
            # Character-level rows read a few tokens past the window; without them the draws are the
            # token-row objective's, unchanged.
            extra = lookahead_tokens(self.seq_len) if self.obj.char_fim_fraction > 0 else 0
            windows = sample_windows(self.corpus.train, self.batch, self.seq_len + extra, rng)
            tokens, ahead = windows[:, :self.seq_len], (windows[:, self.seq_len:] if extra else None)
            b = make_batch(tokens, rng, self.obj, pad_id=self.vocab.pad, mask_id=self.vocab.mask,
                           is_newline=self.vocab.newline, codec=self.vocab, lookahead=ahead)
        # The truncation draw ignores the rank so every DDP rank runs the same shapes at the same step.
        b = maybe_truncate(b, np.random.default_rng([self.seed, step, 1]), self.obj)
        out = {"input_ids": torch.from_numpy(b.input_ids), "targets": torch.from_numpy(b.targets),
               "weights": torch.from_numpy(b.weights)}
        if self.pin:
            out = {k: v.pin_memory() for k, v in out.items()}
        out["full_length"] = b.input_ids.shape[1] == self.seq_len
        return out

    def _loop(self, step: int, last: int | None, worker: int):
        q = self.queues[worker]
        try:
            while not self.stop.is_set() and (last is None or step < last):
                item = self.build(step)
                while not self.stop.is_set():
                    try:
                        q.put((step, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                step += self.workers
        except BaseException as e:  # noqa: BLE001 - re-raised in the training thread
            self.error = e
            q.put((None, None))

    def get(self, step: int) -> dict:
        got, item = self.queues[(step - self.first_step) % self.workers].get()
        if got is None:
            raise self.error  # type: ignore[misc]
        assert got == step, f"prefetch out of order: {got} != {step}"
        return item

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=5)


def _objective(args) -> ObjectiveConfig:
    fraction = getattr(args, "char_fim_fraction", 0.0)
    if not 0.0 <= fraction <= 1.0:
        raise BadArguments(f"--char-fim-fraction must be in [0, 1] (got {fraction})")
    kinds = DEFAULT_KIND_SHARES
    if getattr(args, "char_fim_kinds", None):
        try:
            kinds = parse_kind_shares(args.char_fim_kinds)
        except ValueError as e:
            raise BadArguments(f"--char-fim-kinds: {e}") from e
    extra = {}
    if getattr(args, "first_pad_weight", None) is not None:
        if not args.first_pad_weight >= 0:
            raise BadArguments(f"--first-pad-weight must be >= 0 (got {args.first_pad_weight})")
        extra["first_pad_weight"] = args.first_pad_weight
    return ObjectiveConfig(pad_noise=args.pad_noise, char_fim_fraction=fraction, char_fim_kinds=kinds, **extra)


def _lr_at(step: int, progress: float, base: float, warmup: int, min_ratio: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(max(progress, 0.0), 1.0)
    return base * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * p)))


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return f"cuda ({torch.cuda.get_device_name(torch.device(device))})"
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def run(args) -> None:
    t_start = time.time()
    stop = StopFlag()
    signal.signal(signal.SIGTERM, stop.handler)
    device, rank, _, world = _device(args)
    events.set_enabled(rank == 0)
    is_cuda = device.startswith("cuda")
    out = Path(args.out).absolute()
    try:
        _run(args, out, device, rank, world, is_cuda, stop, t_start)
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _run(args, out: Path, device: str, rank: int, world: int, is_cuda: bool, stop: StopFlag, t_start: float):
    arch, preset_name, init_cfg, init_dir = _resolve_model(args)
    packed = locate_packed(args.data) if (args.data and not args.facts) else None
    vocab = load_vocab(_tokenizer_path(args, init_dir, packed))
    events.log(f"tokenizer: {vocab.path if packed is None or vocab.path.parent != packed else 'packed with the data'}")
    if arch.vocab_size != vocab.size:
        if init_cfg is not None:
            raise BadData(f"--init model has vocab {arch.vocab_size} but the tokenizer has {vocab.size}")
        arch = ModelConfig(**{**arch.to_json(), "vocab_size": vocab.size})
    if init_cfg is not None and init_cfg["special_tokens"] != vocab.special_tokens():
        raise BadData(f"--init model's special ids {init_cfg['special_tokens']} differ from the tokenizer's "
                      f"{vocab.special_tokens()}")

    preset = get_preset(preset_name) if preset_name in ("tiny", "small", "base") else get_preset("small")
    if args.facts:
        corpus = load_facts(args.facts, vocab)
        longest = max(len(f) for f in corpus.facts)
        default_len = min(128, max(16, 1 << math.ceil(math.log2(longest))))
    else:
        if not args.data:
            raise BadArguments("--data is required (or --facts for facts fine-tuning)")
        corpus = load_corpus(args.data, vocab, packed)
        default_len = preset.train.seq_len
    seq_len = args.seq_len if args.seq_len is not None else default_len
    batch = args.batch_size if args.batch_size is not None else (preset.train.batch_size if is_cuda else preset.train.cpu_batch_size)
    base_lr = args.lr if args.lr is not None else preset.train.lr * (0.3 if init_dir else 1.0)
    if seq_len < 2 or batch < 1 or base_lr <= 0:
        raise BadArguments("--seq-len must be >= 2, --batch-size >= 1 and --lr > 0")
    cap = preset.model.max_position
    if seq_len > cap:
        raise BadArguments(f"--seq-len {seq_len} exceeds the {preset.name} preset's limit {cap}")
    tokens_per_step = batch * seq_len * world
    if args.steps is not None:
        total_steps = args.steps
    elif args.tokens is not None:
        total_steps = math.ceil(args.tokens / tokens_per_step)
    elif args.minutes is not None or args.until is not None:
        total_steps = None
    else:
        total_steps = preset.train.default_steps
    if (total_steps is not None and total_steps < 1) or (args.minutes is not None and args.minutes <= 0):
        raise BadArguments("the training budget (--steps/--tokens/--minutes) must be positive")
    budget_s = args.minutes * 60.0 if args.minutes is not None else None
    if args.until is not None:
        budget_s = args.until - time.time()  # set again when the training loop starts
        if budget_s <= 0:
            raise BadArguments(f"--until: the deadline passed before training could start "
                               f"(starting took {time.time() - t_start:.0f}s)")
    obj = _objective(args)

    torch.manual_seed(args.seed)
    if is_cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model = DiffusionLM(arch, vocab.mask)
    if init_dir is not None:
        init_model, _ = load_model_dir(init_dir)
        model.load_state_dict(init_model.state_dict())
        del init_model
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters())

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=base_lr, betas=(0.9, 0.95), eps=1e-8, fused=is_cuda)

    fingerprint = {"preset": preset_name, "arch": arch.to_json(), "seq_len": seq_len, "batch": batch,
                   "world": world, "seed": args.seed, "data": str(args.facts or args.data),
                   "init": str(args.init), "total_steps": total_steps, "budget_s": budget_s,
                   "objective": asdict(obj)}
    start_step, train_elapsed, history = 0, 0.0, []
    if args.resume:
        state = checkpoint.load(out)
        if state is None:
            events.log(f"--resume: no checkpoint at {checkpoint.checkpoint_dir(out)}; starting fresh")
        else:
            checkpoint.check_compatible(state["fingerprint"], fingerprint)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            start_step, train_elapsed = int(state["step"]), float(state["train_elapsed"])
            history = [tuple(h) for h in state["history"]]
            events.log(f"resumed from step {start_step}")

    loss_mod = LossModule(model)
    ddp_mod = nn.parallel.DistributedDataParallel(loss_mod, device_ids=[torch.device(device)] if is_cuda else None) \
        if world > 1 else loss_mod
    use_compile = is_cuda if args.compile is None else args.compile
    step_fn = torch.compile(ddp_mod) if use_compile else ddp_mod
    autocast_dtype = torch.bfloat16 if is_cuda else None

    warmup = preset.train.warmup_steps if total_steps is None else \
        min(preset.train.warmup_steps, max(1, total_steps // 10))
    log_every = 25 if is_cuda else 1
    sync_every = log_every  # DDP ranks agree on stopping only at these steps (the only host syncs)
    ckpt_every_s = args.checkpoint_minutes * 60.0

    events.emit("start", preset=preset_name, params=n_params, device=_device_name(device), world_size=world,
                total_steps=total_steps, tokens_per_step=tokens_per_step, resumed_from_step=start_step)
    events.log(f"{preset_name}: {n_params / 1e6:.2f}M params on {device} x{world}; batch {batch}x{seq_len}; "
               f"lr {base_lr}; data {corpus.description} ({corpus.train_tokens} train tokens)")

    prefetch = Prefetcher(corpus, vocab, obj, batch=batch, seq_len=seq_len, seed=args.seed, rank=rank,
                          first_step=start_step, last_step=total_steps, pin=is_cuda,
                          workers=3 if is_cuda else 1)
    step = start_step
    run_steps = 0
    loss_sum = torch.zeros((), device=device)
    loss_n = 0
    t_log = time.time()
    tokens_since_log = 0
    if args.until is not None:
        # The model is built: the training loop gets exactly what is left of the deadline.
        budget_s = args.until - time.time()
        if budget_s <= 0:
            raise BadArguments(f"--until: the deadline passed before training could start "
                               f"(starting took {time.time() - t_start:.0f}s)")
    t_train0 = time.time() - train_elapsed
    last_ckpt = time.time()
    compiled_ok = not use_compile
    model.train()

    def save_ckpt():
        if rank != 0:
            return
        path = checkpoint.save(out, {
            "fingerprint": fingerprint, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "step": step, "train_elapsed": time.time() - t_train0, "history": [list(h) for h in history],
            "torch_rng": torch.get_rng_state()})
        events.emit("checkpoint", step=step, path=str(path))

    try:
        while True:
            elapsed = time.time() - t_train0
            local_stop = stop.reason is not None or (args.stop_after is not None and run_steps >= args.stop_after)
            done = (total_steps is not None and step >= total_steps) or (budget_s is not None and elapsed >= budget_s)
            if world > 1:
                if step % sync_every == 0 or (total_steps is not None and step >= total_steps):
                    flags = torch.tensor([float(local_stop), float(done)], device=device)
                    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
                    local_stop, done = bool(flags[0]), bool(flags[1])
                else:
                    local_stop = done = False
            if done:
                break
            if local_stop:
                save_ckpt()
                raise Interrupted(stop.reason or f"--stop-after {args.stop_after}")

            b = prefetch.get(step)
            progress = step / total_steps if total_steps else elapsed / budget_s
            lr = _lr_at(step, progress, base_lr, warmup, preset.train.min_lr_ratio)
            for g in opt.param_groups:
                g["lr"] = lr
            ids = b["input_ids"].to(device, non_blocking=True)
            tgt = b["targets"].to(device, non_blocking=True)
            wts = b["weights"].to(device, non_blocking=True)
            # Truncated batches (random-length trick) run eagerly: a new shape would make the compiled
            # graph recompile, which costs far more than one eager step.
            fn = step_fn if b["full_length"] else ddp_mod
            with torch.autocast(device_type="cuda" if is_cuda else "cpu", dtype=autocast_dtype,
                                enabled=autocast_dtype is not None):
                if not compiled_ok and fn is step_fn:
                    try:
                        loss = fn(ids, tgt, wts)
                        compiled_ok = True
                    except Exception as e:  # noqa: BLE001 - any compiler failure falls back to eager
                        if isinstance(e, torch.cuda.OutOfMemoryError):
                            raise
                        events.log(f"torch.compile failed ({type(e).__name__}: {str(e)[:200]}); running eagerly")
                        step_fn = ddp_mod
                        compiled_ok = True
                        opt.zero_grad(set_to_none=True)
                        loss = ddp_mod(ids, tgt, wts)
                else:
                    loss = fn(ids, tgt, wts)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss_sum += loss.detach()
            loss_n += 1
            step += 1
            run_steps += 1
            tokens_since_log += ids.numel() * world
            last = total_steps is not None and step >= total_steps
            if step % log_every == 0 or last:
                if world > 1:
                    dist.all_reduce(loss_sum, op=dist.ReduceOp.SUM)
                    loss_sum /= world
                loss_val = float(loss_sum) / loss_n
                now = time.time()
                elapsed = now - t_train0
                tps = tokens_since_log / max(now - t_log, 1e-9)
                if total_steps is not None:
                    est_total = total_steps
                    eta = elapsed / max(step - start_step, 1) * (total_steps - step) if step > start_step else None
                else:
                    est_total = max(step, int(step / max(elapsed / budget_s, 1e-9)))
                    eta = max(budget_s - elapsed, 0.0)
                history.append((step, loss_val))
                events.emit("step", step=step, total_steps=est_total, loss=loss_val, lr=lr, tokens_per_s=tps,
                            elapsed_s=elapsed, eta_s=eta)
                if not math.isfinite(loss_val):
                    raise FloatingPointError(f"training diverged at step {step} (loss {loss_val})")
                loss_sum.zero_()
                loss_n = 0
                tokens_since_log = 0
                t_log = now
                if time.time() - last_ckpt >= ckpt_every_s:
                    save_ckpt()
                    last_ckpt = time.time()
    finally:
        prefetch.close()

    train_s = time.time() - t_train0
    events.log(f"trained {step} steps in {train_s:.1f}s" + (
        f"; peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB" if is_cuda else ""))
    if world > 1:
        dist.barrier()
        if rank != 0:
            return
    # From here on SIGTERM interrupts at once: nothing but the temporary folder is lost.
    def _raise(signum, frame):
        raise Interrupted("SIGTERM during evaluation/export")
    signal.signal(signal.SIGTERM, _raise)

    _finish(args, out, model, vocab, corpus, arch, preset_name, device, is_cuda, world, step, start_step,
            tokens_per_step, n_params, history, train_s, t_start, seq_len, batch, base_lr, autocast_dtype, obj)


def _finish(args, out, model, vocab, corpus, arch, preset_name, device, is_cuda, world, steps, start_step,
            tokens_per_step, n_params, history, train_s, t_start, seq_len, batch, base_lr, autocast_dtype, obj):
    t0 = time.time()
    model.eval()
    round_to_dtype(model, args.weights_dtype)
    facts = corpus.facts is not None
    eval_len = min(seq_len, 512)
    n_windows = args.eval_windows or (256 if is_cuda else 8)
    vloss = val_loss(model, corpus.val, vocab, n_windows=n_windows, seq_len=eval_len, device=device,
                     batch_size=32 if is_cuda else 4, autocast_dtype=autocast_dtype)
    n_cases = args.eval_cases if args.eval_cases is not None else (64 if is_cuda else 8)
    cases = [] if facts else infill_cases(corpus.val, vocab, n_cases)
    exact = infill_exact(model, cases, vocab, device=device) if cases else None
    events.emit("eval", step=steps, val_loss=vloss, infill_exact=exact)
    events.log(f"val loss {vloss:.4f}; infill exact {exact}; eval took {time.time() - t0:.1f}s")

    model_cpu = model.float().cpu()
    val_windows = sample_windows(corpus.val, 8, min(eval_len, 128), np.random.default_rng(1))
    tokens = steps * tokens_per_step
    training = {
        "data": corpus.description, "preset": preset_name, "params": n_params,
        "non_embedding_params": arch.non_embedding_params(), "steps": steps, "tokens": tokens,
        "flops_6nd": 6.0 * n_params * tokens, "device": _device_name(device), "world_size": world,
        "train_wall_s": round(train_s, 1), "batch_size": batch, "seq_len": seq_len, "lr": base_lr,
        "seed": args.seed, "final_train_loss": history[-1][1] if history else None,
        "val_loss": vloss, "val_loss_note": "masked-token CE weighted 1/t, per token, t grid (i+0.5)/8, nats",
        "infill_exact": exact, "objective": asdict(obj), "init": str(args.init) if args.init else None,
        "facts": bool(facts), "resumed_from_step": start_step,
    }
    name = args.name or out.name
    with AtomicModelDir(out, verify=lambda d: _verify_dir(d, model_cpu)) as tmp:
        shutil.copyfile(vocab.path, tmp / "tokenizer.json")
        save_weights(model_cpu, tmp / "model.safetensors", args.weights_dtype)
        report = export_model(model_cpu, tmp, quantized=args.quantize, val_windows=val_windows,
                              on_stage=lambda stage, path: events.emit("export", stage=stage, path=str(
                                  out / Path(path).name)))
        training["onnx_verify"] = report
        training["wall_s"] = round(time.time() - t_start, 1)
        # max_position is what the model was trained at (docs/model-format.md), not the preset's cap:
        # RoPE has no table, but longer sequences were never seen.
        trained_arch = ModelConfig(**{**arch.to_json(), "max_position": max(seq_len, arch.max_position)
                                      if args.init else seq_len})
        cfg = make_config(name, preset_name, trained_arch, vocab.special_tokens(), args.weights_dtype, args.quantize,
                          training)
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
        (tmp / "loss.svg").write_text(loss_svg(history, [(steps, vloss)], f"{name} ({preset_name})"), encoding="utf-8")
        (tmp / "README.md").write_text(_model_card(cfg), encoding="utf-8")
    checkpoint.remove(out)
    wall = time.time() - t_start
    events.log(f"model written to {out} ({time.time() - t0:.1f}s after training)")
    events.emit("done", model_dir=str(out), steps=steps, tokens=tokens, val_loss=vloss, wall_s=wall)


def _verify_dir(d: Path, model: DiffusionLM) -> None:
    """The written directory must load back to the same weights and its graph must open."""
    from .export import session

    for f in ("config.json", "tokenizer.json", "model.safetensors", "model.onnx", "loss.svg", "README.md"):
        if not (d / f).is_file() or (d / f).stat().st_size == 0:
            raise RuntimeError(f"model directory check: {f} missing or empty")
    loaded, _ = load_model_dir(d)
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        if not torch.equal(a.float(), b.float()):
            raise RuntimeError(f"model directory check: weight {k} does not round-trip")
    session(d / "model.onnx")


def _model_card(cfg: dict) -> str:
    t = cfg["training"]
    a = cfg["architecture"]
    ex = t.get("infill_exact") or {}
    lines = [
        f"# {cfg['name']}",
        "",
        f"A masked diffusion language model for code and text infilling (preset `{cfg['preset']}`).",
        "",
        "| | |",
        "|---|---|",
        f"| architecture | {a['n_layer']} layers, d {a['d_model']}, {a['n_head']} heads, SwiGLU {a['d_ff']}, "
        f"vocab {a['vocab_size']}, bidirectional, RoPE, tied embeddings |",
        f"| parameters | {t['params']:,} ({t['non_embedding_params']:,} non-embedding) |",
        f"| data | {t['data']} |",
        f"| compute | {t['steps']} steps, {t['tokens']:,} tokens, {t['flops_6nd']:.3g} FLOPs (6ND), "
        f"{t['device']} x{t['world_size']}, {t['train_wall_s']} s training |",
        f"| held-out loss | {t['val_loss']:.4f} nats/token ({t['val_loss_note']}) |",
    ]
    if ex:
        lines.append(f"| single-line infill exact match | oracle length {ex['oracle']:.3f}, "
                     f"{ex['canvas']}-token canvas {ex['variable']:.3f} ({ex['cases']} held-out lines, greedy, "
                     f"threshold {ex['threshold']}); at threshold {ex['fast_threshold']}: {ex['variable_fast']:.3f} "
                     f"with {ex['mean_forwards_fast']:.1f} forwards per line |")
    v = t.get("onnx_verify", {})
    if "int8" in v:
        lines.append(f"| int8 graph vs fp32 | top-1 agreement {v['int8']['top1_agreement']:.3f}, "
                     f"relative RMS error {v['int8']['relative_rms_error']:.3f} |")
    lines += ["", "Weights: `model.safetensors` "
              f"({cfg['weights']['dtype']}); served graph: `model.onnx` "
              f"({'int8 dynamic-quantized' if cfg['onnx']['quantized'] else 'fp32'}). See docs/model-format.md.", ""]
    return "\n".join(lines)
