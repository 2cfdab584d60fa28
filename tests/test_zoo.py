"""zoo.py: a cache handed a recipe. Train once, then load; each kind of bad file gives a ZooError saying what
to do; an unwritable cache keeps the model trained; two processes take turns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from minidiff import __version__, settings, zoo


def build(config):
    return nn.Sequential(nn.Linear(2, config["width"]), nn.Linear(config["width"], 2))


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A two-layer recipe that records each training run, with the cache in a temp folder."""
    monkeypatch.setenv("MINIDIFF_HOME", str(tmp_path))
    monkeypatch.setattr(zoo, "_UNSAVED", {})
    monkeypatch.setattr(zoo, "_WARNED", set())
    calls = []

    def train(budget):
        calls.append(budget)
        torch.manual_seed(len(calls))  # each training run gives different weights
        return build({"width": 4}), {"width": 4}, 7, {"loss": 0.25}

    recipe = zoo.Recipe("tiny", build=build, train=train, data_version="3", description="a test model",
                        config_keys=frozenset({"width"}))  # fmt: skip
    return recipe, calls


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_trains_once_then_loads_from_cache(tiny, tmp_path, capsys):
    recipe, calls = tiny
    first = zoo.load(recipe, budget="quick", device="cpu")
    assert calls == ["quick"] and "training it" in capsys.readouterr().out
    assert not first.training
    second = recipe.load(budget="quick", device="cpu")  # the recipe's own load() is zoo.load
    assert calls == ["quick"]  # no second training run
    for (key, a), b in zip(state(first).items(), state(second).values()):
        assert torch.equal(a, b), key
    weights, meta = zoo.paths(recipe, "quick")
    assert weights == tmp_path / "zoo" / "tiny-quick.safetensors" and meta.exists()

    info = zoo.info(recipe, budget="quick")
    fields = ("name", "budget", "version", "data_version", "steps", "metrics", "config")
    assert {k: info[k] for k in fields} == {
        "name": "tiny", "budget": "quick", "version": __version__, "data_version": "3", "steps": 7,
        "metrics": {"loss": 0.25}, "config": {"width": 4},
    }  # fmt: skip
    assert info["created"][:2] == "20" and len(info["sha256"]) == 64

    zoo.load(recipe, budget="cpu", device="cpu")  # another budget is another file
    assert calls == ["quick", "cpu"]
    assert [row["budget"] for row in zoo.cached()] == ["cpu", "quick"]


def test_an_explicit_budget_is_never_overridden(tiny, monkeypatch):
    recipe, calls = tiny
    monkeypatch.setenv("MINIDIFF_BUDGET", "quick")
    zoo.load(recipe, device="cpu")
    zoo.load(recipe, budget="gpu", device="cpu")
    assert calls == ["quick", "gpu"]


def edit_json(recipe, **changes):
    _, meta = zoo.paths(recipe, "quick")
    meta.write_text(json.dumps({**json.loads(meta.read_text()), **changes}))


def truncate(recipe):
    weights, _ = zoo.paths(recipe, "quick")
    weights.write_bytes(weights.read_bytes()[:-10])


def corrupt_json(recipe):
    zoo.paths(recipe, "quick")[1].write_text('{"name": "tiny", ')


