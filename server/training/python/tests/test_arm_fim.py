"""The autoregressive fill-in-the-middle baseline (`--objective arm-fim`): its rows, its tokenizer, that it
learns, its model directory and exported graph, its reference decoder, DDP, and its flag errors."""
import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import FAST, REPO, TOKENIZER, env, of, run_module
from diffill_trainer.armfim import arm_val_loss, fim_row, make_arm_batch
from diffill_trainer.charfim import lookahead_tokens
from diffill_trainer.data import load_corpus, sample_windows
from diffill_trainer.evaluate import infill_cases
from diffill_trainer.export import feeds_for, session
from diffill_trainer.model import DiffusionLM
from diffill_trainer.modelio import load_model_dir
from diffill_trainer.objective import ObjectiveConfig
from diffill_trainer.presets import PRESETS
from diffill_trainer.sample_arm import banned_ids, fim_prompt, greedy_fim
from diffill_trainer.vocab import FIM_NAMES, load_vocab, with_fim_tokens

ARM = ["--objective", "arm-fim"]


@pytest.fixture(scope="module")
def vocabs(corpus):
    base = load_vocab(TOKENIZER)
    return base, with_fim_tokens(base), load_corpus(corpus, base)


def test_fim_rows_are_prefix_suffix_middle_and_reassemble_the_text(vocabs):
    base, vocab, corpus = vocabs
    fim = vocab.fim
    L = 128
    rng = np.random.default_rng(5)
    windows = sample_windows(corpus.train, 300, L + 1 + lookahead_tokens(L), rng)
    cfg = ObjectiveConfig(char_fim_fraction=1.0)
    kinds, checked = set(), 0
    for w in windows:
        row = fim_row(w, L + 1, vocab, cfg, rng)
        if row is None:
            continue
        t = row.tokens.tolist()
        assert len(t) == L + 1
        for name in FIM_NAMES:
            assert t.count(fim[name]) == 1, (name, t)
        p, s, m = t.index(fim["fim_prefix"]), t.index(fim["fim_suffix"]), t.index(fim["fim_middle"])
        assert p == 0 and p < s < m and t[-1] == fim["eom"]
        assert t[1:s] == row.prefix and t[s + 1:m] == row.suffix and t[m + 1:-1] == row.middle and row.middle
        kinds.add(row.kind)
        # Prefix, middle and suffix, decoded and put back in document order, are one stretch of the text.
        if row.synthetic_end:  # the document was cut after the middle and given an <|eos|>
            assert row.suffix == [vocab.eos]
            row.suffix = []
        pieces = [vocab.decode(x) for x in (row.prefix, row.middle, row.suffix)]
        if any("\ufffd" in x for x in pieces):
            continue  # a window edge split a multi-byte character
        assert "".join(pieces) in vocab.decode(w), pieces
        checked += 1
    assert checked >= 200
    # The diffusion objective's samplers: its character cut kinds and its token-aligned spans.
    assert {"line", "indent", "mid", "eol", "block", "span", "end", "token"} <= kinds, kinds


def test_half_of_the_rows_are_fim_rows_and_every_position_is_trained(vocabs):
    _, vocab, corpus = vocabs
    rng = np.random.default_rng(1)
    windows = sample_windows(corpus.train, 256, 64 + 1 + lookahead_tokens(64), rng)
    b = make_arm_batch(windows, 64, rng, ObjectiveConfig(), vocab)
    assert b.input_ids.shape == b.targets.shape == (256, 64)
    assert np.array_equal(b.input_ids[:, 1:], b.targets[:, :-1])  # next-token targets
    assert np.all(b.weights == 1.0)
    fim_rows = (b.input_ids == vocab.fim["fim_prefix"]).any(axis=1)
    assert 0.35 < fim_rows.mean() < 0.55, fim_rows.mean()  # FIM rate 0.5, less the few cuts with no place
    plain = ~fim_rows
    assert np.array_equal(b.input_ids[plain], windows[plain, :64])  # plain rows are the stream as it is


def test_fim_tokens_are_new_special_ids_that_text_never_encodes_to(vocabs, corpus):
    base, vocab, _ = vocabs
    assert vocab.size == base.size + 4
    assert sorted(vocab.fim.values()) == list(range(base.size, base.size + 4))
    assert vocab.special_tokens() == base.special_tokens()
    texts = [f.read_text(encoding="utf-8") for f in sorted(corpus.rglob("*")) if f.is_file() and f.suffix != ".json"
             and "LICENSES" not in f.parts]
    texts.append(" ".join(FIM_NAMES.values()) + "\n<|fim_prefix|>x<|eom|><|fim_middle|>")
    for text in texts:
        ids = vocab.encode(text)
        assert max(ids) < base.size, "text encoded to a fill-in-the-middle id"
        assert ids == base.encode(text)


