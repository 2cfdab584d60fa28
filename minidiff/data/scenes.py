"""Procedural landscapes drawn from semantic maps: the map is the "drawing", the render is the image.

A layout is sampled per image (sky with clouds, a mountain ridge, a horizon, bands of water, sand and
grass, trees and rocks standing on the land) as an integer class map; the image paints each class with
its own colour, gradient, shading and noise texture (sky gradient, water ripples, grass grain), so a
model has to learn texture and colour, not a lookup table. Everything is vectorised torch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DATA_VERSION = "1"

CLASSES = ["sky", "cloud", "mountain", "water", "sand", "grass", "tree", "rock"]
SKY, CLOUD, MOUNTAIN, WATER, SAND, GRASS, TREE, ROCK = range(len(CLASSES))
# flat colours (0-255) for *showing* maps; the renders use textured, per-image varied colours
PALETTE = {
    "sky": (135, 190, 250),
    "cloud": (255, 255, 255),
    "mountain": (120, 100, 150),
    "water": (20, 70, 200),
    "sand": (240, 210, 130),
    "grass": (90, 200, 70),
    "tree": (20, 100, 40),
    "rock": (110, 110, 110),
}
# base render colours in [0, 1] (each image shifts them a little)
_BASE = torch.tensor(
    [
        [0.30, 0.52, 0.88],  # sky (top of the gradient)
        [0.93, 0.93, 0.95],  # cloud
        [0.42, 0.40, 0.52],  # mountain
        [0.12, 0.32, 0.55],  # water
        [0.86, 0.76, 0.52],  # sand
        [0.36, 0.64, 0.24],  # grass
        [0.10, 0.33, 0.14],  # tree
        [0.52, 0.49, 0.46],  # rock
    ]
)
# how strongly each class shows the smooth (low, mid frequency) and per-pixel noise fields
_TEXTURE = torch.tensor(
    [
        [0.03, 0.00, 0.00],  # sky: smooth
        [0.02, 0.06, 0.01],  # cloud: puffy
        [0.08, 0.08, 0.03],  # mountain: rugged
        [0.03, 0.02, 0.02],  # water: ripples are added separately
        [0.05, 0.02, 0.05],  # sand: grainy
        [0.06, 0.04, 0.09],  # grass: blotchy and grainy
        [0.02, 0.10, 0.05],  # tree: leafy
        [0.04, 0.08, 0.06],  # rock: rough
    ]
)
# how far each image may shift each class's base colour (clouds stay white)
_VARIATION = torch.tensor([0.06, 0.02, 0.06, 0.05, 0.06, 0.06, 0.04, 0.05]).view(len(CLASSES), 1)
MAX_TREES, MAX_ROCKS, MAX_CLOUDS = 5, 3, 3


def _rand(g, *shape, low=0.0, high=1.0):
    return low + (high - low) * torch.rand(*shape, generator=g)


def _smooth_noise(n: int, cells: int, size: int, g) -> torch.Tensor:
    """Value noise (n, size, size) in about [-1, 1]: a random cells×cells grid, smoothly upsampled."""
    grid = torch.rand(n, 1, cells, cells, generator=g) * 2 - 1
    return F.interpolate(grid, size=(size, size), mode="bicubic", align_corners=False)[:, 0]


# ---------------------------------------------------------------- layout


def _layout(n: int, size: int, g) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer class maps (n, H, W), painted back to front, and each image's horizon height (n,)."""
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    x = coords.view(1, 1, size)  # (1, 1, W)
    y = coords.view(1, size, 1)  # (1, H, 1)
    col = lambda v: v.view(n, 1, 1)  # noqa: E731  per-image scalar → broadcastable

    horizon = _rand(g, n, low=0.42, high=0.62)
    classes = torch.full((n, size, size), SKY, dtype=torch.long)

    # clouds: each a union of three ellipses with a flat-ish bottom, somewhere in the upper sky
    n_clouds = torch.randint(0, MAX_CLOUDS + 1, (n,), generator=g)
    for k in range(MAX_CLOUDS):
        cx, cy = _rand(g, n, low=-0.1, high=1.1), horizon * _rand(g, n, low=0.15, high=0.6)
        width = _rand(g, n, low=0.08, high=0.18)
        puffs = torch.zeros(n, size, size, dtype=torch.bool)
        for dx, dy, scale in ((0.0, 0.0, 1.0), (-0.55, 0.25, 0.7), (0.6, 0.3, 0.65)):
            px, py, r = col(cx + dx * width), col(cy + dy * width), col(scale * width)
            puffs |= ((x - px) / r) ** 2 + ((y - py) / (0.6 * r)) ** 2 < 1
        puffs &= y < col(cy + 0.35 * width)
        classes[puffs & col(n_clouds > k)] = CLOUD

    # mountains: the upper envelope of a few triangular peaks, roughened by two sine waves
    position = _rand(g, n, 3, 1, low=-0.1, high=1.1)  # (n, peaks, 1)
    height = _rand(g, n, 3, 1, low=0.05, high=0.32)
    slope = _rand(g, n, 3, 1, low=0.5, high=1.6)
    ridge = (height - slope * (coords - position).abs()).amax(dim=1)  # (n, W)
    phase = _rand(g, n, 2, high=2 * math.pi)
    ridge = (
        ridge
        + 0.012 * torch.sin(2 * math.pi * 9 * coords + phase[:, :1])
        + 0.006 * torch.sin(2 * math.pi * 23 * coords + phase[:, 1:])
    )
    ridge = ridge * (torch.rand(n, 1, generator=g) < 0.85)  # some scenes have no mountains
    classes[(y > (horizon.view(n, 1) - ridge).unsqueeze(1)) & (y < col(horizon))] = MOUNTAIN

    # ground: a random subset of water → sand → grass bands between the horizon and the bottom
    has = torch.rand(n, 3, generator=g) < torch.tensor([0.65, 0.5, 0.75])
    has[:, 2] |= ~has.any(dim=1)  # at least one band: grass
    shares = _rand(g, n, 3, low=0.3, high=1.0) * has
    ends = horizon.view(n, 1) + (1 - horizon.view(n, 1)) * shares.cumsum(1) / shares.sum(1, keepdim=True)
    wave = _rand(g, n, 3, low=0.0, high=0.025).unsqueeze(-1) * torch.sin(
        2 * math.pi * _rand(g, n, 3, 1, low=0.5, high=2.0) * coords + _rand(g, n, 3, 1, high=2 * math.pi)
    )  # (n, 3, W)
    tops = torch.cat([horizon.view(n, 1), ends[:, :2]], dim=1).unsqueeze(-1) + wave  # top edge of each band
    tops[:, 0] = horizon.view(n, 1)  # the first band always starts at the (straight) horizon
    first = has.float().argmax(dim=1)  # first present band
    tops[torch.arange(n), first] = horizon.view(n, 1)
    for band, label in enumerate((WATER, SAND, GRASS)):
        below = (y >= tops[:, band].unsqueeze(1)) & (y >= col(horizon))
        classes[below & col(has[:, band])] = label
    land_top = torch.where(has[:, 0:1], tops[:, 1:].amin(dim=1).amin(dim=1, keepdim=True), horizon.view(n, 1))
    land = has[:, 1] | has[:, 2]

    # rocks: half ellipses standing on the land, bigger when nearer (lower in the image)
    n_rocks = torch.randint(0, MAX_ROCKS + 1, (n,), generator=g) * land
    for k in range(MAX_ROCKS):
        base = land_top[:, 0] + (1.05 - land_top[:, 0]) * _rand(g, n, low=0.15, high=1.0)
        depth = ((base - horizon) / (1 - horizon)).clamp(0, 1)
        rx = (0.035 + 0.07 * depth) * _rand(g, n, low=0.8, high=1.4)
        rx_, ry_ = col(rx), col(0.7 * rx)
        rock = (((x - col(_rand(g, n))) / rx_) ** 2 + ((y - col(base)) / ry_) ** 2 < 1) & (y < col(base))
        classes[rock & col(n_rocks > k)] = ROCK

    # trees: a wobbly round canopy on a short trunk, only where there is grass, bigger when nearer
    n_trees = torch.randint(0, MAX_TREES + 1, (n,), generator=g) * has[:, 2]
    grass_top = tops[:, 2].amax(dim=1)
    for k in range(MAX_TREES):
        base = grass_top + (1.08 - grass_top) * _rand(g, n, low=0.05, high=1.0)
        depth = ((base - horizon) / (1 - horizon)).clamp(0, 1)
        height = (0.07 + 0.16 * depth) * _rand(g, n, low=0.8, high=1.2)
        tx, cy = col(_rand(g, n)), col(base - 0.62 * height)
        rx, ry = col(0.32 * height), col(0.42 * height)
        angle = torch.atan2(y - cy, x - tx)
        wobble = 1 + 0.1 * torch.sin(5 * angle + col(_rand(g, n, high=2 * math.pi)))
        canopy = ((x - tx) / rx) ** 2 + ((y - cy) / ry) ** 2 < wobble**2
        trunk = ((x - tx).abs() < 0.12 * rx + 0.5 / size) & (y > cy) & (y < col(base))
        classes[(canopy | trunk) & col(n_trees > k)] = TREE
    return classes, horizon


