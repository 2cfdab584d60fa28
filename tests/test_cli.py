"""The command line: `python -m minidiff generate PROMPT -o FILE`. It writes an image, and every bad input
is one line on stderr that says what to do, with a non-zero exit status and no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from ldm_home import copy_of, seeded, use
from PIL import Image

from minidiff import cli


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv: str, code: int) -> str:
    """Run the command, check it failed with ``code`` and one line on stderr; return that line."""
    got, out, err = run(capsys, *argv)
    assert got == code, err
    assert err.startswith("minidiff: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def home(trained_home, monkeypatch):
    return use(trained_home, monkeypatch)


def test_help_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "minidiff", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "generate" in done.stdout and done.stderr == ""
    command = [sys.executable, "-m", "minidiff", "generate", "--help"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--train" in done.stdout and "--cfg" in done.stdout


def test_generate_writes_the_image_and_says_where(home, tmp_path, capsys):
    out = tmp_path / "apple.png"
    code, stdout, stderr = run(capsys, "generate", "red apple", "-o", str(out), "--steps", "3", "--seed", "4")
    assert code == 0, stderr
    assert f"wrote {out}" in stdout and "heun" in stderr  # the sampler's progress bar
    image = Image.open(out)
    assert image.size == (128, 128) and image.mode == "RGB"
    again = tmp_path / "again.png"
    assert (
        cli.main(["generate", "red apple", "-o", str(again), "--steps", "3", "--seed", "4", "--size", "32"])
        == 0
    )
    assert Image.open(again).size == (32, 32)


def test_the_same_seed_writes_the_same_file(home, tmp_path, capsys):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for path in (a, b):
        assert run(capsys, "generate", "banana", "-o", str(path), "--steps", "2", "--size", "32")[0] == 0
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("prompt", ["", "  "])
def test_an_empty_prompt(home, tmp_path, capsys, prompt):
    err = refused(capsys, "generate", prompt, "-o", str(tmp_path / "x.png"), code=2)
    assert err == "minidiff: the prompt is empty: describe what to draw, e.g. 'red apple'\n"
    assert not (tmp_path / "x.png").exists()
    err = refused(capsys, "generate", "\N{RED APPLE}", "-o", str(tmp_path / "x.png"), code=2)
    assert "has no words: describe what to draw in words, e.g. 'red apple'" in err


def test_an_overlong_prompt(home, tmp_path, capsys):
    err = refused(capsys, "generate", "red apple " * 30, "-o", str(tmp_path / "x.png"), code=2)
    assert "tokens long, the limit is 32: shorten it (about 16 words fit)" in err


def test_an_unknown_budget(home, tmp_path, capsys, monkeypatch):
    err = refused(capsys, "generate", "red apple", "-o", str(tmp_path / "x.png"), "--budget", "fast", code=2)
    assert "invalid choice: 'fast'" in err and "quick" in err and "--help" in err
    monkeypatch.setenv("MINIDIFF_BUDGET", "fast")
    err = refused(capsys, "generate", "red apple", "-o", str(tmp_path / "x.png"), code=2)
    assert "MINIDIFF_BUDGET='fast' is not a budget: use one of quick, cpu, gpu" in err


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--steps", "0", "--steps 0: use a whole number from 1 to 1000"),
        ("--steps", "ten", "--steps ten: use a whole number"),
        ("--cfg", "-2", "--cfg -2: use a guidance scale from 0 to 50"),
        ("--cfg", "nan", "--cfg nan: use a guidance scale"),
        ("--seed", "x", "--seed x: use a whole number"),
        ("--size", "0", "--size 0: use 1 to 4096 pixels"),
    ],
)
def test_bad_sampler_options(home, tmp_path, capsys, option, value, message):
    err = refused(capsys, "generate", "red apple", "-o", str(tmp_path / "x.png"), option, value, code=2)
    assert message in err


def test_no_command(capsys):
    assert "give a command, e.g. minidiff generate" in refused(capsys, code=2)


def test_a_missing_model_without_train_tells_how_and_trains_nothing(tmp_path, capsys, monkeypatch):
    bare = use(tmp_path / "bare", monkeypatch)  # not even the emoji renders: nothing is rendered either
    err = refused(capsys, "generate", "red apple", "-o", str(tmp_path / "x.png"), code=1)
    assert "no trained text-to-image model for budget 'quick'" in err and "--train" in err
    assert not bare.exists() and not (tmp_path / "x.png").exists()


def test_a_missing_model_in_a_terminal_is_asked_about_first(tmp_path, capsys, monkeypatch):
    use(seeded(tmp_path / "home"), monkeypatch)
    asked = []
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    monkeypatch.setattr("builtins.input", lambda question: asked.append(question) or "n")
    err = refused(capsys, "generate", "red apple", "-o", str(tmp_path / "x.png"), code=1)
    assert "--train" in err
    assert len(asked) == 1 and "not trained yet; train them now" in asked[0] and "[y/N]" in asked[0]


def test_a_corrupt_model_file(home, tmp_path, capsys, monkeypatch):
    broken = copy_of(home, tmp_path, monkeypatch)
    weights = broken / "zoo" / "clip-quick.safetensors"
    weights.write_bytes(b"not a safetensors file")
    err = refused(capsys, "generate", "red apple", "-o", str(tmp_path / "x.png"), code=1)
    assert f"the clip model (quick) cannot be used: zoo weights {weights} are corrupt" in err
    assert "Delete" in err and "--train" in err


def test_a_foreign_model_file(home, tmp_path, capsys, monkeypatch):
    broken = copy_of(home, tmp_path, monkeypatch)
    for suffix in (".json", ".safetensors"):  # the clip's files under the vae's names
        shutil.copy(broken / "zoo" / f"clip-quick{suffix}", broken / "zoo" / f"vae-quick{suffix}")
    err = refused(capsys, "generate", "red apple", "-o", str(tmp_path / "x.png"), code=1)
    assert "foreign file" in err and "vae-quick.json" in err and "--train" in err


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "no/such/folder/x.png",
            "the folder {tmp}/no/such/folder does not exist; create it or choose another -o",
        ),
        ("apple.txt", "name it with one of .png, .jpg"),
        ("folder.png", "it is a folder; give a file name"),
        ("file.png/x.png", "the folder {tmp}/file.png does not exist"),  # a file where its folder should be
    ],
)
def test_an_unwritable_output_is_refused_before_anything_else(tmp_path, capsys, monkeypatch, name, message):
    use(seeded(tmp_path / "home"), monkeypatch)  # no models: the output is checked first
    (tmp_path / "file.png").write_bytes(b"")
    (tmp_path / "folder.png").mkdir()
    err = refused(capsys, "generate", "red apple", "-o", str(tmp_path / name), code=1)
    assert f"cannot write {tmp_path / name}" in err and message.format(tmp=tmp_path) in err


def test_train_replaces_a_corrupt_file(home, tmp_path, capsys, monkeypatch):
    broken = copy_of(home, tmp_path, monkeypatch)
    (broken / "zoo" / "vae-quick.safetensors").write_bytes(b"broken")
    code, out, err = run(
        capsys, "generate", "red apple", "-o", str(tmp_path / "x.png"), "--train", "--steps", "2"
    )
    assert code == 0, err
    assert "are corrupt" in out and "zoo: vae (quick) retraining it now" in out and "wrote" in out


def test_train_retrains_a_unet_made_with_another_vae(home, tmp_path, capsys, monkeypatch):
    changed = copy_of(home, tmp_path, monkeypatch)
    meta = changed / "zoo" / "ldm-quick.json"
    meta.write_text(meta.read_text().replace(json.loads(meta.read_text())["config"]["vae"], "0" * 64))
    err = refused(capsys, "generate", "red apple", "-o", str(tmp_path / "x.png"), code=1)
    assert "the ldm model (quick) was trained with another vae than the one cached now" in err
    code, out, err = run(
        capsys, "generate", "red apple", "-o", str(tmp_path / "x.png"), "--train", "--steps", "2"
    )
    assert code == 0, err
    assert "trained with another vae: retraining it" in out and "zoo: ldm (quick) retraining it now" in out
