"""After the step loop: held-out evaluation, ONNX export and the atomic write of the model directory with
its config, loss plot and model card."""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from . import checkpoint, events
from .armfim import arm_val_loss
from .data import sample_windows
from .evaluate import infill_cases, infill_exact, val_loss
from .export import export_model
from .model import DiffusionLM
from .modeldir import AtomicModelDir
from .modelio import load_model_dir, make_config, round_to_dtype, save_weights
from .plan import RunPlan, device_name
from .plot import loss_svg
from .presets import ModelConfig
from .sample_arm import infill_exact_arm


def finish(args, out: Path, model: DiffusionLM, plan: RunPlan, *, device: str, steps: int, start_step: int,
           n_params: int, history: list, train_s: float, t_start: float, autocast_dtype) -> None:
    """Evaluates the trained model, writes its directory (or nothing, on any failure) and drops the
    checkpoint; ends with the `done` event."""
    t0 = time.time()
    vloss, exact = _evaluate(args, model, plan, device, steps, autocast_dtype)
    events.log(f"val loss {vloss:.4f}; infill exact {exact}; eval took {time.time() - t0:.1f}s")
    tokens = steps * plan.tokens_per_step
    training = {
        "data": plan.corpus.description, "preset": plan.preset_name, "params": n_params,
        "non_embedding_params": plan.arch.non_embedding_params(), "steps": steps, "tokens": tokens,
        "flops_6nd": 6.0 * n_params * tokens, "device": device_name(device), "world_size": plan.world,
        "train_wall_s": round(train_s, 1), "batch_size": plan.batch, "seq_len": plan.seq_len, "lr": plan.base_lr,
        "seed": args.seed, "final_train_loss": history[-1][1] if history else None,
        "val_loss": vloss, "val_loss_note": "next-token CE per token on plain held-out windows, nats" if plan.causal
        else "masked-token CE weighted 1/t, per token, t grid (i+0.5)/8, nats",
        "infill_exact": exact, "objective": asdict(plan.obj), "init": str(args.init) if args.init else None,
        "facts": plan.corpus.facts is not None, "resumed_from_step": start_step,
    }
    if getattr(args, "run_notes", None):
        training.update(json.loads(Path(args.run_notes).read_text(encoding="utf-8")))
    _write_model_dir(args, out, model.float().cpu(), plan, training, history, steps, vloss, t_start)
    checkpoint.remove(out)
    wall = time.time() - t_start
    events.log(f"model written to {out} ({time.time() - t0:.1f}s after training)")
    events.emit("done", model_dir=str(out), steps=steps, tokens=tokens, val_loss=vloss, wall_s=wall)


def _eval_len(plan: RunPlan) -> int:
    return min(plan.seq_len, 512)


def _evaluate(args, model: DiffusionLM, plan: RunPlan, device: str, steps: int, autocast_dtype) -> tuple[float, dict | None]:
    """(held-out loss, single-line infill exact match or None for facts), in the weights' final dtype;
    emits the `eval` event."""
    is_cuda = device.startswith("cuda")
    vocab, corpus = plan.vocab, plan.corpus
    model.eval()
    round_to_dtype(model, args.weights_dtype)
    n_windows = args.eval_windows or (256 if is_cuda else 8)
    n_cases = args.eval_cases if args.eval_cases is not None else (64 if is_cuda else 8)
    cases = [] if corpus.facts is not None else infill_cases(corpus.val, vocab, n_cases)
    if plan.causal:
        vloss = arm_val_loss(model, corpus.val, n_windows=n_windows, seq_len=_eval_len(plan), device=device,
                             batch_size=32 if is_cuda else 4, autocast_dtype=autocast_dtype)
        exact = infill_exact_arm(model, cases, plan.special_tokens(), device=device) if cases else None
    else:
        vloss = val_loss(model, corpus.val, vocab, n_windows=n_windows, seq_len=_eval_len(plan), device=device,
                         batch_size=32 if is_cuda else 4, autocast_dtype=autocast_dtype)
        exact = infill_exact(model, cases, vocab, device=device) if cases else None
    events.emit("eval", step=steps, val_loss=vloss, infill_exact=exact)
    return vloss, exact


