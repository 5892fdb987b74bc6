"""The reference greedy fill-in-the-middle decoder of an autoregressive model ("diffill-arm", PyTorch).
The engine's autoregressive path is tested against it token for token.

Algorithm, exactly:
  prompt = [fim_prefix] + prefix_ids + [fim_suffix] + suffix_ids + [fim_middle]
           (no BOS/EOS added: the caller passes ids, <|bos|> first in prefix_ids where the context
           reaches the document's start and <|eos|> last in suffix_ids where it reaches its end, as the
           model was trained: armfim.py)
  forward 1: the whole prompt at positions 0..len(prompt)-1, keeping every position's K/V (the cache)
             and the logits of the last position
  repeat:
      token = argmax of the logits in float64 over the ids that may be emitted (ties -> lowest id);
          never emitted: pad, bos, eos, mask, fim_prefix, fim_suffix, fim_middle (the special ids the
          tokenizer has); also eom when `stop_at_eom` is false
      token == eom: stop ("eom"; the eom is not part of the answer)
      append token; when the answer has max_new tokens: stop ("length")
      next forward: that one token at the next position against the cache (the cached graph's
          semantics: docs/model-format.md; every cached position is visible to it)
  result = the answer's tokens, why it stopped, and the number of forwards.

CLI (JSON in, JSON out):
  python -m diffill_trainer.sample_arm --model DIR --ids-json '{"prefix":[..],"suffix":[..],"max_new":32}'
  (`stop_at_eom`: default true); `--ids-json -` reads stdin; a JSON list of requests gives a list of results.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch

from .model import DiffusionLM
from .reference_cli import check_request, serve

FIM_KEYS = ("fim_prefix", "fim_suffix", "fim_middle", "eom")


@dataclass
class ArmResult:
    tokens: list[int]  # the answer, without the eom
    stop: str  # "eom" | "length"
    forwards: int


def fim_prompt(prefix: list[int], suffix: list[int], special: dict) -> list[int]:
    return [special["fim_prefix"], *prefix, special["fim_suffix"], *suffix, special["fim_middle"]]


def banned_ids(special: dict, stop_at_eom: bool = True) -> list[int]:
    keys = ("pad", "bos", "eos", "mask", "fim_prefix", "fim_suffix", "fim_middle") + (() if stop_at_eom else ("eom",))
    return sorted({int(special[k]) for k in keys if special.get(k) is not None})


def next_token(logits: np.ndarray, banned: list[int]) -> int:
    x = logits.astype(np.float64)
    x[banned] = -np.inf
    return int(np.argmax(x))  # numpy's argmax returns the first (lowest id) maximum


@torch.no_grad()
def greedy_fim(model: DiffusionLM, prefix: list[int], suffix: list[int], max_new: int, special: dict, *,
               stop_at_eom: bool = True, device: str = "cpu") -> ArmResult:
    if max_new <= 0:
        return ArmResult([], "length", 0)
    prompt = fim_prompt(list(prefix), list(suffix), special)
    banned = banned_ids(special, stop_at_eom)
    eom = int(special["eom"])
    cfg = model.cfg
    empty = torch.zeros(1, cfg.kv_heads, 0, cfg.head_dim, device=device)
    past = [(empty, empty) for _ in range(cfg.n_layer)]
    ids = torch.tensor([prompt], dtype=torch.long, device=device)
    positions = torch.arange(len(prompt), device=device)
    out: list[int] = []
    forwards = 0
    while True:
        S = ids.shape[1]
        logits, presents = model.forward_cached(ids, positions, past, torch.tensor([S - 1], device=device),
                                                torch.arange(S, device=device))
        forwards += 1
        past = [(torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)) for (pk, pv), (k, v) in zip(past, presents)]
        tok = next_token(logits[0, -1].float().cpu().numpy(), banned)
        if tok == eom:
            return ArmResult(out, "eom", forwards)
        out.append(tok)
        if len(out) >= max_new:
            return ArmResult(out, "length", forwards)
        ids = torch.tensor([[tok]], dtype=torch.long, device=device)
        positions = torch.tensor([len(prompt) + len(out) - 1], device=device)


@torch.no_grad()
def infill_exact_arm(model: DiffusionLM, cases, special: dict, *, device: str, canvas: int = 32) -> dict:
    """The diffusion model's held-out single-line check (evaluate.infill_exact: the same cases) with
    greedy autoregressive decoding: `oracle` decodes exactly the line's number of tokens (eom never
    emitted), `variable` stops at the first eom within max(canvas, the line's length) tokens, as the
    diffusion model's canvas case. `mean_forwards_variable` counts one forward per emitted token (the
    prompt's forward gives the first)."""
    was_training = model.training
    model.eval()
    oracle = variable = length = forwards = 0
    for c in cases:
        r = greedy_fim(model, c.prefix, c.suffix, len(c.middle), special, stop_at_eom=False, device=device)
        oracle += int(r.tokens == c.middle)
        r = greedy_fim(model, c.prefix, c.suffix, max(canvas, len(c.middle)), special, device=device)
        variable += int(r.tokens == c.middle)
        length += int(len(r.tokens) == len(c.middle))
        forwards += r.forwards
    model.train(was_training)
    n = max(len(cases), 1)
    return {"cases": len(cases), "oracle": oracle / n, "variable": variable / n, "canvas": canvas,
            "length_match": length / n, "mean_forwards_variable": forwards / n,
            "decoding": "greedy autoregressive, stop at <|eom|>"}


def _run(model, cfg, req: dict) -> dict:
    special = cfg["special_tokens"]
    check_request(req, ("prefix", "suffix", "max_new"), cfg["architecture"]["vocab_size"])
    res = greedy_fim(model, req["prefix"], req["suffix"], int(req["max_new"]), special,
                     stop_at_eom=bool(req.get("stop_at_eom", True)))
    return {"tokens": res.tokens, "stop": res.stop, "forwards": res.forwards}


def main(argv=None) -> int:
    return serve(argv, "python -m diffill_trainer.sample_arm", __doc__, _run, model_format="diffill-arm")

if __name__ == "__main__":
    sys.exit(main())
