"""Convert a published checkpoint into a model directory (docs/model-format.md, docs/models.md).

  python -m diffill_trainer.imports --from smdm|hf --checkpoint PATH --tokenizer PATH --out DIR
         [--int8 | --no-int8] [--name NAME] [--force] [--smdm-config NAME] [--condense-ratio R]
         [--length-rule fixed|eos] [--mask-id N] [--logit-shift 0|1]

Steps: read the weights (safetensors, or torch.load with weights_only=True: never plain pickle), check
every tensor against the source architecture (each error names the tensor and both shapes), map them onto
DiffusionLM, compare DiffusionLM with a forward written in the source's own layout (smdm.Reference,
qwen2.Reference), convert the tokenizer, export the ONNX graph and check it, quantize it to int8 where the
int8 graph agrees with fp32, and write config.json, tokenizer.json, model.onnx, model.safetensors and a
model card into a temporary folder that becomes DIR only when everything succeeded.

Events on stdout are the trainer's (docs/training-protocol.md): `export` per stage, then `done`, or one
`error`; exit 0, 1 (the input or the conversion failed), 2 (the command line is wrong).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import torch

from .. import events
from ..errors import BadArguments, BadData, Interrupted, TrainerError
from ..export import compare_int8, export_onnx, quantize, verify_fp32, _smoke
from ..model import DiffusionLM
from ..modeldir import AtomicModelDir
from ..modelio import make_config, round_to_dtype, save_weights
from . import qwen2, smdm
from .checkpoint_files import dtype_name, read_checkpoint
from .tokenizer import convert_tokenizer

LICENCES = {
    "smdm": "the SMDM code (github.com/ML-GSAI/SMDM) is released under the Apache License 2.0 (its LICENSE "
            "file); check the licence on the weights' own Hugging Face page (huggingface.co/nieshen/SMDM) "
            "before redistributing them",
    "hf": "Qwen2 and Qwen2.5 base models are released under the Apache License 2.0; Open-dLLM's code "
          "(github.com/pengzhangzhi/Open-dLLM) too. Check the licence on the checkpoint's own page before "
          "redistributing it",
}
# Below this top-1 agreement with fp32 (masked positions of random windows) the default keeps fp32.
INT8_MIN_AGREEMENT = 0.9
REFERENCE_TOLERANCE = 1e-4
_MASK_NAMES = ("<|mask|>", "<M>", "[MASK]", "<mask>", "<|MASK|>")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one error event and exit 2, instead of argparse's usage dump
        raise BadArguments(message)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m diffill_trainer.imports", description=__doc__,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="source", required=True, choices=["smdm", "hf"],
                    help="smdm: an SMDM (lit-gpt TransEncoder) state dict; hf: a Qwen2-architecture Hugging Face checkpoint")
    ap.add_argument("--checkpoint", required=True, type=Path,
                    help="smdm: a .safetensors or .pth/.pt file; hf: the folder with config.json and *.safetensors")
    ap.add_argument("--tokenizer", required=True, type=Path, help="tokenizer.json, or a SentencePiece tokenizer.model")
    ap.add_argument("--out", required=True, type=Path, help="the model directory to write")
    ap.add_argument("--int8", action=argparse.BooleanOptionalAction, default=None,
                    help="int8 graph (default: int8 when its top-1 agreement with fp32 is at least 0.9)")
    ap.add_argument("--name", default=None, help="the model's name (default: the folder name)")
    ap.add_argument("--force", action="store_true", help="replace --out when it already holds a model")
    ap.add_argument("--smdm-config", default=None, help="SMDM configuration name (e.g. 170M), when the shapes do not tell")
    ap.add_argument("--n-head", type=int, default=None, help="SMDM query heads, for a shape that is no published configuration")
    ap.add_argument("--n-query-groups", type=int, default=None, help="SMDM key/value heads (default: --n-head)")
    ap.add_argument("--condense-ratio", type=float, default=1.0, help="SMDM RoPE condense ratio (default 1, as published)")
    ap.add_argument("--length-rule", choices=["fixed", "eos"], default="fixed",
                    help="fixed (default; pretrained models) or eos (models fine-tuned with EOS-as-padding)")
    ap.add_argument("--mask-id", type=int, default=None, help="hf: the mask token id when the tokenizer does not name one")
    ap.add_argument("--logit-shift", type=int, choices=[0, 1], default=None,
                    help="hf: 1 (default) when position i is predicted from the output at i - 1 (MDMs adapted from an "
                         "autoregressive Qwen2: Open-dCoder), 0 when each position predicts itself")
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    return ap


# Why --from hf defaults to a shift of 1: the Qwen2-architecture MDMs published so far were adapted from the
# autoregressive Qwen2/Qwen2.5 and kept its next-token alignment (Open-dCoder: Open-dLLM's
# generation_utils.py shifts the logits by one; Dream and DiffuCoder do the same), while the config.json
# this converter accepts is Qwen2's own (Open-dCoder's is a plain Qwen2ForCausalLM config, as Open-dLLM's
# configs/model_configs/qwen/Qwen2-0.5B.json), so nothing in the checkpoint tells a shifted model from one
# that predicts in place. Serving a shifted model unshifted decodes every position from the wrong output;
# the flag names the exception.
HF_DEFAULT_SHIFT = 1


def _logit_shift(args) -> tuple[int, str]:
    """(shift, why) for config.json and the model card."""
    if args.source == "smdm":
        if args.logit_shift not in (None, 0):
            raise BadArguments("--logit-shift is for --from hf only (SMDM predicts each position in place)")
        return 0, "SMDM predicts each position in place"
    if args.logit_shift is not None:
        return args.logit_shift, f"--logit-shift {args.logit_shift} was given"
    return HF_DEFAULT_SHIFT, ("the default of --from hf: the Qwen2-architecture MDMs published so far (Open-dCoder, "
                              "Dream, DiffuCoder) predict position i from the output at i - 1; --logit-shift 0 "
                              "imports a model that predicts in place")


def _mask_id_hf(args, tok_json: Path, hf_config: dict, rows: int) -> int:
    if args.mask_id is not None:
        mask = args.mask_id
    else:
        doc = json.loads(tok_json.read_text(encoding="utf-8"))
        lookup = {t["content"]: t["id"] for t in doc.get("added_tokens") or []}
        lookup.update({k: v for k, v in doc["model"]["vocab"].items() if k in _MASK_NAMES})
        named_cfg = args.tokenizer.parent / "tokenizer_config.json"
        name = None
        if named_cfg.is_file():
            try:
                m = json.loads(named_cfg.read_text(encoding="utf-8")).get("mask_token")
                name = m.get("content") if isinstance(m, dict) else m
            except (OSError, ValueError):
                name = None
        if name is not None and name in lookup:
            mask = lookup[name]
        elif isinstance(hf_config.get("mask_token_id"), int):
            mask = hf_config["mask_token_id"]
        else:
            mask = next((lookup[n] for n in _MASK_NAMES if n in lookup), None)
        if mask is None:
            raise BadData("the tokenizer names no mask token (tokenizer_config.json mask_token, or a <|mask|> / <M> "
                          "token) and config.json has no mask_token_id: pass --mask-id")
    if not 0 <= mask < rows:
        raise BadData(f"--mask-id {mask} is outside the embedding's {rows} rows")
    return mask


# --------------------------------------------------------------------------------------------- converting


def _windows(model: DiffusionLM, banned: set[int], n: int, length: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ok = np.array([i for i in range(min(model.cfg.emitted, 4096)) if i not in banned])  # common ids are the low ones
    return ok[rng.integers(0, len(ok), (n, length))]


@torch.no_grad()
def reference_diff(model: DiffusionLM, reference, emitted: int, mask_id: int, seed: int = 0) -> float:
    """Max |DiffusionLM - source-layout forward| over the emitted logits (mask column excluded) on a random
    canvas with masked positions."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, emitted, (2, 24))
    ids[:, 8:14] = mask_id
    t = torch.from_numpy(ids)
    got = model(t)[..., :emitted]
    want = reference(t)[..., :emitted]
    keep = torch.ones(emitted, dtype=torch.bool)
    if mask_id < emitted:
        keep[mask_id] = False
    return float((got[..., keep] - want[..., keep]).abs().max())


