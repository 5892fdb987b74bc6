"""Importing tokenizers (diffill_trainer.imports.tokenizer): the two families the engine reproduces.

test/fixtures/tokenizer-families/vectors.json holds the ids for tiny tokenizers of each family; the
TypeScript tokenizer is checked against the same file (test/unit/tokenizer-families.test.ts), so
together the two pin engine/importer parity. A failure of the first test means a fixture changed:
run `npm run gen:tokenizer-family-vectors`.
"""
from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "server/training/python"))
sys.path.insert(0, str(ROOT / "scripts"))

from diffill_trainer.errors import BadData  # noqa: E402
from diffill_trainer.imports.tokenizer import convert_tokenizer, engine_tokenizer  # noqa: E402

DIR = ROOT / "test/fixtures/tokenizer-families"
VECTORS = json.loads((DIR / "vectors.json").read_text(encoding="ascii"))
spm = pytest.importorskip("sentencepiece", reason="sentencepiece missing: pip install -r server/training/python/requirements.txt")


def _generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_family", ROOT / "scripts/gen-tokenizer-family-vectors.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _recorded(name: str, field: str) -> list[list[int]]:
    e = VECTORS["tokenizers"][name]
    if "base" not in e:
        return e.get(field, e["ids"])
    base = _recorded(e["base"], field)
    except_ = e.get(f"{field}_except", {})
    return [except_.get(str(i), ids) for i, ids in enumerate(base)]


def test_vectors_match_the_fixture_files():
    for e in VECTORS["tokenizers"].values():
        digest = hashlib.sha256((DIR / e["file"]).read_bytes()).hexdigest()
        assert digest == e["sha256"], f"{e['file']} changed since the vectors were made: run `npm run gen:tokenizer-family-vectors`"


@pytest.mark.parametrize("name", sorted(VECTORS["tokenizers"]))
def test_python_gives_the_recorded_ids(name):
    path = DIR / VECTORS["tokenizers"][name]["file"]
    for field, document in (("ids", False), ("document_ids", True)):
        tok = engine_tokenizer(path, document=document)
        got = [e.ids for e in tok.encode_batch(VECTORS["texts"], add_special_tokens=False)]
        for case, ids, want in zip(VECTORS["names"], got, _recorded(name, field)):
            assert ids == want, f"{name} {field} case {case}"


def test_the_committed_conversion_is_the_converters_and_gives_sentencepieces_ids(tmp_path):
    out = tmp_path / "tokenizer.json"
    info = convert_tokenizer(DIR / "sp-bpe.model", out, 600)
    assert out.read_bytes() == (DIR / "sp-bpe.tokenizer.json").read_bytes(), "run `npm run gen:tokenizer-family-vectors`"
    assert info == {"family": "sentencepiece-bpe", "tokens": 600, "bos": 1, "eos": 2, "unk": 0, "pad": None}
    sp = spm.SentencePieceProcessor(model_file=str(DIR / "sp-bpe.model"))
    assert [sp.encode(t) for t in VECTORS["texts"]] == _recorded("sp-bpe", "document_ids")


def test_a_sentencepiece_model_trained_now_converts_to_its_own_ids(tmp_path):
    gen = _generator()
    model = tmp_path / "tokenizer.model"
    gen.train_sentencepiece(model, vocab_size=450)
    info = convert_tokenizer(model, tmp_path / "out" / "tokenizer.json", 452)
    assert info["family"] == "sentencepiece-bpe" and info["tokens"] <= 452
    assert (info["bos"], info["eos"], info["unk"], info["pad"]) == (1, 2, 0, None)
    sp = spm.SentencePieceProcessor(model_file=str(model))
    doc = engine_tokenizer(tmp_path / "out" / "tokenizer.json", document=True)
    piece = engine_tokenizer(tmp_path / "out" / "tokenizer.json")
    rng = random.Random(7)
    texts = list(gen.texts().values()) + ["".join(rng.choice(" ab<>s/\n\u2581\u00e9\U0001f600") for _ in range(30)) for _ in range(200)]
    for text in texts:
        want = sp.encode(text)
        assert doc.encode(text, add_special_tokens=False).ids == want, repr(text)
        # The engine's form has no dummy prefix: a space written in front stands in for it.
        if text:
            assert piece.encode(" " + text, add_special_tokens=False).ids == want, repr(text)
        ids = piece.encode(text, add_special_tokens=False).ids
        spelled = b"".join(bytes([int(sp.id_to_piece(i)[3:5], 16)]) if sp.is_byte(i) else sp.id_to_piece(i).replace("\u2581", " ").encode() for i in ids)
        assert spelled == text.replace("\u2581", " ").encode(), repr(text)