def _write_model_dir(args, out: Path, model_cpu: DiffusionLM, plan: RunPlan, training: dict, history: list,
                     steps: int, vloss: float, t_start: float) -> None:
    """Weights, tokenizer, ONNX graph (checked against the weights), config, loss plot and model card,
    written to a temporary folder that replaces `out` only once it loads back."""
    vocab, arch, preset_name = plan.vocab, plan.arch, plan.preset_name
    val_windows = sample_windows(plan.corpus.val, 8, min(_eval_len(plan), 128), np.random.default_rng(1))
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
        trained_arch = ModelConfig(**{**arch.to_json(), "max_position": max(plan.seq_len, arch.max_position)
                                      if args.init else plan.seq_len})
        cfg = make_config(name, preset_name, trained_arch, plan.special_tokens(), args.weights_dtype, args.quantize,
                          training)
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
        (tmp / "loss.svg").write_text(loss_svg(history, [(steps, vloss)], f"{name} ({preset_name})"), encoding="utf-8")
        (tmp / "README.md").write_text(_model_card(cfg), encoding="utf-8")


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
    causal = bool(a.get("causal"))
    lines = [
        f"# {cfg['name']}",
        "",
        f"A causal (autoregressive) fill-in-the-middle language model, the baseline of the masked diffusion "
        f"models, with the same preset (`{cfg['preset']}`), data and code; prompts in prefix-suffix-middle order "
        f"with the tokens {', '.join(f'`{k}` {v}' for k, v in cfg['special_tokens'].items() if k.startswith(('fim', 'eom')))}."
        if causal else
        f"A masked diffusion language model for code and text infilling (preset `{cfg['preset']}`).",
        "",
        "| | |",
        "|---|---|",
        f"| architecture | {a['n_layer']} layers, d {a['d_model']}, {a['n_head']} heads, SwiGLU {a['d_ff']}, "
        f"vocab {a['vocab_size']}, {'causal' if causal else 'bidirectional'}, RoPE, tied embeddings |",
        f"| parameters | {t['params']:,} ({t['non_embedding_params']:,} non-embedding) |",
        f"| data | {t['data']} |",
        f"| compute | {t['steps']} steps, {t['tokens']:,} tokens, {t['flops_6nd']:.3g} FLOPs (6ND), "
        f"{t['device']} x{t['world_size']}, {t['train_wall_s']} s training |",
        f"| held-out loss | {t['val_loss']:.4f} nats/token ({t['val_loss_note']}) |",
    ]
    if ex and causal:
        lines.append(f"| single-line infill exact match | oracle length {ex['oracle']:.3f}, up to {ex['canvas']} tokens "
                     f"{ex['variable']:.3f} ({ex['cases']} held-out lines, greedy, stop at `<|eom|>`; "
                     f"{ex['mean_forwards_variable']:.1f} forwards per line) |")
    elif ex:
        lines.append(f"| single-line infill exact match | oracle length {ex['oracle']:.3f}, "
                     f"{ex['canvas']}-token canvas {ex['variable']:.3f} ({ex['cases']} held-out lines, greedy, "
                     f"threshold {ex['threshold']}); at threshold {ex['fast_threshold']}: {ex['variable_fast']:.3f} "
                     f"with {ex['mean_forwards_fast']:.1f} forwards per line |")
    v = t.get("onnx_verify", {})
    if "int8" in v:
        lines.append(f"| int8 graph vs fp32 | top-1 agreement {v['int8']['top1_agreement']:.3f}, "
                     f"relative RMS error {v['int8']['relative_rms_error']:.3f} |")
    lines += _chunk_lines(t)
    lines += ["", "Weights: `model.safetensors` "
              f"({cfg['weights']['dtype']}); served graph: `model.onnx` "
              f"({'int8 dynamic-quantized' if cfg['onnx']['quantized'] else 'fp32'}). See docs/model-format.md.", "",
              "Training a preset on one GPU, in chunks that each fit a bounded call and resume from a compact "
              "state: `scripts/gpu-train.sh PRESET OUT [--resume-from STATE]`, then `scripts/gpu-train.sh finish "
              "STATE MODEL_DIR` (docs/training.md).", ""]
    return "\n".join(lines)


def _chunk_lines(t: dict) -> list[str]:
    """Rows for a run trained in chunks by scripts/gpu-train.sh: where, how fast, and the command."""
    chunks = t.get("chunks") or []
    if not chunks:
        return []
    rows = []
    for c in chunks:
        speed = f"{c['tokens_per_s'] / 1e3:,.1f}k tokens/s" if c.get("tokens_per_s") else "tokens/s not measured"
        if c.get("mfu") is not None:
            speed += f", MFU {100 * c['mfu']:.1f}% of {c['peak_flops'] / 1e12:.0f} TFLOP/s (bf16 dense)"
        rows.append(f"steps {c['steps'][0]}-{c['steps'][1]} on {c.get('device')}: {speed}; state {c.get('state')}")
    return [f"| training chunks | {len(chunks)}, by `{t.get('command', 'scripts/gpu-train.sh')}` "
            f"(docs/training.md): " + "; ".join(rows) + " |"]