def convert(args) -> dict:
    t0 = time.time()
    out = args.out.absolute()
    if out.exists() and not args.force and (not out.is_dir() or any(out.iterdir())):
        raise BadArguments(f"--out {args.out} already exists; pass --force to replace it")
    if not args.tokenizer.is_file():
        raise BadData(f"tokenizer file not found: {args.tokenizer}")
    if args.condense_ratio <= 0:
        raise BadArguments("--condense-ratio must be positive")
    shift, shift_reason = _logit_shift(args)
    state, hf_config = read_checkpoint(args.source, args.checkpoint)
    events.emit("export", stage="read", path=str(args.checkpoint))
    dtype = dtype_name(state)
    if args.source == "smdm":
        state = smdm.normalise(state)
        scfg = smdm.infer_config(state, args.smdm_config, args.condense_ratio, args.n_head, args.n_query_groups)
        smdm.check_state(state, scfg)
        head_rows, rows = scfg.padded_vocab_size, scfg.padded_vocab_size + 1
        described = f"SMDM {scfg.name} (lit-gpt TransEncoder)"
    else:
        qcfg = qwen2.parse_config(hf_config, str(args.checkpoint))
        state = qwen2.check_state(state, qcfg)
        head_rows = rows = qcfg.vocab_size
        described = f"Qwen2 architecture ({qcfg.num_hidden_layers} layers, width {qcfg.hidden_size}, " \
                    f"{qcfg.num_attention_heads} query / {qcfg.num_key_value_heads} K/V heads)"
    events.log(f"checkpoint: {described}, {len(state)} tensors, {dtype}")

    with AtomicModelDir(out) as tmp:
        tok = convert_tokenizer(args.tokenizer, tmp / "tokenizer.json", head_rows)
        if tok["eos"] is None:
            raise BadData(f"{args.tokenizer} names no end-of-text token (eos); the engine needs one")
        if args.source == "smdm":
            if tok["tokens"] != head_rows:
                raise BadData(f"the tokenizer has {tok['tokens']} tokens but the SMDM head has {head_rows} "
                              "outputs (SMDM uses the 32000-token Llama-2 / TinyLlama tokenizer)")
            mask, emitted = scfg.mask_id, head_rows
            arch = scfg.model_config()
            reference = smdm.Reference(state, scfg)
            mapped = smdm.to_diffill(state, scfg)
        else:
            emitted = tok["tokens"]
            mask = _mask_id_hf(args, tmp / "tokenizer.json", hf_config, rows)
            arch = qcfg.model_config(emitted)
            reference = qwen2.Reference(state, qcfg)
            mapped = qwen2.to_diffill(state, qcfg)
        del state
        bos = tok["bos"] if tok["bos"] not in (tok["eos"], mask) else None
        if tok["eos"] == mask:
            raise BadData(f"the mask id {mask} is the tokenizer's end-of-text token")
        model = DiffusionLM(arch, mask).eval()
        model.load_state_dict(mapped, strict=True)
        del mapped
        round_to_dtype(model, dtype)  # the graph and model.safetensors hold the same numbers
        ref_diff = reference_diff(model, reference, emitted, mask, args.seed)
        del reference
        if ref_diff > REFERENCE_TOLERANCE:
            raise TrainerError(f"the converted model differs from the {args.source} forward by {ref_diff:.2e} "
                               f"(more than {REFERENCE_TOLERANCE}): the conversion is wrong for this checkpoint")
        events.emit("export", stage="convert", path=str(tmp))

        save_weights(model, tmp / "model.safetensors", dtype)
        # A graph over 2 GB cannot be one ONNX file: the exporter then writes each weight to a file of its
        # own beside it. The fp32 graph is exported into a scratch folder, so that only model.onnx (int8,
        # a quarter of the size) or a single-file fp32 graph ever reaches the model directory.
        scratch = tmp / "fp32"
        scratch.mkdir()
        fp32 = scratch / "model.onnx"
        final = tmp / "model.onnx"
        export_onnx(model, fp32)
        single_file = [p.name for p in scratch.iterdir()] == ["model.onnx"]
        events.emit("export", stage="onnx", path=str(fp32))
        verify = {"reference_max_abs_diff": ref_diff, "fp32": verify_fp32(model, fp32, seed=args.seed)}
        quantized = args.int8 is not False
        if not quantized and not single_file:
            raise BadArguments("the fp32 graph of this model is over 2 GB, more than one ONNX file can hold: "
                               "convert it with --int8")
        if quantized:
            int8 = tmp / "model.int8.onnx.tmp"
            quantize(fp32, int8)
            banned = {i for i in (bos, tok["eos"], mask) if i is not None}
            verify["int8"] = compare_int8(model, int8, _windows(model, banned, 8, 64, args.seed), seed=args.seed)
            _smoke(model, int8)
            agreement = verify["int8"]["top1_agreement"]
            if args.int8 is None and agreement < INT8_MIN_AGREEMENT and single_file:
                events.log(f"int8 top-1 agreement {agreement:.3f} < {INT8_MIN_AGREEMENT}: keeping the fp32 graph "
                           "(--int8 forces int8)")
                quantized = False
                os.remove(int8)
            else:
                if agreement < INT8_MIN_AGREEMENT:
                    events.log(f"int8 top-1 agreement {agreement:.3f} < {INT8_MIN_AGREEMENT}, kept: "
                               + ("--int8 was given" if args.int8 else "the fp32 graph is over 2 GB"))
                os.replace(int8, final)
                events.emit("export", stage="quantize", path=str(final))
        if not quantized:
            os.replace(fp32, final)
        shutil.rmtree(scratch)
        verify["bytes"] = final.stat().st_size
        verify["weights_bytes"] = (tmp / "model.safetensors").stat().st_size

        special = {"pad": None, "bos": bos, "eos": tok["eos"], "mask": mask}
        source_name = "smdm" if args.source == "smdm" else "qwen2"
        training = {
            "imported": True, "init": None, "source": source_name, "checkpoint": args.checkpoint.name,
            "configuration": scfg.name if args.source == "smdm" else "qwen2",
            "params": arch.param_count(), "non_embedding_params": arch.non_embedding_params(),
            "tokenizer_family": tok["family"], "tokenizer_tokens": tok["tokens"], "onnx_verify": verify,
        }
        cfg = make_config(args.name or out.name, "imported", arch, special, dtype, quantized, training)
        cfg["length_rule"] = args.length_rule
        # The graph is the same either way; the engine gathers position i's logits at i - 1 when this is 1.
        cfg["architecture"]["logit_shift"] = shift
        cfg["training"]["logit_shift_reason"] = shift_reason
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(model_card(cfg, args, described), encoding="utf-8")
        events.emit("export", stage="verify", path=str(final))
    wall = time.time() - t0
    return {"model_dir": str(out), "steps": 0, "tokens": 0, "val_loss": None, "wall_s": wall,
            "quantized": quantized, "verify": verify}


