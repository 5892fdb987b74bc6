"""The reference greedy infill sampler (PyTorch). The TypeScript engine is tested against it token for token.

Algorithm, exactly:
  canvas = prefix_ids + [mask] * n + suffix_ids   (no BOS/EOS added: the caller passes ids)
  while a span position is still masked:
      one full forward over the canvas (positions 0..len-1)
      at every masked span position: p = softmax(logits) in float64 with the mask id excluded;
          (<|bos|> and <|eos|> excluded too when the CLI runs it: the engine never writes them in a span)
          token = argmax p (ties -> lowest id); confidence = max p
      commit every masked position whose confidence >= threshold, and always the single most confident
          one (ties -> leftmost position); threshold >= 1.0 commits exactly that one per step
      first forward only, when length_threshold > 0: j = the first span position with p(<|pad|>) >=
          length_threshold; drop the chosen positions at or right of j and commit <|pad|> at j instead
      for every token committed as <|pad|>: each still-masked span position to its right becomes <|pad|>
  result = the span's tokens with every <|pad|> removed; also the number of forwards.

CLI (JSON in, JSON out):
  python -m diffill_trainer.sample --model DIR --ids-json '{"prefix":[..],"suffix":[..],"n":32,"threshold":1.0}'
  `--ids-json -` reads the request from stdin; a JSON list of requests gives a list of results.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from .model import DiffusionLM
from .reference_cli import check_request, serve


@dataclass
class InfillResult:
    tokens: list[int]  # the span with pads removed
    span: list[int]  # the span as committed, pads included
    forwards: int
    trace: list[list[list[int]]] = field(default_factory=list)  # per forward: [[position, token], ...]


def step_probs(logits: np.ndarray, mask_id: int, banned: tuple[int, ...] = ()) -> np.ndarray:
    """logits [M, V] at the masked positions -> softmax [M, V] in float64, the mask id (and `banned`)
    excluded."""
    x = logits.astype(np.float64)
    x[:, mask_id] = -np.inf
    for b in banned:
        x[:, b] = -np.inf
    x = x - x.max(axis=1, keepdims=True)
    p = np.exp(x)
    p /= p.sum(axis=1, keepdims=True)
    return p


def step_choice(logits: np.ndarray, mask_id: int) -> tuple[np.ndarray, np.ndarray]:
    """logits [M, V] at the masked positions -> (token [M], confidence [M]) in float64."""
    return _choice(step_probs(logits, mask_id))


def _choice(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tok = p.argmax(axis=1)  # numpy's argmax returns the first (lowest id) maximum
    return tok, p[np.arange(len(tok)), tok]


@torch.no_grad()
def infill(model: DiffusionLM, prefix: list[int], suffix: list[int], n: int, *, mask_id: int, pad_id: int,
           threshold: float = 1.0, length_threshold: float = 0.0, banned: tuple[int, ...] = (),
           device: str = "cpu") -> InfillResult:
    if n <= 0:
        return InfillResult([], [], 0)
    canvas = torch.tensor([list(prefix) + [mask_id] * n + list(suffix)], dtype=torch.long, device=device)
    lo = len(prefix)
    span = canvas[0, lo:lo + n]  # a view: commits below write into the canvas
    forwards, trace = 0, []
    while True:
        masked = (span == mask_id).nonzero().flatten()
        if masked.numel() == 0:
            break
        logits = model(canvas)[0, lo + masked].float().cpu().numpy()
        forwards += 1
        probs = step_probs(logits, mask_id, banned)
        tok, conf = _choice(probs)
        best = int(np.argmax(conf))  # first maximum = leftmost position
        if threshold >= 1.0:
            chosen = np.zeros(len(conf), dtype=bool)
        else:
            chosen = conf >= threshold
        chosen[best] = True
        if length_threshold > 0 and forwards == 1:
            over = np.flatnonzero(probs[:, pad_id] >= length_threshold)
            if over.size:
                j = int(over[0])
                chosen[j:] = False
                chosen[j] = True
                tok[j] = pad_id
        committed = []
        positions = masked.cpu().numpy()
        for j in np.flatnonzero(chosen):
            span[int(positions[j])] = int(tok[j])
            committed.append([lo + int(positions[j]), int(tok[j])])
        pad_positions = [p - lo for p, t in committed if t == pad_id]
        if pad_positions:
            first_pad = min(pad_positions)
            rest = (span == mask_id).nonzero().flatten()
            for r in rest[rest > first_pad].tolist():
                span[r] = pad_id
                committed.append([lo + r, pad_id])
        trace.append(sorted(committed))
    span_list = span.tolist()
    return InfillResult([t for t in span_list if t != pad_id], span_list, forwards, trace)


def _run(model, cfg, req: dict) -> dict:
    special = cfg["special_tokens"]
    check_request(req, ("prefix", "suffix", "n"), cfg["architecture"]["vocab_size"])
    res = infill(model, req["prefix"], req["suffix"], int(req["n"]), mask_id=special["mask"],
                 pad_id=special["pad"], threshold=float(req.get("threshold", 1.0)),
                 length_threshold=float(req.get("length_threshold", 0.0)),
                 banned=(special["bos"], special["eos"]))
    return {"tokens": res.tokens, "span": res.span, "forwards": res.forwards, "trace": res.trace}


def main(argv=None) -> int:
    return serve(argv, "python -m diffill_trainer.sample", __doc__, _run)

if __name__ == "__main__":
    sys.exit(main())
