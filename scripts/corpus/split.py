"""Train/validation/test split by package family.

Every file of a family (see manifest.default_family) lands in one split, so held-
out code never shares a package with training code. Families are visited in the
order of sha256(seed:family) and poured into test, then validation, until each
reaches its byte fraction. This runs separately for Python-dominated and JS/TS-
dominated families so both held-out splits contain both ecosystems. Families
larger than max_family_fraction of the corpus always train: one huge package
would otherwise make up most of a held-out split.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass
class FamilyStat:
    family: str
    bytes: int
    python_bytes: int
    js_bytes: int

    @property
    def group(self) -> str:
        return "python" if self.python_bytes >= self.js_bytes else "js"


def order_key(seed: int, family: str) -> str:
    return hashlib.sha256(f"{seed}:{family}".encode()).hexdigest()


def assign(stats: list[FamilyStat], seed: int, test_fraction: float, val_fraction: float,
           max_family_fraction: float) -> dict[str, str]:
    if not (0 <= test_fraction < 1 and 0 <= val_fraction < 1 and test_fraction + val_fraction < 1):
        raise ValueError("split fractions must be in [0, 1) and sum below 1")
    total = sum(s.bytes for s in stats)
    cap = max_family_fraction * total
    out: dict[str, str] = {}
    for group in ("python", "js"):
        members = sorted((s for s in stats if s.group == group), key=lambda s: order_key(seed, s.family))
        gbytes = sum(s.bytes for s in members)
        targets = {"test": test_fraction * gbytes, "val": val_fraction * gbytes}
        filled = {"test": 0, "val": 0}
        for s in members:
            out[s.family] = "train"
            if s.bytes > cap or s.bytes == 0:
                continue
            for split in ("test", "val"):
                if filled[split] < targets[split] and filled[split] + s.bytes <= 1.5 * targets[split]:
                    out[s.family] = split
                    filled[split] += s.bytes
                    break
    return out
