"""The tokenizer and the facts the trainer needs from it: special ids and which tokens end a line.

Special ids are read from the tokenizer by name; nothing is hard-coded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import BadData

SPECIAL_NAMES = {"pad": "<|pad|>", "bos": "<|bos|>", "eos": "<|eos|>", "mask": "<|mask|>"}


@dataclass
class Vocab:
    path: Path
    tokenizer: object  # tokenizers.Tokenizer
    size: int
    pad: int
    bos: int
    eos: int
    mask: int
    newline: np.ndarray  # bool [size]: the token's text contains a line break

    def special_tokens(self) -> dict:
        return {"pad": self.pad, "bos": self.bos, "eos": self.eos, "mask": self.mask}

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)


def load_vocab(path: Path) -> Vocab:
    from tokenizers import Tokenizer

    path = Path(path)
    if not path.is_file():
        raise BadData(f"tokenizer file not found: {path}")
    try:
        tok = Tokenizer.from_file(str(path))
        # Special-token strings inside training text are ordinary text, as in the engine: a literal
        # "<|mask|>" in a source file must not become the mask id.
        tok.encode_special_tokens = True
    except Exception as e:  # the tokenizers library raises plain Exceptions for malformed files
        raise BadData(f"cannot read tokenizer {path}: {e}") from e
    ids = {}
    for key, name in SPECIAL_NAMES.items():
        tid = tok.token_to_id(name)
        if tid is None:
            raise BadData(f"tokenizer {path} has no special token {name}")
        ids[key] = tid
    size = tok.get_vocab_size(with_added_tokens=True)
    newline = np.zeros(size, dtype=bool)
    for tid in range(size):
        if tid in ids.values():
            continue
        newline[tid] = "\n" in tok.decode([tid], skip_special_tokens=False)
    return Vocab(path=path, tokenizer=tok, size=size, newline=newline, **ids)
