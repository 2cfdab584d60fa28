"""zoo.py: train once, then load from the cache; each kind of bad file gives a ZooError saying what to do."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from minidiff import __version__, zoo


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A registered two-layer recipe that counts its training runs, with the cache in a temp folder."""
    monkeypatch.setenv("MINIDIFF_HOME", str(tmp_path))
    calls = []

    def build(config):
        return nn.Sequential(nn.Linear(2, config["width"]), nn.Linear(config["width"], 2))

    def train(budget):
        calls.append(budget)
        torch.manual_seed(len(calls))  # each training run gives different weights
        return build({"width": 4}), {"width": 4}, 7, {"loss": 0.25}

    monkeypatch.setattr(zoo, "_REGISTERED", {})
    zoo.register("tiny", zoo.Recipe(build=build, train=train, data_version="3", description="a test model"))
    return calls


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_trains_once_then_loads_from_cache(tiny, tmp_path, capsys):
    first = zoo.load("tiny", budget="quick", device="cpu")
    assert tiny == ["quick"] and "training it" in capsys.readouterr().out
    assert not first.training
    second = zoo.load("tiny", budget="quick", device="cpu")
    assert tiny == ["quick"]  # no second training run
    for (key, a), b in zip(state(first).items(), state(second).values()):
        assert torch.equal(a, b), key
    weights, meta = zoo.paths("tiny", "quick")
    assert weights == tmp_path / "zoo" / "tiny-quick.safetensors" and meta.exists()

    info = zoo.info("tiny", budget="quick")
    fields = ("name", "budget", "version", "data_version", "steps", "metrics", "config")
    assert {k: info[k] for k in fields} == {
        "name": "tiny", "budget": "quick", "version": __version__, "data_version": "3", "steps": 7,
        "metrics": {"loss": 0.25}, "config": {"width": 4},
    }  # fmt: skip
    assert info["created"][:2] == "20" and len(info["sha256"]) == 64

    zoo.load("tiny", budget="cpu", device="cpu")  # another budget is another file
    assert tiny == ["quick", "cpu"]


def edit_json(**changes):
    _, meta = zoo.paths("tiny", "quick")
    meta.write_text(json.dumps({**json.loads(meta.read_text()), **changes}))


def truncate():
    weights, _ = zoo.paths("tiny", "quick")
    weights.write_bytes(weights.read_bytes()[:-10])


def corrupt_json():
    zoo.paths("tiny", "quick")[1].write_text('{"name": "tiny", ')


def other_model():  # a recipe change: the cached tensors no longer fit what build(config) makes
    edit_json(config={"width": 5})


@pytest.mark.parametrize(
    "damage, message",
    [
        (corrupt_json, r"tiny-quick\.json is corrupt .*retrain=True.* or delete"),
        (truncate, "corrupt or truncated"),
        (lambda: edit_json(name="vae"), "foreign file: it describes 'vae', not 'tiny'"),
        (lambda: edit_json(budget="gpu"), "mismatched: budget is 'gpu' in the file but 'quick' now"),
        (lambda: edit_json(data_version="2"), "mismatched: data_version is '2' in the file but '3' now"),
        (lambda: edit_json(version="0.0.9"), "mismatched: version is '0.0' in the file"),
        (other_model, "mismatched: recipe.build.config. makes other tensors"),
    ],
)
def test_bad_files_raise_and_retrain_recovers(tiny, damage, message):
    zoo.load("tiny", budget="quick", device="cpu")
    damage()
    with pytest.raises(zoo.ZooError, match=message):
        zoo.load("tiny", budget="quick", device="cpu")
    assert tiny == ["quick"]  # a bad file is reported, never silently retrained
    model = zoo.load("tiny", budget="quick", retrain=True, device="cpu")
    assert tiny == ["quick", "quick"] and isinstance(model, nn.Sequential)
    zoo.load("tiny", budget="quick", device="cpu")  # the rewritten files load cleanly
    assert zoo.info("tiny", budget="quick")["config"] == {"width": 4}


def test_unknown_names_budgets_and_home(tiny, monkeypatch, tmp_path):
    with pytest.raises(zoo.ZooError, match="unknown zoo model 'nope': the zoo knows .*tiny"):
        zoo.load("nope")
    with pytest.raises(zoo.ZooError, match="budget='huge'"):
        zoo.load("tiny", budget="huge")
    with pytest.raises(zoo.ZooError, match="not cached yet"):
        zoo.info("tiny", budget="gpu")
    with pytest.raises(zoo.ZooError, match="use letters"):
        zoo.register("../evil", zoo.Recipe(build=None, train=None, data_version="1"))
    assert zoo.home() == tmp_path
    monkeypatch.delenv("MINIDIFF_HOME")
    monkeypatch.setattr(zoo, "COLAB_DRIVE", tmp_path)  # a mounted Drive wins over ~/.cache
    assert zoo.home() == tmp_path / "minidiff"
    monkeypatch.setattr(zoo, "COLAB_DRIVE", tmp_path / "absent")
    assert zoo.home().parts[-2:] == (".cache", "minidiff")


def test_json_left_missing_means_not_cached(tiny):
    zoo.load("tiny", budget="quick", device="cpu")
    zoo.paths("tiny", "quick")[1].unlink()  # e.g. a crash between writing the weights and the JSON
    zoo.load("tiny", budget="quick", device="cpu")
    assert tiny == ["quick", "quick"]


def test_a_ruler_recipe_is_the_same_model_for_every_budget(tiny, monkeypatch):
    ruler = zoo.recipe("tiny")
    zoo.register("ruler", zoo.Recipe(ruler.build, ruler.train, ruler.data_version, budget="cpu"))
    monkeypatch.setenv("MINIDIFF_BUDGET", "quick")
    zoo.load("ruler", device="cpu")
    zoo.load("ruler", budget="gpu", device="cpu")
    assert tiny == ["cpu"]  # trained once, for its own budget, whatever the current one
    assert zoo.info("ruler")["budget"] == "cpu" and zoo.paths("ruler", "cpu")[1].exists()
