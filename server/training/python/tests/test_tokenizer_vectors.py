"""Python must keep giving the ids recorded in test/fixtures/tokenizer-vectors.json.

The same file is checked against the TypeScript tokenizer (test/unit/tokenizer-parity.test.ts), so
together the two tests pin trainer/engine parity. A failure of the first test means the tokenizer
changed and the vectors are stale: run `npm run gen:tokenizer-vectors`.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[4]
VECTORS = json.loads((ROOT / "test/fixtures/tokenizer-vectors.json").read_text(encoding="ascii"))
TOKENIZER_PATH = ROOT / VECTORS["tokenizer"]
SPECIAL_STRINGS = tuple(VECTORS["special_tokens"])

# The trainer is normally run with PYTHONPATH=server/training/python; make it importable here too.
sys.path.insert(0, str(ROOT / "server/training/python"))


def _canonical() -> Tokenizer:
    tok = Tokenizer.from_file(str(TOKENIZER_PATH))
    tok.encode_special_tokens = True  # special-token strings in text are ordinary text
    return tok


def test_vectors_match_the_current_tokenizer_file():
    digest = hashlib.sha256(TOKENIZER_PATH.read_bytes()).hexdigest()
    assert digest == VECTORS["tokenizer_sha256"], (
        f"{VECTORS['tokenizer']} changed since the vectors were made: run `npm run gen:tokenizer-vectors`"
    )


def test_python_gives_the_recorded_ids():
    tok = _canonical()
    assert tok.get_vocab_size(with_added_tokens=True) == VECTORS["vocab_size"]
    for content, tid in VECTORS["special_tokens"].items():
        assert tok.token_to_id(content) == tid
    for case in VECTORS["cases"]:
        ids = tok.encode(case["text"], add_special_tokens=False).ids
        assert ids == case["ids"], f"case {case['name']}"
        assert tok.decode(ids, skip_special_tokens=False) == case["text"], f"case {case['name']}"


def _trainer_vocab():
    from diffill_trainer.vocab import load_vocab

    return load_vocab(TOKENIZER_PATH)


def test_trainer_vocab_encodes_like_the_engine():
    """The trainer's own encode path (diffill_trainer.vocab) must give the recorded ids, or training
    data and served prompts disagree."""
    vocab = _trainer_vocab()
    for case in VECTORS["cases"]:
        if any(s in case["text"] for s in SPECIAL_STRINGS):
            continue  # checked by the next test
        assert list(vocab.encode(case["text"])) == case["ids"], f"case {case['name']}"
        assert [list(x) for x in vocab.encode_batch([case["text"]])] == [case["ids"]], f"case {case['name']}"


def test_trainer_vocab_keeps_literal_special_strings_as_text():
    vocab = _trainer_vocab()
    # Without encode_special_tokens a literal "<|mask|>" in training text would become the mask id.
    assert vocab.tokenizer.encode_special_tokens is True
    cases = [c for c in VECTORS["cases"] if any(s in c["text"] for s in SPECIAL_STRINGS)]
    assert len(cases) >= 4
    for case in cases:
        assert list(vocab.encode(case["text"])) == case["ids"], f"case {case['name']}"
