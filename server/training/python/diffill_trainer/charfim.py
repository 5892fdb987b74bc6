"""Character-level fill-in-the-middle rows (Bavarian et al. 2022, "Efficient Training of Language Models
to Fill in the Middle"): cut a document's *text* at character positions and tokenize prefix, middle and
suffix apart, so the model sees the boundaries an editor makes.

A token-aligned row (objective._infill_row) never shows a prefix ending in "\\n" with the indentation
in the gap ("\\n    " is one token, so a line span starts after it), a cursor inside an identifier, or a
suffix that starts in the middle of a token: the tokenizer would have merged across those places. Here
a window of the token stream is decoded back to text (one document's piece of it), cut where a user
puts the cursor, and re-tokenized piece by piece. The row is laid out exactly like the token rows:

    [tokens before the piece] prefix_ids  middle_ids [PAD]*k  suffix_ids [tokens after the piece]
     CONTEXT                  CONTEXT     MIDDLE     STOP,PAD CONTEXT

and cropped to the row length so the middle and its pads are inside. Cut kinds (shares configurable):

  line    the whole line with its indentation: the prefix ends in "\\n"; half of the time the line break
          goes with it (a deleted line), the suffix then starting with the next line's indentation
  indent  the line after its indentation: the prefix ends in "\\n" + indentation
  mid     from any character of a line (inside an identifier too) to the line's end or a later character
  eol     the cursor at the end of a line: the middle is "\\n" + the next line
  block   2..max_lines whole lines (from the line start or after the indentation), half of the time
          with the last line break
  span    Bavarian's random character span (may cross lines)
  end     empty suffix: the middle runs to the end of the text, followed by <|eos|> and nothing of the
          document after it, as the engine's canvas puts EOS where the context reaches the document's
          end (server/engine/canvas.ts). Either a real document end, or a document cut after a line
          (a file being written at its end); the row then ends with that <|eos|>.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("line", "indent", "mid", "eol", "block", "span", "end")
DEFAULT_KIND_SHARES = (("line", 0.2), ("indent", 0.15), ("mid", 0.2), ("eol", 0.1), ("block", 0.15),
                       ("span", 0.1), ("end", 0.1))
MAX_LINE_TRIES = 8  # lines looked at after the anchor's for one that suits the kind
SPAN_CHARS = 4  # a random span is at most max_random_span * SPAN_CHARS characters (before the token cap)


def parse_kind_shares(spec: str) -> tuple[tuple[str, float], ...]:
    """"line=0.2,mid=0.3,..." -> (("line", 0.2), ("mid", 0.3), ...); kinds left out get share 0."""
    shares = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in KINDS:
            raise ValueError(f"bad cut kind share {part!r}: expected KIND=SHARE with KIND one of {', '.join(KINDS)}")
        try:
            share = float(value)
        except ValueError as e:
            raise ValueError(f"bad share in {part!r}") from e
        if not share >= 0:
            raise ValueError(f"share must be >= 0 in {part!r}")
        shares[name] = share
    if not shares or sum(shares.values()) <= 0:
        raise ValueError("the cut kind shares must have a positive sum")
    return tuple((k, shares.get(k, 0.0)) for k in KINDS)


def lookahead_tokens(seq_len: int) -> int:
    """Tokens read past the row's window: a re-tokenized piece can come out shorter than the original
    and the `end` kind cuts a document a little after the window's end, so that its row ends on the
    <|eos|>."""
    return max(16, seq_len // 4)


@dataclass
class FimRow:
    kind: str
    text: str  # the document piece: decode(window[piece[0]:piece[1]])
    piece: tuple[int, int]  # its token range in the window
    prefix: str  # the piece's text before the gap
    middle: str
    suffix: str  # the text after the gap to the piece's end ("" for `end`)
    prefix_ids: list[int]
    middle_ids: list[int]
    suffix_ids: list[int]
    n_pad: int
    start: int  # row position of the first middle token (the prefix's tokens end here)
    tokens: np.ndarray  # int64 [L]: targets of the row
    kinds: np.ndarray  # int8 [L]: objective.CONTEXT / MIDDLE / STOP / PAD
    synthetic_end: bool = False  # `end` only: the document was cut here and given an <|eos|>
    capped: bool = False  # the cut was longer than the middle may be and was shortened


def _line(text: str, x: int) -> tuple[int, int]:
    """[start, end) of the line holding character x; end is its "\\n" (or the text's end)."""
    ls = text.rfind("\n", 0, x) + 1
    le = text.find("\n", x)
    return ls, (len(text) if le < 0 else le)


def _indent(text: str, ls: int, le: int) -> int:
    line = text[ls:le]
    return len(line) - len(line.lstrip(" \t"))


def _lines_from(text: str, x: int, first_ok: bool):
    """Whole, non-blank lines from the one holding x on: (start, end) with a "\\n" at end. A line at the
    text's start is whole only when the piece starts at the document's start (first_ok)."""
    ls, le = _line(text, x)
    for _ in range(MAX_LINE_TRIES):
        if le >= len(text):
            return
        if (ls > 0 or first_ok) and text[ls:le].strip():
            yield ls, le
        ls = le + 1
        le = text.find("\n", ls)
        le = len(text) if le < 0 else le


def _with_break(text: str, le: int, rng) -> int:
    """The end of a whole-line gap: half of the time after the line break (a deleted line)."""
    return le + 1 if le + 1 < len(text) and rng.random() < 0.5 else le


def _cut(kind: str, text: str, x: int, first_ok: bool, cfg, rng) -> tuple[int, int] | None:
    """(a, b): the middle is text[a:b], for every kind but `end`."""
    lines = list(_lines_from(text, x, first_ok))
    if kind == "span":
        a = min(len(text) - 1, x + int(rng.integers(0, 16)))
        b = a + int(rng.integers(1, cfg.max_random_span * SPAN_CHARS + 1))
        return (a, min(b, len(text) - 1)) if a < len(text) - 1 else None
    if not lines:
        return None
    ls, le = lines[0]
    if kind == "line":
        return ls, _with_break(text, le, rng)
    if kind == "indent":
        ls, le = next(((s, e) for s, e in lines if _indent(text, s, e) > 0), (ls, le))
        return ls + _indent(text, ls, le), le
    if kind == "mid":
        content_end = ls + len(text[ls:le].rstrip())
        a = int(rng.integers(ls + _indent(text, ls, le), content_end))
        b = le if rng.random() < 0.5 else int(rng.integers(a + 1, content_end + 1))
        return a, b
    if kind == "eol":
        nxt = text.find("\n", le + 1)
        if nxt < 0 or not text[le + 1:nxt].strip():
            return None
        return le, nxt
    if kind == "block":
        n = int(rng.integers(2, cfg.max_lines + 1))
        b = le
        for _ in range(n - 1):
            nxt = text.find("\n", b + 1)
            if nxt < 0:
                break
            b = nxt
        if b == le:
            return None
        return (ls if rng.random() < 0.5 else ls + _indent(text, ls, le)), _with_break(text, b, rng)
    raise ValueError(f"unknown cut kind {kind!r}")


def _end_start(text: str, b: int, rng) -> int | None:
    """Where an `end` middle starts, the text ending at b: a line start (indentation in the gap), after
    the indentation, or any character of the last line; 0..2 lines back."""
    body_end = b - 1 if b > 0 and text[b - 1] == "\n" else b
    ls, le = _line(text, body_end)
    for _ in range(int(rng.integers(0, 3))):
        if ls == 0:
            break
        ls, _ = _line(text, ls - 1)
    r = rng.random()
    if r < 0.4:
        a = ls
    elif r < 0.7:
        a = ls + _indent(text, ls, body_end)
    else:
        lo = ls + _indent(text, ls, le)
        a = int(rng.integers(lo, le)) if lo < le else ls
    return a if a < b else None


def _pad_count(n_middle: int, L: int, cfg, rng) -> int:
    """[PAD]s after the middle. Half the time the span is one of the engine's canvas sizes that holds the
    answer (fim_canvas_sizes: 32 for an infill, 16 per blank, 64 for write-before), so the model learns
    the length in exactly the canvases it is asked to fill; otherwise U{0..max_pad} as in the token rows."""
    fits = [c for c in cfg.fim_canvas_sizes if c >= n_middle]
    if fits and rng.random() < cfg.fim_canvas_share:
        k = int(fits[int(rng.integers(0, len(fits)))]) - n_middle
    else:
        k = int(rng.integers(0, cfg.max_pad + 1))
    return max(0, min(k, L - n_middle - 2))


def _segment(special: np.ndarray, p: int) -> tuple[int, int]:
    before = np.flatnonzero(special[:p])
    after = np.flatnonzero(special[p:])
    return (int(before[-1]) + 1 if len(before) else 0), (p + int(after[0]) if len(after) else len(special))


def char_fim_row(window: np.ndarray, L: int, codec, cfg, rng, kind: str | None = None) -> FimRow | None:
    """One character-cut infill row of length L from `window` (the row's L tokens followed by a few
    lookahead tokens). `codec`: encode(text) -> ids, decode(ids) -> text, and the special ids (a Vocab).
    None when this window has no place for the drawn kind (the caller then builds a token row)."""
    from .objective import CONTEXT, MIDDLE, PAD, STOP

    w = np.asarray(window, dtype=np.int64)
    if len(w) < L or L < 8:
        return None
    if kind is None:
        names = [k for k, _ in cfg.char_fim_kinds]
        p = np.array([s for _, s in cfg.char_fim_kinds], dtype=np.float64)
        kind = names[int(rng.choice(len(names), p=p / p.sum()))]
    special = np.isin(w, [codec.bos, codec.eos, codec.pad, codec.mask])
    synthetic = False
    cap = max(1, min(cfg.max_random_span, L // 2))
    if kind == "end":
        ends = [int(e) for e in np.flatnonzero(w == codec.eos) if e > 0 and not special[e - 1]]
        if ends and rng.random() < 0.5:
            s, e = _segment(special, ends[int(rng.integers(0, len(ends)))] - 1)
            if e >= len(w) or w[e] != codec.eos:
                return None
        else:
            q = int(rng.integers(L - 1, len(w)))
            if special[q]:
                return None
            s, e = _segment(special, q)
            synthetic = True
    else:
        p_anchor = int(rng.integers(1, L - 1))
        if special[p_anchor]:
            return None
        s, e = _segment(special, p_anchor)
    # A window edge can split a multi-byte character between tokens: leave such tokens outside the piece.
    while s < e and codec.decode(w[s:s + 1]).startswith("\ufffd") and s < len(w) - 1:
        s += 1
    if e == len(w):
        while e > s and codec.decode(w[e - 1:e]).endswith("\ufffd"):
            e -= 1
    text = codec.decode(w[s:e])
    if len(text) < 2 or text.startswith("\ufffd"):
        return None
    first_ok = s > 0 and w[s - 1] == codec.bos  # the piece starts at its document's start
    doc_end = e < len(w) and w[e] == codec.eos
    if kind == "end":
        if synthetic:
            y = min(len(codec.decode(w[s:q + 1])), len(text))
            _, le = _line(text, max(0, y - 1))
            b = le + 1 if (le < len(text) and rng.random() < 0.5) else le
        else:
            b = len(text)
        a = _end_start(text, b, rng)
        if a is None:
            return None
    else:
        x = min(len(codec.decode(w[s:p_anchor])), len(text) - 1)
        cut = _cut(kind, text, x, first_ok, cfg, rng)
        if cut is None:
            return None
        a, b = cut
    if not a < b:
        return None
    middle_ids = codec.encode(text[a:b])
    capped = len(middle_ids) > cap
    if capped:  # keep the gap within the canvas sizes the engine uses
        if kind == "end":
            a = b - len(codec.decode(middle_ids[-cap:]))
            nl = text.find("\n", a, b - 1)
            if nl >= 0 and text[nl + 1:b].strip():
                a = nl + 1  # whole lines where they fit
        else:
            b = a + len(codec.decode(middle_ids[:cap]))
            nl = text.rfind("\n", a + 1, b)
            if kind in ("block", "eol") and nl > a and text[a:nl].strip():
                b = nl
        middle_ids = codec.encode(text[a:b])
        if len(middle_ids) > cap or not a < b:
            return None
    prefix, middle = text[:a], text[a:b]
    suffix = "" if kind == "end" else text[b:]
    if not middle.strip() or (not suffix and not doc_end and kind != "end"):
        return None
    prefix_ids, suffix_ids = codec.encode(prefix), codec.encode(suffix)
    k = _pad_count(len(middle_ids), L, cfg, rng)
    after = [int(codec.eos)] if synthetic else w[e:].tolist()
    pieces = [(w[:s].tolist(), CONTEXT), (prefix_ids, CONTEXT), (middle_ids, MIDDLE),
              ([int(codec.pad)] * k, PAD), (suffix_ids, CONTEXT), (after, CONTEXT)]
    seq = np.array([t for ids, _ in pieces for t in ids], dtype=np.int64)
    kinds = np.concatenate([np.full(len(ids), kd, np.int8) for ids, kd in pieces])
    start = s + len(prefix_ids)
    pad_end = start + len(middle_ids) + k
    if k:
        kinds[start + len(middle_ids)] = STOP
    if kind == "end":
        c = pad_end + 1 - L  # end the row on the <|eos|> when the text before the gap fills it
    else:
        c = pad_end + min(len(suffix_ids), 4) - L  # a little suffix stays in the row
    c = min(max(0, c), start, len(seq) - L)
    if c < 0 or (synthetic and c + L != pad_end + 1):
        return None
    return FimRow(kind, text, (s, e), prefix, middle, suffix, prefix_ids, middle_ids, suffix_ids, k, start - c,
                  seq[c:c + L], kinds[c:c + L], synthetic, capped)
