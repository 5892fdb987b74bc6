"""The masked-diffusion training objective, built on the CPU in numpy.

Plain rows (SMDM): t ~ U(eps, 1) per sequence, stratified across the batch (one uniform offset, then
evenly spaced: a cheap variance cut); every token is masked with probability t; the loss is CE on masked
positions weighted 1/t, normalised by B*L.

Infill rows (a fraction of the batch): one to three middle spans chosen by lines (single or several) or
as a random token span. Prefix and suffix stay clean; the middle is noised with the row's t (so partially
decoded canvases are in distribution) and followed by 0..K `<|pad|>` tokens weighted `pad_weight`:
the model learns where the answer ends (variable-length infill with a fixed
canvas). Positions stay fixed: the pads shift the suffix right and the window's end is trimmed.
Pads are noised with the row's t like the middle by default (`pad_noise`, below), not always masked.

Character-level rows (`char_fim_fraction` of the infill rows, charfim.py): one middle cut from the
document's text at character positions where an editor puts a gap, prefix/middle/suffix tokenized
apart, laid out the same way. Their first [PAD] (kind STOP) is the end-of-answer decision and carries its
own weight `first_pad_weight`; their pad runs follow the engine's canvas sizes; see ObjectiveConfig.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .charfim import DEFAULT_KIND_SHARES, char_fim_row

CONTEXT, MIDDLE, PAD, STOP = 0, 1, 2, 3  # STOP: the first [PAD] after a character-level middle


@dataclass(frozen=True)
class ObjectiveConfig:
    eps: float = 1e-3
    infill_fraction: float = 0.5
    multi_span_fraction: float = 0.2  # of infill rows: 2-3 blanks per sequence
    max_pad: int = 32  # trailing pads per middle ~ U{0..max_pad}
    pad_weight: float = 0.2
    # "t": pads are noised with the row's t like the middle, weight pad_weight/t, so canvases holding
    # committed pads (which the sampler makes) are in distribution. "always": pads always masked (as in
    # DreamOn, which deletes committed pads instead), weight pad_weight; the model then never sees a pad
    # as input. Same seed, 1000 small-preset steps on H100, 64 held-out lines: "t" gave 5/64 exact at a
    # 32-token canvas and 8/64 right lengths vs 0/64 and 3/64 for "always", and a lower held-out loss.
    pad_noise: str = "t"
    max_random_span: int = 64
    max_lines: int = 8
    random_length_prob: float = 0.01  # SMDM: truncate ~1% of batches to a random length
    # Of the single-blank infill rows: cut in characters and tokenized piece by piece (charfim.py); the
    # multi-blank rows (multi_span_fraction) stay token rows. 0 = token-aligned rows only (the objective
    # before character-level rows existed, draw for draw).
    char_fim_fraction: float = 0.0
    char_fim_kinds: tuple = DEFAULT_KIND_SHARES  # (cut kind, share) pairs, charfim.KINDS
    # The length signal of character-level rows. The engine reads the answer's length off the first
    # forward: the first span position whose P([PAD]) passes lengthThreshold (0.2) becomes [PAD] and
    # every mask right of a committed [PAD] becomes [PAD] too, so the first pad is the one length
    # decision. Token rows draw the pad run U{0..32} whatever the canvas; character rows draw it half of
    # the time so that middle + pads is one of the engine's canvas sizes (32 infill, 16 per blank, 64
    # write-before): the model learns the length in the canvases it is asked to fill. The first pad
    # (kind STOP) has its own weight. Weighting it like a middle token (1.0) was measured and rejected:
    # pad weights set P([PAD]) (the weighted CE optimum scales a target's odds by its weight), the
    # engine's threshold is tuned to pads at 0.2, and with 1.0 the first forward cut whole-line gaps
    # to nothing: same seed and budget, 23% empty answers on the realistic suite vs 8% at 0.2.
    first_pad_weight: float = 0.2
    fim_canvas_sizes: tuple = (16, 32, 64)
    fim_canvas_share: float = 0.5


@dataclass
class Batch:
    input_ids: np.ndarray  # int64 [B, L], noised
    targets: np.ndarray  # int64 [B, L], clean
    weights: np.ndarray  # float32 [B, L], 0 where no loss
    t: np.ndarray  # float32 [B]
    kinds: np.ndarray  # int8 [B, L]: CONTEXT / MIDDLE / PAD


def stratified_t(n: int, eps: float, rng: np.random.Generator) -> np.ndarray:
    u = (rng.random() + np.arange(n)) / n
    return (eps + (1.0 - eps) * rng.permutation(u)).astype(np.float64)


def _choose_span(is_nl: np.ndarray, lo: int, hi: int, cfg: ObjectiveConfig, rng) -> tuple[int, int]:
    """A [start, end) span inside [lo, hi), hi - lo >= 2."""
    r = rng.random()
    if r < 0.6:
        nl = np.flatnonzero(is_nl[lo:hi]) + lo
        n_lines = 1 if r < 0.4 else int(rng.integers(2, cfg.max_lines + 1))
        if len(nl) >= 2:
            i = int(rng.integers(0, len(nl) - 1))
            j = min(i + n_lines, len(nl) - 1)
            # The middle runs from after one line break to just before a later one: a line break token
            # also carries the next line's indentation, which therefore stays in the prefix.
            start, end = int(nl[i]) + 1, int(nl[j])
            if start < end:
                return start, end
    length = int(rng.integers(1, min(cfg.max_random_span, hi - lo - 1) + 1))
    start = int(rng.integers(lo, hi - length + 1))
    return start, start + length


def _infill_row(tokens: np.ndarray, is_nl: np.ndarray, pad_id: int,
                cfg: ObjectiveConfig, rng, multi: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`multi`: whether the row holds 2-3 blanks (default: drawn with multi_span_fraction)."""
    L = len(tokens)
    if multi is None:
        multi = rng.random() < cfg.multi_span_fraction
    n_spans = int(rng.integers(2, 4)) if multi else 1
    bounds = np.linspace(0, L, n_spans + 1).astype(int)
    out_tok, out_kind = [], []
    prev = 0
    for s in range(n_spans):
        lo, hi = int(bounds[s]), int(bounds[s + 1])
        if hi - lo < 3:
            continue
        start, end = _choose_span(is_nl, lo + 1, hi, cfg, rng)
        out_tok.append(tokens[prev:start])
        out_kind.append(np.full(start - prev, CONTEXT, np.int8))
        out_tok.append(tokens[start:end])
        out_kind.append(np.full(end - start, MIDDLE, np.int8))
        k = int(rng.integers(0, cfg.max_pad + 1))
        out_tok.append(np.full(k, pad_id, np.int64))
        out_kind.append(np.full(k, PAD, np.int8))
        prev = end
    out_tok.append(tokens[prev:])
    out_kind.append(np.full(L - prev, CONTEXT, np.int8))
    row_tok = np.concatenate(out_tok)[:L]
    row_kind = np.concatenate(out_kind)[:L]
    return row_tok, row_kind


