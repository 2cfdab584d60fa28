"""A paint canvas for drawing scene maps with the mouse (chapter 09), and a studio that paints from them.

    canvas = Paint()                       # a 32x32 map of scenes classes, drawn at 320x320 screen pixels
    canvas.maps()                          # (1, 8, 32, 32) one-hot, what the drawing DiT is conditioned on
    studio(lambda maps: drawing.paint(model, maps))   # the canvas, a "paint" button and the picture

The canvas is an anywidget (a few lines of JavaScript in ``_ESM``), so it runs wherever Jupyter widgets do:
JupyterLab, Notebook 7, VS Code and Colab. The drawing lives in the browser while the mouse is down and is
sent to Python (``labels``: one class index per cell, row by row) when it is released.
"""

from __future__ import annotations

import io

import anywidget
import ipywidgets
import torch
import torch.nn.functional as F
import traitlets

from minidiff.data import scenes
from minidiff.plot import to_pil

_ESM = """
function render({ model, el }) {
  const size = model.get("size"), names = model.get("names"), colors = model.get("colors");
  let labels = model.get("labels").slice(), painting = false, last = null;
  const root = document.createElement("div");
  root.className = "minidiff-paint";
  const canvas = document.createElement("canvas");
  canvas.width = size;
  canvas.height = size;
  canvas.style.width = canvas.style.height = model.get("pixels") + "px";
  const ctx = canvas.getContext("2d");
  const tools = document.createElement("div");
  tools.className = "minidiff-paint-tools";
  const buttons = names.map((name, k) => {
    const b = document.createElement("button");
    b.textContent = name;
    b.style.background = `rgb(${colors[k].join(",")})`;
    b.style.color = colors[k][0] + colors[k][1] + colors[k][2] > 380 ? "black" : "white";
    b.onclick = () => { model.set("current", k); model.save_changes(); };
    tools.appendChild(b);
    return b;
  });
  const brush = document.createElement("input");
  brush.type = "range"; brush.min = 1; brush.max = 12; brush.value = model.get("brush");
  brush.title = "brush size (cells)";
  brush.oninput = () => { model.set("brush", Number(brush.value)); model.save_changes(); };
  const fill = document.createElement("button");
  fill.textContent = "fill";
  fill.title = "paint every cell with the current class";
  fill.onclick = () => { labels.fill(model.get("current")); draw(); send(); };
  tools.append("brush", brush, fill);
  function draw() {
    const image = ctx.createImageData(size, size);
    labels.forEach((k, i) => { image.data.set([...colors[k], 255], 4 * i); });
    ctx.putImageData(image, 0, 0);
  }
  function highlight() {
    buttons.forEach((b, k) => { b.classList.toggle("current", k === model.get("current")); });
  }
  function send() { model.set("labels", labels.slice()); model.save_changes(); }
  function cell(event) {  // the pointer's position in cells (fractions included)
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) / box.width * size, (event.clientY - box.top) / box.height * size];
  }
  function stamp(cx, cy) {  // a round brush centred at (cx, cy)
    const radius = Math.max(model.get("brush") / 2, 0.5), current = model.get("current");
    for (let y = Math.floor(cy - radius); y <= Math.ceil(cy + radius); y++) {
      for (let x = Math.floor(cx - radius); x <= Math.ceil(cx + radius); x++) {
        const inside = (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= radius * radius;
        if (inside && x >= 0 && y >= 0 && x < size && y < size) labels[y * size + x] = current;
      }
    }
  }
  function paintTo(event) {  // stamps every half cell from the last position, so a fast stroke has no gaps
    const [x, y] = cell(event), [x0, y0] = last || [x, y];
    const n = Math.max(1, Math.ceil(2 * Math.hypot(x - x0, y - y0)));
    for (let i = 1; i <= n; i++) stamp(x0 + (x - x0) * i / n, y0 + (y - y0) * i / n);
    last = [x, y];
    draw();
  }
  canvas.addEventListener("pointerdown", (e) => {
    painting = true;
    last = null;
    canvas.setPointerCapture(e.pointerId);
    paintTo(e);
  });
  canvas.addEventListener("pointermove", (e) => { if (painting) paintTo(e); });
  const finish = () => { if (painting) { painting = false; send(); } };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  model.on("change:labels", () => { labels = model.get("labels").slice(); draw(); });
  model.on("change:current", highlight);
  model.on("change:brush", () => { brush.value = model.get("brush"); });
  root.append(canvas, tools);
  el.appendChild(root);
  draw();
  highlight();
}
export default { render };
"""

_CSS = """
.minidiff-paint { display: flex; gap: 10px; align-items: flex-start; }
.minidiff-paint canvas { image-rendering: pixelated; touch-action: none; cursor: crosshair;
  border: 1px solid #888; }
.minidiff-paint-tools { display: flex; flex-direction: column; gap: 4px; width: 110px; }
.minidiff-paint-tools button { border: 2px solid transparent; border-radius: 4px; padding: 3px 6px;
  cursor: pointer; text-align: left; }
.minidiff-paint-tools button.current { border-color: #e33; box-shadow: 0 0 0 1px #e33; }
"""