def test_arm_fim_learns_and_writes_a_diffill_arm_model(tiny_arm_model, corpus):
    cfg = json.loads((tiny_arm_model / "config.json").read_text())
    assert cfg["format"] == "diffill-arm"
    assert cfg["architecture"]["causal"] is True and cfg["architecture"]["vocab_size"] == 8196
    base = load_vocab(TOKENIZER)
    assert cfg["special_tokens"] == {"pad": None, "bos": base.bos, "eos": base.eos, "mask": None,
                                     "fim_prefix": 8192, "fim_suffix": 8193, "fim_middle": 8194, "eom": 8195}
    assert "length_rule" not in cfg
    tok = json.loads((tiny_arm_model / "tokenizer.json").read_text())
    added = {t["content"]: t for t in tok["added_tokens"]}
    for key, name in FIM_NAMES.items():
        assert added[name]["id"] == cfg["special_tokens"][key] and added[name]["special"] is True
    loaded = load_vocab(tiny_arm_model / "tokenizer.json")
    assert loaded.fim == {k: cfg["special_tokens"][k] for k in FIM_NAMES} and loaded.size == 8196

    t = cfg["training"]
    assert t["objective"]["infill_fraction"] == 0.5
    assert max(t["onnx_verify"]["fp32"][k] for k in ("full_max_abs_diff", "cached_max_abs_diff")) < 1e-4
    ex = t["infill_exact"]
    assert ex["cases"] == 4 and 0.0 <= ex["variable"] <= 1.0 and ex["mean_forwards_variable"] >= 1
    # The held-out next-token loss falls well below the untrained model's (about ln 8196 = 9.0 nats).
    vocab = with_fim_tokens(base)
    torch.manual_seed(0)
    untrained = DiffusionLM(replace(PRESETS["tiny"].model, vocab_size=8196, causal=True), None)
    val = load_corpus(corpus, base).val
    u = arm_val_loss(untrained, val, n_windows=4, seq_len=128, device="cpu")
    model, _ = load_model_dir(tiny_arm_model)
    trained = arm_val_loss(model, val, n_windows=4, seq_len=128, device="cpu")
    assert abs(t["val_loss"] - trained) < 1e-3
    assert trained < u - 1.0, (u, trained)
    assert vocab.size == model.cfg.vocab_size


def _onnx_greedy(model, sess, prefix, suffix, max_new, special):
    """The cached decoding an engine does with the exported graph: the prompt once, keeping its K/V, then
    one token per call against the cache."""
    prompt = np.array([fim_prompt(prefix, suffix, special)])
    banned = banned_ids(special)
    n = prompt.shape[1]
    out = sess.run(None, feeds_for(model, prompt, np.arange(n), None, np.array([n - 1]), np.arange(n)))
    past = [(out[1 + 2 * i], out[2 + 2 * i]) for i in range(model.cfg.n_layer)]
    answer = []
    while True:
        logits = out[0][0, -1].astype(np.float64)
        logits[banned] = -np.inf
        tok = int(np.argmax(logits))
        if tok == special["eom"] or len(answer) == max_new:
            return answer
        answer.append(tok)
        pos = n + len(answer) - 1
        out = sess.run(None, feeds_for(model, np.array([[tok]]), np.array([pos]), past, np.array([0]), np.array([0])))
        past = [(np.concatenate([k, out[1 + 2 * i]], axis=2), np.concatenate([v, out[2 + 2 * i]], axis=2))
                for i, (k, v) in enumerate(past)]


def test_reference_decoder_matches_full_recompute_and_the_exported_graph(tiny_arm_model, corpus):
    model, cfg = load_model_dir(tiny_arm_model)
    special = cfg["special_tokens"]
    base = load_vocab(TOKENIZER)
    cases = infill_cases(load_corpus(corpus, base).val, base, 6)
    sess = session(tiny_arm_model / "model.onnx")
    for c in cases:
        r = greedy_fim(model, c.prefix, c.suffix, 12, special)
        assert r.stop in ("eom", "length") and len(r.tokens) <= 12
        assert r.forwards == len(r.tokens) + (1 if r.stop == "eom" else 0)
        assert not set(r.tokens) & set(banned_ids(special)) and special["eom"] not in r.tokens
        # Full recompute of prompt + answer gives the same greedy choices as the cached decoding.
        seq = fim_prompt(c.prefix, c.suffix, special) + r.tokens
        with torch.no_grad():
            logits = model(torch.tensor([seq]))[0].numpy().astype(np.float64)
        logits[:, banned_ids(special)] = -np.inf
        n = len(seq) - len(r.tokens)
        assert logits[n - 1:len(seq) - 1].argmax(axis=1).tolist() == r.tokens
        assert _onnx_greedy(model, sess, c.prefix, c.suffix, 12, special) == r.tokens
        forced = greedy_fim(model, c.prefix, c.suffix, 5, special, stop_at_eom=False)
        assert len(forced.tokens) == 5 and forced.stop == "length"

    req = [{"prefix": c.prefix, "suffix": c.suffix, "max_new": 12} for c in cases[:2]]
    code, out, err = run_module("diffill_trainer.sample_arm", ["--model", str(tiny_arm_model), "--ids-json", json.dumps(req)])
    assert code == 0, err
    assert [o["tokens"] for o in out[0]] == [greedy_fim(model, c.prefix, c.suffix, 12, special).tokens for c in cases[:2]]


