"""Held-out evaluation (`python -m diffill_trainer.evaluate_cli`) of an autoregressive model: fine-tuning
measures the base and the candidate with it, so an autoregressive base must get its own figures
(next-token loss, greedy fill-in-the-middle decoding), not the masked-diffusion ones."""
import math

from conftest import run_module


def test_evaluate_cli_measures_an_autoregressive_model_with_its_own_loss_and_decoder(tiny_arm_model, corpus, tmp_path):
    code, events, err = run_module("diffill_trainer.evaluate_cli", ["--model", str(tiny_arm_model), "--data", str(corpus),
                                                                    "--seq-len", "32", "--windows", "2", "--cases", "2"])
    assert code == 0, err[-2000:]
    (out,) = [e for e in events if "model" in e]
    assert math.isfinite(out["val_loss"]) and out["val_loss"] > 0
    assert out["infill_exact"]["decoding"] == "greedy autoregressive, stop at <|eom|>"
    facts = tmp_path / "facts.txt"
    facts.write_text("The capital of Zorbia is Quenton.\nThe river Oska flows into Lake Mirren.\n" * 4)
    code, events, err = run_module("diffill_trainer.evaluate_cli", ["--model", str(tiny_arm_model), "--facts", str(facts),
                                                                    "--seq-len", "16", "--windows", "2"])
    assert code == 0, err[-2000:]
    assert all("error" not in e for e in events), events
    assert math.isfinite([e for e in events if "model" in e][0]["val_loss"])
