"""Characters per token against vocabulary size, to justify the 8k vocabulary (docs/corpus.md).

Trains one tokenizer per size with the production recipe on the validation split
(data/corpus/val.jsonl) and measures chars/token per language on the test split
(data/corpus/test.jsonl); the two splits share no package. Also reports the share
of a 384-wide model that the embedding table takes at each size.

  PYTHONPATH=scripts .venv/bin/python -m corpus.vocab_sweep [--sizes 4096,8192,16384,32768]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict

from . import train_tokenizer


def _docs(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def main(argv: list[str] | None = None) -> int:
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(root, "data/corpus"))
    ap.add_argument("--sizes", default="4096,8192,16384,32768")
    ap.add_argument("--d-model", type=int, default=384)
    ap.add_argument("--model-params", type=float, default=8_852_352,
                    help="parameters outside the embedding (the small preset: 6 x 384, ff 768)")
    args = ap.parse_args(argv)
    train = [d["text"] for d in _docs(os.path.join(args.corpus, "val.jsonl"))]
    test = _docs(os.path.join(args.corpus, "test.jsonl"))
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        tok = train_tokenizer.train(train, vocab_size=size)
        tok.encode_special_tokens = True
        chars, toks = defaultdict(int), defaultdict(int)
        for d, enc in zip(test, tok.encode_batch([d["text"] for d in test], add_special_tokens=False)):
            chars[d["language"]] += len(d["text"])
            toks[d["language"]] += len(enc.ids)
        emb = size * args.d_model
        rows.append({
            "vocab": size,
            "chars_per_token": {k: round(chars[k] / toks[k], 3) for k in sorted(chars) if toks[k]},
            "all": round(sum(chars.values()) / max(1, sum(toks.values())), 3),
            "embedding_params": emb,
            "embedding_share": round(emb / (emb + args.model_params), 3),
        })
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