def _fact_infill_row(tokens: np.ndarray, trainable: np.ndarray, bos_id: int, pad_id: int,
                     cfg: ObjectiveConfig, rng) -> tuple[np.ndarray, np.ndarray] | None:
    """An infill row over packed facts (`<|bos|> fact <|eos|>` one after another): the middle is a span
    inside one fact, followed by 0..max_pad [PAD]s; the other facts and the rest of this one stay clean.
    Half of the spans start at the fact's first token or end at its last (before the <|eos|>), since the
    subject and the object of a statement are what a fill-the-blank usually asks for; the rest are
    random. None when the row holds no fact with content."""
    L = len(tokens)
    starts = np.flatnonzero((tokens == bos_id) & trainable)
    if len(starts) == 0:
        return None
    s0 = int(starts[int(rng.integers(0, len(starts)))])
    rest = np.flatnonzero(~trainable[s0:])
    e0 = s0 + (int(rest[0]) if len(rest) else L - s0)
    later = starts[starts > s0]
    if len(later):
        e0 = min(e0, int(later[0]))
    lo, hi = s0 + 1, e0 - 1  # content without <|bos|> and <|eos|>
    if hi - lo < 1:
        return None
    length = int(rng.integers(1, min(cfg.max_random_span, hi - lo) + 1))
    r = rng.random()
    if r < 0.25:
        start = lo
    elif r < 0.5:
        start = hi - length
    else:
        start = int(rng.integers(lo, hi - length + 1))
    end = start + length
    k = int(rng.integers(0, cfg.max_pad + 1))
    row_tok = np.concatenate([tokens[:end], np.full(k, pad_id, np.int64), tokens[end:]])[:L]
    row_kind = np.concatenate([np.full(start, CONTEXT, np.int8), np.full(length, MIDDLE, np.int8),
                               np.full(k, PAD, np.int8), np.full(L - end, CONTEXT, np.int8)])[:L]
    return row_tok, row_kind


