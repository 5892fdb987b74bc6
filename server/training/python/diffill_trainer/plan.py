"""What a run trains, resolved from its flags before anything is built: the device, the architecture and
tokenizer (from --init, the preset, or the data), the corpus, the shapes, the learning rate, the budget
(steps or seconds) and the objective (`--objective`: masked diffusion, or the autoregressive
fill-in-the-middle baseline, armfim.py, whose vocabulary gains four tokens and whose model is causal).
Every flag error is raised here, before the model exists."""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist

from . import events
from .charfim import DEFAULT_KIND_SHARES, parse_kind_shares
from .data import Corpus, load_corpus, load_facts, locate_packed
from .errors import BadArguments, BadData, MissingDependency
from .modelio import ARM_FORMAT, read_config
from .objective import ObjectiveConfig
from .presets import ModelConfig, Preset, get_preset
from .vocab import Vocab, load_vocab, with_fim_tokens


REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_TOKENIZER = REPO_ROOT / "models" / "default" / "tokenizer.json"


def init_device(args) -> tuple[str, int, int, int]:
    """(device, rank, local_rank, world_size); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    want = args.device
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want == "cuda" and not torch.cuda.is_available():
        raise MissingDependency("--device cuda: no CUDA device is available to this torch build "
                                f"({torch.__version__})")
    device = f"cuda:{local}" if want == "cuda" else "cpu"
    if want == "cuda":
        torch.cuda.set_device(local)
    if world > 1:
        dist.init_process_group(backend="nccl" if want == "cuda" else "gloo")
    return device, rank, local, world


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return f"cuda ({torch.cuda.get_device_name(torch.device(device))})"
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


@dataclass
class RunPlan:
    arch: ModelConfig
    preset_name: str
    # The preset whose training defaults (warm-up, learning-rate floor) apply: an --init model's own
    # preset when it is a known one, else small.
    preset: Preset
    init_dir: Path | None
    vocab: Vocab
    corpus: Corpus
    seq_len: int
    batch: int
    base_lr: float
    world: int
    tokens_per_step: int
    total_steps: int | None
    budget_s: float | None
    obj: ObjectiveConfig
    objective: str = "mdm"  # --objective: "mdm" or "arm-fim"

    @property
    def causal(self) -> bool:
        return self.objective == "arm-fim"

    def special_tokens(self) -> dict:
        """config.json's special_tokens."""
        return self.vocab.arm_special_tokens() if self.causal else self.vocab.special_tokens()

    def fingerprint(self, args) -> dict:
        """What a checkpoint must match to be resumed (checkpoint.check_compatible)."""
        return {"preset": self.preset_name, "arch": self.arch.to_json(), "seq_len": self.seq_len,
                "batch": self.batch, "world": self.world, "seed": args.seed, "data": str(args.facts or args.data),
                "init": str(args.init), "total_steps": self.total_steps, "budget_s": self.budget_s,
                "objective": asdict(self.obj), "objective_name": self.objective}


def plan_run(args, world: int, is_cuda: bool, t_start: float) -> RunPlan:
    arch, preset_name, init_cfg, init_dir = _resolve_model(args)
    # Without --objective, an --init model goes on with the objective it was trained with.
    objective = getattr(args, "objective", None) or \
        ("arm-fim" if init_cfg is not None and init_cfg.get("format") == ARM_FORMAT else "mdm")
    if init_cfg is not None and (init_cfg.get("format") == ARM_FORMAT) != (objective == "arm-fim"):
        raise BadArguments(f"--init {init_dir} is a {init_cfg.get('format')} model; it cannot be trained with "
                           f"--objective {objective}")
    packed = locate_packed(args.data) if (args.data and not args.facts) else None
    vocab = load_vocab(_tokenizer_path(args, init_dir, packed))
    events.log(f"tokenizer: {vocab.path if packed is None or vocab.path.parent != packed else 'packed with the data'}")
    if objective == "arm-fim" and vocab.fim is None and init_cfg is None:
        # The ids of the data's tokenizer stay as they are; the corpus is checked against it below, then
        # the four fill-in-the-middle tokens are added after its last id.
        data_vocab, vocab = vocab, None
    else:
        data_vocab = vocab
    if vocab is not None:
        arch = _fit_vocab(arch, vocab, init_cfg, objective)

    preset = get_preset(preset_name) if preset_name in ("tiny", "small", "base") else get_preset("small")
    if args.facts:
        corpus = load_facts(args.facts, data_vocab)
        longest = max(len(f) for f in corpus.facts)
        default_len = min(128, max(16, 1 << math.ceil(math.log2(longest))))
    else:
        if not args.data:
            raise BadArguments("--data is required (or --facts for facts fine-tuning)")
        corpus = load_corpus(args.data, data_vocab, packed)
        default_len = preset.train.seq_len
    if vocab is None:
        vocab = with_fim_tokens(data_vocab)
        events.log(f"fill-in-the-middle tokens added to the tokenizer: {vocab.fim}")
        arch = _fit_vocab(arch, vocab, init_cfg, objective)
    if objective == "arm-fim":
        arch = replace(arch, causal=True)
    seq_len = args.seq_len if args.seq_len is not None else default_len
    batch = args.batch_size if args.batch_size is not None else (preset.train.batch_size if is_cuda else preset.train.cpu_batch_size)
    base_lr = args.lr if args.lr is not None else preset.train.lr * (0.3 if init_dir else 1.0)
    if seq_len < 2 or batch < 1 or base_lr <= 0:
        raise BadArguments("--seq-len must be >= 2, --batch-size >= 1 and --lr > 0")
    cap = preset.model.max_position
    if seq_len > cap:
        raise BadArguments(f"--seq-len {seq_len} exceeds the {preset.name} preset's limit {cap}")
    tokens_per_step = batch * seq_len * world
    total_steps, budget_s = _budget(args, preset, tokens_per_step, t_start)
    return RunPlan(arch=arch, preset_name=preset_name, preset=preset, init_dir=init_dir, vocab=vocab, corpus=corpus,
                   seq_len=seq_len, batch=batch, base_lr=base_lr, world=world, tokens_per_step=tokens_per_step,
                   total_steps=total_steps, budget_s=budget_s, obj=_objective(args, objective), objective=objective)


