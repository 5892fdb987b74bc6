"""Reading a published checkpoint: safetensors, or a torch.save file through torch.load(weights_only=True)
(tensors and plain containers only: a checkpoint never runs code), wrapper prefixes removed, and a
Hugging Face folder's config.json. Every failure is one BadData line naming the file."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import BadData
from ..modelio import DTYPES

# Prefixes that training wrappers put before every key (Lightning Fabric, DDP, torch.compile).
_PREFIXES = ("_forward_module.", "module.", "_orig_mod.")


def read_tensors(path: Path) -> dict:
    """A flat name -> tensor dict from a .safetensors file or a torch.save file (weights_only=True:
    tensors and plain containers only, never arbitrary pickled objects)."""
    if not path.is_file():
        raise BadData(f"checkpoint file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as e:  # safetensors raises its own error types for corrupt files
            raise BadData(f"cannot read {path} as safetensors: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for anything that is not tensors and containers
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BadData(f"cannot read {path} as a PyTorch state dict (weights only): {first}") from None
    for key in ("model", "state_dict"):  # lit-gpt / Lightning save {"model": state_dict, ...}
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise BadData(f"{path} holds no state dict of tensors")
    return obj


def read_checkpoint(source: str, path: Path) -> tuple[dict, dict | None]:
    """(state dict with wrapper prefixes removed, the Hugging Face config.json or None)."""
    hf_config = None
    if source == "hf":
        folder = path if path.is_dir() else path.parent
        cfg_file = folder / "config.json"
        if not cfg_file.is_file():
            raise BadData(f"{folder} has no config.json: --from hf needs the checkpoint folder as published")
        try:
            hf_config = json.loads(cfg_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise BadData(f"cannot read {cfg_file}: {type(e).__name__}") from None
        if not isinstance(hf_config, dict):
            raise BadData(f"{cfg_file}: expected a JSON object")
        files = [path] if path.is_file() else sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
        if not files:
            raise BadData(f"{folder} has no *.safetensors (or pytorch_model*.bin) weights")
    elif path.is_dir():
        raise BadData(f"--checkpoint {path} is a folder; --from smdm reads one .safetensors or .pth file")
    else:
        files = [path]
    state: dict = {}
    for f in files:
        state.update(read_tensors(f))
    out = {}
    for k, v in state.items():
        for p in _PREFIXES:
            if k.startswith(p):
                k = k[len(p):]
        out[k] = v
    return out, hf_config


def dtype_name(state: dict) -> str:
    kinds = {v.dtype for v in state.values() if v.is_floating_point()}
    for name in ("float32", "bfloat16", "float16"):  # the widest one present wins
        if DTYPES[name] in kinds:
            return name
    return "float32"
