"""The autoregressive fill-in-the-middle objective (`--objective arm-fim`): the same presets and data as
the masked diffusion model, trained causally with next-token cross-entropy, as the baseline the diffusion
model is compared with (Bavarian et al. 2022, "Efficient Training of Language Models to Fill in the
Middle").

A row holds seq_len + 1 tokens; the model reads the first seq_len and every position predicts the next
token (loss on every position, the FIM tokens included, averaged per token). Half of the rows
(`infill_fraction`, the FIM rate 0.5) are fill-in-the-middle rows in prefix-suffix-middle order:

    <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|> middle <|eom|>

the rest are the stream as it is (plain documents). The gaps come from the diffusion objective's own
samplers, with the same mixture, so that both models learn the same kinds of gaps: of the FIM rows, the
share the diffusion objective makes multi-blank (`multi_span_fraction`) becomes one token-aligned span
(an autoregressive model fills one gap), the others are cut at character positions by charfim.py with
probability `char_fim_fraction` (its cut kinds and shares), and a token-aligned span otherwise or when the
character cut finds no place (objective._choose_span, as the diffusion model's token rows).

The prefix is the window's tokens before the gap (earlier documents and a <|bos|> included, as in the
diffusion row), the suffix what follows the gap (an <|eos|> where the document ends, then later
documents); the row keeps all of the middle, the prefix up to the gap, and at least a few suffix tokens,
so the split between prefix and suffix follows where the gap fell in the window, as for the diffusion
row. At inference the prompt is built the same way from the editor's context (sample_arm.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .charfim import char_fim_row
from .data import pack_facts, sample_windows
from .objective import Batch, ObjectiveConfig, _choose_span
from .vocab import Vocab

MIN_SUFFIX = 4  # suffix tokens a FIM row keeps at least (when the text has them), as the diffusion row does


@dataclass
class ArmFimRow:
    tokens: np.ndarray  # int64 [n]: <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|> middle <|eom|>
    prefix: list[int]
    suffix: list[int]
    middle: list[int]
    kind: str  # a charfim cut kind, or "token" for a token-aligned span
    synthetic_end: bool = False  # `end` cut of a document that goes on: the suffix is an <|eos|> put there


def psm_row(prefix_part: list[int], middle: list[int], suffix_part: list[int], n: int, fim: dict,
            kind: str) -> ArmFimRow | None:
    """A FIM row of exactly n tokens: all of the middle, the end of the prefix part and the start of the
    suffix part (at least MIN_SUFFIX of it); None when the text is too short to fill it."""
    room = n - len(middle) - 4
    if room < 0 or not middle:
        return None
    n_pre = min(len(prefix_part), room - min(len(suffix_part), MIN_SUFFIX))
    n_suf = min(len(suffix_part), room - n_pre)
    if n_pre + n_suf < room:
        return None
    prefix = list(prefix_part[len(prefix_part) - n_pre:])
    suffix = list(suffix_part[:n_suf])
    tokens = [fim["fim_prefix"], *prefix, fim["fim_suffix"], *suffix, fim["fim_middle"], *middle, fim["eom"]]
    return ArmFimRow(np.array(tokens, dtype=np.int64), prefix, suffix, list(middle), kind)


def fim_row(window: np.ndarray, n: int, vocab: Vocab, cfg: ObjectiveConfig, rng) -> ArmFimRow | None:
    """One FIM row of n tokens from `window` (n tokens of the stream and a few lookahead ones), or None
    (the caller keeps the plain row)."""
    w = np.asarray(window, dtype=np.int64)
    L = n - 1
    multi = rng.random() < cfg.multi_span_fraction
    if not multi and rng.random() < cfg.char_fim_fraction:
        c = char_fim_row(w, L, vocab, cfg, rng)
        if c is not None:
            s, e = c.piece
            prefix_part = [*w[:s].tolist(), *c.prefix_ids]
            after = [int(vocab.eos)] if c.synthetic_end else w[e:].tolist()
            row = psm_row(prefix_part, c.middle_ids, [*c.suffix_ids, *after], n, vocab.fim, c.kind)
            if row is not None:
                row.synthetic_end = c.synthetic_end
                return row
    # A token-aligned span inside the window's first L tokens, chosen as the diffusion token rows do.
    is_nl = vocab.newline[np.clip(w[:L], 0, len(vocab.newline) - 1)]
    start, end = _choose_span(is_nl, 1, L, cfg, rng)
    specials = np.isin(w[start:end], vocab.special_ids())
    if specials.any() or end - start > L // 2:
        return None
    return psm_row(w[:start].tolist(), w[start:end].tolist(), w[end:].tolist(), n, vocab.fim, "token")


def make_arm_batch(windows: np.ndarray, seq_len: int, rng: np.random.Generator, cfg: ObjectiveConfig,
                   vocab: Vocab, *, fim: bool = True) -> Batch:
    """Next-token rows from [B, seq_len + 1 + lookahead] windows: inputs [B, seq_len], targets the same
    rows shifted by one, weight 1 everywhere; `infill_fraction` of the rows are FIM rows (`fim`)."""
    B = windows.shape[0]
    n = seq_len + 1
    rows = np.array(windows[:, :n], dtype=np.int64)
    kinds = np.zeros((B, seq_len), dtype=np.int8)
    if fim and cfg.infill_fraction > 0 and seq_len >= 8:
        for r in np.flatnonzero(rng.random(B) < cfg.infill_fraction):
            row = fim_row(windows[r], n, vocab, cfg, rng)
            if row is not None:
                rows[r] = row.tokens
                kinds[r] = 1
    weights = np.ones((B, seq_len), dtype=np.float32)
    return Batch(rows[:, :-1].copy(), rows[:, 1:].copy(), weights, np.ones(B, dtype=np.float32), kinds)


def make_arm_facts_batch(facts, batch: int, seq_len: int, vocab: Vocab, rng) -> Batch:
    """Facts fine-tuning: whole facts packed into rows, plain next-token rows (no FIM rows: the facts are
    taught in their written direction only); the filler after the last fact carries no loss."""
    tokens, trainable = pack_facts(facts, batch, seq_len + 1, vocab.pad, rng)
    weights = trainable[:, 1:].astype(np.float32)
    return Batch(tokens[:, :-1].copy(), tokens[:, 1:].copy(), weights, np.ones(batch, dtype=np.float32),
                 np.zeros((batch, seq_len), dtype=np.int8))


@torch.no_grad()
def arm_val_loss(model, val: np.ndarray, *, n_windows: int, seq_len: int, device: str, batch_size: int = 16,
                 autocast_dtype=None) -> float:
    """Next-token cross-entropy per token (nats) on fixed held-out windows of plain text (no FIM rows).
    Not the diffusion model's figure: that one is a bound on the same text's negative log-likelihood
    (masked CE weighted 1/t), this one is the likelihood itself."""
    from .evaluate import EVAL_SEED

    windows = sample_windows(val, n_windows, seq_len + 1, np.random.default_rng(EVAL_SEED))
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, n_windows, batch_size):
        w = torch.from_numpy(windows[i:i + batch_size]).to(device)
        with torch.autocast(device_type=device.split(":")[0], dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logits = model(w[:, :-1])
        ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1), reduction="sum")
        total += float(ce)
        count += w[:, 1:].numel()
    model.train(was_training)
    return total / max(count, 1)
