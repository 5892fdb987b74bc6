"""Encode documents into flat little-endian uint16 token streams: <|bos|> tokens <|eos|> per document."""
from __future__ import annotations

import os
from typing import Iterable

import numpy as np
from tokenizers import Tokenizer

BATCH = 1024


def special_ids(tok: Tokenizer) -> dict[str, int]:
    ids = {}
    for name, token in (("pad", "<|pad|>"), ("bos", "<|bos|>"), ("eos", "<|eos|>"), ("mask", "<|mask|>")):
        i = tok.token_to_id(token)
        if i is None:
            raise ValueError(f"tokenizer lacks special token {token}")
        ids[name] = i
    return ids


def encode_to_file(tok: Tokenizer, texts: Iterable[str], path: str) -> list[int]:
    """Write the stream to path (atomically); return the token count of each document incl. BOS/EOS."""
    if tok.get_vocab_size() > 65536:
        raise ValueError("vocabulary does not fit uint16")
    sp = special_ids(tok)
    # Source text may contain the literal strings "<|eos|>" etc.; they must stay text,
    # or a document could smuggle control tokens into the stream.
    tok.encode_special_tokens = True
    bos = np.array([sp["bos"]], dtype="<u2")
    eos = np.array([sp["eos"]], dtype="<u2")
    counts: list[int] = []
    tmp = path + ".part"
    with open(tmp, "wb") as fh:
        batch: list[str] = []

        def flush() -> None:
            # encode_batch runs on the Rust thread pool: this is where the cores go.
            for enc in tok.encode_batch(batch, add_special_tokens=False):
                arr = np.asarray(enc.ids, dtype="<u2")
                fh.write(bos.tobytes())
                fh.write(arr.tobytes())
                fh.write(eos.tobytes())
                counts.append(len(arr) + 2)
            batch.clear()

        for t in texts:
            batch.append(t)
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
    os.replace(tmp, path)
    return counts
