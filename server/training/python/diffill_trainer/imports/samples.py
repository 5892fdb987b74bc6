"""Randomly initialised checkpoints in the sources' own formats, with a tokenizer of the right size, for
tests, demonstrations and latency measurements (speed does not depend on the values):

  python -m diffill_trainer.imports.samples smdm OUT_DIR [--config 19M|tiny] [--format safetensors|pth]
  python -m diffill_trainer.imports.samples qwen2 OUT_DIR [--config Qwen2-0.5B|tiny] [--untied]

writes OUT_DIR/checkpoint.{safetensors,pth} (smdm) or OUT_DIR/checkpoint/{config.json,model.safetensors}
(qwen2), and OUT_DIR/tokenizer.model (smdm: a SentencePiece BPE with byte fallback, trained on the
repository's docs and padded with filler pieces to the vocabulary size) or OUT_DIR/tokenizer.json
(qwen2: the shipped byte-level tokenizer padded with filler tokens, plus <|endoftext|>-style specials and a
mask token). Prints one JSON line naming the files.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from . import qwen2, smdm

REPO = Path(__file__).resolve().parents[5]
# Tiny versions of the published shapes: SMDM with grouped query heads (lit-gpt's fused layout with
# more than one query per group), Qwen2 with 2 K/V heads for 4 query heads.
TINY_SMDM = smdm.SmdmConfig(n_layer=2, n_embd=64, n_head=4, n_query_groups=2, intermediate_size=96,
                            padded_vocab_size=640, block_size=2048, name="tiny")
TINY_QWEN2 = qwen2.Qwen2Config(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                               num_key_value_heads=2, vocab_size=8256, rope_theta=1000000.0, rms_norm_eps=1e-6,
                               tie_word_embeddings=True, max_position_embeddings=32768)


def sentencepiece_model(out: Path, vocab: int) -> Path:
    """A SentencePiece BPE model (byte fallback, identity normalizer, dummy prefix: the Llama-2 kind) of
    exactly `vocab` pieces: trained on the repository's docs, then padded with never-produced pieces."""
    import io

    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "docs").glob("*.md")))
    lines = [ln for ln in text.splitlines() if ln.strip() and ln.isascii()]  # few characters: a small vocabulary fits
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buf, model_type="bpe", vocab_size=min(vocab, 2000),
        hard_vocab_limit=False, byte_fallback=True, normalization_rule_name="identity", add_dummy_prefix=True,
        remove_extra_whitespaces=False, split_digits=True, character_coverage=1.0, bos_id=1, eos_id=2, unk_id=0,
        pad_id=-1, minloglevel=2, num_threads=1)
    proto = pb.ModelProto()
    proto.ParseFromString(buf.getvalue())
    have = {p.piece for p in proto.pieces}
    score = min(p.score for p in proto.pieces) - 1.0
    k = 0
    while len(proto.pieces) < vocab:
        piece = f"\u2581\u00a7{k}"  # "▁§N": text never holds these merges' results, so ids never change
        k += 1
        if piece in have:
            continue
        p = proto.pieces.add()
        p.piece, p.score, p.type = piece, score, pb.ModelProto.SentencePiece.NORMAL
        score -= 1e-3
    if len(proto.pieces) > vocab:
        raise ValueError(f"SentencePiece gave {len(proto.pieces)} pieces, more than {vocab}")
    path = out / "tokenizer.model"
    path.write_bytes(proto.SerializeToString())
    return path