def labels_of(maps: torch.Tensor) -> list[int]:
    """A map (1, K, H, W) one-hot (or scores: the argmax is taken), or class indices (H, W), as the flat
    list of class indices the canvas holds, row by row."""
    if maps.ndim == 4:
        if len(maps) != 1:
            raise ValueError(f"the canvas holds one map: pass maps[i : i + 1], got a batch of {len(maps)}")
        maps = maps[0].argmax(0)
    if maps.ndim != 2:
        raise ValueError(f"expected a map (1, K, H, W) or class indices (H, W), got {tuple(maps.shape)}")
    return [int(k) for k in maps.flatten()]


class Paint(anywidget.AnyWidget):
    """A ``size`` x ``size`` map of scenes classes, painted with the mouse in a notebook."""

    _esm = _ESM
    _css = _CSS
    size = traitlets.Int(32).tag(sync=True)
    pixels = traitlets.Int(320).tag(sync=True)  # the canvas's width on screen
    names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    colors = traitlets.List(traitlets.List(traitlets.Int())).tag(sync=True)
    labels = traitlets.List(traitlets.Int()).tag(sync=True)  # size * size class indices, row by row
    current = traitlets.Int(0).tag(sync=True)  # the class the brush paints
    brush = traitlets.Int(4).tag(sync=True)  # the brush's diameter in cells

    def __init__(self, start: torch.Tensor | None = None, size: int = 32, **kwargs):
        """``start``: a map to begin from (1, K, H, W) or (H, W) class indices; default sky above grass."""
        if start is None:
            start = torch.full((size, size), scenes.CLASSES.index("sky"))
            start[size * 2 // 3 :] = scenes.CLASSES.index("grass")
        colors = [list(c) for c in scenes.PALETTE.values()]
        super().__init__(size=size, names=list(scenes.CLASSES), colors=colors, labels=labels_of(start),
                         current=scenes.CLASSES.index("water"), **kwargs)  # fmt: skip

    @traitlets.validate("labels")
    def _check_labels(self, proposal):
        labels = proposal["value"]
        if len(labels) != self.size**2 or any(not 0 <= k < len(scenes.CLASSES) for k in labels):
            last = len(scenes.CLASSES) - 1
            size = self.size
            raise traitlets.TraitError(f"labels: {size}*{size} class indices in 0..{last} expected, got "
                                       f"{len(labels)} values")  # fmt: skip
        return labels

    def set_map(self, maps: torch.Tensor) -> None:
        """Show ``maps`` (1, K, H, W) or class indices (H, W) on the canvas."""
        self.labels = labels_of(maps)

    def maps(self) -> torch.Tensor:
        """The drawing as a one-hot map (1, K, size, size), float: what the drawing DiT takes."""
        labels = torch.tensor(self.labels).view(1, self.size, self.size)
        return F.one_hot(labels, len(scenes.CLASSES)).permute(0, 3, 1, 2).float()


def png(image: torch.Tensor, scale: int = 10) -> bytes:
    """An image (1, 3, H, W) or (3, H, W) in [-1, 1] as PNG bytes, enlarged ``scale`` times (nearest)."""
    picture = to_pil(image)
    buffer = io.BytesIO()
    picture.resize((picture.width * scale, picture.height * scale), 0).save(
        buffer, format="PNG"
    )  # 0: nearest
    return buffer.getvalue()


def studio(paint_fn, canvas: Paint | None = None) -> ipywidgets.Box:
    """The canvas, a "paint" button and the picture: the button calls ``paint_fn(canvas.maps())``, which
    returns an image (1, 3, H, W) in [-1, 1], and shows it beside the drawing (errors shown, not raised)."""
    canvas = canvas if canvas is not None else Paint()
    blank = png(torch.zeros(1, 3, canvas.size, canvas.size), scale=canvas.pixels // canvas.size)  # mid-grey
    picture = ipywidgets.Image(value=blank, format="png", width=canvas.pixels, height=canvas.pixels)
    status = ipywidgets.Label("draw, then press paint")
    button = ipywidgets.Button(description="paint", button_style="primary", icon="paint-brush")

    def on_click(_=None):
        status.value = "painting…"
        try:
            picture.value = png(paint_fn(canvas.maps()), scale=canvas.pixels // canvas.size)
            status.value = "done: change the drawing and paint again"
        except Exception as error:  # a widget callback's exception would vanish into the browser's log
            status.value = f"error: {error}"

    button.on_click(on_click)
    box = ipywidgets.VBox([ipywidgets.HBox([canvas, picture]), ipywidgets.HBox([button, status])])
    box.canvas, box.picture, box.button, box.status, box.paint = canvas, picture, button, status, on_click
    return box
