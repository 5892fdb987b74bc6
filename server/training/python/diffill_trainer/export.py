"""ONNX export of the served graph (docs/model-format.md), int8 quantization and verification.

One graph serves full recompute, context encoding and cached span steps:
  inputs  input_ids [B,S] int64, position_ids [S] int64, past_key.{i}/past_value.{i} [B,H,C,Dh] float32,
          gather_index [P] int64, keep_index [K] int64
  outputs logits [B,P,V] float32, present_key.{i}/present_value.{i} [B,H,K,Dh] float32
All of B, S, C, P, K are dynamic and may be 0 where the format allows it.

The TorchScript-based exporter (dynamo=False) is used: it handles the zero-size past inputs and gives a
plain graph that ONNX Runtime fuses (SimplifiedLayerNormalization, FusedMatMul, QuickGelu for SiLU).
Quantization is ONNX Runtime's own `quantize_dynamic` (weight MatMuls and the embedding Gather to int8).

Standalone: python -m diffill_trainer.export MODEL_DIR [--no-quantize] [--inspect]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .model import Attention, DiffusionLM
from .modelio import ONNX_OPSET

FP32_TOLERANCE = 1e-4


class ServedGraph(nn.Module):
    """Flat-argument wrapper so the exporter sees one tensor per ONNX input."""

    def __init__(self, model: DiffusionLM):
        super().__init__()
        self.model = model
        self.n_layer = model.cfg.n_layer

    def forward(self, input_ids, position_ids, *rest):
        n = self.n_layer
        past = [(rest[2 * i], rest[2 * i + 1]) for i in range(n)]
        gather_index, keep_index = rest[2 * n], rest[2 * n + 1]
        logits, presents = self.model.forward_cached(input_ids, position_ids, past, gather_index, keep_index)
        flat = [logits]
        for k, v in presents:
            flat += [k, v]
        return tuple(flat)


def io_names(n_layer: int) -> tuple[list[str], list[str]]:
    inputs = ["input_ids", "position_ids"]
    outputs = ["logits"]
    for i in range(n_layer):
        inputs += [f"past_key.{i}", f"past_value.{i}"]
        outputs += [f"present_key.{i}", f"present_value.{i}"]
    return inputs + ["gather_index", "keep_index"], outputs


def feeds_for(model: DiffusionLM, ids: np.ndarray, positions: np.ndarray, past, gather: np.ndarray,
              keep: np.ndarray) -> dict:
    """ONNX feeds; `past` is a list of (k, v) numpy arrays or None for C = 0."""
    cfg = model.cfg
    B = ids.shape[0]
    feeds = {"input_ids": ids.astype(np.int64), "position_ids": positions.astype(np.int64),
             "gather_index": gather.astype(np.int64), "keep_index": keep.astype(np.int64)}
    for i in range(cfg.n_layer):
        if past is None:
            k = v = np.zeros((B, cfg.kv_heads, 0, cfg.head_dim), dtype=np.float32)
        else:
            k, v = past[i]
        feeds[f"past_key.{i}"] = k
        feeds[f"past_value.{i}"] = v
    return feeds


def export_onnx(model: DiffusionLM, path: Path) -> None:
    model = model.float().eval().cpu()
    cfg = model.cfg
    B, S, C = 2, 7, 3
    ids = torch.randint(0, cfg.vocab_size, (B, S))
    pos = torch.arange(C, C + S)
    args = [ids, pos]
    for _ in range(cfg.n_layer):
        args += [torch.randn(B, cfg.kv_heads, C, cfg.head_dim), torch.randn(B, cfg.kv_heads, C, cfg.head_dim)]
    args += [torch.tensor([0, 2, 4]), torch.tensor([1, 3])]
    inputs, outputs = io_names(cfg.n_layer)
    dyn = {"input_ids": {0: "B", 1: "S"}, "position_ids": {0: "S"}, "gather_index": {0: "P"},
           "keep_index": {0: "K"}, "logits": {0: "B", 1: "P"}}
    for i in range(cfg.n_layer):
        for name in (f"past_key.{i}", f"past_value.{i}"):
            dyn[name] = {0: "B", 2: "C"}
        for name in (f"present_key.{i}", f"present_value.{i}"):
            dyn[name] = {0: "B", 2: "K"}
    attns = [m for m in model.modules() if isinstance(m, Attention)]
    for a in attns:
        a.manual_attention = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(ServedGraph(model), tuple(args), str(path), input_names=inputs, output_names=outputs,
                              dynamic_axes=dyn, opset_version=ONNX_OPSET, dynamo=False, do_constant_folding=True)
    finally:
        for a in attns:
            a.manual_attention = False


def quantize(fp32_path: Path, int8_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # MatMulConstBOnly: only weight MatMuls become int8; attention's activation x activation products
    # stay fp32. Gather: the embedding table, otherwise the largest fp32 tensor left in the file.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quiet its advice to run shape pre-processing: the export is already clean
    try:
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=False,
                         op_types_to_quantize=["MatMul", "Gather"], extra_options={"MatMulConstBOnly": True})
    finally:
        root.setLevel(level)


def session(path: Path, threads: int = 1, optimized_out: Path | None = None):
    import onnxruntime as ort

    # The package's __init__ has set ORT_DISABLE_TELEMETRY=1 (the full opt-out); the API call is
    # ONNX Runtime's documented runtime switch for the events that would still be enabled.
    ort.disable_telemetry_events()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if optimized_out is not None:
        so.optimized_model_filepath = str(optimized_out)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _torch_past(past):
    return [(torch.from_numpy(k), torch.from_numpy(v)) for k, v in past]


@torch.no_grad()
def verify_fp32(model: DiffusionLM, onnx_path: Path, seed: int = 0) -> dict:
    """fp32 graph vs PyTorch: full recompute, cached span step, and the zero-size cases."""
    model = model.float().eval().cpu()
    cfg = model.cfg
    sess = session(onnx_path)
    rng = np.random.default_rng(seed)
    B, S = 2, 24
    ids = rng.integers(0, cfg.vocab_size, (B, S))
    if model.mask_id is not None:
        ids[:, 10:16] = model.mask_id
    ref = model(torch.from_numpy(ids)).numpy()
    every = np.arange(S)
    none = np.zeros(0, dtype=np.int64)
    out = sess.run(None, feeds_for(model, ids, every, None, every, none))
    full_diff = float(np.abs(out[0] - ref).max())
    if out[1].shape != (B, cfg.kv_heads, 0, cfg.head_dim):
        raise AssertionError(f"K=0 present has shape {out[1].shape}")
    # Context encoding: keep the context's K/V (P = 0), then a span step against that cache. A causal
    # model's cache is the prefix before the span (what its decoder keeps); a diffusion model's is all
    # the context, on both sides of the span.
    span = np.arange(10, 16)
    ctx = np.arange(10) if cfg.causal else np.setdiff1d(every, span)
    enc = sess.run(None, feeds_for(model, ids, every, None, none, ctx))
    if enc[0].shape != (B, 0, cfg.vocab_size):
        raise AssertionError(f"P=0 logits have shape {enc[0].shape}")
    past = [(enc[1 + 2 * i], enc[2 + 2 * i]) for i in range(cfg.n_layer)]
    step = sess.run(None, feeds_for(model, ids[:, span], span, past, np.arange(len(span)), none))
    cached_diff = float(np.abs(step[0] - ref[:, span]).max())
    # The same cached step through PyTorch's own cached path, to pin the semantics on both sides.
    tl, _ = model.forward_cached(torch.from_numpy(ids[:, span]), torch.from_numpy(span), _torch_past(past),
                                 torch.arange(len(span)), torch.zeros(0, dtype=torch.long))
    torch_cached_diff = float(np.abs(tl.numpy() - ref[:, span]).max())
    banned = model.is_mask_column.cpu().numpy()
    mask_logit_ok = bool(np.all(out[0][..., banned] == np.float32(-1e9)))
    result = {"full_max_abs_diff": full_diff, "cached_max_abs_diff": cached_diff,
              "torch_cached_max_abs_diff": torch_cached_diff, "mask_logit_ok": mask_logit_ok}
    if max(full_diff, cached_diff, torch_cached_diff) > FP32_TOLERANCE or not mask_logit_ok:
        raise AssertionError(f"ONNX fp32 graph does not match PyTorch: {result}")
    return result


@torch.no_grad()
def compare_int8(model: DiffusionLM, int8_path: Path, windows: np.ndarray, seed: int = 0) -> dict:
    """int8 graph vs the fp32 PyTorch model on real (masked) windows: top-1 agreement at masked
    positions and relative RMS error of the logits (mask column excluded)."""
    model = model.float().eval().cpu()
    sess = session(int8_path)
    rng = np.random.default_rng(seed)
    agree = total = 0
    num = den = 0.0
    for row in windows:
        ids = row[None, :].copy()
        masked = np.flatnonzero(rng.random(ids.shape[1]) < 0.3)
        if len(masked) == 0:
            continue
        if model.mask_id is not None:  # a causal model predicts the next token at the chosen positions
            ids[0, masked] = model.mask_id
        ref = model(torch.from_numpy(ids)).numpy()[0, masked]
        got = sess.run(["logits"], feeds_for(model, ids, np.arange(ids.shape[1]), None, masked,
                                             np.zeros(0, dtype=np.int64)))[0][0]
        keep = ~model.is_mask_column.cpu().numpy()
        agree += int((ref[:, keep].argmax(1) == got[:, keep].argmax(1)).sum())
        total += len(masked)
        num += float(((got[:, keep] - ref[:, keep]) ** 2).sum())
        den += float((ref[:, keep] ** 2).sum())
    return {"top1_agreement": agree / max(total, 1), "relative_rms_error": (num / max(den, 1e-30)) ** 0.5,
            "positions": total}


def op_counts(onnx_path: Path) -> dict:
    """Node types after ONNX Runtime's own optimisation (which fusions fired)."""
    import onnx

    with tempfile.TemporaryDirectory() as d:
        opt = Path(d) / "opt.onnx"
        session(onnx_path, optimized_out=opt)
        g = onnx.load(str(opt))
    counts: dict[str, int] = {}
    for node in g.graph.node:
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def export_model(model: DiffusionLM, out_dir: Path, *, quantized: bool, val_windows: np.ndarray | None,
                 on_stage=lambda stage, path: None) -> dict:
    """Write out_dir/model.onnx (int8 when quantized) and return the verification figures."""
    final = out_dir / "model.onnx"
    fp32 = out_dir / "model.fp32.onnx.tmp" if quantized else final
    export_onnx(model, fp32)
    on_stage("onnx", str(fp32))
    report = {"fp32": verify_fp32(model, fp32)}
    if quantized:
        quantize(fp32, final)
        on_stage("quantize", str(final))
        os.remove(fp32)
        if val_windows is not None and len(val_windows):
            report["int8"] = compare_int8(model, final, val_windows)
        # The int8 graph must at least run every path, the zero-size ones included.
        _smoke(model, final)
    on_stage("verify", str(final))
    report["bytes"] = final.stat().st_size
    return report


