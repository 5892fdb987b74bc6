"""Tests for the corpus builder (scripts/corpus/): licenses, filters, dedup, split, tokenizer,
encoding, bundle, manifest and the committed fixture."""
from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "scripts"))

from corpus import bundle, dedup, encode, filters, licenses, manifest, package, split, train_tokenizer  # noqa: E402

FIXTURE = REPO / "test" / "fixtures" / "corpus"
TOKENIZER = REPO / "models" / "default" / "tokenizer.json"

TRICKY = [
    "a\r\nb\r\n\r\n  c",
    "\tdef f(x):\n\t\treturn x  # tab indented\n",
    "    \n\n   x   y\n        ",
    "emoji 😀👍🏽 and CJK 漢字かな한국어",
    "control \x00\x01\x1b[0m\x7f\x0b\x0c",
    "\u00a0nbsp \u2028 line-sep \ufeffbom \u200bzwsp",
    " leading space",
    "trailing spaces   ",
    "literal special strings <|mask|><|bos|> stay text",
    "don't it's we'll 123456789 1.5e-10 0x1F",
]


# ---------------------------------------------------------------- licenses

@pytest.mark.parametrize("expr,ok", [
    ("MIT", True), ("Apache-2.0", True), ("(MIT OR GPL-3.0)", True), ("MIT OR Apache-2.0", True),
    ("MIT AND GPL-3.0-only", False), ("GPL-3.0", False), ("LGPL-2.1+", False), ("MPL-2.0", False),
    ("Apache-2.0 WITH LLVM-exception", True), ("BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0", True),
    ("MIT License", True), ("BSD 3-Clause License", True), ("Proprietary", False), ("UNLICENSED", False),
])
def test_license_expression(expr, ok):
    assert licenses.evaluate(expr)[0] is ok


def test_npm_license_field_forms():
    assert licenses.npm_license(b'{"license": "ISC"}', None) == "ISC"
    assert licenses.npm_license(b'{"license": {"type": "MIT"}}', None) == "MIT"
    assert licenses.npm_license(b'{"licenses": [{"type": "MIT"}, {"type": "Apache-2.0"}]}', None) == "MIT OR Apache-2.0"
    mit = "Permission is hereby granted, free of charge, to any person obtaining a copy"
    assert licenses.npm_license(b'{"license": "SEE LICENSE IN LICENSE.txt"}', mit) == "MIT"
    with pytest.raises(licenses.LicenseUnknown):
        licenses.npm_license(b'{"name": "x"}', None)


def test_pypi_license_sources():
    expr = b"Metadata-Version: 2.4\nName: x\nLicense-Expression: BSD-3-Clause\n\n"
    assert licenses.pypi_license(expr, None) == "BSD-3-Clause"
    cls = b"Metadata-Version: 2.1\nName: x\nClassifier: License :: OSI Approved :: MIT License\n\n"
    assert licenses.pypi_license(cls, None) == "MIT"
    bsd2 = "Redistribution and use in source and binary forms, with or without modification, are permitted"
    bsd = b"Metadata-Version: 2.1\nName: x\nClassifier: License :: OSI Approved :: BSD License\n\n"
    assert licenses.pypi_license(bsd, bsd2) == "BSD-2-Clause"
    assert licenses.pypi_license(bsd, bsd2 + " Neither the name of the copyright holder") == "BSD-3-Clause"
    gpl = b"Metadata-Version: 2.1\nName: x\nClassifier: License :: OSI Approved :: MIT License\n" \
          b"Classifier: License :: OSI Approved :: GNU General Public License v3 (GPLv3)\n\n"
    assert licenses.evaluate(licenses.pypi_license(gpl, None))[0] is False
    with pytest.raises(licenses.LicenseUnknown):
        licenses.pypi_license(b"Metadata-Version: 2.1\nName: x\nLicense: UNKNOWN\n\n", None)


DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: thing

Files: *
Copyright: 2020 Someone
License: Expat

