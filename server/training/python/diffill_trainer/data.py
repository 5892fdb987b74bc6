"""Training data: a packed corpus directory, a .tar.xz bundle of one, plain text, or a facts file.

A packed corpus is `meta.json` + `train.bin` + `val.bin`: flat little-endian uint16 token streams in
which every document is `<|bos|> ... <|eos|>`. Plain text is tokenized here, one document per file, and
the held-out split is by file (a stable hash of the relative path), so it is deterministic.
Training reads random windows of `seq_len` tokens; many epochs over a small corpus are fine.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import BadData
from .vocab import SPECIAL_NAMES, Vocab

MAX_TEXT_FILE_BYTES = 4 << 20
VAL_FRACTION = 0.05  # of the text's characters, held out by whole files


@dataclass
class Corpus:
    train: np.ndarray  # 1-D token stream (uint16 memmap or array)
    val: np.ndarray
    description: str
    facts: list[np.ndarray] | None = None  # facts mode: one short document per example
    meta: dict = field(default_factory=dict)

    @property
    def train_tokens(self) -> int:
        return int(self.train.shape[0])


def locate_packed(path: str | Path) -> Path | None:
    """The packed corpus directory behind --data (a bundle is extracted to a temporary directory that is
    removed at exit), or None for plain text."""
    path = Path(path)
    if not path.exists():
        raise BadData(f"--data path does not exist: {path}")
    if path.is_dir() and (path / "meta.json").is_file():
        return path
    if path.is_file() and path.name.endswith((".tar.xz", ".txz")):
        return _extract_bundle(path)
    return None


def load_corpus(path: str | Path, vocab: Vocab, packed: Path | None = None) -> Corpus:
    """`packed`: the result of locate_packed(path), when the caller already has it."""
    path = Path(path)
    packed = packed if packed is not None else locate_packed(path)
    if packed is not None:
        corpus = _load_packed(packed)
        corpus.description = f"{'bundle' if packed != path else 'packed'}:{path}"
    else:
        corpus = _load_text(path, vocab)
    _check_ids(corpus, vocab)
    return corpus


def load_facts(path: str | Path, vocab: Vocab) -> Corpus:
    """Each non-empty line is its own document `<|bos|> line <|eos|>`."""
    path = Path(path)
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise BadData(f"cannot read facts file {path}: {e}") from e
    lines = [ln for ln in lines if ln]
    if not lines:
        raise BadData(f"facts file {path} has no non-empty lines")
    docs = [np.array([vocab.bos, *ids, vocab.eos], dtype=np.int64) for ids in vocab.encode_batch(lines)]
    stream = np.concatenate(docs)
    # Facts are memorised, not generalised: the held-out figures are measured on the facts themselves.
    return Corpus(train=stream, val=stream, description=f"facts:{path.name} ({len(docs)} lines)", facts=docs)


def _load_packed(root: Path) -> Corpus:
    try:
        meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BadData(f"cannot read {root / 'meta.json'}: {e}") from e
    dtype = str(meta.get("dtype", "uint16"))
    if dtype != "uint16":
        raise BadData(f"{root / 'meta.json'}: dtype {dtype!r} is not supported (uint16 expected)")
    streams = {}
    for split in ("train", "val"):
        f = root / f"{split}.bin"
        if not f.is_file():
            raise BadData(f"packed corpus {root} has no {split}.bin")
        if f.stat().st_size % 2 or f.stat().st_size == 0:
            raise BadData(f"{f} is empty or not a whole number of uint16 tokens")
        streams[split] = np.memmap(f, dtype="<u2", mode="r")
    return Corpus(streams["train"], streams["val"], f"packed:{root}", meta=meta)


def _extract_bundle(bundle: Path) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="diffill-data-"))
    atexit.register(shutil.rmtree, tmp, True)
    try:
        with tarfile.open(bundle, "r:xz") as tar:
            tar.extractall(tmp, filter="data")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise BadData(f"cannot extract {bundle}: {e}") from e
    for candidate in [tmp, *sorted(p for p in tmp.rglob("*") if p.is_dir())]:
        if (candidate / "meta.json").is_file():
            return candidate
    raise BadData(f"bundle {bundle} holds no meta.json")


def _read_text_file(f: Path) -> str | None:
    if f.stat().st_size > MAX_TEXT_FILE_BYTES:
        return None
    raw = f.read_bytes()
    if b"\0" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _load_text(path: Path, vocab: Vocab) -> Corpus:
    if path.is_file():
        text = _read_text_file(path)
        if not text:
            raise BadData(f"{path} is not a non-empty UTF-8 text file")
        # A single file has no files to hold out: the last tenth of its lines is the held-out slice.
        lines = text.splitlines(keepends=True)
        cut = max(1, len(lines) - max(1, len(lines) // 10)) if len(lines) > 1 else len(lines)
        train_docs, val_docs = ["".join(lines[:cut])], ["".join(lines[cut:]) or text]
    else:
        files = sorted(
            f for f in path.rglob("*")
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(path).parts)
        )
        docs = []
        for f in files:
            text = _read_text_file(f)
            if text and text.strip():
                docs.append((f.relative_to(path).as_posix(), text))
        if not docs:
            raise BadData(f"no UTF-8 text files under {path}")
        val_idx = _held_out(docs)
        train_docs = [t for i, (_, t) in enumerate(docs) if i not in val_idx]
        val_docs = [t for i, (_, t) in enumerate(docs) if i in val_idx] or train_docs[-1:]

    def pack(texts):
        out = []
        for ids in vocab.encode_batch(texts):
            out.extend([vocab.bos, *ids, vocab.eos])
        return np.array(out, dtype=np.uint16 if vocab.size <= 65536 else np.int64)

    return Corpus(pack(train_docs), pack(val_docs), f"text:{path}")


def _held_out(docs: list[tuple[str, str]]) -> set[int]:
    """Whole files in a stable pseudo-random order (CRC32 of the relative path) until they hold
    VAL_FRACTION of the characters; at least one file, and never all of them."""
    if len(docs) < 2:
        return set()
    order = sorted(range(len(docs)), key=lambda i: (zlib.crc32(docs[i][0].encode()), docs[i][0]))
    target = VAL_FRACTION * sum(len(t) for _, t in docs)
    chosen, size = set(), 0
    for i in order[:-1]:
        if size >= target:
            break
        chosen.add(i)
        size += len(docs[i][1])
    return chosen


def _check_ids(corpus: Corpus, vocab: Vocab) -> None:
    for name, stream in (("train", corpus.train), ("val", corpus.val)):
        if stream.shape[0] < 2:
            raise BadData(f"{corpus.description}: the {name} split has fewer than 2 tokens")
        # The whole stream for small corpora, an evenly spaced sample for large ones (memmaps stay lazy).
        step = max(1, stream.shape[0] // 1_000_000)
        top = int(np.max(stream[::step]))
        if top >= vocab.size:
            raise BadData(f"{corpus.description}: {name} token id {top} >= vocab size {vocab.size} "
                          "(was the corpus packed with another tokenizer?)")
    meta = corpus.meta
    vs = meta.get("vocab_size")
    if vs is not None and int(vs) != vocab.size:
        raise BadData(f"{corpus.description}: meta.json vocab_size {vs} != tokenizer's {vocab.size}")
    if meta.get("byte_order", "little") != "little":
        raise BadData(f"{corpus.description}: byte_order {meta['byte_order']!r} is not supported")
    special = meta.get("special_ids")
    if isinstance(special, dict):
        mine = {**vocab.special_tokens(), **{name: getattr(vocab, key) for key, name in SPECIAL_NAMES.items()}}
        wrong = {k: v for k, v in special.items() if k in mine and mine[k] != v}
        if wrong:
            raise BadData(f"{corpus.description}: special ids {wrong} differ from the tokenizer's {mine}")
    sha = meta.get("tokenizer_sha256")
    if sha and sha != hashlib.sha256(Path(vocab.path).read_bytes()).hexdigest():
        raise BadData(f"{corpus.description} was packed with another tokenizer (sha256 {sha[:12]}...) than "
                      f"{vocab.path}; pass the matching --tokenizer")


def sample_windows(stream: np.ndarray, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """n random windows [n, length] (int64). A stream shorter than a window is repeated."""
    if stream.shape[0] < length + 1:
        reps = (length + 1) // stream.shape[0] + 1
        stream = np.tile(np.asarray(stream), reps)
    starts = rng.integers(0, stream.shape[0] - length, size=n)
    idx = starts[:, None] + np.arange(length)[None, :]
    return np.asarray(stream[idx], dtype=np.int64)


def pack_facts(facts: list[np.ndarray], n: int, length: int, pad_id: int, rng: np.random.Generator):
    """n rows of whole facts in random order, each row filled up to `length` with pad (not trained).

    Returns (tokens [n, length], trainable bool [n, length]). A fact longer than a row is cut.
    """
    tokens = np.full((n, length), pad_id, dtype=np.int64)
    trainable = np.zeros((n, length), dtype=bool)
    order = rng.permutation(len(facts))
    k = 0
    for r in range(n):
        pos = 0
        while True:
            doc = facts[order[k % len(order)]]
            if pos > 0 and pos + len(doc) > length:
                break
            take = min(len(doc), length - pos)
            tokens[r, pos:pos + take] = doc[:take]
            trainable[r, pos:pos + take] = True
            pos += take
            k += 1
            if pos >= length:
                break
    return tokens, trainable
