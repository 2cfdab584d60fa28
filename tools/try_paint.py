"""Try chapter 09's paint canvas in a real JupyterLab, driven by headless Chromium: draw, paint, screenshot.

    .venv/bin/pip install playwright        # the Python driver only: it uses the system's Chromium
    .venv/bin/python tools/try_paint.py --out /tmp/paint [--budget cpu] [--chromium /usr/bin/chromium]

Starts JupyterLab on a free port in a temporary folder holding a two-cell notebook (load the zoo's drawing
model, show ``minidiff.paint.studio``), opens it in Chromium, runs it, then does what a learner does, once
per scene of ``SCENES``: picks a class in the palette, sets the brush, drags the mouse over the canvas,
and presses "paint". For each scene it writes to --out the screenshots NAME_drawn.png and NAME_painted.png,
and what the kernel received and painted: NAME.txt (the map as 32 rows of class digits), NAME_map.png and
NAME_picture.png. Fails if any step does. Not part of CI (it needs Chromium and a trained model).
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

CELLS = [  # the studio keeps every map it is asked to paint: rows of class digits, the map and the picture
    "import pathlib\n"
    "from minidiff.data import scenes\n"
    "from minidiff.paint import png, studio\n"
    "from minidiff.recipes import drawing\n"
    "model = drawing.RECIPE.load(budget={budget!r})\n"
    "out, kept = pathlib.Path({out!r}), []\n"
    "\n"
    "def paint_and_keep(maps):\n"
    "    image = drawing.paint(model, maps)\n"
    "    kept.append(maps)\n"
    "    rows = maps[0].argmax(0).tolist()\n"
    "    text = '\\n'.join(''.join(map(str, row)) for row in rows) + '\\n'\n"
    "    (out / f'drawn{{len(kept)}}.txt').write_text(text)\n"
    "    (out / f'drawn{{len(kept)}}_map.png').write_bytes(png(scenes.map_to_rgb(maps)))\n"
    "    (out / f'drawn{{len(kept)}}_picture.png').write_bytes(png(image))\n"
    "    return image\n"
    "\n"
    "box = studio(paint_and_keep)\n"
    "box",
    "print('maps kept:', len(kept), '| classes in the last:', sorted(set(box.canvas.labels)))",
]
# What the mouse draws, scene by scene: (class, brush diameter in cells, stroke points as canvas fractions);
# a stroke of "fill" paints the whole canvas with its class first.
SCENES = {
    "lake": [
        ("sky", 0, "fill"),
        ("water", 4, [(0.05, 0.8), (0.95, 0.8), (0.95, 0.9), (0.05, 0.9), (0.05, 0.72), (0.95, 0.72)]),
        ("grass", 3, [(0.0, 0.97), (1.0, 0.97)]),
        ("mountain", 4, [(0.2, 0.62), (0.45, 0.3), (0.7, 0.62), (0.45, 0.5), (0.3, 0.6), (0.6, 0.6)]),
    ],
    "beach": [
        ("sky", 0, "fill"),
        ("water", 6, [(0.0, 0.5), (1.0, 0.5), (1.0, 0.6), (0.0, 0.6)]),
        ("sand", 8, [(0.0, 0.8), (1.0, 0.8), (1.0, 0.95), (0.0, 0.95)]),
        ("cloud", 3, [(0.15, 0.15), (0.35, 0.15)]),
        ("tree", 3, [(0.8, 0.85), (0.8, 0.6)]),
    ],
    "hills": [
        ("sky", 0, "fill"),
        ("grass", 10, [(0.0, 0.75), (0.3, 0.6), (0.6, 0.75), (1.0, 0.6), (1.0, 0.95), (0.0, 0.95)]),
        ("tree", 4, [(0.2, 0.7), (0.2, 0.55)]),
        ("rock", 3, [(0.65, 0.85), (0.72, 0.85)]),
    ],
}


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
            paint_button = page.locator("button.widget-button", has_text="paint")
            for n, (scene, strokes) in enumerate(SCENES.items(), 1):
                for name, brush, points in strokes:
                    page.get_by_role("button", name=name, exact=True).click()
                    if points == "fill":
                        page.get_by_role("button", name="fill", exact=True).click()
                        continue
                    page.locator(".minidiff-paint input[type=range]").fill(str(brush))
                    drag(page, box, points)
                page.screenshot(path=out / f"{scene}_drawn.png")
                paint_button.click()
                kept = out / f"drawn{n}_picture.png"
                for _ in range(120):  # the kernel writes its files, then shows the picture
                    if kept.exists():
                        break
                    time.sleep(0.5)
                time.sleep(2)
                page.screenshot(path=out / f"{scene}_painted.png")
                (out / f"drawn{n}.txt").rename(out / f"{scene}.txt")
                for part in ("map", "picture"):
                    (out / f"drawn{n}_{part}.png").rename(out / f"{scene}_{part}.png")
            run_cell(page, 1)  # what the kernel holds
            printed = page.locator(".jp-OutputArea-output", has_text="maps kept:")
            printed.wait_for(timeout=60_000)
            text = printed.inner_text()
            browser.close()
        print(json.dumps({"kernel": text, "out": str(out)}))
    finally:
        lab.terminate()
        lab.wait(timeout=30)


if __name__ == "__main__":
    main()
