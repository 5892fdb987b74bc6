"""Error classification, the loss curve SVG and the standalone export command."""
import errno
import json
import shutil
import xml.etree.ElementTree as ET

import torch

from conftest import run_module
from diffill_trainer.plot import loss_svg
from diffill_trainer.train import classify


def test_failures_map_to_protocol_kinds():
    assert classify(OSError(errno.ENOSPC, "No space left on device"))[0] == "disk_full"
    assert classify(RuntimeError("[enforce fail at inline_container.cc] PytorchStreamWriter failed writing file "
                                 "data/0: file write failed: No space left on device"))[0] == "disk_full"
    kind, message = classify(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert kind == "out_of_memory" and "--batch-size" in message
    assert classify(ValueError("something else"))[0] == "internal"


def test_loss_svg_is_well_formed_and_draws_both_series():
    train = [(s, 9.0 / (1 + s / 50)) for s in range(1, 300)] + [(300, float("nan"))]
    svg = loss_svg(train, [(300, 2.5)], "small <test>")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}path")) == 1 and len(root.findall(f"{ns}circle")) == 1
    assert "small &lt;test&gt;" in svg
    ET.fromstring(loss_svg([], [], "empty"))


def test_export_command_re_exports_and_reports_fusions(tiny_model, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(tiny_model, d)
    (d / "model.onnx").unlink()
    code, out, err = run_module("diffill_trainer.export", [str(d), "--quantize", "--inspect"])
    assert code == 0, err[-2000:]
    verify = next(o for o in out if "verify" in o)["verify"]
    assert verify["fp32"]["full_max_abs_diff"] <= 1e-4 and "int8" not in verify
    ops = next(o for o in out if "ops" in o)["ops"]
    assert ops.get("SimplifiedLayerNormalization", 0) >= 2 * 2  # two per layer survive as fused nodes
    assert any("DynamicQuantizeMatMul" in k or "MatMulIntegerToFloat" in k for k in ops)
    assert json.loads((d / "config.json").read_text())["onnx"]["quantized"] is True
