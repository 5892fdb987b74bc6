"""The training state in a compact form that fits a size limit: what one training chunk hands to the next
through a channel that carries at most so many files of so many bytes (scripts/gpu-train.sh, docs/training.md).

The trainer's own checkpoint (checkpoint.py, `state.pt`) holds fp32 weights and fp32 Adam moments, 12
bytes per parameter: 7 MB for `tiny`, 144 MB for `small`, 512 MB for `base`. The compact state keeps the
most of it that fits, by level, from exact to a warm restart:

| level       | weights                         | Adam moments                   | bytes/param | resumes                          |
|-------------|---------------------------------|--------------------------------|-------------|----------------------------------|
| exact       | fp32                            | fp32                           | 12          | exactly                          |
| fp32-fp8    | fp32                            | fp8 e4m3, scale per 256 values | ~6          | weights exactly, moments ~3 %    |
| fp16-fp8    | fp16 (vectors fp32)             | fp8 e4m3, scale per 256 values | ~4          | weights to 1/2048, moments ~3 %  |
| bf16-zlib   | bf16, byte planes deflated      | none: warm restart             | ~1.4        | weights to 1/256, moments anew   |
| int8        | int8, scale per 256 values      | none: warm restart             | ~1.0        | weights to 1/254 of a block's max |

The second moment is stored as its square root (half the dynamic range, in the units of the update).
A warm restart sets both moments to zero but keeps Adam's step count, so no bias correction blows the
first updates up: m/sqrt(v) grows from 0.45 of a normal update at the first step to 1.0 by the tenth
(betas 0.9/0.95), a built-in re-warm-up of the optimizer. Batches are a pure function of (seed, rank,
step), so the step is the data position; the torch RNG state travels too.

On disk: `state.json` (the manifest: level, step, the trainer's fingerprint and arguments, the loss
history, the chunks run so far, each tensor's place in the byte stream) and `state-NN.bin`, the byte
stream cut into parts of at most the file limit, each with its sha256 in the manifest. Every size is
known before the first byte is written: a state that does not fit is refused, never written in part.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

FORMAT = "diffill-train-state"
FORMAT_VERSION = 1
MANIFEST = "state.json"
LEVELS = ("exact", "fp32-fp8", "fp16-fp8", "bf16-zlib", "int8")
WARM_RESTART_LEVELS = ("bf16-zlib", "int8")
BLOCK = 256
FP8 = torch.float8_e4m3fn
FP8_MAX = 448.0
MIB = 1 << 20


class StateTooLarge(ValueError):
    """No level (or not the level asked for) fits the limits."""


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 16 * MIB
    max_total_bytes: int = 64 * MIB
    max_files: int = 8

    def describe(self) -> str:
        return (f"{self.max_files} files of at most {self.max_file_bytes / MIB:.3g} MiB, "
                f"{self.max_total_bytes / MIB:.3g} MiB in all")


def estimate_bytes(level: str, n_params: int) -> int:
    """A level's size before it is built (the bf16-zlib figure is its uncompressed bound, the real one is
    smaller): used to refuse a run at its start when not even the smallest level can fit."""
    per = {"exact": 12.0, "fp32-fp8": 6.0 + 8.0 / BLOCK, "fp16-fp8": 4.0 + 8.0 / BLOCK, "bf16-zlib": 2.0,
           "int8": 1.0 + 4.0 / BLOCK}[level]
    return int(n_params * per) + 64 * 1024  # + the manifest


# --- tensor codecs -------------------------------------------------------------------------------------

def _blocks(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    flat = x.detach().reshape(-1).float().cpu()
    n = flat.numel()
    pad = (-n) % BLOCK
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    return flat.view(-1, BLOCK), n


def fp8_encode(x: torch.Tensor) -> tuple[bytes, bytes]:
    """(fp8 e4m3 codes, fp32 scale per block of 256): each block scaled so its largest value is 448."""
    b, _ = _blocks(x)
    amax = b.abs().amax(dim=1, keepdim=True)
    scale = torch.where(amax > 0, amax / FP8_MAX, torch.ones_like(amax))
    codes = (b / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8)
    return codes.view(torch.uint8).numpy().tobytes(), scale.reshape(-1).numpy().tobytes()


def fp8_decode(codes: bytes, scales: bytes, shape: list[int]) -> torch.Tensor:
    c = torch.frombuffer(bytearray(codes), dtype=torch.uint8).view(FP8).float().view(-1, BLOCK)
    s = torch.frombuffer(bytearray(scales), dtype=torch.float32).view(-1, 1)
    n = math.prod(shape)
    return (c * s).reshape(-1)[:n].reshape(shape)


def int8_encode(x: torch.Tensor) -> tuple[bytes, bytes]:
    b, _ = _blocks(x)
    amax = b.abs().amax(dim=1, keepdim=True)
    scale = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax))
    q = torch.round(b / scale).clamp(-127, 127).to(torch.int8)
    return q.numpy().tobytes(), scale.reshape(-1).numpy().tobytes()


def int8_decode(codes: bytes, scales: bytes, shape: list[int]) -> torch.Tensor:
    q = torch.frombuffer(bytearray(codes), dtype=torch.int8).float().view(-1, BLOCK)
    s = torch.frombuffer(bytearray(scales), dtype=torch.float32).view(-1, 1)
    return (q * s).reshape(-1)[:math.prod(shape)].reshape(shape)


def _raw(x: torch.Tensor, dtype: torch.dtype) -> bytes:
    t = x.detach().cpu().to(dtype).contiguous()
    return t.view(torch.uint8).numpy().tobytes() if t.numel() else b""


def _from_raw(data: bytes, dtype: torch.dtype, shape: list[int]) -> torch.Tensor:
    if not data:
        return torch.zeros(shape, dtype=dtype)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dtype).reshape(shape).clone()


_DTYPES = {str(d): d for d in (torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32,
                               torch.uint8, torch.bool, torch.int8)}


# --- the state ---------------------------------------------------------------------------------------

class _Stream:
    """Pieces of the byte stream, each one named by (offset, length) in the manifest."""

    def __init__(self):
        self.pieces: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> list[int]:
        self.pieces.append(data)
        at = self.size
        self.size += len(data)
        return [at, len(data)]

    def bytes(self) -> bytes:
        return b"".join(self.pieces)


def _weight_entry(stream: _Stream, name: str, t: torch.Tensor, level: str, planes: list) -> dict:
    shape = list(t.shape)
    if not t.is_floating_point():
        return {"name": name, "shape": shape, "enc": "raw", "dtype": str(t.dtype), "data": stream.add(_raw(t, t.dtype))}
    if level in ("exact", "fp32-fp8") or t.dim() < 2:
        # Vectors (norm weights) are few and sit near 1.0, where fp16 steps are as big as an update.
        return {"name": name, "shape": shape, "enc": "raw", "dtype": "torch.float32",
                "data": stream.add(_raw(t, torch.float32))}
    if level == "fp16-fp8":
        return {"name": name, "shape": shape, "enc": "raw", "dtype": "torch.float16",
                "data": stream.add(_raw(t, torch.float16))}
    if level == "bf16-zlib":
        # High bytes (sign and most of the exponent) repeat a few values; low bytes are nearly random.
        # Grouping the planes lets deflate code the high ones in about 3 bits each.
        u = t.detach().cpu().to(torch.bfloat16).contiguous().view(torch.int16).view(torch.uint8).view(-1, 2)
        planes.append((u[:, 1].numpy().tobytes(), u[:, 0].numpy().tobytes()))
        return {"name": name, "shape": shape, "enc": "bf16-planes", "plane": len(planes) - 1}
    codes, scales = int8_encode(t)
    return {"name": name, "shape": shape, "enc": "int8", "codes": stream.add(codes), "scales": stream.add(scales)}


def encode_state(state: dict, level: str) -> tuple[dict, bytes]:
    """(manifest without parts, byte stream) of a trainer checkpoint (checkpoint.py's dict) at `level`."""
    if level not in LEVELS:
        raise ValueError(f"unknown state level {level!r}; one of {', '.join(LEVELS)}")
    stream = _Stream()
    planes: list = []
    weights = [_weight_entry(stream, k, v, level, planes) for k, v in state["model"].items()]
    opt = state["optimizer"]
    moments = []
    adam_step = 0
    for idx, s in sorted(opt["state"].items()):
        adam_step = max(adam_step, int(float(s["step"])) if "step" in s else 0)
        if level in WARM_RESTART_LEVELS:
            continue
        entry = {"index": int(idx), "step": float(s["step"]) if "step" in s else None}
        for key in ("exp_avg", "exp_avg_sq"):
            t = s[key].detach().cpu().float()
            entry[key + "_shape"] = list(t.shape)
            if level == "exact":
                entry[key] = {"enc": "raw", "data": stream.add(_raw(t, torch.float32))}
            else:
                codes, scales = fp8_encode(t.sqrt() if key == "exp_avg_sq" else t)
                entry[key] = {"enc": "fp8" if key == "exp_avg" else "fp8-sqrt", "codes": stream.add(codes),
                              "scales": stream.add(scales)}
        moments.append(entry)
    shapes = {int(idx): list(s["exp_avg"].shape) for idx, s in opt["state"].items() if "exp_avg" in s}
    compression = None
    if planes:
        # The planes go in one deflated stream after everything else: high planes first, then low.
        high = b"".join(p[0] for p in planes)
        low = b"".join(p[1] for p in planes)
        packed = zlib.compress(high + low, 6)
        at = stream.add(packed)
        compression = {"enc": "zlib-bf16-planes", "data": at, "high_bytes": len(high),
                       "sizes": [len(p[0]) for p in planes]}
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items() if _jsonable(v)}
              for g in opt["param_groups"]]
    rng = state.get("torch_rng")
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "level": level,
        "warm_restart": level in WARM_RESTART_LEVELS,
        "step": int(state["step"]), "train_elapsed": float(state["train_elapsed"]),
        "history": [list(h) for h in state.get("history", [])], "fingerprint": state["fingerprint"],
        "torch_rng": base64.b64encode(_raw(rng, torch.uint8)).decode() if rng is not None else None,
        "adam_step": adam_step, "param_groups": groups, "moment_shapes": {str(k): v for k, v in shapes.items()},
        "weights": weights, "moments": moments, "planes": compression,
    }
    return manifest, stream.bytes()


