"""Train the byte-level BPE tokenizer (vocab 8192) on the training split.

Design (see docs/corpus.md):
- Byte-level BPE so any string round-trips: decode(encode(s)) == s. There is no
  normalizer and no post-processor; BOS/EOS are added by whoever packs documents.
- Special tokens are trained first so they get ids 0..3 in a fixed order.
- The split regex runs before the byte mapping. It keeps a newline together with
  the indentation that follows it ("\\n        "), so the most frequent thing in
  source code, a line break plus indent, becomes a single token.

Usage:
  train_tokenizer.py --out models/default/tokenizer.json INPUT...
INPUT is a .jsonl file (documents in the "text" field), a text file, or a
directory (every regular file under it, read as UTF-8).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Iterable, Iterator

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

VOCAB_SIZE = 8192
SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|eos|>", "<|mask|>"]

# Alternatives, tried left to right at each position:
#   English contractions; identifiers/words (underscore counts as a letter so
#   snake_case stays one piece), optionally with one leading space; digit groups of
#   at most 3; punctuation runs with one leading space; line breaks (with any
#   blank-line whitespace) plus the indentation of the next line; other horizontal
#   whitespace, leaving the last space to the following word as GPT-2 does.
# Only constructs that Oniguruma and JavaScript regexes read the same way.
SPLIT_PATTERN = (
    r"'(?:[sdmt]|ll|ve|re)"
    r"| ?[\p{L}\p{M}_][\p{L}\p{M}\p{N}_]*"
    r"| ?\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{M}\p{N}_]+"
    r"|\s*[\r\n][^\S\r\n]*"
    r"|[^\S\r\n]+(?!\S)"
    r"|[^\S\r\n]+"
)

MAX_TOKEN_CHARS = 32  # byte-level chars; stops the merge table memorising boilerplate


def build_untrained() -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = None
    return tok


def train(texts: Iterable[str], vocab_size: int = VOCAB_SIZE) -> Tokenizer:
    tok = build_untrained()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        max_token_length=MAX_TOKEN_CHARS,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    for i, name in enumerate(SPECIAL_TOKENS):
        got = tok.token_to_id(name)
        if got != i:
            raise RuntimeError(f"special token {name} got id {got}, expected {i}")
    return tok


def iter_texts(paths: list[str]) -> Iterator[str]:
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    yield from _read_file(os.path.join(root, f))
        elif p.endswith(".jsonl"):
            with open(p, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        yield json.loads(line)["text"]
        else:
            yield from _read_file(p)


def _read_file(path: str) -> Iterator[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            yield fh.read()
    except UnicodeDecodeError:
        return


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab-size", type=int, default=VOCAB_SIZE)
    ap.add_argument("inputs", nargs="+")
    args = ap.parse_args(argv)
    tok = train(iter_texts(args.inputs), args.vocab_size)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tok.save(args.out, pretty=True)
    print(json.dumps({"out": args.out, "vocab_size": tok.get_vocab_size()}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
