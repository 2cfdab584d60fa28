"""Live views in a notebook: a training plot redrawn in place and ipywidgets sliders.

Both work in JupyterLab and Colab and stay quiet (or fall back to one static figure) outside a kernel or
with ``MINIDIFF_LIVE=0``, which the nbval test command sets: widgets and live redraws break its comparison.
"""

from __future__ import annotations

import math
import os
import time

import matplotlib.pyplot as plt
from matplotlib import figure
from matplotlib._pylab_helpers import Gcf

from minidiff.plot import Figure, _summary, history_arrays, show_images


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None  # Jupyter and Colab; not plain IPython


def _live_enabled() -> bool:
    return os.environ.get("MINIDIFF_LIVE", "1").strip() != "0"  # the nbval test command sets 0


class LivePlot:
    """A training plot redrawn in place in Jupyter and Colab (``train(..., live=LivePlot())``).

    Quiet (draws and prints nothing) outside a kernel or with MINIDIFF_LIVE=0. Redraws at most once every
    ``every`` seconds; ``close()`` leaves the final figure in the notebook.
    """

    def __init__(self, every: float = 2.0, title: str | None = None, bins: int = 10):
        self.every, self.title, self.bins = every, title, bins
        self.quiet = not (_live_enabled() and _in_kernel())
        self.fig, self.history, self._handle, self._last = None, None, None, -math.inf

    def update(self, history) -> None:
        self.history = history
        if not self.quiet and time.monotonic() - self._last >= self.every:
            self._draw()

    def _draw(self) -> None:
        from IPython.display import display

        if self.fig is None:  # made by pyplot (which sets up the inline backend), then closed so that pyplot
            self.fig = plt.figure(figsize=(10, 3.4), layout="constrained")  # does not show it a second time
            plt.close(self.fig)
        self.fig.clear()
        steps, losses, _, _ = history_arrays(self.history)
        status = f"step {steps[-1]:.0f}   loss {losses[-1]:.4g}" if len(losses) else "no loss yet"
        _summary(
            self.fig, self.history, bins=self.bins, title=f"{self.title} · {status}" if self.title else status
        )
        if self._handle is None:
            self._handle = display(self.fig, display_id=True)
        else:
            self._handle.update(self.fig)
        self._last = time.monotonic()

    def close(self) -> None:
        if not self.quiet and self.history is not None:
            self._draw()


# ---- sliders (ipywidgets) ------------------------------------------------------------------------


def _widgets():
    """ipywidgets when a live kernel can show them, else None (scripts, tests, MINIDIFF_LIVE=0 runs)."""
    if not (_in_kernel() and _live_enabled()):
        return None
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


def _managed(fig) -> bool:
    return any(manager.canvas.figure is fig for manager in Gcf.get_all_fig_managers())  # pyplot will show it


def _show_now(result) -> None:
    from IPython.display import display

    if isinstance(result, Figure):
        result._shown_in = None  # a figure fn re-uses must show again
    pyplot_drawing = not isinstance(result, figure.Figure) and plt.get_fignums()  # e.g. [<Line2D>]
    if result is not None and not _managed(result) and not pyplot_drawing:
        display(result)
    plt.show()  # pyplot figures fn drew or returned (the inline backend shows and closes them)


def slider(fn, name: str = "t", start: float = 0.0, stop: float = 1.0, step: float = 0.05, value=None):
    """A slider that redraws fn(value) in place (fn returns a Figure or draws with pyplot).

    Tag the notebook cell ``nbval-ignore-output`` (widget ids change every run). Without a live kernel (or
    with MINIDIFF_LIVE=0) it just returns fn(value) for the default value: a static figure.
    """
    value = start if value is None else value
    widgets = _widgets()
    if widgets is None:
        result = fn(value)  # return only what shows once: our Figure, or something pyplot does not draw
        return result if isinstance(result, Figure) or not plt.get_fignums() else None
    from IPython.display import display

    whole = all(isinstance(v, int) for v in (start, stop, step, value))
    control = (widgets.IntSlider if whole else widgets.FloatSlider)(
        value=value, min=start, max=stop, step=step, description=name, continuous_update=False
    )
    out = widgets.Output()

    def render(change=None) -> None:
        with out:
            out.clear_output(wait=True)  # wait: swap the picture without a blank flash
            _show_now(fn(control.value))

    control.observe(render, names="value")
    render()
    display(widgets.VBox([control, out]))
    return None


def image_slider(frames, captions=None, labels=None, nrow: int = 8, scale: float = 1.0, value=None):
    """Scrub through a sequence of image batches, e.g. a sampler's path (steps+1, B, 3, H, W).

    labels titles each frame (default "step i / S"); starts at (and without a kernel draws) the last frame.
    """
    frames = list(frames)
    labels = labels or [f"step {i} / {len(frames) - 1}" for i in range(len(frames))]
    show = lambda i: show_images(frames[i], captions, nrow=nrow, title=labels[i], scale=scale)
    return slider(show, "frame", 0, len(frames) - 1, 1, len(frames) - 1 if value is None else value)