def _jsonable(v) -> bool:
    try:
        json.dumps(list(v) if isinstance(v, tuple) else v)
        return True
    except (TypeError, ValueError):
        return False


def decode_state(manifest: dict, data: bytes) -> dict:
    """The trainer checkpoint dict (checkpoint.py) a compact state stands for: weights in fp32, Adam's
    moments restored (or zero, with the step count kept, after a warm restart)."""
    def piece(at):
        return data[at[0]:at[0] + at[1]]

    plane_bytes: list[tuple[bytes, bytes]] = []
    if manifest.get("planes"):
        p = manifest["planes"]
        raw = zlib.decompress(piece(p["data"]))
        high, low = raw[:p["high_bytes"]], raw[p["high_bytes"]:]
        o = 0
        for n in p["sizes"]:
            plane_bytes.append((high[o:o + n], low[o:o + n]))
            o += n
    model = {}
    for w in manifest["weights"]:
        shape = w["shape"]
        if w["enc"] == "raw":
            t = _from_raw(piece(w["data"]), _DTYPES[w["dtype"]], shape)
            model[w["name"]] = t.float() if t.is_floating_point() else t
        elif w["enc"] == "bf16-planes":
            hi, lo = plane_bytes[w["plane"]]
            u = torch.empty(len(hi), 2, dtype=torch.uint8)
            u[:, 1] = torch.frombuffer(bytearray(hi), dtype=torch.uint8)
            u[:, 0] = torch.frombuffer(bytearray(lo), dtype=torch.uint8)
            model[w["name"]] = u.view(torch.int16).view(torch.bfloat16).reshape(shape).float()
        elif w["enc"] == "int8":
            model[w["name"]] = int8_decode(piece(w["codes"]), piece(w["scales"]), shape)
        else:
            raise ValueError(f"unknown weight encoding {w['enc']!r}")
    opt_state = {}
    if manifest["warm_restart"]:
        step = torch.tensor(float(manifest["adam_step"]))
        for idx, shape in manifest["moment_shapes"].items():
            opt_state[int(idx)] = {"step": step.clone(), "exp_avg": torch.zeros(shape),
                                   "exp_avg_sq": torch.zeros(shape)}
    else:
        for m in manifest["moments"]:
            s = {"step": torch.tensor(m["step"])} if m["step"] is not None else {}
            for key in ("exp_avg", "exp_avg_sq"):
                e, shape = m[key], m[key + "_shape"]
                if e["enc"] == "raw":
                    s[key] = _from_raw(piece(e["data"]), torch.float32, shape)
                else:
                    t = fp8_decode(piece(e["codes"]), piece(e["scales"]), shape)
                    s[key] = t.square() if e["enc"] == "fp8-sqrt" else t
            opt_state[m["index"]] = s
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in manifest["param_groups"]]
    rng = manifest.get("torch_rng")
    return {
        "fingerprint": manifest["fingerprint"], "model": model,
        "optimizer": {"state": opt_state, "param_groups": groups},
        "step": manifest["step"], "train_elapsed": manifest["train_elapsed"], "history": manifest["history"],
        **({"torch_rng": _from_raw(base64.b64decode(rng), torch.uint8, [len(base64.b64decode(rng))])} if rng else {}),
    }


