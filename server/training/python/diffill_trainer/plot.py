"""The training loss curve as a small self-contained SVG (no plotting library)."""
from __future__ import annotations

import math
from html import escape


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.ceil(lo / step) * step
    ticks, v = [], start
    while v <= hi + 1e-9 * step:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _fmt(v: float) -> str:
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-2):
        return f"{v:.0e}"
    return f"{v:g}"


def loss_svg(train: list[tuple[int, float]], val: list[tuple[int, float]], title: str,
             width: int = 640, height: int = 360) -> str:
    """train/val: (step, loss) points. Non-finite losses are skipped."""
    train = [(s, l) for s, l in train if math.isfinite(l)]
    val = [(s, l) for s, l in val if math.isfinite(l)]
    pts = train + val
    left, right, top, bottom = 60, 20, 30, 40
    pw, ph = width - left - right, height - top - bottom
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>']
    if not pts:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text></svg>')
        return "\n".join(out)
    x_lo, x_hi = 0, max(max(s for s, _ in pts), 1)
    losses = sorted(l for _, l in pts)
    y_lo = min(losses)
    # Clip the first steps' spike so the interesting part of the curve is readable.
    y_hi = losses[min(len(losses) - 1, int(len(losses) * 0.98))] if len(losses) > 20 else losses[-1]
    if y_hi - y_lo < 1e-6:
        y_hi = y_lo + 1.0
    pad = 0.05 * (y_hi - y_lo)
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def X(s):
        return left + pw * (s - x_lo) / (x_hi - x_lo)

    def Y(l):
        return top + ph * (1 - (min(max(l, y_lo), y_hi) - y_lo) / (y_hi - y_lo))

    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    for v in _nice_ticks(y_lo, y_hi):
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{_fmt(v)}</text>')
    for v in _nice_ticks(x_lo, x_hi):
        out.append(f'<text x="{X(v):.1f}" y="{top + ph + 16}" text-anchor="middle">{_fmt(v)}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle">step</text>')
    out.append(f'<text x="14" y="{top + ph / 2}" text-anchor="middle" transform="rotate(-90 14 {top + ph / 2})">loss</text>')
    if train:
        path = " ".join(f"{'M' if i == 0 else 'L'}{X(s):.1f},{Y(l):.1f}" for i, (s, l) in enumerate(train))
        out.append(f'<path d="{path}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>')
    for s, l in val:
        out.append(f'<circle cx="{X(s):.1f}" cy="{Y(l):.1f}" r="4" fill="#d62728"/>')
    out.append(f'<text x="{left + pw - 4}" y="{top + 14}" text-anchor="end" fill="#1f77b4">train (masked CE, 1/t weighted)</text>')
    if val:
        out.append(f'<text x="{left + pw - 4}" y="{top + 28}" text-anchor="end" fill="#d62728">held-out</text>')
    out.append("</svg>")
    return "\n".join(out)