def make_batch(tokens: np.ndarray, rng: np.random.Generator, cfg: ObjectiveConfig, *, pad_id: int,
               mask_id: int, is_newline: np.ndarray, trainable: np.ndarray | None = None,
               infill: bool = True, t: np.ndarray | None = None, fact_bos: int | None = None,
               codec=None, lookahead: np.ndarray | None = None) -> Batch:
    """Noise a [B, L] window batch. `trainable` (default all) marks positions that may carry loss.
    Corpus infill rows assume every position is trainable; with `fact_bos` (facts batches, whose rows
    end in untrained filler) infill rows blank a span inside one fact instead (_fact_infill_row).
    Character-level rows need `codec` (the Vocab: encode, decode, special ids) and `lookahead`
    ([B, X] tokens that follow each window in the stream, charfim.lookahead_tokens)."""
    B, L = tokens.shape
    if trainable is None:
        trainable = np.ones((B, L), dtype=bool)
    if t is None:
        t = stratified_t(B, cfg.eps, rng)
    targets = tokens.copy()
    kinds = np.where(trainable, MIDDLE, CONTEXT).astype(np.int8)
    if infill and cfg.infill_fraction > 0 and L >= 8:
        rows = np.flatnonzero(rng.random(B) < cfg.infill_fraction)
        is_nl = is_newline[np.clip(tokens, 0, len(is_newline) - 1)]
        char_rows = cfg.char_fim_fraction > 0 and codec is not None and fact_bos is None
        for r in rows:
            multi = None
            if char_rows:
                # Character rows hold one gap: the multi-blank rows stay token rows.
                multi = bool(rng.random() < cfg.multi_span_fraction)
                if not multi and rng.random() < cfg.char_fim_fraction:
                    window = tokens[r] if lookahead is None else np.concatenate([tokens[r], lookahead[r]])
                    row = char_fim_row(window, L, codec, cfg, rng)
                    if row is not None:
                        targets[r], kinds[r] = row.tokens, row.kinds
                        continue
            if fact_bos is None:
                targets[r], kinds[r] = _infill_row(tokens[r], is_nl[r], pad_id, cfg, rng, multi)
            else:
                row = _fact_infill_row(tokens[r], trainable[r], fact_bos, pad_id, cfg, rng)
                if row is not None:
                    targets[r], kinds[r] = row
    u = rng.random((B, L))
    noised = u < t[:, None]
    pads = (kinds == PAD) | (kinds == STOP)
    if cfg.pad_noise == "always":
        masked = ((kinds == MIDDLE) & noised) | pads
        pad_w, stop_w = np.full((B, 1), cfg.pad_weight), np.full((B, 1), cfg.first_pad_weight)
    else:
        masked = ((kinds == MIDDLE) | pads) & noised
        pad_w, stop_w = cfg.pad_weight / t[:, None], cfg.first_pad_weight / t[:, None]
    input_ids = np.where(masked, mask_id, targets)
    weights = np.where(masked & (kinds == MIDDLE), 1.0 / t[:, None], 0.0)
    weights = np.where(masked & (kinds == PAD), pad_w, weights)
    weights = np.where(masked & (kinds == STOP), stop_w, weights).astype(np.float32)
    return Batch(input_ids.astype(np.int64), targets.astype(np.int64), weights, t.astype(np.float32), kinds)


def maybe_truncate(batch: Batch, rng: np.random.Generator, cfg: ObjectiveConfig) -> Batch:
    """SMDM's random-length trick: a bidirectional model trained only at full length is worse when short."""
    L = batch.input_ids.shape[1]
    if L < 2 or rng.random() >= cfg.random_length_prob:
        return batch
    n = int(rng.integers(1, L))
    return Batch(batch.input_ids[:, :n], batch.targets[:, :n], batch.weights[:, :n], batch.t, batch.kinds[:, :n])