# ---------------------------------------------------------------- rendering


def _render(classes: torch.Tensor, horizon: torch.Tensor, g) -> torch.Tensor:
    """Textured images (n, 3, H, W) in [0, 1] for class maps (n, H, W)."""
    n, size, _ = classes.shape
    K = len(CLASSES)
    y = ((torch.arange(size, dtype=torch.float32) + 0.5) / size).view(1, size, 1)
    x = ((torch.arange(size, dtype=torch.float32) + 0.5) / size).view(1, 1, size)
    # per-image colour variations (time of day, season) and per-class textures
    colours = (_BASE + _VARIATION * _rand(g, n, K, 3, low=-1, high=1)).clamp(0, 1)  # (n, K, 3)
    colours = colours * _rand(g, n, 1, 1, low=0.85, high=1.1)
    low, mid = _smooth_noise(n, 4, size, g), _smooth_noise(n, 10, size, g)
    grain = torch.rand(n, size, size, generator=g) * 2 - 1
    fields = torch.stack([low, mid, grain])  # (3, n, H, W)
    texture = torch.einsum("knhw,nhwk->nhw", fields, _TEXTURE[classes])
    image = colours[torch.arange(n).view(n, 1, 1), classes].permute(0, 3, 1, 2)  # (n, 3, H, W)

    # class-specific light: sky brightens towards the horizon, water ripples and mirrors the sky near the
    # horizon, clouds darken underneath, trees and rocks are lit from the upper left, grass darkens nearby
    is_ = lambda c: (classes == c).float()  # noqa: E731
    rows = y.expand(n, size, size)
    horizon = horizon.view(n, 1, 1)
    sky_glow = (rows / horizon).clamp(0, 1) ** 2
    ripples = torch.sin(2 * math.pi * (size / 3) * rows + 3 * fields[1]) * 0.5 + 0.5
    near = ((rows - horizon) / (1 - horizon + 1e-6)).clamp(0, 1)
    vertical = torch.roll(fields[1], shifts=1, dims=1) - fields[1]  # a cheap local slope for shading
    light = (
        is_(SKY) * 0.35 * sky_glow
        + is_(WATER) * (0.07 * ripples + 0.12 * (1 - near) ** 3)
        + is_(CLOUD) * (0.05 * vertical - 0.02)
        + (is_(TREE) + is_(ROCK)) * 0.25 * vertical
        - is_(GRASS) * 0.08 * near
        + is_(MOUNTAIN) * 0.1 * (x - 0.5) * fields[0]
    )
    return (image + (texture + light).unsqueeze(1)).clamp(0, 1)