def byte_level_tokenizer(out: Path, tokens: int) -> Path:
    """The shipped byte-level tokenizer grown to `tokens` ids: filler vocabulary entries, then the
    specials a Qwen2 MDM has (<|endoftext|> as eos, <M> as Open-dCoder's mask token) as the last ids."""
    doc = json.loads((REPO / "models" / "default" / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = doc["model"]["vocab"]
    added = doc.get("added_tokens") or []
    # The shipped specials keep their ids (<|pad|>, <|bos|>, <|eos|>, <|mask|>); their names are replaced
    # so that the Qwen2 names decide.
    for t in added:
        t["content"] = {"<|eos|>": "<|endoftext|>", "<|mask|>": "<M>", "<|bos|>": "<|im_start|>", "<|pad|>": "<|fim_pad|>"}.get(t["content"], t["content"])
    used = set(vocab.values()) | {t["id"] for t in added}
    nxt = max(used) + 1
    k = 0
    while nxt < tokens:
        vocab[f"\u0120\u00a7{k}"] = nxt  # "Ġ§N": no merge builds it, so ids of real text never change
        nxt += 1
        k += 1
    path = out / "tokenizer.json"
    path.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": None, "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "mask_token": "<M>"}) + "\n",
        encoding="utf-8")
    return path


def write_smdm(out: Path, cfg: smdm.SmdmConfig, fmt: str, seed: int = 0, tokenizer: bool = True,
               head_scale: float = 1.0) -> dict:
    """`head_scale` > 1 sharpens the output distribution (random weights give nearly uniform ones), so
    that greedy decoding commits several tokens per step at moderate thresholds."""
    out.mkdir(parents=True, exist_ok=True)
    state = smdm.random_state(cfg, seed)
    state["lm_head.weight"] *= head_scale
    if fmt == "pth":
        ckpt = out / "checkpoint.pth"
        # lit-gpt / Lightning's fabric.save writes {"model": state_dict, ...}: the importer unwraps it.
        torch.save({"model": state, "iter_num": 0}, ckpt)
    else:
        from safetensors.torch import save_file

        ckpt = out / "checkpoint.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(ckpt))
    files = {"checkpoint": str(ckpt)}
    if tokenizer:
        files["tokenizer"] = str(sentencepiece_model(out, cfg.padded_vocab_size))
    return files


def write_qwen2(out: Path, cfg: qwen2.Qwen2Config, tokens: int, seed: int = 0, head_scale: float = 1.0) -> dict:
    from safetensors.torch import save_file

    folder = out / "checkpoint"
    folder.mkdir(parents=True, exist_ok=True)
    state = qwen2.random_state(cfg, seed)
    state["lm_head.weight" if "lm_head.weight" in state else "model.embed_tokens.weight"] *= head_scale
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    hf = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
          "hidden_size": cfg.hidden_size, "intermediate_size": cfg.intermediate_size,
          "num_hidden_layers": cfg.num_hidden_layers, "num_attention_heads": cfg.num_attention_heads,
          "num_key_value_heads": cfg.num_key_value_heads, "vocab_size": cfg.vocab_size, "rope_theta": cfg.rope_theta,
          "rms_norm_eps": cfg.rms_norm_eps, "tie_word_embeddings": cfg.tie_word_embeddings,
          "max_position_embeddings": cfg.max_position_embeddings, "rope_scaling": None, "use_sliding_window": False}
    (folder / "config.json").write_text(json.dumps(hf, indent=2) + "\n", encoding="utf-8")
    return {"checkpoint": str(folder), "tokenizer": str(byte_level_tokenizer(out, tokens))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m diffill_trainer.imports.samples", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", choices=["smdm", "qwen2"])
    ap.add_argument("out", type=Path)
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--format", choices=["safetensors", "pth"], default="safetensors")
    ap.add_argument("--untied", action="store_true", help="qwen2: a separate lm_head")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--head-scale", type=float, default=1.0, help="sharpen the random output distribution")
    args = ap.parse_args(argv)
    if args.source == "smdm":
        cfg = TINY_SMDM if args.config == "tiny" else smdm.named(args.config)
        files = write_smdm(args.out, cfg, args.format, args.seed, head_scale=args.head_scale)
    else:
        cfg = TINY_QWEN2 if args.config == "tiny" else qwen2.parse_config(qwen2.CONFIGS[args.config], args.config)
        if args.untied:
            cfg = replace(cfg, tie_word_embeddings=False)
        tokens = 8192 if args.config == "tiny" else 151665
        files = write_qwen2(args.out, cfg, tokens, args.seed, head_scale=args.head_scale)
    print(json.dumps(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
