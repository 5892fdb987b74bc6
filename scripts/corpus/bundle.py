"""The compressed training bundle: meta.json, train.bin, val.bin, tokenizer.json in one .tar.xz.

When the whole train split would not fit the size target, a deterministic sample
of whole documents is taken: a document is in the sample when
sha256(seed:path) / 2^256 < fraction. The fraction is first estimated from the
compression ratio of a slice of the stream, then lowered until the archive fits.
"""
from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import tarfile

import numpy as np

PRESET = 9


def doc_unit(seed: int, path: str) -> float:
    return int(hashlib.sha256(f"{seed}:{path}".encode()).hexdigest()[:15], 16) / float(16**15)


def sample_stream(train_bin: str, counts: list[int], paths: list[str], seed: int, fraction: float) -> tuple[np.ndarray, int]:
    data = np.fromfile(train_bin, dtype="<u2")
    offsets = np.concatenate([[0], np.cumsum(counts)])
    if offsets[-1] != len(data):
        raise ValueError(f"{train_bin}: {len(data)} tokens but documents add up to {offsets[-1]}")
    pieces = [data[offsets[i]:offsets[i + 1]] for i, p in enumerate(paths) if doc_unit(seed, p) < fraction]
    out = np.concatenate(pieces) if pieces else np.zeros(0, dtype="<u2")
    return out.astype("<u2"), len(pieces)


def _xz_size(raw: bytes) -> int:
    return len(lzma.compress(raw, format=lzma.FORMAT_XZ, preset=PRESET))


def _write(path: str, members: dict[str, bytes]) -> int:
    tmp = path + ".part"
    with tarfile.open(tmp, "w:xz", preset=PRESET) as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 0  # reproducible archive bytes
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    os.replace(tmp, path)
    return os.path.getsize(path)


def build(out_path: str, corpus_dir: str, tokenizer_path: str, meta: dict, train_counts: list[int],
          train_paths: list[str], seed: int, target_bytes: int, max_bytes: int) -> dict:
    train_bin = os.path.join(corpus_dir, "train.bin")
    with open(os.path.join(corpus_dir, "val.bin"), "rb") as fh:
        val = fh.read()
    with open(tokenizer_path, "rb") as fh:
        tok = fh.read()
    total_tokens = int(sum(train_counts))
    fixed = _xz_size(val) + _xz_size(tok) + 4096
    # Compression ratio measured on a slice of the real stream (bytes of xz per token).
    # Evenly spaced slices: the stream is in manifest order, so its head is not typical.
    stream = np.memmap(train_bin, dtype="<u2", mode="r")
    slices = 24
    width = max(1, min(total_tokens, 3_000_000) // slices)
    starts = np.linspace(0, max(0, total_tokens - width), slices).astype(np.int64)
    probe = np.concatenate([np.asarray(stream[s:s + width]) for s in starts])
    ratio = _xz_size(probe.tobytes()) / max(1, len(probe))
    del stream
    fraction = min(1.0, max(0.0, (target_bytes - fixed) / max(1e-9, ratio * total_tokens)))
    while True:
        sample, ndocs = sample_stream(train_bin, train_counts, train_paths, seed, fraction)
        bmeta = json.loads(json.dumps(meta))
        bmeta["splits"]["train"] = {"file": "train.bin", "tokens": int(len(sample)), "docs": ndocs}
        bmeta["splits"].pop("test", None)
        bmeta["sample"] = {"train_fraction": fraction, "rule": "sha256(seed:path) < fraction", "seed": seed,
                           "full_train_tokens": total_tokens, "full_train_docs": len(train_counts)}
        size = _write(out_path, {
            "meta.json": json.dumps(bmeta, indent=2).encode(),
            "train.bin": sample.tobytes(),
            "val.bin": val,
            "tokenizer.json": tok,
        })
        if size <= max_bytes or fraction <= 0.01:
            break
        fraction *= 0.9 * max_bytes / size
    return {"path": out_path, "bytes": size, "train_fraction": fraction, "train_tokens": int(len(sample)),
            "train_docs": ndocs, "val_tokens": len(val) // 2}