@pytest.mark.parametrize(
    "damage, message",
    [
        (corrupt_json, r"tiny-quick\.json is corrupt .*retrain=True.*, or delete"),
        (truncate, "corrupt or truncated"),
        (lambda r: edit_json(r, name="vae"), "foreign file: it describes 'vae', not 'tiny'"),
        (lambda r: edit_json(r, budget="gpu"), "mismatched: budget is 'gpu' in the file but 'quick' now"),
        (lambda r: edit_json(r, data_version="2"), "mismatched: data_version is '2' in the file but '3' now"),
        (lambda r: edit_json(r, version="0.0.9"), "mismatched: version is '0.0' in the file"),
        (
            lambda r: edit_json(r, config={"width": 5}),
            r"mismatched: recipe.build\(config\) makes other tensors",
        ),
        (lambda r: edit_json(r, config={"width": 4, "depth": 3}), r"unknown keys \['depth'\]"),
        (lambda r: edit_json(r, config={"n": 1e7}), r"unknown keys \['n'\]"),
        (lambda r: edit_json(r, config={"width": 4.5}), "does not build this recipe's model"),
        (lambda r: edit_json(r, config=[4]), "its config is list, not a dict"),
    ],
)
def test_bad_files_raise_and_retrain_recovers(tiny, damage, message):
    recipe, calls = tiny
    zoo.load(recipe, budget="quick", device="cpu")
    damage(recipe)
    with pytest.raises(zoo.ZooError, match=message):
        zoo.load(recipe, budget="quick", device="cpu")
    assert calls == ["quick"]  # a bad file is reported, never silently retrained
    model = zoo.load(recipe, budget="quick", retrain=True, device="cpu")
    assert calls == ["quick", "quick"] and isinstance(model, nn.Sequential)
    zoo.load(recipe, budget="quick", device="cpu")  # the rewritten files load cleanly
    assert zoo.info(recipe, budget="quick")["config"] == {"width": 4}


def test_an_absurd_config_is_refused_before_anything_is_allocated(tiny, monkeypatch):
    recipe, _ = tiny
    zoo.load(recipe, budget="quick", device="cpu")
    edit_json(recipe, config={"width": 10**12})  # 20 TB of float32 if it were built for real
    built = []
    monkeypatch.setattr(torch.nn.Linear, "reset_parameters", lambda self: built.append(self.weight.device))
    with pytest.raises(zoo.ZooError, match=r"asks for 5,000,000,000,002 numbers, over the recipe's limit"):
        zoo.load(recipe, budget="quick", device="cpu")
    assert {d.type for d in built} == {"meta"}  # only ever built on the meta device


def test_recipes_names_and_budgets_are_checked(tiny, tmp_path):
    recipe, _ = tiny
    with pytest.raises(zoo.ZooError, match="the zoo has no names: pass the recipe"):
        zoo.load("tiny")
    with pytest.raises(zoo.ZooError, match="budget='huge'"):
        zoo.load(recipe, budget="huge")
    with pytest.raises(zoo.ZooError, match="not cached yet"):
        zoo.info(recipe, budget="gpu")
    with pytest.raises(zoo.ZooError, match="use letters"):
        zoo.Recipe("../evil", build=build, train=None, data_version="1")


def test_home_and_drive_live_in_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIDIFF_HOME", str(tmp_path))
    assert settings.home() == tmp_path
    monkeypatch.delenv("MINIDIFF_HOME")
    monkeypatch.setattr(settings, "COLAB_DRIVE", tmp_path)  # a mounted Drive wins over ~/.cache
    assert settings.home() == tmp_path / "minidiff"
    monkeypatch.setattr(settings, "COLAB_DRIVE", tmp_path / "absent")
    assert settings.home().parts[-2:] == (".cache", "minidiff")


def test_json_left_missing_means_not_cached(tiny):
    recipe, calls = tiny
    zoo.load(recipe, budget="quick", device="cpu")
    zoo.paths(recipe, "quick")[1].unlink()  # e.g. a crash between writing the weights and the JSON
    zoo.load(recipe, budget="quick", device="cpu")
    assert calls == ["quick", "quick"]


def test_a_ruler_is_one_model_for_every_budget_and_takes_no_budget(tiny, monkeypatch):
    _, calls = tiny
    ruler = zoo.Recipe("ruler", build=build, train=lambda: calls.append("-") or (build({"width": 4}),
                       {"width": 4}, 1, {}), data_version="1", ruler=True)  # fmt: skip
    for budget in ("quick", "gpu"):
        monkeypatch.setenv("MINIDIFF_BUDGET", budget)
        zoo.load(ruler, device="cpu")
    assert calls == ["-"]  # trained once, with no budget argument
    assert zoo.info(ruler)["budget"] == "ruler" and zoo.paths(ruler)[0].name == "ruler.safetensors"
    with pytest.raises(zoo.ZooError, match="is a ruler, trained one way for every budget"):
        zoo.load(ruler, budget="gpu")


