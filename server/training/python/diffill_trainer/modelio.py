"""Reading and writing the model directory's config.json and model.safetensors (docs/model-format.md)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .errors import BadData
from .model import DiffusionLM
from .presets import ModelConfig

FORMAT = "diffill-mdm"
ARM_FORMAT = "diffill-arm"  # a causal fill-in-the-middle model (the autoregressive baseline)
FORMATS = (FORMAT, ARM_FORMAT)
FORMAT_VERSION = 1
ONNX_OPSET = 17
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def onnx_io_names() -> dict:
    return {
        "inputs": {"input_ids": "input_ids", "position_ids": "position_ids", "gather_index": "gather_index",
                   "keep_index": "keep_index", "past_key": "past_key.{layer}", "past_value": "past_value.{layer}"},
        "outputs": {"logits": "logits", "present_key": "present_key.{layer}", "present_value": "present_value.{layer}"},
    }


def make_config(name: str, preset: str, arch: ModelConfig, special: dict, weights_dtype: str,
                quantized: bool, training: dict) -> dict:
    return {
        "format": ARM_FORMAT if arch.causal else FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "preset": preset,
        "architecture": arch.to_json(),
        "special_tokens": dict(special),
        "tokenizer": "tokenizer.json",
        "weights": {"file": "model.safetensors", "dtype": weights_dtype},
        "onnx": {"file": "model.onnx", "opset": ONNX_OPSET, "quantized": quantized, **onnx_io_names()},
        "training": training,
    }


def read_config(model_dir: Path) -> dict:
    f = Path(model_dir) / "config.json"
    try:
        cfg = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BadData(f"cannot read {f}: {e}") from e
    if cfg.get("format") not in FORMATS or cfg.get("format_version") != FORMAT_VERSION:
        raise BadData(f"{f} is not a {' or '.join(FORMATS)} v{FORMAT_VERSION} config")
    for key in ("architecture", "special_tokens", "weights"):
        if key not in cfg:
            raise BadData(f"{f} has no {key!r}")
    # Every file the config names must lie inside the model directory (symbolic links included):
    # reading a model never reads anything else.
    root = Path(model_dir).resolve()
    onnx = cfg.get("onnx") if isinstance(cfg.get("onnx"), dict) else {}
    weights = cfg["weights"] if isinstance(cfg["weights"], dict) else {}
    for where, name in (("tokenizer", cfg.get("tokenizer")), ("weights.file", weights.get("file")),
                        ("onnx.file", onnx.get("file"))):
        if name is None:
            continue
        if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts \
                or not (root / name).resolve().is_relative_to(root):
            raise BadData(f"{f}: {where} must name a file inside the model directory")
    return cfg


def save_weights(model: DiffusionLM, path: Path, dtype: str) -> None:
    # Tied embeddings: the head has no tensor of its own, so each tensor is stored once.
    tensors = {k: v.detach().to("cpu", DTYPES[dtype]).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"format": ARM_FORMAT if model.cfg.causal else FORMAT, "dtype": dtype})
    os.chmod(path, 0o644)  # the library creates the file owner-only; a model directory is shared read-only


def round_to_dtype(model: DiffusionLM, dtype: str) -> None:
    """Make the in-memory weights exactly what the stored dtype holds, so the ONNX graph, the evaluation
    and the reference sampler (which loads the safetensors) all compute with the same numbers."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(DTYPES[dtype]).to(p.dtype))


def load_model_dir(model_dir: Path, device: str = "cpu") -> tuple[DiffusionLM, dict]:
    model_dir = Path(model_dir)
    cfg = read_config(model_dir)
    try:
        arch = ModelConfig.from_json(cfg["architecture"])
    except (TypeError, ValueError) as e:
        raise BadData(f"{model_dir}/config.json: bad architecture: {e}") from e
    if arch.causal != (cfg["format"] == ARM_FORMAT):
        raise BadData(f"{model_dir}/config.json: format {cfg['format']} with architecture.causal {arch.causal}")
    mask = cfg["special_tokens"].get("mask")
    model = DiffusionLM(arch, None if mask is None else int(mask))
    wfile = model_dir / cfg["weights"].get("file", "model.safetensors")
    try:
        state = load_file(str(wfile))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise BadData(f"cannot read weights {wfile}: {e}") from e
    state = {k: v.to(torch.float32) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise BadData(f"{wfile} does not match the architecture (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.to(device).eval(), cfg
