"""A model directory's config.json may only name files inside that directory (docs/security.md)."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import REPO
from diffill_trainer.errors import BadData
from diffill_trainer.modelio import read_config

SHIPPED = REPO / "models" / "default"


@pytest.fixture
def model(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    shutil.copy(SHIPPED / "config.json", d / "config.json")
    (tmp_path / "secret.txt").write_text("hq-box7\n")
    return d


def edit(d, fn):
    cfg = json.loads((d / "config.json").read_text())
    fn(cfg)
    (d / "config.json").write_text(json.dumps(cfg))


def test_the_shipped_config_is_accepted():
    assert read_config(SHIPPED)["tokenizer"] == "tokenizer.json"


@pytest.mark.parametrize("key", ["tokenizer", "weights", "onnx"])
@pytest.mark.parametrize("name", ["../secret.txt", "/etc/passwd", "a/../../secret.txt"])
def test_a_named_file_outside_the_model_directory_is_refused(model, key, name):
    def set_name(cfg):
        if key == "tokenizer":
            cfg["tokenizer"] = name
        else:
            cfg[key]["file"] = name
    edit(model, set_name)
    with pytest.raises(BadData, match="inside the model directory"):
        read_config(model)


def test_a_symbolic_link_out_of_the_model_directory_is_refused(model):
    os.symlink(model.parent / "secret.txt", model / "tokenizer.json")
    with pytest.raises(BadData, match="tokenizer must name a file inside the model directory"):
        read_config(model)