def test_two_process_ddp_trains_arm_fim_like_one_process(corpus, tmp_path):
    args = [*FAST, *ARM, "--steps", "20", "--seed", "3", "--no-quantize", "--eval-cases", "0", "--data", str(corpus)]
    single = args + ["--out", str(tmp_path / "one")]
    single[single.index("--batch-size") + 1] = "8"  # one process, twice the rows = DDP's global batch
    code, ev1, err = run_module("diffill_trainer.train", single)
    assert code == 0, err[-2000:]
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "diffill_trainer.train", *args, "--out", str(tmp_path / "two")],
                       capture_output=True, text=True, timeout=180, env=env(), cwd=str(REPO))
    assert p.returncode == 0, p.stderr[-3000:]
    ev2 = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    assert of(ev2, "start")[0]["world_size"] == 2 and len(of(ev2, "done")) == 1
    assert of(ev2, "start")[0]["tokens_per_step"] == of(ev1, "start")[0]["tokens_per_step"]
    v1, v2 = of(ev1, "done")[0]["val_loss"], of(ev2, "done")[0]["val_loss"]
    assert v1 < 8.5 and v2 < 8.5, (v1, v2)  # untrained: about ln 8196 = 9.0
    assert abs(v1 - v2) < 0.3, (v1, v2)
    s1, s2 = [e["loss"] for e in of(ev1, "step")], [e["loss"] for e in of(ev2, "step")]
    assert len(s1) == len(s2) == 20
    assert abs(sum(s1) / 20 - sum(s2) / 20) < 0.3, (s1, s2)  # unweighted next-token CE: little noise
    cfg = json.loads((tmp_path / "two" / "config.json").read_text())
    assert cfg["format"] == "diffill-arm"


@pytest.mark.parametrize("extra, message", [
    (["--objective", "arm"], "--objective"),
    (["--objective", "arm-fim", "--first-pad-weight", "0.5"], "--first-pad-weight"),
    (["--objective", "arm-fim", "--pad-noise", "always"], "--pad-noise"),
])
def test_bad_objective_flags_exit_2_with_one_line(extra, message, corpus, tmp_path):
    code, events, err = run_module("diffill_trainer.train", [*FAST, "--data", str(corpus), "--out",
                                                             str(tmp_path / "m"), *extra])
    assert code == 2, err
    errors = of(events, "error")
    assert len(errors) == 1 and errors[0]["kind"] == "bad_arguments"
    assert message in errors[0]["message"] and "\n" not in errors[0]["message"]
    assert "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_init_must_match_the_objective(tiny_arm_model, tmp_path, corpus):
    code, events, err = run_module("diffill_trainer.train", [*FAST, "--objective", "mdm", "--init", str(tiny_arm_model),
                                                             "--data", str(corpus), "--out", str(tmp_path / "m")])
    assert code == 2, err
    message = of(events, "error")[0]["message"]
    assert "is a diffill-arm model" in message and "--objective mdm" in message


def test_an_arm_model_fine_tunes_on_facts_as_an_arm_without_the_flag(tiny_arm_model, tmp_path):
    facts = tmp_path / "facts.txt"
    facts.write_text("The capital of Zorbia is Quenton.\nThe river Oska flows into Lake Mirren.\n")
    code, events, err = run_module("diffill_trainer.train", ["--init", str(tiny_arm_model), "--facts", str(facts),
                                                             "--steps", "5", "--device", "cpu", "--no-compile",
                                                             "--no-quantize", "--out", str(tmp_path / "m")])
    assert code == 0, err[-2000:]
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["format"] == "diffill-arm" and cfg["training"]["facts"] is True
    assert cfg["special_tokens"] == json.loads((tiny_arm_model / "config.json").read_text())["special_tokens"]