# --- parts on disk -----------------------------------------------------------------------------------

def plan_parts(manifest: dict, data: bytes, limits: Limits) -> tuple[bytes, list[tuple[str, bytes]]]:
    """(manifest bytes, [(part name, bytes)]) or StateTooLarge: every limit checked before any write."""
    step = limits.max_file_bytes
    chunks = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
    parts = [(f"state-{i:02d}.bin", c) for i, c in enumerate(chunks)]
    full = dict(manifest, parts=[{"file": n, "bytes": len(c), "sha256": hashlib.sha256(c).hexdigest()}
                                 for n, c in parts])
    text = (json.dumps(full, indent=1) + "\n").encode()
    files = 1 + len(parts)
    total = len(text) + len(data)
    if len(text) > limits.max_file_bytes or files > limits.max_files or total > limits.max_total_bytes:
        raise StateTooLarge(f"the {manifest['level']} state takes {total / MIB:.1f} MiB in {files} files "
                            f"(manifest {len(text) / MIB:.2f} MiB)")
    return text, parts


def choose_level(state: dict, limits: Limits, want: str = "auto", annotate=None) -> tuple[str, bytes, list]:
    """The most exact level that fits (or `want`, which must fit): (level, manifest bytes, parts).
    `annotate(level)` returns fields added to that level's manifest (they count towards its size)."""
    n_params = sum(t.numel() for t in state["model"].values())
    tried = []
    for level in (LEVELS if want == "auto" else (want,)):
        # Levels without compression have a known size: one far over the limit is not built at all.
        if want == "auto" and level != "bf16-zlib" and estimate_bytes(level, n_params) > 1.1 * limits.max_total_bytes:
            tried.append(f"the {level} state would take about {estimate_bytes(level, n_params) / MIB:.1f} MiB")
            continue
        manifest, data = encode_state(state, level)
        if annotate is not None:
            manifest.update(annotate(level))
        try:
            text, parts = plan_parts(manifest, data, limits)
            return level, text, parts
        except StateTooLarge as e:
            tried.append(str(e))
    raise StateTooLarge("; ".join(tried) + f"; the limit is {limits.describe()}")


