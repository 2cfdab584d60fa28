"""tools/stamp.py (``make notebooks``): it refuses before executing anything, times the whole run, and stores
progress bars as their final state."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("minidiff_tools_stamp", ROOT / "tools" / "stamp.py")
stamp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stamp)

SOURCE = """\
# %% [markdown]
# # 99 · A test
#
# **Run time:** `quick` < 1 min (CI, 2 CPU cores)
#
# **Stored outputs:** (written by `make notebooks`)

# %%
import time
from pathlib import Path

import minidiff

Path("ran").write_text("yes")
time.sleep(1.0)

# %%
print(minidiff.run_summary())
"""


def notebook(tmp_path: Path, source: str = SOURCE) -> Path:
    py = tmp_path / "99_test.py"
    py.write_text(source)
    jupytext.write(jupytext.read(py), tmp_path / "99_test.ipynb", fmt="ipynb")
    return tmp_path / "99_test.ipynb"


def test_refuses_before_executing_anything(tmp_path, capsys):
    no_line = notebook(tmp_path, SOURCE.replace("# **Stored outputs:** (written by `make notebooks`)\n", ""))
    assert stamp.main([str(no_line)]) == 2
    message = capsys.readouterr().err
    assert (
        "nothing was executed" in message and "# **Stored outputs:** (written by `make notebooks`)" in message
    )
    assert not (tmp_path / "ran").exists()
    no_summary = notebook(tmp_path, SOURCE.replace("print(minidiff.run_summary())", "print(1)"))
    assert stamp.main([str(no_summary)]) == 2
    assert "print(minidiff.run_summary())" in capsys.readouterr().err
    assert not (tmp_path / "ran").exists()


def test_stamps_the_whole_run_into_both_files(tmp_path, monkeypatch):
    ipynb = notebook(tmp_path)
    monkeypatch.setenv("MINIDIFF_BUDGET", "quick")
    assert stamp.main([str(ipynb)]) == 0
    assert (tmp_path / "ran").read_text() == "yes", "the kernel ran in the notebook's folder"
    nb = nbformat.read(ipynb, as_version=4)
    line = stamp.STAMP.search(stamp.header_cell(nb).source)
    assert line and line["budget"] == "quick" and line.group(0) in ipynb.with_suffix(".py").read_text()
    timings = [c.metadata["execution"] for c in nb.cells if c.cell_type == "code"]
    start, end = (
        datetime.fromisoformat(timings[i][k][:-1])
        for i, k in ((0, "iopub.execute_input"), (-1, "shell.execute_reply"))
    )
    assert (end - start).total_seconds() >= 1.0, "record_timing is on and the cells ran"
    assert (end - start).total_seconds() / 60 <= float(line["minutes"]) + 0.05, "the stamp covers every cell"


def _bar(state: dict, key: str, value: float, total: float, left: str, right: str) -> dict:
    ids = [f"{key}0", f"{key}1", f"{key}2", f"{key}9"]
    state[ids[0]] = {"model_name": "HTMLModel", "state": {"value": left}}
    state[ids[1]] = {"model_name": "FloatProgressModel", "state": {"value": value, "max": total}}
    state[ids[2]] = {"model_name": "HTMLModel", "state": {"value": right}}
    children = [f"IPY_MODEL_{i}" for i in ids[:3]]
    state[ids[3]] = {"model_name": "HBoxModel", "state": {"children": children}}
    view = {stamp.WIDGET_VIEW: {"model_id": ids[3]}, "text/plain": f"{left}   0%|          | 0/{total:g}"}
    return nbformat.v4.new_output("display_data", data=view)


def test_progress_widgets_become_their_final_text(tmp_path):
    state = {"aa1": {"model_name": "IntSliderModel", "state": {"layout": "IPY_MODEL_aa2"}}, "aa2": {}}
    done = _bar(state, "b", 600, 600, "train:\u2007100%", "\u2007600/600\u2007[01:22&lt;00:00]")
    stopped = _bar(state, "c", 40, 100, "train:\u200740%", "\u200740/100\u2007[00:01&lt;00:02]")
    gone = _bar(state, "d", 30, 30, "render:\u2007100%", "\u200730/30")
    slider = nbformat.v4.new_output("display_data", data={stamp.WIDGET_VIEW: {"model_id": "aa1"}})
    text = nbformat.v4.new_output("stream", name="stderr", text="euler:  50%|█████     | 2/4 [00:00<?]\n")
    cell = nbformat.v4.new_code_cell("...", outputs=[done, stopped, gone, slider, text])
    nb = nbformat.v4.new_notebook(cells=[cell], metadata={"widgets": {stamp.WIDGET_STATE: {"state": state}}})
    assert stamp.finish_progress_bars(nb, closed={"d9"}) == 3
    shown = [o.get("data", {}).get("text/plain", o.get("text")) for o in cell.outputs]
    assert shown == [
        "train: 100%|██████████| 600/600 [01:22<00:00]",
        f"train: 40%|████      | 40/100 [00:01<00:02]  {stamp.STOPPED}",
        None,  # the slider: kept as it was
        f"euler:  50%|█████     | 2/4 [00:00<?]  {stamp.STOPPED}\n",
    ]
    assert set(nb.metadata.widgets[stamp.WIDGET_STATE]["state"]) == {"aa1", "aa2"}, "only the slider's state"
    assert stamp.unfinished_bars("x:  10%|█         | 1/10 [00:00<?]\n") and not stamp.unfinished_bars(
        shown[0]
    )