Files: debian/*
Copyright: 2021 Packager
License: GPL-2+

Files: extra/*
Copyright: 2019 Other
License: {extra}
"""


def test_debian_copyright():
    assert licenses.debian_license(DEP5.format(extra="BSD-3-clause")) == "MIT"
    assert licenses.evaluate(licenses.debian_license(DEP5.format(extra="GPL-3+")))[0] is False
    with pytest.raises(licenses.LicenseUnknown):
        licenses.debian_license("This package was debianized by someone.\n\nIt is free software.")


# ---------------------------------------------------------------- filters

def _reason(path: str, text: str | bytes | None, size: int | None = None) -> str | None:
    data = text.encode() if isinstance(text, str) else text
    try:
        filters.classify(path, data, size if size is not None else len(data or b""))
    except filters.Rejected as r:
        return r.reason
    return None


CODE = "".join(f"export function f{i}(a: number, b: number): number {{\n  return a * {i} + b;\n}}\n" for i in range(20))


def test_filters_keep_ordinary_source():
    assert _reason("src/math.ts", CODE) is None
    assert filters.classify("src/math.ts", CODE.encode(), len(CODE))[0] == "typescript"
    assert filters.classify("dist/index.d.ts", CODE.encode(), len(CODE))[0] == "typescript"
    assert filters.classify("pkg/mod.py", b"def f(x):\n    return x + 1\n" * 10, 300)[0] == "python"
    assert filters.classify("docs/guide.txt", b"How to use the thing.\n" * 10, 220)[0] == "text"


@pytest.mark.parametrize("path,reason", [
    ("node_modules/x/index.js", "vendored"), ("src/_vendor/six.py", "vendored"), ("third_party/a.py", "vendored"),
    ("vendor/lib.js", "vendored"), ("dist/index.js", "bundled"), ("fesm2022/core.mjs", "bundled"),
    ("lib/app.min.js", "minified"), ("index.js.map", "source_map"), ("package-lock.json", "lock_file"),
    ("yarn.lock", "lock_file"), ("logo.png", "other_type"), ("LICENSE.md", "license_text"),
    ("proto/msg_pb2.py", "generated"), ("data/table.txt", "other_type"),
])
def test_filters_reject_by_path(path, reason):
    assert _reason(path, CODE) == reason


def test_filters_reject_by_content():
    assert _reason("a.js", "var a=1;" * 200 + "\n") == "long_lines"
    assert _reason("a.js", ("x" * 900 + "\n") * 40) == "minified"
    assert _reason("a.py", b"\x00\x01binary" * 20) == "binary"
    assert _reason("a.py", b"\xff\xfe not utf8" * 20) == "binary"
    assert _reason("a.py", "x = 1\n") == "tiny"
    assert _reason("a.py", "# This file was automatically generated. DO NOT EDIT.\n" + "x = 1\n" * 50) == "generated"
    assert _reason("a.js", "const t = [" + "1, 2, 3, 4, 5, 6, 7, 8,\n" * 200 + "];\n") == "data_like"
    assert _reason("big.py", None, size=2_000_000) == "huge"


# ---------------------------------------------------------------- dedup

def _module(seed: int, n: int = 60) -> str:
    rng = np.random.default_rng(seed)
    return "".join(f"def fn_{seed}_{i}(x):\n    return x * {int(rng.integers(1000))} + {i}\n" for i in range(n))


def test_near_dedup_finds_edited_copy_and_keeps_distinct_files():
    nd = dedup.NearDedup(seed=1)
    base = _module(1)
    edited = base.replace("return x * ", "return  x * ", 1).replace("fn_1_5(", "renamed(")
    assert nd.is_duplicate(base) is False
    assert nd.is_duplicate(edited) is True
    assert nd.is_duplicate(_module(2)) is False
    assert nd.is_duplicate("x = 1\n") is False  # too short for a signature: left to exact dedup


def test_minhash_similarity_tracks_jaccard():
    h = dedup.MinHasher(seed=3)
    a, b = _module(5, 200), _module(6, 200)
    assert dedup.similarity(h.signature(a), h.signature(a)) == 1.0
    assert dedup.similarity(h.signature(a), h.signature(b)) < 0.2


def test_exact_dedup():
    ex = dedup.ExactDedup()
    assert ex.is_duplicate("abc") is False
    assert ex.is_duplicate("abc") is True


def test_package_cap_is_deterministic_and_bounded():
    docs = [package.Doc(f"src/m{i}.py", "python", "x = 1\n" * (50 + i), f"{i}") for i in range(40)]
    res = package.PackageResult("k", "pypi", "p", "1", "p", docs=list(docs))
    total = sum(len(d.text) for d in docs)
    dropped = package.apply_cap(res, total // 2)
    assert dropped > 0 and sum(len(d.text) for d in res.docs) <= total // 2
    again = package.PackageResult("k", "pypi", "p", "1", "p", docs=list(reversed(docs)))
    package.apply_cap(again, total // 2)
    assert sorted(d.path for d in again.docs) == sorted(d.path for d in res.docs)
    assert package.apply_cap(res, 10**9) == 0


# ---------------------------------------------------------------- split

def test_split_is_by_family_deterministic_and_sized():
    stats = [split.FamilyStat(f"py{i}", 1000 + i, 1000 + i, 0) for i in range(200)]
    stats += [split.FamilyStat(f"js{i}", 1000 + i, 0, 1000 + i) for i in range(200)]
    stats.append(split.FamilyStat("giant", 10**6, 10**6, 0))
    a = split.assign(stats, 7, 0.05, 0.05, 0.01)
    assert a == split.assign(list(reversed(stats)), 7, 0.05, 0.05, 0.01)
    assert a != split.assign(stats, 8, 0.05, 0.05, 0.01)
    assert a["giant"] == "train"
    for group in ("py", "js"):
        for s in ("test", "val"):
            n = sum(1 for k, v in a.items() if k.startswith(group) and v == s)
            assert n > 0
    with pytest.raises(ValueError):
        split.assign(stats, 7, 0.6, 0.5, 0.01)


def test_default_family_groups_related_packages():
    assert manifest.default_family("npm", "@babel/core") == manifest.default_family("npm", "@babel/parser")
    assert manifest.default_family("deb", "python3-requests") == manifest.default_family("pypi", "requests")
    assert manifest.default_family("npm", "d3-array") == manifest.default_family("npm", "d3-scale")


# ---------------------------------------------------------------- manifest

def test_committed_manifest_is_valid_and_pinned():
    settings, sources, sha = manifest.load(str(REPO / "scripts" / "corpus" / "manifest.json"))
    assert len(sources) >= 200 and len(sha) == 64
    assert {s.kind for s in sources} == {"npm", "pypi", "deb"}
    for s in sources:
        assert licenses.evaluate(s.license)[0], s.key


def test_manifest_rejects_bad_entries():
    good = {"kind": "npm", "name": "a", "version": "1.0.0", "license": "MIT"}
    manifest.parse({"sources": [good]})
    for bad in ({**good, "version": "^1.0.0"}, {**good, "kind": "cargo"}, {**good, "license": ""}, {"name": "a"}):
        with pytest.raises(manifest.ManifestError):
            manifest.parse({"sources": [bad]})
    with pytest.raises(manifest.ManifestError):
        manifest.parse({"sources": [good, good]})


# ---------------------------------------------------------------- tokenizer

@pytest.fixture(scope="module")
def small_tokenizer():
    texts = [CODE, _module(1), "# Title\n\nSome prose, with words.\n" * 20] + TRICKY
    return train_tokenizer.train(texts, vocab_size=400)


def test_trained_tokenizer_layout(small_tokenizer):
    tok = small_tokenizer
    assert [tok.token_to_id(t) for t in train_tokenizer.SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert 256 + 4 < tok.get_vocab_size() <= 400  # tiny corpus: merges may run out before 400
    cfg = json.loads(tok.to_str())
    assert cfg["normalizer"] is None and cfg["post_processor"] is None
    assert cfg["decoder"]["type"] == "ByteLevel"
    assert all(t["special"] for t in cfg["added_tokens"])
    ids = tok.encode("x = 1", add_special_tokens=True).ids
    assert 1 not in ids and 2 not in ids  # no BOS/EOS inserted by the tokenizer itself


def _roundtrip(tok, s: str) -> str:
    tok.encode_special_tokens = True
    return tok.decode(tok.encode(s).ids, skip_special_tokens=False)


@pytest.mark.parametrize("s", TRICKY)
def test_small_tokenizer_roundtrip(small_tokenizer, s):
    assert _roundtrip(small_tokenizer, s) == s


@pytest.mark.parametrize("s", TRICKY)
def test_committed_tokenizer_roundtrip(s):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(TOKENIZER))
    assert tok.get_vocab_size() == 8192
    assert [tok.token_to_id(t) for t in train_tokenizer.SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert _roundtrip(tok, s) == s


def test_indentation_stays_compact():
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(TOKENIZER))
    # A newline plus 8 spaces of indentation is one pre-token; the trained merges make it one token.
    assert len(tok.encode("\n        ").ids) == 1


# ---------------------------------------------------------------- encode + bundle

def test_encode_layout(small_tokenizer, tmp_path):
    docs = ["def f():\n    return 1\n", "const x = 2;\n", "<|eos|> is text here"]
    out = tmp_path / "x.bin"
    counts = encode.encode_to_file(small_tokenizer, docs, str(out))
    arr = np.fromfile(out, dtype="<u2")
    assert len(arr) == sum(counts)
    pos = 0
    for d, n in zip(docs, counts):
        piece = arr[pos:pos + n]
        assert piece[0] == 1 and piece[-1] == 2
        assert 1 not in piece[1:-1] and 2 not in piece[1:-1]
        assert small_tokenizer.decode(piece[1:-1].tolist(), skip_special_tokens=False) == d
        pos += n


def test_bundle_samples_whole_documents(small_tokenizer, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    docs = [_module(i, 30) for i in range(60)]
    counts = encode.encode_to_file(small_tokenizer, docs, str(corpus / "train.bin"))
    encode.encode_to_file(small_tokenizer, docs[:3], str(corpus / "val.bin"))
    tok_path = tmp_path / "tokenizer.json"
    small_tokenizer.save(str(tok_path))
    meta = {"splits": {"train": {}, "val": {}, "test": {}}}
    paths = [f"p/{i}.py" for i in range(60)]
    full = int(sum(counts)) * 2
    info = bundle.build(str(tmp_path / "b.tar.xz"), str(corpus), str(tok_path), meta, counts, paths, 5,
                        target_bytes=full // 8, max_bytes=full // 6)
    assert 0 < info["train_fraction"] < 1
    with tarfile.open(tmp_path / "b.tar.xz", "r:xz") as tf:
        names = sorted(tf.getnames())
        assert names == ["meta.json", "tokenizer.json", "train.bin", "val.bin"]
        bmeta = json.load(tf.extractfile("meta.json"))
        train = np.frombuffer(tf.extractfile("train.bin").read(), dtype="<u2")
    assert bmeta["splits"]["train"]["tokens"] == len(train) and "test" not in bmeta["splits"]
    assert train[0] == 1 and train[-1] == 2 and int((train == 1).sum()) == info["train_docs"]
    again, n = bundle.sample_stream(str(corpus / "train.bin"), counts, paths, 5, info["train_fraction"])
    assert n == info["train_docs"] and np.array_equal(again, train)


# ---------------------------------------------------------------- fixture

def test_fixture_files_have_provenance_and_licenses():
    prov = json.loads((FIXTURE / "PROVENANCE.json").read_text())
    listed = {f["file"] for f in prov["files"]}
    on_disk = {p.relative_to(FIXTURE).as_posix() for p in FIXTURE.rglob("*") if p.is_file()}
    license_files = {x for v in prov["licenses"].values() for x in v}
    assert on_disk == listed | license_files | {"PROVENANCE.json"}
    total = 0
    for f in prov["files"]:
        data = (FIXTURE / f["file"]).read_bytes()
        total += len(data)
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
        assert licenses.evaluate(f["license"])[0]
        assert prov["licenses"][f"{f['kind']}:{f['package']}@{f['version']}"]
        assert max(len(line) for line in data.decode().split("\n")) <= filters.MAX_LINE_CHARS
    assert 200_000 <= total <= 400_000
    exts = {Path(f["file"]).suffix for f in prov["files"]}
    assert {".ts", ".js", ".py", ".md"} <= exts
