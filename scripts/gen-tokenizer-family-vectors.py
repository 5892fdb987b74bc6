"""Write test/fixtures/tokenizer-families/: tiny tokenizers of the imported families and their ids.

The engine's tokenizer (server/engine/tokenizer.ts) loads two families besides our own; this makes a
small example of each and records the ids Python gives for many tricky texts:

- sp-bpe.model: a SentencePiece BPE model with byte fallback (Llama-2 / TinyLlama settings) trained
  here on a small corpus; sp-bpe.tokenizer.json is its conversion by
  diffill_trainer.imports.tokenizer.convert_tokenizer (normalizer Prepend/Replace, as Hugging Face
  writes Llama's); sp-metaspace.tokenizer.json the same with the newer Metaspace pre-tokenizer.
- qwen2-bpe.tokenizer.json: a byte-level BPE with Qwen2's normalizer, pre-tokenizer regex, decoder
  and added tokens (special and not), trained here with `tokenizers`.

vectors.json holds, per tokenizer and text, the engine's ids (encode(): added tokens are text, and no
SentencePiece dummy prefix) and the document form (encodeDocument(): Python's unmodified ids, which
for the SentencePiece model are SentencePiece's own ids; this script checks that). test/unit/tokenizer-families.test.ts checks them
against TypeScript and server/training/python/tests/test_tokenizer_families.py against Python.
Regenerate after changing this script or the converter:

    npm run gen:tokenizer-family-vectors

`--fresh-sentencepiece DIR` instead trains a SentencePiece model into DIR, converts it, and prints
the texts with SentencePiece's ids as JSON (the TypeScript test trains one this way).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server/training/python"))

from diffill_trainer.imports.tokenizer import convert_tokenizer, engine_tokenizer  # noqa: E402

OUT = ROOT / "test/fixtures/tokenizer-families"
MAX_FILE_BYTES = 160_000
SEED = 20261129

# The texts of the byte-level vectors, reused (one module, one list of tricky texts).
_spec = importlib.util.spec_from_file_location("gen_tokenizer_vectors", ROOT / "scripts/gen-tokenizer-vectors.py")
_base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_base)

# Qwen2's pre-tokenizer regex, exactly as its tokenizer.json has it.
QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN2_NOT_SPECIAL = ["<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]

PROSE = [
    "The quick brown fox jumps over the lazy dog. A masked diffusion model fills the blanks in text.",
    "It is a truth universally acknowledged, that a single man in possession of a good fortune must be in want of a wife.",
    "Numbers like 12, 345 and 6789 are split into digits; spaces  and   runs of spaces are kept.",
    "Return the value. Raise an error if the input is empty. Otherwise loop over the items and sum them.",
]

FAMILY_CASES = {
    "sp_specials": "<s> hello </s> <unk>",
    "sp_specials_glued": "x<s>y</s>z<unk><s></s>",
    "space_mark_literal": "a\u2581b \u2581\u2581c \u2581",
    "leading_space": " hello",
    "leading_spaces": "   indented line",
    "leading_newline": "\nx",
    "trailing_space": "word ",
    "qwen_specials": "<|endoftext|><|im_start|>user\nhi<|im_end|>\n",
    "qwen_fim": "<|fim_prefix|>def f():\n    <|fim_suffix|>\n<|fim_middle|>return 1",
    "qwen_other_added": "<|fim_pad|><|repo_name|>repo<|file_sep|>a.py\n",
    "nfc_composing": "cafe\u0301 A\u030a \u1100\u1161\u11a8 \u0041\u0308\u0301",
    "nfc_not_nfkc": "\ufb01 \uff46\uff55\uff4c\uff4c \u2460 x\u00b2",
    "contractions_case": "IT'S DON'T We'Re I'LL they'VE",
    "byte_fallback": "\u03a9\u2248\u00e7\u221a\u222b \u65e5\u672c \U0001f600 \x00\x01\x7f",
    "digits_long": "1234567890123 3.14159",
    "tabs_newlines": "\t\n\r\n\t x\r",
    "only_spaces": "    ",
    "mixed_words_spaces": "a  b   c    d\n  e",
}


def texts() -> dict[str, str]:
    out = dict(_base.FIXED_CASES)
    out.pop("spaces_1000", None)  # the long runs come once, below
    out.update(FAMILY_CASES)
    rng = random.Random(SEED)
    words = ["<s>", "</s>", "<unk>", "<|endoftext|>", "<|fim_prefix|>", "<|im_start|>", "\u2581", " ", "  ", "\n", "def ", "e\u0301"]
    for k in range(30):
        parts = []
        for _ in range(rng.randint(0, 20)):
            if rng.random() < 0.2:
                parts.append(rng.choice(words))
            else:
                cls = rng.choice(_base.FUZZ_CLASSES)
                parts.append("".join(chr(rng.choice(cls)) for _ in range(rng.randint(1, 10))))
        out[f"fuzz_{k:03d}"] = "".join(parts)
    unit = "let x_{i} = compute(alpha[{i}], '\u03b2', 0x{i:04x}); "
    out["long_line_2k"] = "".join(unit.format(i=i) for i in range(100))[:2000]
    out["long_space_run_1k"] = " " * 1000
    out["long_emoji_run_100"] = "\U0001f600" * 100
    return out


def corpus() -> list[str]:
    lines = []
    for text in list(_base.CODE_SAMPLES.values()) + PROSE:
        lines += [line for line in text.splitlines() if line.strip()]
    return lines * 20


def train_sentencepiece(path: Path, vocab_size: int = 600, model_type: str = "bpe") -> None:
    """A SentencePiece model with Llama-2's settings (byte fallback, digits split, identity
    normalization, the dummy prefix, whitespace-only pieces), trained on corpus()."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()), model_writer=buf, model_type=model_type, vocab_size=vocab_size,
        byte_fallback=True, split_digits=True, normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=True, allow_whitespace_only_pieces=True, character_coverage=1.0, hard_vocab_limit=False,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, minloglevel=2,
    )
    path.write_bytes(buf.getvalue())


