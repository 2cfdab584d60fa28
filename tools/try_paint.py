"""Try chapter 09's paint canvas in a real JupyterLab, driven by headless Chromium: draw, paint, screenshot.

    .venv/bin/pip install playwright        # the Python driver only: it uses the system's Chromium
    .venv/bin/python tools/try_paint.py --out /tmp/paint [--budget cpu] [--chromium /usr/bin/chromium]

Starts JupyterLab on a free port in a temporary folder holding a two-cell notebook (load the zoo's drawing
model, show ``minidiff.paint.studio``), opens it in Chromium, runs it, then does what a learner does: picks
"water" and drags the mouse across the bottom of the canvas, picks "mountain" and draws a peak, presses
"paint" and waits for the picture. Writes screenshots (before.png, drawn.png, painted.png), the map the
kernel received (map.png) and the picture it painted (picture.png) to --out, and fails if any step does.
Not part of CI (it needs Chromium and a trained model); the closing notes record its runs.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat

CELLS = [
    "from minidiff.recipes import drawing\n"
    "from minidiff.paint import studio\n"
    "model = drawing.RECIPE.load(budget={budget!r})\n"
    "box = studio(lambda maps: drawing.paint(model, maps))\n"
    "box",
    "from minidiff.paint import png\n"
    "from minidiff.data import scenes\n"
    "import pathlib\n"
    "pathlib.Path({out!r}, 'map.png').write_bytes(png(scenes.map_to_rgb(box.canvas.maps())))\n"
    "pathlib.Path({out!r}, 'picture.png').write_bytes(box.picture.value)\n"
    "print('map classes drawn:', sorted(set(box.canvas.labels)), '| status:', box.status.value)",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 60) -> None:
    end = time.time() + seconds
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"JupyterLab did not answer at {url} within {seconds} s")


def drag(page, box: dict, points: list[tuple[float, float]]) -> None:
    """Press at the first point (fractions of the canvas), move through the rest, release."""
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


def run_cell(page, index: int) -> None:
    """Select cell ``index`` (click its prompt) and run it with Shift+Enter, until its prompt shows [*] or a
    number (a run asked for before the kernel is connected is dropped: ask again)."""
    prompt = page.locator(".jp-Cell").nth(index).locator(".jp-InputPrompt")
    for _ in range(10):
        prompt.click()
        page.keyboard.press("Shift+Enter")
        time.sleep(2)
        if prompt.inner_text().strip() not in ("[ ]:", ""):
            return
    raise SystemExit(f"cell {index} would not run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget", default="cpu")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--wait", type=float, default=300, help="seconds to wait for the canvas")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="try_paint_"))
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(c.format(budget=args.budget, out=str(out))) for c in CELLS]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / "paint.ipynb")
    port = free_port()
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}",
         "--IdentityProvider.token=", "--ServerApp.disable_check_xsrf=True",
         f"--ServerApp.root_dir={folder}"],
        stdout=subprocess.DEVNULL, stderr=open(out / "jupyterlab.log", "w"),
    )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/lab")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/paint.ipynb")
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)
            canvas = page.locator(".minidiff-paint canvas")
            try:
                run_cell(page, 0)  # load the model, show the studio
                canvas.wait_for(timeout=int(args.wait * 1000))
            except Exception:
                page.screenshot(path=out / "failed.png")
                raise
            page.screenshot(path=out / "before.png")
            box = canvas.bounding_box()
            news = page.get_by_role("button", name="No", exact=True)  # JupyterLab's news question
            if news.is_visible():
                news.click()
            page.get_by_role("button", name="water").click()
            drag(page, box, [(0.05, 0.8), (0.95, 0.8), (0.95, 0.9), (0.05, 0.9), (0.05, 0.72), (0.95, 0.72)])
            page.get_by_role("button", name="mountain").click()
            drag(page, box, [(0.2, 0.62), (0.45, 0.3), (0.7, 0.62), (0.45, 0.5), (0.3, 0.6), (0.6, 0.6)])
            page.screenshot(path=out / "drawn.png")
            page.locator("button.widget-button", has_text="paint").click()
            page.get_by_text("done: change the drawing").wait_for(timeout=60_000)
            page.screenshot(path=out / "painted.png")
            run_cell(page, 1)  # save what the kernel received and painted
            printed = page.locator(".jp-OutputArea-output", has_text="map classes drawn:")
            printed.wait_for(timeout=60_000)
            text = printed.inner_text()
            browser.close()
        print(json.dumps({"kernel": text, "out": str(out)}))
    finally:
        lab.terminate()
        lab.wait(timeout=30)


if __name__ == "__main__":
    main()
