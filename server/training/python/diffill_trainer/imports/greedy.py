"""The reference greedy sampler over a source-layout forward (smdm.Reference, qwen2.Reference): what the
engine's decoding of an imported model is compared with, token for token.

The rules are diffill_trainer/sample.py's (one full forward per step over the canvas; every masked span
position whose confidence reaches `threshold` is committed, and always the most confident one; ties to
the lowest id and the leftmost position), with the length rules of an imported model
(docs/model-format.md): "fixed", no end token, every span position a real token; "eos", EOS ends the
answer, the positions after a committed EOS become EOS, and on the first forward the first position
whose P(EOS) reaches `length_threshold` takes it. The mask id, ids the head never emits (the source's
logits have no column for them, or they lie past emit_vocab_size), BOS, and EOS under "fixed" are never
written. With `shift` 1 (config architecture.logit_shift) the logits of position i are the forward's
output at i - 1 and position 0 keeps its own, as Open-dLLM's sampler does
(`torch.cat([logits[:, :1], logits[:, :-1]], dim=1)` in veomni/models/transformers/qwen2/generation_utils.py).

CLI, for the TypeScript parity test (JSON in, JSON out):
  python -m diffill_trainer.imports.greedy --model DIR --checkpoint PATH --ids-json -
DIR is the imported model directory (its config.json gives the source, ids and rule); PATH is the original
checkpoint, whose own forward decodes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from . import qwen2, smdm
from .checkpoint_files import read_checkpoint


def _probs(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    x = np.full((logits.shape[0], len(allowed)), -np.inf)
    cols = min(logits.shape[1], len(allowed))
    x[:, :cols] = logits[:, :cols].astype(np.float64)
    x[:, ~allowed] = -np.inf
    x -= x.max(axis=1, keepdims=True)
    p = np.exp(x)
    return p / p.sum(axis=1, keepdims=True)


@torch.no_grad()
def infill(forward, prefix: list[int], suffix: list[int], n: int, *, vocab: int, emitted: int, mask_id: int,
           bos: int | None, eos: int, rule: str, threshold: float = 1.0, length_threshold: float = 0.0,
           shift: int = 0) -> dict:
    allowed = np.zeros(vocab, dtype=bool)
    allowed[:emitted] = True
    allowed[mask_id] = False
    if bos is not None:
        allowed[bos] = False
    end = eos if rule == "eos" else None
    if end is None:
        allowed[eos] = False
    canvas = list(prefix) + [mask_id] * n + list(suffix)
    lo = len(prefix)
    forwards, trace = 0, []
    while True:
        masked = [j for j in range(n) if canvas[lo + j] == mask_id]
        if not masked:
            break
        logits = forward(torch.tensor([canvas]))[0, [max(lo + j - shift, 0) for j in masked]].float().numpy()
        forwards += 1
        p = _probs(logits, allowed)
        tok = p.argmax(axis=1)
        conf = p[np.arange(len(tok)), tok]
        chosen = conf >= threshold if threshold < 1.0 else np.zeros(len(conf), dtype=bool)
        chosen[int(np.argmax(conf))] = True
        if end is not None and length_threshold > 0 and forwards == 1:
            over = np.flatnonzero(p[:, end] >= length_threshold)
            if over.size:
                j = int(over[0])
                chosen[j:] = False
                chosen[j] = True
                tok[j] = end
        committed = []
        for j in np.flatnonzero(chosen):
            canvas[lo + masked[j]] = int(tok[j])
            committed.append([lo + masked[j], int(tok[j])])
        ends = [pos - lo for pos, t in committed if t == end]
        if ends:
            for r in range(min(ends) + 1, n):
                if canvas[lo + r] == mask_id:
                    canvas[lo + r] = end
                    committed.append([lo + r, end])
        trace.append(sorted(committed))
    span = canvas[lo:lo + n]
    tokens = span if end is None else span[:span.index(end)] if end in span else span
    return {"tokens": tokens, "span": span, "forwards": forwards, "trace": trace}


def load_reference(model_dir: Path, checkpoint: Path):
    cfg = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    source = cfg["architecture"]["source"]
    state, hf = read_checkpoint("smdm" if source == "smdm" else "hf", Path(checkpoint))
    if source == "smdm":
        a = cfg["architecture"]
        scfg = smdm.SmdmConfig(a["n_layer"], a["d_model"], a["n_head"], a.get("n_kv_head") or a["n_head"], a["d_ff"],
                               padded_vocab_size=a["vocab_size"] - 1, norm_eps=a["norm_eps"],
                               condense_ratio=a.get("rope_condense_ratio", 1.0))
        return smdm.Reference(smdm.normalise(state), scfg), cfg
    qcfg = qwen2.parse_config(hf, str(checkpoint))
    return qwen2.Reference(qwen2.check_state(state, qcfg), qcfg), cfg


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m diffill_trainer.imports.greedy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--checkpoint", required=True, type=Path)
    ap.add_argument("--ids-json", required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    reference, cfg = load_reference(args.model, args.checkpoint)
    a, s = cfg["architecture"], cfg["special_tokens"]
    reqs = json.loads(sys.stdin.read() if args.ids_json == "-" else args.ids_json)
    out = [infill(reference, r["prefix"], r["suffix"], int(r["n"]), vocab=a["vocab_size"],
                  emitted=a.get("emit_vocab_size", a["vocab_size"]), mask_id=s["mask"], bos=s["bos"], eos=s["eos"],
                  rule=r.get("length_rule", cfg.get("length_rule", "fixed")), threshold=float(r.get("threshold", 1.0)),
                  length_threshold=float(r.get("length_threshold", 0.0)),
                  shift=int(r.get("logit_shift", a.get("logit_shift", 0)))) for r in reqs]
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