def train_qwen2_style(path: Path, vocab_size: int = 700) -> None:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(), trainer=trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN2_SPECIAL])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in QWEN2_NOT_SPECIAL])
    doc = json.loads(tok.to_str())
    # As Qwen2's own file spells the model's options.
    doc["model"].update({"continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": False,
                         "byte_fallback": False, "ignore_merges": False})
    doc["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    path.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")


def metaspace_variant(src: Path, dst: Path) -> None:
    doc = json.loads(src.read_text(encoding="utf-8"))
    doc["normalizer"] = None
    doc["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}
    dst.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def ids_of(tok, cases: dict[str, str]) -> list[list[int]]:
    return [tok.encode(t, add_special_tokens=False).ids for t in cases.values()]


def fresh_sentencepiece(folder: Path) -> int:
    """Trains, converts, and prints {"tokenizer", "texts", "sentencepiece_ids"} for the TypeScript test."""
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "tokenizer.model"
    train_sentencepiece(model, vocab_size=500)
    convert_tokenizer(model, folder / "tokenizer.json", 500)
    sp = spm.SentencePieceProcessor(model_file=str(model))
    cases = texts()
    print(json.dumps({"tokenizer": str(folder / "tokenizer.json"), "texts": list(cases.values()),
                      "sentencepiece_ids": [sp.encode(t) for t in cases.values()]}))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fresh-sentencepiece", metavar="DIR", type=Path)
    args = ap.parse_args(argv)
    if args.fresh_sentencepiece:
        return fresh_sentencepiece(args.fresh_sentencepiece)

    import sentencepiece as spm

    OUT.mkdir(parents=True, exist_ok=True)
    train_sentencepiece(OUT / "sp-bpe.model")
    convert_tokenizer(OUT / "sp-bpe.model", OUT / "sp-bpe.tokenizer.json", 10**6)
    metaspace_variant(OUT / "sp-bpe.tokenizer.json", OUT / "sp-metaspace.tokenizer.json")
    train_qwen2_style(OUT / "qwen2-bpe.tokenizer.json")

    cases = texts()
    sp = spm.SentencePieceProcessor(model_file=str(OUT / "sp-bpe.model"))
    # Compact: a field equal to another tokenizer's (or to its own piece form) is not repeated.
    # "base": the tokenizer whose fields are the default; "<field>_except": {index: ids} where not.
    tokenizers = {}
    for name, base in (("sp-bpe", None), ("sp-metaspace", "sp-bpe"), ("qwen2-bpe", None)):
        path = OUT / f"{name}.tokenizer.json"
        piece, doc = ids_of(engine_tokenizer(path), cases), ids_of(engine_tokenizer(path, document=True), cases)
        entry = {
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "vocab_size": engine_tokenizer(path).get_vocab_size(with_added_tokens=True),
        }
        if base is None:
            entry["ids"] = piece
            if doc != piece:
                entry["document_ids"] = doc
        else:
            entry["base"] = base
            for field, ids in (("ids", piece), ("document_ids", doc)):
                ref = tokenizers[base].get(field, tokenizers[base]["ids"])
                entry[f"{field}_except"] = {str(i): x for i, (x, r) in enumerate(zip(ids, ref)) if x != r}
        if name == "sp-bpe" and [sp.encode(t) for t in cases.values()] != doc:
            raise SystemExit("the converted tokenizer.json does not give SentencePiece's own ids")
        tokenizers[name] = entry

    from tokenizers import __version__ as tokenizers_version

    doc = {
        "about": "Generated by scripts/gen-tokenizer-family-vectors.py; do not edit. "
                 "Regenerate with `npm run gen:tokenizer-family-vectors`.",
        "tokenizers_version": tokenizers_version,
        "sentencepiece_version": spm.__version__,
        "names": list(cases),
        "texts": list(cases.values()),
        "tokenizers": tokenizers,
    }
    data = json.dumps(doc, ensure_ascii=True, separators=(",", ":")) + "\n"
    if len(data) >= MAX_FILE_BYTES:
        raise SystemExit(f"vectors file would be {len(data)} bytes; keep it under {MAX_FILE_BYTES}")
    (OUT / "vectors.json").write_text(data, encoding="ascii")
    sizes = ", ".join(f"{p.name} {p.stat().st_size}" for p in sorted(OUT.iterdir()))
    print(f"wrote {OUT.relative_to(ROOT)}: {len(cases)} texts; {sizes} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
