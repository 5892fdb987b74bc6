"""Exact and near-duplicate removal.

Exact: SHA-256 of the file text; the first copy in build order wins.

Near: MinHash over line shingles with LSH banding.
- A document becomes the set of hashed 3-line shingles of its non-blank,
  whitespace-stripped lines (line structure is what copies of code share; word
  shingles would also match unrelated files full of the same idioms).
- 64 hash functions h_i(x) = high 32 bits of (a_i * x + b_i) mod 2^64, a_i odd,
  from a seeded generator; the signature is the per-function minimum.
- 16 bands of 4 rows: two documents become candidates when a band matches,
  which catches Jaccard 0.8 pairs with probability > 0.99.
- A candidate counts as a duplicate when the estimated Jaccard similarity
  (fraction of equal signature slots) is >= 0.8. Documents are visited in build
  order; a duplicate is dropped, otherwise it joins the index (each bucket keeps
  at most BUCKET_CAP members so boilerplate buckets stay cheap).
"""
from __future__ import annotations

import zlib
from collections import defaultdict

import numpy as np

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
THRESHOLD = 0.8
SHINGLE_LINES = 3
BUCKET_CAP = 16
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))


class MinHasher:
    def __init__(self, seed: int):
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self.b = rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)

    def shingles(self, text: str) -> np.ndarray:
        lines = [ln.strip() for ln in text.split("\n")]
        h = np.fromiter((zlib.crc32(ln.encode("utf-8")) for ln in lines if ln), dtype=np.uint64)
        if len(h) < SHINGLE_LINES:
            return h
        with np.errstate(over="ignore"):
            s = h[:-2] * _MIX[0] + h[1:-1] * _MIX[1] + h[2:]
        return np.unique(s)

    def signature(self, text: str) -> np.ndarray | None:
        s = self.shingles(text)
        if len(s) < SHINGLE_LINES:
            return None  # too short for a meaningful set; exact dedup covers these
        sig = np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
        with np.errstate(over="ignore"):
            # Chunks bound the (NUM_PERM x n) temporary for very long files.
            for start in range(0, len(s), 32768):
                part = s[start:start + 32768]
                v = (self.a[:, None] * part[None, :] + self.b[:, None]) >> np.uint64(32)
                sig = np.minimum(sig, v.min(axis=1))
        return sig.astype(np.uint32)


def similarity(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(x == y))


class NearDedup:
    """Streaming near-duplicate filter: call seen(text) in build order."""

    def __init__(self, seed: int):
        self.hasher = MinHasher(seed)
        self.buckets: list[dict[bytes, list[int]]] = [defaultdict(list) for _ in range(BANDS)]
        self.sigs: list[np.ndarray] = []

    def is_duplicate(self, text: str) -> bool:
        sig = self.hasher.signature(text)
        if sig is None:
            return False
        keys = [sig[b * ROWS:(b + 1) * ROWS].tobytes() for b in range(BANDS)]
        checked: set[int] = set()
        for b, k in enumerate(keys):
            for idx in self.buckets[b].get(k, ()):
                if idx in checked:
                    continue
                checked.add(idx)
                if similarity(sig, self.sigs[idx]) >= THRESHOLD:
                    return True
        idx = len(self.sigs)
        self.sigs.append(sig)
        for b, k in enumerate(keys):
            bucket = self.buckets[b][k]
            if len(bucket) < BUCKET_CAP:
                bucket.append(idx)
        return False


class ExactDedup:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def is_duplicate(self, sha256: str) -> bool:
        if sha256 in self.seen:
            return True
        self.seen.add(sha256)
        return False