def _smoke(model: DiffusionLM, path: Path) -> None:
    sess = session(path)
    cfg = model.cfg
    ids = np.full((1, 5), model.mask_id if model.mask_id is not None else 0)
    none = np.zeros(0, dtype=np.int64)
    out = sess.run(None, feeds_for(model, ids, np.arange(5), None, np.arange(5), np.arange(2)))
    past = [(out[1 + 2 * i], out[2 + 2 * i]) for i in range(cfg.n_layer)]
    step = sess.run(None, feeds_for(model, ids[:, 2:], np.arange(2, 5), past, none, none))
    if out[0].shape != (1, 5, cfg.vocab_size) or step[0].shape != (1, 0, cfg.vocab_size):
        raise AssertionError("int8 graph returned wrong shapes")
    if not np.all(np.isfinite(out[0])):
        raise AssertionError("int8 graph returned non-finite logits")


def main(argv=None) -> int:
    from .modelio import load_model_dir, read_config

    ap = argparse.ArgumentParser(prog="python -m diffill_trainer.export", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--quantize", action=argparse.BooleanOptionalAction, default=None,
                    help="default: what config.json says")
    ap.add_argument("--inspect", action="store_true", help="print node types after ORT optimisation")
    args = ap.parse_args(argv)
    model, cfg = load_model_dir(args.model_dir)
    quantized = cfg["onnx"].get("quantized", True) if args.quantize is None else args.quantize
    report = export_model(model, args.model_dir, quantized=quantized, val_windows=None,
                          on_stage=lambda s, p: print(json.dumps({"event": "export", "stage": s, "path": p})))
    cfg = read_config(args.model_dir)
    cfg["onnx"]["quantized"] = quantized
    (args.model_dir / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"verify": report}))
    if args.inspect:
        print(json.dumps({"ops": op_counts(args.model_dir / "model.onnx")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
