// Tiny "diffill-arm" model directories for the autoregressive path's tests, written by the trainer's own
// model code and ONNX exporter (a causal DiffusionLM) with the shipped tokenizer plus the four
// fill-in-the-middle tokens. Cached under test/.cache/ like the tiny diffusion model, keyed by the
// trainer sources, this script and its spec.
//
// - `randomArmModelDir()`: seeded random weights with grouped-query attention, every layer live: the
//   prompt's context matters and the K/V cache is exercised; the end-of-middle row of the head is
//   scaled so that some answers end early. For parity with the PyTorch reference.
// - `bigramArmModelDir(transitions)`: the blocks' output projections are zero, so the next token
//   depends on the current token only, and the head is written so that token A is followed by token B
//   (with the strengths given): answers are known in advance, to test where decoding stops.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { python, ROOT, TRAINER_DIR } from './tiny-model';

export const FIM_TOKENS = ['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<|eom|>'] as const;

const BUILD = `
import json, sys, math, torch
from pathlib import Path
from tokenizers import Tokenizer
from safetensors.torch import save_file
from diffill_trainer.model import DiffusionLM
from diffill_trainer.presets import ModelConfig
from diffill_trainer.export import export_onnx, verify_fp32
from diffill_trainer.modelio import onnx_io_names, ONNX_OPSET

out = Path(sys.argv[1]); kind = sys.argv[2]
spec = json.loads(sys.stdin.read())
out.mkdir(parents=True, exist_ok=True)
tok = Tokenizer.from_file(spec["tokenizer"])
tok.add_special_tokens(spec["fim_tokens"])
tok.save(str(out / "tokenizer.json"))
V = tok.get_vocab_size()
fim = {k: tok.token_to_id(t) for k, t in zip(["fim_prefix", "fim_suffix", "fim_middle", "eom"], spec["fim_tokens"])}
if kind == "random":
    cfg = ModelConfig(n_layer=2, d_model=64, n_head=4, n_kv_head=2, d_ff=128, vocab_size=V, max_position=256,
                      tied_embeddings=False, causal=True)
else:
    cfg = ModelConfig(n_layer=1, d_model=64, n_head=2, d_ff=64, vocab_size=V, max_position=256,
                      tied_embeddings=False, causal=True)
torch.manual_seed(spec["seed"])
m = DiffusionLM(cfg, None).eval()
with torch.no_grad():
    if kind == "random":
        for name, p in m.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.3)
            elif name.endswith("wo.weight") or name.endswith("w_down.weight"):
                p.mul_(8.0)  # the blocks' share of the residual stream: the context matters
        m.lm_head.weight[fim["eom"]] *= spec["eom_scale"]
    else:
        for b in m.blocks:
            b.attn.wo.weight.zero_()
            b.mlp.w_down.weight.zero_()
        def one(text):
            if text in spec["fim_tokens"]:
                return tok.token_to_id(text)
            ids = tok.encode(text).ids
            assert len(ids) == 1, (text, ids)
            return ids[0]
        sources = sorted({one(a) for a, _, _ in spec["transitions"]})
        assert len(sources) <= cfg.d_model
        m.lm_head.weight.zero_()
        for i, s in enumerate(sources):  # orthogonal directions: no transition leaks into another
            m.embed.weight[s] = torch.nn.functional.one_hot(torch.tensor(i), cfg.d_model).float()
        for a, b, strength in spec["transitions"]:
            i = sources.index(one(a))
            m.lm_head.weight[one(b), i] = strength / math.sqrt(cfg.d_model)
save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(out / "model.safetensors"))
export_onnx(m, out / "model.onnx")
verify_fp32(m, out / "model.onnx")
config = {
    "format": "diffill-arm", "format_version": 1, "name": f"arm-{kind}", "preset": "tiny",
    "architecture": cfg.to_json(),
    "special_tokens": {"pad": 0, "bos": 1, "eos": 2, "mask": None, **fim},
    "tokenizer": "tokenizer.json",
    "weights": {"file": "model.safetensors", "dtype": "float32"},
    "onnx": {"file": "model.onnx", "opset": ONNX_OPSET, "quantized": False, **onnx_io_names()},
    "training": {"objective": "arm-fim", "init": None, "seq_len": 256},
}
(out / "config.json").write_text(json.dumps(config, indent=2) + "\\n")
`;

const CACHE = join(ROOT, 'test', '.cache');

function trainerHash(extra: string): string {
  const h = createHash('sha256').update(BUILD).update(extra);
  const pkg = join(TRAINER_DIR, 'diffill_trainer');
  for (const f of readdirSync(pkg).filter((n) => n.endsWith('.py')).sort()) h.update(f).update(readFileSync(join(pkg, f)));
  return h.digest('hex').slice(0, 12);
}

function build(kind: 'random' | 'bigram', spec: Record<string, unknown>): string {
  const full = { tokenizer: join(ROOT, 'models', 'default', 'tokenizer.json'), fim_tokens: FIM_TOKENS, ...spec };
  const dir = join(CACHE, `arm-${kind}-${trainerHash(JSON.stringify(full))}`);
  if (existsSync(join(dir, 'config.json'))) return dir;
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    execFileSync(python(), ['-c', BUILD, tmp, kind], {
      cwd: TRAINER_DIR,
      input: JSON.stringify(full),
      env: { ...process.env, PYTHONPATH: TRAINER_DIR, OMP_NUM_THREADS: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // Another test file may have built the same directory meanwhile: theirs is as good as ours.
    if (existsSync(join(dir, 'config.json'))) rmSync(tmp, { recursive: true, force: true });
    else renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return dir;
}

export function randomArmModelDir(): string {
  return build('random', { seed: 3, eom_scale: 6 });
}

/** [from, to, strength]: after the token spelled `from`, the token spelled `to` scores `strength`. */
export type Transition = readonly [string, string, number];

export function bigramArmModelDir(transitions: readonly Transition[]): string {
  return build('bigram', { seed: 0, transitions });
}

/**
 * The trainer's reference greedy decoder (diffill_trainer/sample_arm.py) on texts: the prefix's ids
 * after BOS and the suffix's before EOS (a whole document on either side), tokenized by the Python
 * tokenizer. Per task: the prompt, the answer's ids (without the end-of-middle token), why it stopped.
 */
export const REFERENCE = `
import json, sys
from tokenizers import Tokenizer
from diffill_trainer.modelio import load_model_dir
from diffill_trainer.sample_arm import fim_prompt, greedy_fim

model, cfg = load_model_dir(sys.argv[1])
sp = cfg["special_tokens"]
tok = Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
out = []
for t in json.loads(sys.stdin.read()):
    prefix = [sp["bos"], *tok.encode(t["prefix"]).ids]
    suffix = [*tok.encode(t["suffix"]).ids, sp["eos"]]
    r = greedy_fim(model, prefix, suffix, t["max_tokens"], sp)
    out.append({"prompt": fim_prompt(prefix, suffix, sp), "ids": r.tokens, "stop": r.stop, "forwards": r.forwards})
print(json.dumps(out))
`;
