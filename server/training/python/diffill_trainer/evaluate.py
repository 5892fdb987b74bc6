"""Held-out evaluation: masked-token loss on a fixed t grid, and single-line infill exact match.

Both use fixed seeds so that two models (or two runs) are compared on the same draws.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .data import sample_windows
from .model import DiffusionLM
from .objective import ObjectiveConfig, make_batch
from .sample import infill
from .vocab import Vocab

EVAL_SEED = 20261127
T_GRID = tuple((i + 0.5) / 8 for i in range(8))  # midpoint rule over t in (0, 1)


def weighted_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum over positions of weight * CE, divided by B*L (SMDM's normalisation)."""
    ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    return (ce * weights.reshape(-1)).sum() / weights.numel()


@torch.no_grad()
def val_loss(model: DiffusionLM, val: np.ndarray, vocab: Vocab, *, n_windows: int, seq_len: int,
             device: str, batch_size: int = 16, autocast_dtype=None) -> float:
    """The plain MDM objective (no infill rows) averaged over the fixed t grid: a quadrature estimate of
    the negative ELBO per token, in nats."""
    rng = np.random.default_rng(EVAL_SEED)
    windows = sample_windows(val, n_windows, seq_len, rng)
    cfg = ObjectiveConfig()
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    for t in T_GRID:
        for i in range(0, n_windows, batch_size):
            w = windows[i:i + batch_size]
            b = make_batch(w, rng, cfg, pad_id=vocab.pad, mask_id=vocab.mask, is_newline=vocab.newline,
                           infill=False, t=np.full(len(w), t))
            ids = torch.from_numpy(b.input_ids).to(device)
            with torch.autocast(device_type=device.split(":")[0], dtype=autocast_dtype,
                                enabled=autocast_dtype is not None):
                logits = model(ids)
            loss = weighted_loss(logits, torch.from_numpy(b.targets).to(device), torch.from_numpy(b.weights).to(device))
            total += float(loss) * len(w)
            count += len(w)
    model.train(was_training)
    return total / max(count, 1)


@dataclass
class InfillCase:
    prefix: list[int]
    middle: list[int]
    suffix: list[int]


def infill_cases(val: np.ndarray, vocab: Vocab, n: int, *, max_middle: int = 24, prefix_len: int = 192,
                 suffix_len: int = 64) -> list[InfillCase]:
    """Fixed single-line cases from the held-out stream: the middle is a line's tokens between two line
    break tokens (1..max_middle tokens, not blank), with context cut at document boundaries."""
    stream = np.asarray(val, dtype=np.int64)
    special = np.isin(stream, [vocab.bos, vocab.eos, vocab.pad, vocab.mask])
    nl = np.flatnonzero(vocab.newline[np.clip(stream, 0, vocab.size - 1)] & ~special)
    rng = np.random.default_rng(EVAL_SEED)
    cases: list[InfillCase] = []
    for k in rng.permutation(max(len(nl) - 1, 0)):
        if len(cases) >= n:
            break
        start, end = int(nl[k]) + 1, int(nl[k + 1])
        middle = stream[start:end]
        if not (1 <= len(middle) <= max_middle) or special[start:end].any():
            continue
        if not vocab.decode(middle).strip():
            continue
        lo = max(0, start - prefix_len)
        doc_start = np.flatnonzero(special[lo:start])
        lo = lo + int(doc_start[-1]) + 1 if len(doc_start) else lo
        hi = min(len(stream), end + suffix_len)
        doc_end = np.flatnonzero(special[end:hi])
        hi = end + int(doc_end[0]) if len(doc_end) else hi
        cases.append(InfillCase(stream[lo:start].tolist(), middle.tolist(), stream[end:hi].tolist()))
    return cases


@torch.no_grad()
def infill_exact(model: DiffusionLM, cases: list[InfillCase], vocab: Vocab, *, device: str,
                 canvas: int = 32, threshold: float = 1.0, fast_threshold: float = 0.9) -> dict:
    """Exact match of the greedy reference sampler at the oracle length and with a fixed canvas of
    `canvas` masks (the model chooses the length with pads), one commit per forward (`threshold`);
    and the canvas case again with confidence-threshold commits (`fast_threshold`), as served."""
    was_training = model.training
    model.eval()
    oracle = variable = fast = forwards = fast_forwards = length = 0
    for c in cases:
        kw = dict(mask_id=vocab.mask, pad_id=vocab.pad, device=device)
        r = infill(model, c.prefix, c.suffix, len(c.middle), threshold=threshold, **kw)
        oracle += int(r.span == c.middle)  # at the oracle length a pad is a miss
        n = max(canvas, len(c.middle))
        r = infill(model, c.prefix, c.suffix, n, threshold=threshold, **kw)
        variable += int(r.tokens == c.middle)
        length += int(len(r.tokens) == len(c.middle))  # did the pads land where the line ends?
        forwards += r.forwards
        r = infill(model, c.prefix, c.suffix, n, threshold=fast_threshold, **kw)
        fast += int(r.tokens == c.middle)
        fast_forwards += r.forwards
    model.train(was_training)
    n = max(len(cases), 1)
    return {"cases": len(cases), "oracle": oracle / n, "variable": variable / n, "canvas": canvas,
            "threshold": threshold, "mean_forwards_variable": forwards / n, "length_match": length / n,
            "fast_threshold": fast_threshold, "variable_fast": fast / n, "mean_forwards_fast": fast_forwards / n}
