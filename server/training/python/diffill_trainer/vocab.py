"""The tokenizer and the facts the trainer needs from it: special ids and which tokens end a line.

Special ids are read from the tokenizer by name; nothing is hard-coded. The autoregressive
fill-in-the-middle objective adds four special tokens after the last id (with_fim_tokens), so every id of
the data's tokenizer keeps its meaning and a packed corpus is read unchanged.
"""
from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import BadData

SPECIAL_NAMES = {"pad": "<|pad|>", "bos": "<|bos|>", "eos": "<|eos|>", "mask": "<|mask|>"}
# Fill-in-the-middle rows in prefix-suffix-middle order: <|fim_prefix|> prefix <|fim_suffix|> suffix
# <|fim_middle|> middle <|eom|> (eom: the end of the middle, where an answer stops).
FIM_NAMES = {"fim_prefix": "<|fim_prefix|>", "fim_suffix": "<|fim_suffix|>", "fim_middle": "<|fim_middle|>",
             "eom": "<|eom|>"}


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
    fim: dict | None = None  # FIM_NAMES' keys -> ids, when the tokenizer has them

    def special_tokens(self) -> dict:
        return {"pad": self.pad, "bos": self.bos, "eos": self.eos, "mask": self.mask}

    def arm_special_tokens(self) -> dict:
        """config.json's special_tokens of an autoregressive model: no [PAD] or [MASK] in its vocabulary
        of outputs (both ids stay in the tokenizer, unused)."""
        assert self.fim is not None
        return {"pad": None, "bos": self.bos, "eos": self.eos, "mask": None, **self.fim}

    def special_ids(self) -> list[int]:
        return [self.pad, self.bos, self.eos, self.mask, *(self.fim or {}).values()]

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
    return _vocab(path, tok, ids)


def _vocab(path: Path, tok, ids: dict) -> Vocab:
    fim = {key: tok.token_to_id(name) for key, name in FIM_NAMES.items()}
    if any(v is None for v in fim.values()):
        fim = None
    size = tok.get_vocab_size(with_added_tokens=True)
    newline = np.zeros(size, dtype=bool)
    special = set(ids.values()) | set((fim or {}).values())
    for tid in range(size):
        if tid in special:
            continue
        newline[tid] = "\n" in tok.decode([tid], skip_special_tokens=False)
    return Vocab(path=path, tokenizer=tok, size=size, newline=newline, fim=fim, **ids)


def with_fim_tokens(vocab: Vocab) -> Vocab:
    """The vocabulary with the four fill-in-the-middle tokens as special added tokens with new ids (the
    next free ones, in FIM_NAMES' order); unchanged when it already has them. The extended
    tokenizer.json is written to a temporary folder removed at exit (the model directory copies it)."""
    if vocab.fim is not None:
        return vocab
    from tokenizers import Tokenizer

    spec = json.loads(Path(vocab.path).read_text(encoding="utf-8"))
    added = spec.setdefault("added_tokens", [])
    next_id = vocab.size
    for name in FIM_NAMES.values():
        if any(t.get("content") == name for t in added):
            raise BadData(f"tokenizer {vocab.path} has {name} but not every fill-in-the-middle token")
        added.append({"id": next_id, "content": name, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True})
        next_id += 1
    tmp = Path(tempfile.mkdtemp(prefix="diffill-tokenizer-"))
    atexit.register(shutil.rmtree, tmp, True)
    path = tmp / "tokenizer.json"
    path.write_text(json.dumps(spec, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tok = Tokenizer.from_file(str(path))
    tok.encode_special_tokens = True
    ids = {key: tok.token_to_id(name) for key, name in SPECIAL_NAMES.items()}
    if ids != vocab.special_tokens():
        raise BadData(f"adding the fill-in-the-middle tokens to {vocab.path} moved its special ids")
    out = _vocab(path, tok, ids)
    if out.size != vocab.size + len(FIM_NAMES) or out.fim is None:
        raise BadData(f"cannot add the fill-in-the-middle tokens to {vocab.path} (ids collide)")
    return out