def write_parts(out: Path, text: bytes, parts: list) -> list[Path]:
    """Writes the planned files into `out` (which must hold no earlier state): the parts, then the
    manifest last, so a folder with a manifest is complete."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, chunk in parts:
        (out / name).write_bytes(chunk)
        written.append(out / name)
    tmp = out / f"{MANIFEST}.tmp-{os.getpid()}"
    tmp.write_bytes(text)
    os.replace(tmp, out / MANIFEST)
    return [*written, out / MANIFEST]


def read_manifest(d: Path) -> dict:
    f = Path(d) / MANIFEST
    try:
        m = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{f}: no readable training state ({e})") from e
    if m.get("format") != FORMAT or m.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{f} is not a {FORMAT} v{FORMAT_VERSION} manifest")
    return m


def read_state(d: Path) -> tuple[dict, bytes]:
    """(manifest, byte stream) from a folder written by write_parts; every part's size and sha256 checked."""
    d = Path(d)
    m = read_manifest(d)
    buf = io.BytesIO()
    for p in m["parts"]:
        f = d / p["file"]
        if Path(p["file"]).name != p["file"]:
            raise ValueError(f"{d / MANIFEST}: part name {p['file']!r} is not a plain file name")
        try:
            chunk = f.read_bytes()
        except OSError as e:
            raise ValueError(f"{f}: missing part of the training state ({e.strerror})") from e
        if len(chunk) != p["bytes"] or hashlib.sha256(chunk).hexdigest() != p["sha256"]:
            raise ValueError(f"{f}: the part is damaged (size or sha256 differs from {MANIFEST})")
        buf.write(chunk)
    return m, buf.getvalue()
