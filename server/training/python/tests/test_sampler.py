import json

import numpy as np
import torch

from conftest import run_module
from diffill_trainer.sample import infill, step_choice

PAD, MASK, V = 0, 3, 16


class Scripted(torch.nn.Module):
    """A stand-in model whose logits at position p come from a table: rows[p] = {token: logit}."""

    def __init__(self, rows):
        super().__init__()
        self.rows = rows
        self.calls = 0

    def forward(self, ids):
        self.calls += 1
        out = torch.zeros(1, ids.shape[1], V)
        for p, row in self.rows.items():
            for tok, val in row.items():
                out[0, p, tok] = val
        out[..., MASK] = -1e9
        return out


def test_step_choice_excludes_mask_and_breaks_ties_to_lowest_id():
    logits = np.zeros((2, V), dtype=np.float32)
    logits[0, MASK] = 50.0  # must be ignored even if it were large
    logits[0, [5, 7]] = 3.0
    logits[1, 9] = 4.0
    tok, conf = step_choice(logits, MASK)
    assert tok.tolist() == [5, 9]
    assert conf[1] > conf[0] > 0


def test_one_commit_per_step_at_threshold_one_leftmost_on_ties():
    # prefix of 2 tokens, span of 3: positions 2, 3, 4. Equal confidence everywhere -> left to right.
    model = Scripted({2: {6: 5.0}, 3: {7: 5.0}, 4: {8: 5.0}})
    r = infill(model, [10, 11], [12], 3, mask_id=MASK, pad_id=PAD, threshold=1.0)
    assert r.tokens == [6, 7, 8] and r.forwards == 3
    assert [step[0][0] for step in r.trace] == [2, 3, 4]


def test_threshold_commits_all_confident_positions_at_once():
    model = Scripted({2: {6: 20.0}, 3: {7: 20.0}, 4: {8: 0.5}})
    r = infill(model, [10, 11], [12], 3, mask_id=MASK, pad_id=PAD, threshold=0.9)
    assert r.trace[0] == [[2, 6], [3, 7]]
    assert r.tokens == [6, 7, 8] and r.forwards == 2


def test_committed_pad_fills_the_rest_of_the_span_and_is_removed():
    # Position 3 is the most confident and says <|pad|>: positions 4 and 5 become pad without a forward.
    model = Scripted({2: {6: 3.0}, 3: {PAD: 30.0}, 4: {8: 3.0}, 5: {9: 3.0}})
    r = infill(model, [10, 11], [], 4, mask_id=MASK, pad_id=PAD, threshold=1.0)
    assert r.trace[0] == [[3, PAD], [4, PAD], [5, PAD]]
    assert r.span == [6, PAD, PAD, PAD]
    assert r.tokens == [6]
    assert r.forwards == 2


def test_cli_json_round_trip(tiny_model):
    req = {"prefix": [1, 345, 3836], "suffix": [368], "n": 4, "threshold": 1.0}
    code, out, err = run_module("diffill_trainer.sample", ["--model", str(tiny_model), "--ids-json", json.dumps(req)])
    assert code == 0, err
    res = out[0]
    assert res["forwards"] <= 4 and len(res["span"]) == 4
    assert res["tokens"] == [t for t in res["span"] if t != 0]
    code, out, _ = run_module("diffill_trainer.sample", ["--model", str(tiny_model), "--ids-json", json.dumps({"n": 2})])
    assert code == 2 and "error" in out[0]


def test_length_threshold_commits_pad_at_the_first_likely_end_on_the_first_forward():
    # p(pad) at positions 2..5: ~0, 0.27, ~1, ~1. With length_threshold 0.2 the first forward
    # commits pad at position 3 (broadcast to 4, 5) besides its most confident token, and drops any
    # choice at or right of 3; later forwards run as usual.
    model = Scripted({2: {6: 4.0}, 3: {PAD: 2.0, 7: 2.0}, 4: {PAD: 9.0}, 5: {PAD: 9.0}})
    plain = infill(model, [10, 11], [], 4, mask_id=MASK, pad_id=PAD, threshold=1.0)
    assert plain.trace[0] == [[4, PAD], [5, PAD]]  # the most confident is a far-right pad
    r = infill(model, [10, 11], [], 4, mask_id=MASK, pad_id=PAD, threshold=1.0, length_threshold=0.2)
    assert r.trace[0] == [[3, PAD], [4, PAD], [5, PAD]]
    assert r.tokens == [6] and r.forwards == 2
    off = infill(model, [10, 11], [], 4, mask_id=MASK, pad_id=PAD, threshold=1.0, length_threshold=0.99)
    assert off.trace[0] == [[4, PAD], [5, PAD]]
