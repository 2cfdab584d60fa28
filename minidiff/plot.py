"""Figures for the course: image grids with captions, semantic maps, loss curves, loss by t and 2-D flows.
Every function returns its matplotlib Figure, and a notebook shows it once. Live plots: minidiff.live.

Images follow the package convention: float tensors (B, 3, H, W) in [-1, 1]. uint8 arrays are read the
PIL way, (B, H, W, C) in [0, 255]. Time: t = 0 is noise, t = 1 is data.
"""

from __future__ import annotations

import functools
import math
import textwrap
import unicodedata

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import figure, font_manager, ticker
from matplotlib.collections import LineCollection
from matplotlib.patches import Patch
from PIL import Image

# ---- conversions ---------------------------------------------------------------------------------


def to_uint8(images) -> np.ndarray:
    """(B, C, H, W) or (C, H, W) in [-1, 1] -> (B, H, W, C) or (H, W, C) uint8, rounded to nearest."""
    x = torch.as_tensor(images).detach().cpu()
    if x.ndim not in (3, 4) or x.shape[-3] not in (1, 3, 4):
        raise ValueError(f"expected images (B, C, H, W) or (C, H, W) with C = 1 or 3, got {tuple(x.shape)}")
    if x.dtype != torch.uint8:  # uint8 tensors (torchvision style) are already in [0, 255]
        x = ((torch.nan_to_num(x.float()).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).numpy()


def _batch(images) -> np.ndarray:
    """Any image input -> (B, H, W, 3) uint8: tensors / float arrays (B, C, H, W) in [-1, 1], uint8 arrays
    (B, H, W, C) or (H, W, C) or (H, W), PIL images, or a list of these."""
    if isinstance(images, (list, tuple)):
        return np.concatenate([_batch(image) for image in images])
    if isinstance(images, Image.Image):
        images = np.asarray(images.convert("RGB"))
    if isinstance(images, np.ndarray) and images.dtype == np.uint8:
        x = images if images.ndim == 4 or images.shape[-1] in (1, 3, 4) else images[..., None]
    else:
        x = to_uint8(images)
    x = x[None] if x.ndim == 3 else x  # one image -> a batch of one
    if x.shape[-1] == 1:
        x = x.repeat(3, axis=-1)
    return np.ascontiguousarray(x[..., :3])  # drop alpha


def _tile(u: np.ndarray, nrow: int, padding: int = 2) -> np.ndarray:
    """(B, H, W, 3) uint8 -> one (H', W', 3) grid, nrow images a row, white padding."""
    B, H, W, C = u.shape
    cols = max(1, min(nrow, B))
    rows = math.ceil(B / cols)
    out = np.full((rows * (H + padding) + padding, cols * (W + padding) + padding, C), 255, np.uint8)
    for i, image in enumerate(u):
        top, left = padding + (i // cols) * (H + padding), padding + (i % cols) * (W + padding)
        out[top : top + H, left : left + W] = image
    return out


def make_grid(images, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """Tile a batch into one image (3, H', W') in [-1, 1], nrow images a row (like torchvision's)."""
    grid = torch.from_numpy(_tile(_batch(images), nrow, padding))
    return grid.permute(2, 0, 1).float() / 127.5 - 1  # (H', W', 3) -> (3, H', W')


def to_pil(image, nrow: int = 8) -> Image.Image:
    """One image (3, H, W) in [-1, 1] (or a uint8 array) -> a PIL RGB image; a batch becomes one grid."""
    u = _batch(image)
    return Image.fromarray(u[0] if len(u) == 1 else _tile(u, nrow))


# ---- figures that show once ----------------------------------------------------------------------


class Figure(figure.Figure):
    """A matplotlib Figure that a notebook shows once, even when a cell both draws it and returns it."""

    _shown_in = None

    def _ipython_display_(self):
        # IPython's inline backend shows every open figure after the cell *and* the returned value:
        # skip the second showing within one execution; NotImplementedError means "display me normally".
        from IPython import get_ipython

        count = getattr(get_ipython(), "execution_count", None)
        if count is not None and self._shown_in == count:
            return
        self._shown_in = count
        raise NotImplementedError


def _new_figure(width: float, height: float, **kwargs) -> Figure:
    return plt.figure(figsize=(width, height), FigureClass=Figure, **kwargs)


def _axes(ax, size=(4.5, 3.2)):
    if ax is not None:
        return ax.figure, ax
    fig = _new_figure(*size, layout="constrained")
    return fig, fig.add_subplot()


def _np(values) -> np.ndarray:
    """A tensor, array, list of numbers or list of tensors -> a flat float64 array."""
    if isinstance(values, torch.Tensor):
        return values.detach().double().cpu().numpy().ravel()
    if isinstance(values, (list, tuple)) and len(values) and isinstance(values[0], torch.Tensor):
        return np.concatenate([_np(v) for v in values])
    return np.asarray(values, dtype=np.float64).ravel()


# ---- image grids ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _has_glyph(char: str) -> bool:
    font = font_manager.get_font(font_manager.findfont(font_manager.FontProperties()))
    return font.get_char_index(ord(char)) != 0


def _wrap(caption: str, width_in: float, fontsize: float, max_lines: int = 5) -> list[str]:
    # A glyph missing from the font makes matplotlib warn on stderr (nbval compares it): spell it out instead.
    text = "".join(c if _has_glyph(c) else f" {unicodedata.name(c, '?').lower()} " for c in str(caption))
    em = 0.68 if sum(c.isupper() for c in text) > len(text) / 2 else 0.58  # capitals are wider
    lines = textwrap.wrap(" ".join(text.split()), max(4, int(width_in * 72 / (fontsize * em))))
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:-1] + "…"
    return lines


def _cell(height: int, ncols: int, scale: float) -> float:
    """Inches per image: 32 px -> 1, 64 px -> 1.4, 128 px -> 2 (times scale); figures stay < ~12 in wide."""
    return min(scale * min(2.0, max(1.0, math.sqrt(height / 32))), 11.5 / ncols)


def _grid(rows, captions, title, cell, legend=None, fontsize=7.0) -> Figure:
    """Lay out rows of (H, W, 3) uint8 images, cell inches wide, one axes each, wrapped captions below."""
    H, W = rows[0][0].shape[:2]
    ncols = max(len(row) for row in rows)
    gap, line = 0.08, fontsize * 1.25 / 72
    cell_h = cell * H / W
    wrapped = [[_wrap(c, cell + gap, fontsize) if c else [] for c in row] for row in captions]
    row_h = [cell_h + line * max(map(len, row), default=0) + gap * 1.5 for row in wrapped]
    top_h = 0.32 if title else gap
    fig_w, legend_cols, legend_h = ncols * (cell + gap) + gap, 1, 0.0
    if legend:
        entry_w = max(len(str(name)) for name in legend) * fontsize * 0.6 / 72 + 0.45  # inches
        legend_cols = max(1, min(len(legend), int(fig_w / entry_w)))
        legend_h = 0.2 * math.ceil(len(legend) / legend_cols) + 0.1
    fig_h = top_h + sum(row_h) + legend_h
    fig = _new_figure(fig_w, fig_h)
    y = fig_h - top_h
    for row, lines_row, height in zip(rows, wrapped, row_h):
        for col, (image, lines) in enumerate(zip(row, lines_row)):
            left = gap + col * (cell + gap)
            ax = fig.add_axes((left / fig_w, (y - cell_h) / fig_h, cell / fig_w, cell_h / fig_h))
            ax.imshow(image, interpolation="nearest")  # pixelated upscaling keeps 32 px images crisp
            ax.set_axis_off()
            if lines:
                kw = dict(ha="center", va="top", fontsize=fontsize, linespacing=1.05, transform=ax.transAxes)
                ax.text(0.5, -0.03, "\n".join(lines), **kw)
        y -= height
    if title:
        fig.text(0.5, 1 - 0.06 / fig_h, title, ha="center", va="top", fontsize=10)
    if legend:
        edge = dict(edgecolor="0.6", linewidth=0.5)  # a white class (cloud) stays visible on white
        handles = [Patch(facecolor=np.asarray(rgb) / 255, label=name, **edge) for name, rgb in legend.items()]
        where = dict(
            loc="upper center", bbox_to_anchor=(0.5, legend_h / fig_h), ncol=legend_cols, borderaxespad=0
        )
        fig.legend(handles=handles, fontsize=fontsize, frameon=False, handlelength=1, **where)
    return fig


def show_images(images, captions=None, nrow: int = 8, title: str | None = None, scale: float = 1.0) -> Figure:
    """A grid of images, nrow a row, with small wrapped captions under each; returns (and draws) the Figure.

    Without captions the grid is one axes (fast for big batches); with captions, one axes per image.
    """
    u = _batch(images)
    ncols = max(1, min(nrow, len(u)))
    cell = _cell(u.shape[1], ncols, scale)
    if captions is None:
        return _grid([[_tile(u, nrow)]], [[None]], title, cell * ncols)
    if len(captions) != len(u):
        raise ValueError(f"{len(captions)} captions for {len(u)} images: pass one caption per image")
    chunks = range(0, len(u), nrow)
    return _grid(
        [list(u[i : i + nrow]) for i in chunks], [captions[i : i + nrow] for i in chunks], title, cell
    )


def _palette(palette, k: int) -> np.ndarray:
    if palette is None:
        palette = [plt.get_cmap("tab20")(i % 20)[:3] for i in range(k)]
    colors = np.asarray(list(palette.values()) if isinstance(palette, dict) else palette, float)
    if len(colors) < k:
        raise ValueError(f"palette has {len(colors)} colours for {k} classes: pass one RGB colour per class")
    return np.round(colors * 255 if colors.max() <= 1 else colors).astype(np.uint8)


def color_maps(maps, palette=None) -> np.ndarray:
    """Semantic maps (one-hot (B, K, H, W), or labels (B, H, W)) -> (B, H, W, 3) uint8 via a palette."""
    m = torch.as_tensor(maps).detach().cpu()
    labels = m.argmax(1) if m.ndim == 4 else m.long()
    k = m.shape[1] if m.ndim == 4 else int(labels.max()) + 1
    return _palette(palette, k)[labels.numpy()]


def show_maps(maps, images=None, palette=None, captions=None, classes=None, nrow=8, title=None, scale=1.0):
    """Semantic maps coloured by palette, each above its image; classes (names) adds a colour legend."""
    coloured = color_maps(maps, palette)
    u = None if images is None else _batch(images)
    captions = [None] * len(coloured) if captions is None else list(captions)
    rows, texts = [], []
    for i in range(0, len(coloured), nrow):
        rows.append(list(coloured[i : i + nrow]))
        texts.append(captions[i : i + nrow] if u is None else [None] * len(rows[-1]))
        if u is not None:
            rows.append(list(u[i : i + nrow]))
            texts.append(captions[i : i + nrow])
    legend = None if classes is None else dict(zip(classes, _palette(palette, len(classes))))
    return _grid(rows, texts, title, _cell(coloured.shape[1], len(rows[0]), scale), legend)


# ---- training curves -----------------------------------------------------------------------------


def history_arrays(history) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(steps, losses, t, t_losses) arrays from a train.History, a dict with those keys, or losses."""
    if isinstance(history, dict):
        get = history.get
    elif hasattr(history, "losses"):
        get = lambda name: getattr(history, name, None)
    else:
        get = {"losses": history}.get  # a plain sequence of losses
    losses = _np(get("losses") if get("losses") is not None else [])
    steps = get("steps")
    steps = _np(steps) if steps is not None and len(steps) == len(losses) else np.arange(1.0, len(losses) + 1)
    t, t_losses = get("t"), get("t_losses")
    if t is None or t_losses is None:
        return steps, losses, np.zeros(0), np.zeros(0)
    return steps, losses, _np(t), _np(t_losses)


def ema(values, smooth: float) -> np.ndarray:
    """Exponential moving average with TensorBoard's bias correction (no pull towards 0 at the start)."""
    out, avg = np.empty(len(values)), 0.0
    for i, value in enumerate(values):
        avg = smooth * avg + (1 - smooth) * value
        out[i] = avg / (1 - smooth ** (i + 1))
    return out


def loss_curve(history_or_losses, ax=None, smooth: float | None = None, title="training loss") -> Figure:
    """Raw loss (faint) and its EMA (bold) against step, log-y; smooth=None averages ~n/60 points."""
    fig, ax = _axes(ax)
    steps, losses, _, _ = history_arrays(history_or_losses)
    keep = np.isfinite(losses)
    steps, losses = steps[keep], losses[keep]
    smooth = (1 - 60 / len(losses) if len(losses) > 60 else 0.0) if smooth is None else smooth
    if len(losses):
        ax.plot(steps, losses, color="C0", alpha=0.3, lw=0.8, label="loss")
        ax.plot(steps, ema(losses, smooth), color="C0", lw=1.8, label=f"EMA ({smooth:.2f})")
        ax.legend(fontsize=8, frameon=False)
        if losses.min() > 0:
            ax.set_yscale("log")  # labels 0.2, 0.5, 1, 2, ... read better than 6 x 10^-1
            ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
            ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set(xlabel="step", ylabel="loss", title=title)
    ax.grid(True, which="both", alpha=0.25)
    return fig


def bin_by_t(t, losses, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean loss per equal-width t bin on [0, 1]: (edges (bins+1,), means (bins,) NaN when empty, counts)."""
    t, losses = _np(t), _np(losses)
    index = np.clip((t * bins).astype(int), 0, bins - 1)  # t = 1 goes in the last bin
    counts = np.bincount(index, minlength=bins)
    sums = np.bincount(index, weights=losses, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.linspace(0, 1, bins + 1), sums / counts, counts


def loss_by_t(t, losses=None, bins: int = 10, ax=None, title: str = "loss by t") -> Figure:
    """Mean loss per t bin as bars (minRF's habit): where along the path is the model still wrong?"""
    fig, ax = _axes(ax)
    if losses is None:  # loss_by_t(history)
        _, _, t, losses = history_arrays(t)
    edges, means, _ = bin_by_t(t, losses, bins)
    centers = (edges[:-1] + edges[1:]) / 2
    ax.bar(centers, np.nan_to_num(means), width=0.9 / bins, color=plt.get_cmap("viridis")(centers))
    ax.set(xlim=(0, 1), xlabel="t   (0 = noise, 1 = data)", ylabel="mean loss", title=title)
    ax.grid(True, axis="y", alpha=0.25)
    return fig


def _summary(fig, history, smooth=None, bins=10, title=None) -> None:
    steps, losses, t, t_losses = history_arrays(history)
    axes = fig.subplots(1, 2 if len(t) else 1, squeeze=False)[0]
    loss_curve({"steps": steps, "losses": losses}, ax=axes[0], smooth=smooth)
    if len(t):
        loss_by_t(t, t_losses, bins, ax=axes[1])
    if title:
        fig.suptitle(title, fontsize=11)


def training_summary(history, smooth: float | None = None, bins: int = 10, title=None) -> Figure:
    """Loss curve and loss-by-t side by side."""
    fig = _new_figure(10, 3.4, layout="constrained")
    _summary(fig, history, smooth, bins, title)
    return fig


# ---- 2-D flows -----------------------------------------------------------------------------------


def _square(ax, lim, title) -> None:
    if lim is not None:
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim))
    ax.set_aspect("equal")
    ax.set_title(title or "")
    ax.tick_params(labelsize=8)


def scatter_2d(points, ax=None, *, s=3, color="C0", alpha=0.5, label=None, lim=None, title=None) -> Figure:
    """Scatter 2-D points (N, 2) on square axes."""
    fig, ax = _axes(ax, (4, 4))
    p = _np(points).reshape(-1, 2)
    ax.scatter(p[:, 0], p[:, 1], s=s, color=color, alpha=alpha, label=label, linewidths=0)
    _square(ax, lim, title)
    return fig


def trajectories_2d(paths, data=None, ax=None, *, n=200, lim=None, title="from noise to data") -> Figure:
    """Paths (steps+1, B, 2) from noise (t = 0) to samples (t = 1), coloured by t, over the data cloud."""
    fig, ax = _axes(ax, (4.5, 4.5))
    p = torch.as_tensor(paths).detach().float().cpu()[:, :n].numpy()  # (S+1, n, 2)
    cmap = plt.get_cmap("viridis")
    if data is not None:
        d = _np(data).reshape(-1, 2)
        ax.scatter(d[:, 0], d[:, 1], s=4, color="0.75", linewidths=0, label="data", zorder=0)
    segments = np.stack([p[:-1], p[1:]], axis=2).transpose(1, 0, 2, 3).reshape(-1, 2, 2)  # (n * S, 2, 2)
    t_mid = np.tile((np.arange(len(p) - 1) + 0.5) / (len(p) - 1), p.shape[1])
    ax.add_collection(LineCollection(segments, colors=cmap(t_mid), linewidths=0.6, alpha=0.5, zorder=1))
    ax.scatter(p[0, :, 0], p[0, :, 1], s=4, color=cmap(0.0), alpha=0.6, label="noise (t = 0)", zorder=2)
    end = dict(s=8, color=cmap(1.0), edgecolors="k", linewidths=0.3, label="sample (t = 1)", zorder=3)
    ax.scatter(p[-1, :, 0], p[-1, :, 1], **end)
    ax.autoscale_view()
    ax.legend(
        fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=3, frameon=False, markerscale=2
    )
    _square(ax, lim, title)
    return fig


def vector_field(fn, t: float, ax=None, *, lim=3.0, grid=21, data=None, title=None) -> Figure:
    """Arrows of a velocity fn(x (N, 2), t (N,)) -> (N, 2) at a fixed t, coloured by speed."""
    fig, ax = _axes(ax, (4.5, 4.5))
    xs = torch.linspace(-lim, lim, grid)
    gy, gx = torch.meshgrid(xs, xs, indexing="ij")
    x = torch.stack([gx.ravel(), gy.ravel()], dim=1)  # (N, 2), N = grid * grid
    param = next(fn.parameters(), None) if isinstance(fn, torch.nn.Module) else None
    if param is not None:
        x = x.to(param.device)
    with torch.no_grad():
        v = torch.as_tensor(fn(x, torch.full((len(x),), float(t), device=x.device))).float().cpu().numpy()
    x = x.cpu().numpy()
    if data is not None:
        d = _np(data).reshape(-1, 2)
        ax.scatter(d[:, 0], d[:, 1], s=4, color="0.8", linewidths=0, zorder=0)
    speed = np.hypot(v[:, 0], v[:, 1])
    ax.quiver(
        x[:, 0], x[:, 1], v[:, 0], v[:, 1], speed, cmap="viridis", angles="xy", pivot="mid", width=0.004
    )
    _square(ax, lim * 1.05, title or f"velocity at t = {float(t):.2f}")
    return fig