def _fit_vocab(arch: ModelConfig, vocab: Vocab, init_cfg: dict | None, objective: str) -> ModelConfig:
    """The architecture with the tokenizer's vocabulary size; an --init model must already match it."""
    if arch.vocab_size != vocab.size:
        if init_cfg is not None:
            raise BadData(f"--init model has vocab {arch.vocab_size} but the tokenizer has {vocab.size}")
        arch = replace(arch, vocab_size=vocab.size)
    if init_cfg is not None:
        want = vocab.arm_special_tokens() if objective == "arm-fim" else vocab.special_tokens()
        if init_cfg["special_tokens"] != want:
            raise BadData(f"--init model's special ids {init_cfg['special_tokens']} differ from the tokenizer's {want}")
    return arch


def remaining_budget(args, t_start: float) -> float:
    """The seconds left before --until; raised as a flag error when none are."""
    budget_s = args.until - time.time()
    if budget_s <= 0:
        raise BadArguments(f"--until: the deadline passed before training could start "
                           f"(starting took {time.time() - t_start:.0f}s)")
    return budget_s


def _budget(args, preset: Preset, tokens_per_step: int, t_start: float) -> tuple[int | None, float | None]:
    """(total steps, seconds): a step count when one is known, else a time budget."""
    if args.steps is not None:
        total_steps = args.steps
    elif args.tokens is not None:
        total_steps = math.ceil(args.tokens / tokens_per_step)
    elif args.minutes is not None or args.until is not None:
        total_steps = None
    else:
        total_steps = preset.train.default_steps
    if (total_steps is not None and total_steps < 1) or (args.minutes is not None and args.minutes <= 0):
        raise BadArguments("the training budget (--steps/--tokens/--minutes) must be positive")
    budget_s = args.minutes * 60.0 if args.minutes is not None else None
    if args.until is not None:
        budget_s = remaining_budget(args, t_start)  # set again when the training loop starts
    return total_steps, budget_s


def _resolve_model(args) -> tuple[ModelConfig, str, dict | None, Path | None]:
    """(architecture, preset name, init config or None, init dir or None)."""
    if args.init:
        init_dir = Path(args.init)
        cfg = read_config(init_dir)
        try:
            arch = ModelConfig.from_json(cfg["architecture"])
        except (TypeError, ValueError) as e:
            raise BadData(f"--init {init_dir}: bad architecture: {e}") from e
        events.log(f"--init: architecture and preset {cfg.get('preset')!r} come from {init_dir}")
        return arch, str(cfg.get("preset", args.preset)), cfg, init_dir
    try:
        preset = get_preset(args.preset)
    except ValueError as e:
        raise BadArguments(str(e)) from e
    return preset.model, preset.name, None, None


def _tokenizer_path(args, init_dir: Path | None, packed: Path | None) -> Path:
    """--tokenizer, else the --init model's, else the one packed with the corpus (the data's ids were made
    with it), else models/default/tokenizer.json."""
    if args.tokenizer:
        return Path(args.tokenizer)
    if init_dir is not None:
        return init_dir / read_config(init_dir).get("tokenizer", "tokenizer.json")
    if packed is not None and (packed / "tokenizer.json").is_file():
        return packed / "tokenizer.json"
    return DEFAULT_TOKENIZER


def _objective(args, objective: str = "mdm") -> ObjectiveConfig:
    if objective == "arm-fim":
        # The pads are the diffusion model's length signal; an autoregressive model ends with <|eom|>.
        for flag, given in (("--first-pad-weight", getattr(args, "first_pad_weight", None) is not None),
                            ("--pad-noise always", getattr(args, "pad_noise", "t") != "t")):
            if given:
                raise BadArguments(f"{flag} applies to --objective mdm only")
    fraction = getattr(args, "char_fim_fraction", 0.0)
    if not 0.0 <= fraction <= 1.0:
        raise BadArguments(f"--char-fim-fraction must be in [0, 1] (got {fraction})")
    kinds = DEFAULT_KIND_SHARES
    if getattr(args, "char_fim_kinds", None):
        try:
            kinds = parse_kind_shares(args.char_fim_kinds)
        except ValueError as e:
            raise BadArguments(f"--char-fim-kinds: {e}") from e
    extra = {}
    if getattr(args, "first_pad_weight", None) is not None:
        if not args.first_pad_weight >= 0:
            raise BadArguments(f"--first-pad-weight must be >= 0 (got {args.first_pad_weight})")
        extra["first_pad_weight"] = args.first_pad_weight
    return ObjectiveConfig(pad_noise=args.pad_noise, char_fim_fraction=fraction, char_fim_kinds=kinds, **extra)