def test_the_engine_form_keeps_added_tokens_as_text():
    tok = engine_tokenizer(DIR / "qwen2-bpe.tokenizer.json")
    added = {t.content: i for i, t in tok.get_added_tokens_decoder().items()}
    assert not all(t["special"] for t in json.loads((DIR / "qwen2-bpe.tokenizer.json").read_text())["added_tokens"])
    for text in ("<|fim_prefix|>x<|fim_suffix|>", "<|endoftext|>", "a<|im_start|>b"):
        ids = tok.encode(text, add_special_tokens=False).ids
        assert not set(ids) & set(added.values()), text
        assert tok.decode(ids) == text
    # The unmodified library splits the non-special ones out even with encode_special_tokens.
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(DIR / "qwen2-bpe.tokenizer.json"))
    raw.encode_special_tokens = True
    assert added["<|fim_prefix|>"] in raw.encode("<|fim_prefix|>x", add_special_tokens=False).ids


def test_a_json_tokenizer_is_checked_and_its_special_ids_come_from_its_config(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "tokenizer.json").write_bytes((DIR / "qwen2-bpe.tokenizer.json").read_bytes())
    info = convert_tokenizer(src / "tokenizer.json", tmp_path / "out.json", 712)
    assert info == {"family": "byte-level-bpe", "tokens": 709, "bos": None, "eos": 700, "unk": None, "pad": None}
    (src / "tokenizer_config.json").write_text(json.dumps({
        "bos_token": None, "eos_token": {"content": "<|im_end|>"}, "pad_token": "<|endoftext|>"}))
    info = convert_tokenizer(src / "tokenizer.json", tmp_path / "out.json", 712)
    assert (info["bos"], info["eos"], info["pad"]) == (None, 702, 700)
    assert json.loads((tmp_path / "out.json").read_text()) == json.loads((src / "tokenizer.json").read_text())


def test_errors_are_one_line_and_name_the_problem(tmp_path):
    with pytest.raises(BadData, match=r"^the tokenizer has 709 tokens but the checkpoint's embedding has 700 rows$"):
        convert_tokenizer(DIR / "qwen2-bpe.tokenizer.json", tmp_path / "t.json", 700)
    assert not (tmp_path / "t.json").exists()
    with pytest.raises(BadData, match="not found"):
        convert_tokenizer(tmp_path / "missing.json", tmp_path / "t.json", 700)
    (tmp_path / "bad.json").write_text("{ nope")
    with pytest.raises(BadData, match="cannot read"):
        convert_tokenizer(tmp_path / "bad.json", tmp_path / "t.json", 700)
    (tmp_path / "bad.model").write_bytes(b"\xff\x00 not a model")
    with pytest.raises(BadData, match="not a SentencePiece model"):
        convert_tokenizer(tmp_path / "bad.model", tmp_path / "t.json", 700)
    doc = json.loads((DIR / "sp-bpe.tokenizer.json").read_text())
    del doc["model"]["vocab"]["<0x41>"]
    (tmp_path / "nobyte.json").write_text(json.dumps(doc))
    with pytest.raises(BadData, match=r"<0x41> is missing"):
        convert_tokenizer(tmp_path / "nobyte.json", tmp_path / "t.json", 700)
    doc = json.loads((DIR / "qwen2-bpe.tokenizer.json").read_text())
    del doc["model"]["vocab"]["\u0100"]
    (tmp_path / "nobyte.json").write_text(json.dumps(doc))
    with pytest.raises(BadData, match=r"lacks 1 of the 256 byte-level characters"):
        convert_tokenizer(tmp_path / "nobyte.json", tmp_path / "t.json", 700)
    doc = json.loads((DIR / "qwen2-bpe.tokenizer.json").read_text())
    doc["normalizer"] = {"type": "NFKC"}
    (tmp_path / "nfkc.json").write_text(json.dumps(doc))
    with pytest.raises(BadData, match="normalizer NFKC is not supported"):
        convert_tokenizer(tmp_path / "nfkc.json", tmp_path / "t.json", 700)


def test_a_unigram_sentencepiece_model_is_refused(tmp_path):
    gen = _generator()
    gen.train_sentencepiece(tmp_path / "uni.model", vocab_size=450, model_type="unigram")
    with pytest.raises(BadData, match="UNIGRAM model; only BPE"):
        convert_tokenizer(tmp_path / "uni.model", tmp_path / "t.json", 1000)
