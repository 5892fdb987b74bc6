"""A published checkpoint's tokenizer, as the tokenizer.json of a Diffill model directory.

The engine (server/engine/tokenizer.ts) reproduces two tokenizer families exactly, and refuses any
other file:

- "sentencepiece-bpe": the Llama-2 / TinyLlama SentencePiece BPE as Hugging Face writes it: normalizer
  Sequence[Prepend("▁"), Replace(" ", "▁")] (or, newer, no normalizer and a Metaspace pre-tokenizer
  with split false), a BPE model with byte_fallback (characters outside the vocabulary become <0xNN>
  byte tokens), and the decoder Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip].
- "byte-level-bpe": GPT-2-style byte-level BPE (Diffill's own tokenizer, Qwen2's): no normalizer or
  NFC, Split(regex, Isolated) pre-tokenizers then ByteLevel(use_regex false, add_prefix_space false),
  a ByteLevel decoder.

convert_tokenizer() accepts a tokenizer.json of either family, or a SentencePiece tokenizer.model of
BPE type, which it converts to the first family itself (the vocabulary from the pieces, merges from
the vocabulary the way Hugging Face's converter makes them). engine_tokenizer() builds the Python
`tokenizers` object that gives exactly the engine's ids, for training data and parity tests: added
tokens are never split out of text, and for the SentencePiece family encode() has no dummy "▁"
prefix (document=True adds it, as at the start of a document).

Torch-free; reading a tokenizer.model needs the `sentencepiece` package.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..errors import PIP_COMMAND, BadData, MissingDependency

SENTENCEPIECE = "sentencepiece-bpe"
BYTE_LEVEL = "byte-level-bpe"
SPACE_MARK = "\u2581"  # "▁", SentencePiece's visible space
_BYTE_TOKEN = re.compile(r"^<0x[0-9A-F]{2}>$")

# Special tokens by name when the source has no tokenizer_config.json that names them.
_NAMES = {
    "bos": ("<s>", "<|bos|>"),
    "eos": ("</s>", "<|eos|>", "<|endoftext|>"),
    "pad": ("<pad>", "<|pad|>"),
}

# Hugging Face normalizer types: the only values from a file that an error repeats.
_NORMALIZERS = {"BertNormalizer", "Lowercase", "NFD", "NFKC", "NFKD", "Nmt", "Precompiled", "Prepend", "Replace",
                "Sequence", "Strip", "StripAccents", "ByteLevel"}

# SentencePiece piece types (sentencepiece_model.proto).
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6


def convert_tokenizer(src: Path, dst_json: Path, vocab_rows: int) -> dict:
    """Write `src` (tokenizer.json or SentencePiece tokenizer.model) as `dst_json` in a form the engine
    loads, after checking every token id is below `vocab_rows` (the checkpoint's embedding rows).

    Returns {"family", "tokens" (highest id + 1), "bos", "eos", "unk", "pad"} with ids or None. The
    special ids come from the SentencePiece model, else from a tokenizer_config.json beside `src`
    (Hugging Face's bos_token, eos_token, pad_token, unk_token), else from the usual token names.
    """
    src, dst_json = Path(src), Path(dst_json)
    if not src.is_file():
        raise BadData(f"tokenizer file not found: {src}")
    if src.suffix == ".model":
        doc, named = _from_sentencepiece(src)
    else:
        doc = _read_json(src)
        named = _config_names(src.parent)
    family = check_tokenizer_json(doc, str(src))
    doc = _without_merges_into_specials(doc)
    tokens = _id_count(doc)
    if tokens > vocab_rows:
        raise BadData(f"the tokenizer has {tokens} tokens but the checkpoint's embedding has {vocab_rows} rows")
    ids = _special_ids(doc, named)
    dst_json.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst_json.with_name(dst_json.name + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, dst_json)
    return {"family": family, "tokens": tokens, **ids}


def engine_tokenizer(source, document: bool = False):
    """A `tokenizers.Tokenizer` whose encode(text, add_special_tokens=False) gives the engine's ids.

    `source`: a path, tokenizer.json text, or its parsed dict. Added tokens (special or not) are
    ordinary text inside `text`. For the SentencePiece family the dummy "▁" prefix is left out unless
    `document` (the engine's encode() and encodeDocument()).
    """
    from tokenizers import Tokenizer

    if isinstance(source, dict):
        doc = json.loads(json.dumps(source))
    elif isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("{")):
        doc = _read_json(Path(source))
    else:
        doc = json.loads(source)
    family = check_tokenizer_json(doc, "tokenizer.json")
    # The Rust library splits non-special added tokens out of text even with encode_special_tokens;
    # marked special, none is.
    for t in doc.get("added_tokens") or []:
        t["special"] = True
    if family == SENTENCEPIECE and not document:
        norm = doc.get("normalizer")
        if norm is not None:
            doc["normalizer"] = {"type": "Sequence", "normalizers": [n for n in norm["normalizers"] if n["type"] != "Prepend"]}
        else:
            doc["pre_tokenizer"] = {**doc["pre_tokenizer"], "prepend_scheme": "never"}
            doc["pre_tokenizer"].pop("add_prefix_space", None)
    tok = Tokenizer.from_str(json.dumps(doc))
    tok.encode_special_tokens = True
    return tok


def check_tokenizer_json(doc: dict, source: str) -> str:
    """The family of a parsed tokenizer.json, or BadData naming what the engine would refuse."""

    def fail(what: str):
        raise BadData(f"{source}: {what}")

    if not isinstance(doc, dict):
        fail("expected a JSON object")
    model = doc.get("model")
    if not isinstance(model, dict) or model.get("type", "BPE") != "BPE":
        fail("the model must be BPE")
    if model.get("dropout") not in (None, 0, 0.0):
        fail("BPE dropout must be off for deterministic ids")
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        fail("BPE subword prefixes/suffixes are not supported")
    if not isinstance(model.get("vocab"), dict) or not isinstance(model.get("merges"), list):
        fail("model.vocab must be an object and model.merges an array")
    for k, t in enumerate(doc.get("added_tokens") or []):
        if not isinstance(t, dict) or not isinstance(t.get("content"), str) or not isinstance(t.get("id"), int):
            fail(f"added token #{k} needs a string content and a numeric id")
    if model.get("byte_fallback"):
        _check_sentencepiece(doc, fail)
        return SENTENCEPIECE
    _check_byte_level(doc, fail)
    return BYTE_LEVEL


def _check_sentencepiece(doc: dict, fail) -> None:
    model = doc["model"]
    vocab = model["vocab"]
    missing = [b for b in range(256) if f"<0x{b:02X}>" not in vocab]
    if missing:
        fail(f"byte_fallback needs all 256 byte tokens; <0x{missing[0]:02X}> is missing")
    if model.get("ignore_merges"):
        fail("BPE ignore_merges is not supported with byte_fallback")
    norm, pre = doc.get("normalizer"), doc.get("pre_tokenizer")
    replace = {"type": "Replace", "pattern": {"String": " "}, "content": SPACE_MARK}
    if norm is not None:
        steps = norm.get("normalizers") if norm.get("type") == "Sequence" else None
        if steps != [{"type": "Prepend", "prepend": SPACE_MARK}, replace] or pre is not None:
            fail('the normalizer must be Sequence[Prepend("▁"), Replace(" ", "▁")] with no pre-tokenizer')
    else:
        ok = isinstance(pre, dict) and pre.get("type") == "Metaspace" and pre.get("replacement") == SPACE_MARK
        scheme = pre.get("prepend_scheme", "always" if pre.get("add_prefix_space", True) else "never") if ok else None
        if not ok or scheme not in ("first", "always") or pre.get("split", True) is not False:
            fail('expected a Metaspace("▁") pre-tokenizer with prepend_scheme first or always and split false')
    dec = doc.get("decoder") or {}
    steps = [{k: v for k, v in s.items()} for s in dec.get("decoders", [])] if dec.get("type") == "Sequence" else None
    head = [{"type": "Replace", "pattern": {"String": SPACE_MARK}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}]
    strip = {"type": "Strip", "content": " ", "start": 1, "stop": 0}
    if steps not in (head, head + [strip]):
        fail('the decoder must be Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)]')


def _check_byte_level(doc: dict, fail) -> None:
    norm = doc.get("normalizer")
    if norm is not None and norm.get("type") != "NFC":
        kind = norm.get("type") if norm.get("type") in _NORMALIZERS else ""
        fail(f"the normalizer {kind + ' ' if kind else ''}is not supported (none, or NFC)")
    pre = doc.get("pre_tokenizer")
    steps = (pre.get("pretokenizers") if pre.get("type") == "Sequence" else [pre]) if isinstance(pre, dict) else None
    if not steps or not isinstance(steps[-1], dict) or steps[-1].get("type") != "ByteLevel":
        fail("a pre_tokenizer ending in ByteLevel is required")
    if steps[-1].get("use_regex") is not False or steps[-1].get("add_prefix_space") is True:
        fail("the ByteLevel pre-tokenizer must have use_regex false and add_prefix_space false")
    for s in steps[:-1]:
        if s.get("type") != "Split" or s.get("behavior") != "Isolated" or s.get("invert"):
            fail("only Split(Isolated) pre-tokenizers may come before ByteLevel")
    if (doc.get("decoder") or {}).get("type") != "ByteLevel":
        fail("the decoder must be ByteLevel")
    from tokenizers.pre_tokenizers import ByteLevel

    missing = sorted(set(ByteLevel.alphabet()) - set(doc["model"]["vocab"]))
    if missing:
        fail(f"the vocabulary lacks {len(missing)} of the 256 byte-level characters; some text could not be encoded")


def _without_merges_into_specials(doc: dict) -> dict:
    """SentencePiece never builds a control token (<s>, </s>, <unk>) out of text, but a merge list
    generated from the vocabulary can ("<" + "s>"); such merges are dropped, as the engine requires
    (a special token decodes to no text)."""
    added = {t["content"] for t in doc.get("added_tokens") or [] if t.get("special")}
    merges = doc["model"]["merges"]
    kept = [m for m in merges if "".join(m if isinstance(m, list) else m.split(" ", 1)) not in added]
    if len(kept) == len(merges):
        return doc
    return {**doc, "model": {**doc["model"], "merges": kept}}


def _id_count(doc: dict) -> int:
    ids = list(doc["model"]["vocab"].values()) + [t["id"] for t in doc.get("added_tokens") or []]
    return max(ids, default=-1) + 1


def _special_ids(doc: dict, named: dict) -> dict:
    lookup = dict(doc["model"]["vocab"])
    lookup.update({t["content"]: t["id"] for t in doc.get("added_tokens") or []})
    out = {}
    for key in ("bos", "eos", "unk", "pad"):
        if key in named:
            name = named[key]
            if name is not None and name not in lookup:
                raise BadData(f"the tokenizer configuration names {key} token {name!r}, which the tokenizer lacks")
            out[key] = None if name is None else lookup[name]
        elif key == "unk":
            unk = doc["model"].get("unk_token")
            out[key] = lookup.get(unk) if unk is not None else None
        else:
            out[key] = next((lookup[n] for n in _NAMES[key] if n in lookup), None)
    return out


def _config_names(folder: Path) -> dict:
    """bos/eos/pad/unk token names from a Hugging Face tokenizer_config.json, where there is one."""
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return {}
    cfg = _read_json(path)
    out = {}
    for key in ("bos", "eos", "pad", "unk"):
        if f"{key}_token" in cfg:
            v = cfg[f"{key}_token"]
            out[key] = v.get("content") if isinstance(v, dict) else v
    return out


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise BadData(f"cannot read {path}: {type(e).__name__}") from None
    if not isinstance(doc, dict):
        raise BadData(f"{path}: expected a JSON object")
    return doc


def _from_sentencepiece(path: Path) -> tuple[dict, dict]:
    """A SentencePiece BPE model as Hugging Face's tokenizer.json (the legacy Llama form), and its
    special token names."""
    try:
        import sentencepiece as spm
        from sentencepiece import sentencepiece_model_pb2 as pb
    except ImportError:
        raise MissingDependency(f"reading a SentencePiece tokenizer.model needs the sentencepiece package: {PIP_COMMAND}") from None
    proto = pb.ModelProto()
    try:
        proto.ParseFromString(path.read_bytes())
        spm.SentencePieceProcessor(model_proto=proto.SerializeToString())
    except Exception as e:  # protobuf's DecodeError, sentencepiece's RuntimeError
        raise BadData(f"{path} is not a SentencePiece model ({type(e).__name__})") from None
    if proto.trainer_spec.model_type != pb.TrainerSpec.BPE:
        kind = pb.TrainerSpec.ModelType.Name(proto.trainer_spec.model_type)
        raise BadData(f"{path} is a SentencePiece {kind} model; only BPE models are supported")
    ns = proto.normalizer_spec
    if ns.name not in ("identity", "") or ns.precompiled_charsmap or ns.remove_extra_whitespaces or not ns.add_dummy_prefix:
        raise BadData(f"{path}: the SentencePiece normalizer must be identity with the dummy prefix and without removing spaces")
    if proto.trainer_spec.treat_whitespace_as_suffix:
        raise BadData(f"{path}: treat_whitespace_as_suffix is not supported")
    if not proto.trainer_spec.byte_fallback:
        raise BadData(f"{path}: the SentencePiece model needs byte_fallback (characters outside the vocabulary would be lost)")
    pieces = [(p.piece, p.score, p.type) for p in proto.pieces]
    for piece, _, kind in pieces:
        if kind == _USER_DEFINED:
            raise BadData(f"{path}: user-defined pieces are not supported ({piece!r})")
    vocab = {piece: i for i, (piece, _, _) in enumerate(pieces)}
    skip = {piece for piece, _, kind in pieces if kind != _NORMAL}
    merges = _generate_merges(vocab, {piece: score for piece, score, _ in pieces}, skip)
    unk = next((piece for piece, _, kind in pieces if kind == _UNKNOWN), None)
    added = [
        {"id": i, "content": piece, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
        for i, (piece, _, kind) in enumerate(pieces) if kind in (_UNKNOWN, _CONTROL)
    ]
    tid = lambda i: proto.pieces[i].piece if 0 <= i < len(proto.pieces) else None  # noqa: E731
    spec = proto.trainer_spec
    named = {"bos": tid(spec.bos_id), "eos": tid(spec.eos_id), "unk": tid(spec.unk_id), "pad": tid(spec.pad_id)}
    bos = named["bos"]
    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SPACE_MARK},
            {"type": "Replace", "pattern": {"String": " "}, "content": SPACE_MARK},
        ]},
        "pre_tokenizer": None,
        "post_processor": None if bos is None else {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [vocab[bos]], "tokens": [bos]}},
        },
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE_MARK}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": unk, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
            "vocab": vocab, "merges": [[a, b] for a, b in merges],
        },
    }
    return doc, named


def _generate_merges(vocab: dict, scores: dict, skip: set) -> list[tuple[str, str]]:
    """Every split of a vocabulary piece into two vocabulary pieces is a merge, ranked by the piece's
    score (highest first; SentencePiece BPE merges the best-scoring pair first), then by the longer
    left part, then the longer right part; Hugging Face's converter ranks them the same way."""
    found = []
    for piece, score in scores.items():
        if piece in skip:
            continue
        local = [(piece[:k], piece[k:]) for k in range(1, len(piece))]
        local = [(a, b) for a, b in local if a in vocab and b in vocab and a not in skip and b not in skip]
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        found.extend((a, b, score) for a, b in local)
    found.sort(key=lambda m: (m[2], len(m[0]), len(m[1])), reverse=True)
    return [(a, b) for a, b, _ in found]