@pytest.mark.parametrize("home", ["/proc/self/minidiff-cache", "read-only"])
def test_an_unwritable_cache_keeps_the_trained_model(tiny, monkeypatch, tmp_path, capsys, home):
    if home == "read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes through read-only permissions; /proc covers the case")
        home = tmp_path / "ro"
        home.mkdir(mode=0o500)
    monkeypatch.setenv("MINIDIFF_HOME", str(home))
    recipe, calls = tiny
    first = zoo.load(recipe, budget="quick", device="cpu")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not save tiny-quick.safetensors" in err and "MINIDIFF_HOME" in err
    second = zoo.load(recipe, budget="quick", device="cpu")
    assert calls == ["quick"], "trained once, kept for the rest of the process"
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    assert second is not first  # a copy: changing one does not change the kept model
    other = zoo.Recipe("other", build=build, train=recipe.train, data_version="3")
    zoo.load(other, budget="quick", device="cpu")
    assert capsys.readouterr().err == "", "the warning is said once"


def test_store_caches_a_model_a_chapter_trained(tiny, monkeypatch, capsys):
    recipe, calls = tiny
    torch.manual_seed(5)
    mine = build({"width": 4})
    weights = zoo.store(recipe, mine, config={"width": 4}, steps=3, metrics={"loss": 0.5}, budget="quick")
    assert weights == zoo.paths(recipe, "quick")[0] and weights.exists()
    loaded = zoo.load(recipe, budget="quick", device="cpu")
    assert calls == [], "stored, so load does not train"
    assert all(torch.equal(a, b) for a, b in zip(mine.state_dict().values(), loaded.state_dict().values()))
    info = zoo.info(recipe, budget="quick")
    assert (info["steps"], info["metrics"]) == (3, {"loss": 0.5})
    with pytest.raises(zoo.ZooError, match="does not fit its config"):
        zoo.store(recipe, build({"width": 5}), config={"width": 4}, steps=3, metrics={}, budget="quick")
    with pytest.raises(zoo.ZooError, match="unknown keys"):
        zoo.store(recipe, mine, config={"depth": 4}, steps=3, metrics={}, budget="quick")
    with pytest.raises(zoo.ZooError, match="pass the dict"):
        zoo.store(recipe, mine, config=None, steps=3, metrics={}, budget="quick")
    monkeypatch.setenv("MINIDIFF_HOME", "/proc/self/minidiff-cache")  # unwritable: kept for the process
    zoo.store(recipe, mine, config={"width": 4}, steps=3, metrics={}, budget="quick")
    assert "could not save" in capsys.readouterr().err
    kept = zoo.load(recipe, budget="quick", device="cpu")
    assert calls == [] and torch.equal(kept[0].weight, mine[0].weight)


SCRIPT = """
import sys, time
from torch import nn
from minidiff import zoo

def build(config):
    return nn.Linear(2, config["width"])

def train(budget):
    with open(sys.argv[1], "a") as log:
        log.write("trained\\n")
    time.sleep(1.5)  # long enough for the other process to arrive while this one trains
    return build({"width": 3}), {"width": 3}, 1, {}

recipe = zoo.Recipe("shared", build=build, train=train, data_version="1")
print(zoo.load(recipe, budget="quick", device="cpu").weight.shape)
"""


def test_two_processes_take_turns(tmp_path):
    script, log = tmp_path / "load.py", tmp_path / "log.txt"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "MINIDIFF_HOME": str(tmp_path / "home"), "MINIDIFF_THREADS": "1"}
    runs = [
        subprocess.Popen(
            [sys.executable, str(script), str(log)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert log.read_text() == "trained\n", "one process trains, the other waits and loads"
    assert all("torch.Size([3, 2])" in out for out, _ in outputs)
    assert sum("waiting for it" in err for _, err in outputs) == 1