def sample(n: int, size: int = 32, *, generator: torch.Generator | None = None):
    """n scenes: images (n, 3, size, size) in [-1, 1] and one-hot maps (n, K, size, size) float32.

    Without a generator the draw is seeded with 0: the same call gives the same scenes.
    """
    if size < 8:
        raise ValueError(f"size={size} is too small for a landscape: use size >= 8 (e.g. 32 or 64)")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    classes, horizon = _layout(n, size, g)
    images = _render(classes, horizon, g) * 2 - 1
    maps = F.one_hot(classes, len(CLASSES)).permute(0, 3, 1, 2).float()  # (n, K, H, W)
    return images, maps


def check_maps(maps, *, batch: int | None = None, size: tuple[int, int] | None = None,
               one_hot: bool = True) -> torch.Tensor:  # fmt: skip
    """``maps`` if they are class maps as ``sample`` returns them: floats (B, K, H, W), a channel per class
    of ``CLASSES``, one-hot (with ``one_hot=False``: any values in [0, 1]), ``batch`` maps of ``size``
    when given; else a ValueError that says what to change."""
    k = len(CLASSES)
    want = f"(B, {k}, {size[0]}, {size[1]})" if size is not None else f"(B, {k}, H, W)"
    if not isinstance(maps, torch.Tensor) or maps.ndim != 4 or maps.shape[1] != k:
        got = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise ValueError(f"maps: expected {want}, one-hot class maps with a channel per class of "
                         f"scenes.CLASSES as scenes.sample returns, got {got}; from class indices (B, H, W): "
                         f"F.one_hot(labels, {k}).permute(0, 3, 1, 2).float()")  # fmt: skip
    if batch is not None and len(maps) != batch:
        raise ValueError(f"got {batch} images but {len(maps)} maps: pass one map per image")
    if size is not None and tuple(maps.shape[-2:]) != tuple(size):
        raise ValueError(f"maps: expected {want}, got {tuple(maps.shape)}: maps and images must be the same "
                         f"size, {size[0]}×{size[1]}")  # fmt: skip
    if not maps.is_floating_point():
        raise ValueError(f"maps: expected floats (one-hot 0.0 / 1.0), got {maps.dtype}: call .float()")
    m = maps.detach()
    if not torch.isfinite(m).all() or m.min() < 0 or m.max() > 1:
        raise ValueError("maps: values must be finite and in [0, 1] (one-hot: 1 for the class, 0 elsewhere)")
    if one_hot and not (((m == 0) | (m == 1)).all() and (m.sum(dim=1) == 1).all()):
        raise ValueError(f"maps are not one-hot: every pixel needs exactly one 1 among its {k} channels "
                         "(from probabilities or logits: one_hot of their argmax over dim 1)")  # fmt: skip
    return maps


def map_to_rgb(maps: torch.Tensor) -> torch.Tensor:
    """Maps (n, K, H, W) one-hot (or scores: the argmax is taken) → flat-coloured images in [-1, 1]."""
    palette = torch.tensor(list(PALETTE.values()), dtype=torch.float32) / 127.5 - 1  # (K, 3)
    return palette[maps.argmax(dim=1)].permute(0, 3, 1, 2)  # (n, 3, H, W)