def model_card(cfg: dict, args, described: str) -> str:
    t, a, s = cfg["training"], cfg["architecture"], cfg["special_tokens"]
    v = t["onnx_verify"]
    int8 = v.get("int8")
    if int8 is None:
        graph = "fp32 graph (--no-int8)"
    elif cfg["onnx"]["quantized"]:
        graph = f"int8 graph: top-1 agreement {int8['top1_agreement']:.3f} with fp32 at {int8['positions']} masked positions of random windows, relative RMS error {int8['relative_rms_error']:.3f}"
    else:
        graph = f"fp32 graph: int8 agreed with fp32 on only {int8['top1_agreement']:.3f} of the top-1 tokens (threshold {INT8_MIN_AGREEMENT}), so it was not kept"
    rule = {"fixed": "fixed: the canvas length is the answer length (the pretrained models never learnt a padding token)",
            "eos": "eos: the answer ends at its first EOS, the positions after it are EOS (the fine-tuning data's padding)"}[cfg["length_rule"]]
    source = "SMDM" if t["source"] == "smdm" else "Hugging Face Qwen2 architecture"
    shift = ("1: the logits of position i are read from the model's output at position i - 1 (position 0 reads "
             "its own), as its authors sample it" if a.get("logit_shift") else
             "0: each position's logits are read from its own output") + f" ({t.get('logit_shift_reason', '')})"
    return f"""# {cfg['name']} (imported)

Converted by `diffill import --from {args.source}` from `{t['checkpoint']}`: {described}.

- **Source**: {source}. Licence: {LICENCES[args.source]}.
- **What was converted**: every weight, unchanged in value ({cfg['weights']['dtype']}); the architecture as
  {json.dumps(a)}. {t['params']:,} parameters, {t['non_embedding_params']:,} without the embedding and head.
- **Special ids**: {json.dumps(s)} (no [PAD]); length rule {rule}.
- **Logit shift**: {shift}.
- **Tokenizer**: {t['tokenizer_family']}, {t['tokenizer_tokens']} tokens.
- **Checks**: the PyTorch model against a forward written in the source's own layout: max |logit diff|
  {v['reference_max_abs_diff']:.2e}; the fp32 ONNX graph against the PyTorch model:
  {v['fp32']['full_max_abs_diff']:.2e} (full), {v['fp32']['cached_max_abs_diff']:.2e} (cached span step).
- **Graph**: {graph}; {v['bytes'] / 1e6:.1f} MB (weights file {v['weights_bytes'] / 1e6:.1f} MB).

Where the published checkpoints are and what each suits: docs/models.md of Diffill.
"""


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except BadArguments as e:
        return events.report(e)
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "0")) or (os.cpu_count() or 1)))

    def stop(signum, frame):  # a cancel unwinds through AtomicModelDir, which removes the temporary folder
        raise Interrupted("cancelled")

    signal.signal(signal.SIGTERM, stop)
    try:
        done = convert(args)
    except Interrupted:
        events.log("cancelled: nothing was written")
        return 130
    except TrainerError as e:
        return events.report(e)
    except MemoryError:
        events.emit("error", message="out of memory while converting", kind="out_of_memory")
        return 1
    except OSError as e:
        kind = "disk_full" if getattr(e, "errno", None) == 28 else "bad_data"
        events.emit("error", message=f"{e.strerror or type(e).__name__}: {e.filename or ''}".rstrip(": "), kind=kind)
        return 1
    except Exception as e:  # noqa: BLE001 - every failure must become an error event
        text = str(e).splitlines()[0] if str(e) else ""
        events.emit("error", message=f"{type(e).__name__}: {text}", kind="internal")
        events.log(f"error: {type(e).__name__}: {e}")
        return 1
    events.emit("done", **done)
    return 0
