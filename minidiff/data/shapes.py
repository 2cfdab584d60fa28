"""Coloured shapes with compositional captions and exact labels: the course's text-to-image toy.

Each image holds one or two shapes (by default), each in its own cell of a 3×3 grid (so two never overlap),
on a plain dark background: "a large red circle at the top left and a small blue star at the bottom right".
Shapes are drawn from signed distance functions (https://iquilezles.org/articles/distfunctions2d/) with a
one-pixel soft edge, so any resolution works and a batch of thousands renders in well under a second.
"""

from __future__ import annotations

import math

import torch

DATA_VERSION = "1"

SHAPES = ("circle", "square", "triangle", "diamond", "cross", "star")
# sRGB 0-255, picked to stay far apart from each other and from the background
COLOURS = {
    "red": (230, 40, 40),
    "orange": (255, 150, 20),
    "yellow": (245, 230, 50),
    "green": (40, 200, 60),
    "cyan": (40, 220, 230),
    "blue": (50, 90, 255),
    "purple": (170, 60, 230),
    "white": (240, 240, 240),
}
BACKGROUND = (24, 24, 32)
# row-major 3×3 grid: index = 3 * row + col
POSITIONS = (
    "top left",
    "top center",
    "top right",
    "center left",
    "center",
    "center right",
    "bottom left",
    "bottom center",
    "bottom right",
)
# the "radius" of a shape (fraction of the image width); every shape fits in its 1/3-wide cell
SIZES = {"small": 0.08, "large": 0.13}
SIZE_JITTER = 0.08  # radius varies by ±8 % around its size
CELL = 1 / 3


# ---------------------------------------------------------------- signed distances (y points up)
# Each takes offsets dx, dy from the centre and the radius r and returns the distance to the edge
# (negative inside), in the same units as dx.


def _box(dx, dy, half_w, half_h):
    qx, qy = dx.abs() - half_w, dy.abs() - half_h
    outside = torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2)
    return outside + torch.maximum(qx, qy).clamp(max=0)


def _circle(dx, dy, r):
    return torch.sqrt(dx**2 + dy**2) - r


def _square(dx, dy, r):
    return _box(dx, dy, 0.85 * r, 0.85 * r)


def _triangle(dx, dy, r):
    # equilateral, pointing up, centroid at the centre, circumradius 1.15 r (iq's sdEquilateralTriangle)
    half_side = 1.15 * r * math.sqrt(3) / 2
    k = math.sqrt(3)
    px = dx.abs() - half_side
    py = dy + half_side / k
    fold = px + k * py > 0
    px, py = torch.where(fold, (px - k * py) / 2, px), torch.where(fold, (-k * px - py) / 2, py)
    px = px - torch.maximum(px, -2 * half_side).clamp(max=0)
    return -torch.sqrt(px**2 + py**2) * torch.sign(py)


def _diamond(dx, dy, r):
    # exact inside and along the edges; slightly under-estimated beyond the tips (only the soft edge sees it)
    return (dx.abs() + dy.abs() - 1.1 * r) / math.sqrt(2)


def _cross(dx, dy, r):
    return torch.minimum(_box(dx, dy, r, 0.35 * r), _box(dx, dy, 0.35 * r, r))


def _star(dx, dy, r, points=5, sharpness=3.0):
    # iq's sdStar: fold the plane into one sector, then the distance to one edge of the spike
    outer = 1.15 * r
    an, en = math.pi / points, math.pi / sharpness
    acs = (math.cos(an), math.sin(an))
    ecs = (math.cos(en), math.sin(en))
    dx = dx.abs()
    bn = torch.remainder(torch.atan2(dx, dy), 2 * an) - an
    length = torch.sqrt(dx**2 + dy**2)
    px, py = length * torch.cos(bn), length * torch.sin(bn).abs()
    px, py = px - outer * acs[0], py - outer * acs[1]
    h = torch.minimum((-(px * ecs[0] + py * ecs[1])).clamp(min=0), outer * acs[1] / ecs[1])
    px, py = px + ecs[0] * h, py + ecs[1] * h
    return torch.sqrt(px**2 + py**2) * torch.sign(px)


_SDF = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "diamond": _diamond,
    "cross": _cross,
    "star": _star,
}
# half-extents in units of r: (left/right, up, down); used to keep each shape inside its cell
_EXTENT = {
    "circle": (1.0, 1.0, 1.0),
    "square": (0.85, 0.85, 0.85),
    "triangle": (1.15 * math.sqrt(3) / 2, 1.15, 0.575),
    "diamond": (1.1, 1.1, 1.1),
    "cross": (1.0, 1.0, 1.0),
    "star": (1.15 * math.sin(2 * math.pi / 5), 1.15, 1.15 * math.cos(math.pi / 5)),
}


def draw(shape: str, cx, cy, radius, size: int) -> torch.Tensor:
    """Coverage (M, H, W) in [0, 1] of M shapes at centres (cx, cy) with radii (all (M,), image fractions)."""
    if shape not in _SDF:
        raise ValueError(f"unknown shape {shape!r}: use one of {', '.join(SHAPES)}")
    cx, cy, radius = (torch.as_tensor(v, dtype=torch.float32).reshape(-1) for v in (cx, cy, radius))
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size  # pixel centres
    dx = coords.view(1, 1, size) - cx.view(-1, 1, 1)  # (M, 1, W)
    dy = cy.view(-1, 1, 1) - coords.view(1, size, 1)  # (M, H, 1), flipped so y points up
    sdf = _SDF[shape](dx, dy, radius.view(-1, 1, 1))  # (M, H, W)
    # a soft edge one pixel wide: the fraction of the pixel that the straight edge covers
    return (0.5 - sdf * size).clamp(0, 1)


def _rgb(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32) / 127.5 - 1  # 0-255 → [-1, 1]


def _describe(obj: dict) -> str:
    return f"a {obj['size']} {obj['colour']} {obj['shape']} at the {obj['position']}"


def caption(labels: list[dict]) -> str:
    """The caption of one image from its labels: "a small red circle at the top left and ..."."""
    return " and ".join(_describe(obj) for obj in labels)


def sample(n: int, size: int = 32, *, generator: torch.Generator | None = None, objects=(1, 2)):
    """Draw n images (n, 3, size, size) in [-1, 1] with their captions and per-object labels.

    `objects` lists the allowed object counts (drawn uniformly, at most 9). Labels are dicts with keys
    shape, colour, position, size, cx, cy, radius (cx, cy, radius as fractions of the image width).
    Without a generator the draw is seeded with 0: the same call gives the same images.
    """
    objects = tuple(objects)
    if not objects or min(objects) < 1 or max(objects) > len(POSITIONS):
        raise ValueError(f"objects={objects}: give counts between 1 and {len(POSITIONS)}, e.g. (1, 2)")
    if size < 8:
        raise ValueError(f"size={size} is too small to draw shapes: use size >= 8 (e.g. 32)")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    k = max(objects)
    counts = torch.tensor(objects)[torch.randint(len(objects), (n,), generator=g)]
    cells = torch.rand(n, len(POSITIONS), generator=g).argsort(dim=1)[:, :k]  # distinct cells, (n, k)
    shape_idx = torch.randint(len(SHAPES), (n, k), generator=g)
    colour_idx = torch.randint(len(COLOURS), (n, k), generator=g)
    size_idx = torch.randint(len(SIZES), (n, k), generator=g)
    jitter = torch.rand(n, k, 3, generator=g)
    radius = torch.tensor(list(SIZES.values()))[size_idx] * (1 + SIZE_JITTER * (2 * jitter[..., 0] - 1))

    # keep each shape (plus its soft edge and a hair) inside its cell, so two shapes never overlap
    extent = torch.tensor([_EXTENT[s] for s in SHAPES])[shape_idx] * radius.unsqueeze(-1)  # (n, k, 3)
    margin = 0.6 / size + 0.003
    col, row = (cells % 3).float(), (cells // 3).float()
    lo_x, hi_x = col * CELL + extent[..., 0] + margin, (col + 1) * CELL - extent[..., 0] - margin
    lo_y, hi_y = row * CELL + extent[..., 1] + margin, (row + 1) * CELL - extent[..., 2] - margin
    cx = torch.where(lo_x < hi_x, lo_x + jitter[..., 1] * (hi_x - lo_x), (lo_x + hi_x) / 2)
    cy = torch.where(lo_y < hi_y, lo_y + jitter[..., 2] * (hi_y - lo_y), (lo_y + hi_y) / 2)

    present = torch.arange(k).view(1, k) < counts.view(n, 1)  # (n, k)
    alpha = torch.zeros(n, k, size, size)
    for s, name in enumerate(SHAPES):
        mask = present & (shape_idx == s)
        if mask.any():
            alpha[mask] = draw(name, cx[mask], cy[mask], radius[mask], size)
    background = _rgb(BACKGROUND)
    palette = _rgb(list(COLOURS.values()))
    paint = palette[colour_idx] - background  # (n, k, 3)
    images = background.view(1, 3, 1, 1) + torch.einsum("nkhw,nkc->nchw", alpha, paint)

    colours, sizes = list(COLOURS), list(SIZES)
    rows = zip(*(t.tolist() for t in (counts, shape_idx, colour_idx, cells, size_idx, cx, cy, radius)))
    labels = [
        [
            {
                "shape": SHAPES[s],
                "colour": colours[c],
                "position": POSITIONS[p],
                "size": sizes[z],
                "cx": x,
                "cy": y,
                "radius": r,
            }  # fmt: skip
            for s, c, p, z, x, y, r in list(zip(*objs))[:count]
        ]
        for count, *objs in rows
    ]
    return images.clamp(-1, 1), [caption(objs) for objs in labels], labels


# ---------------------------------------------------------------- held-out combinations
# Colour × shape pairs that no training image of chapter 04's CLIP (nor of chapter 05's denoiser) contains,
# one per shape: a model that has seen red things and stars, but never a red star, must compose them.
HELD_OUT = frozenset(
    {
        ("red", "star"),
        ("orange", "diamond"),
        ("yellow", "circle"),
        ("green", "triangle"),
        ("blue", "cross"),
        ("purple", "square"),
    }
)


def has_held_out(labels: list[dict]) -> bool:
    """True when one of an image's objects (its labels from ``sample``) is a ``HELD_OUT`` colour × shape."""
    return any((obj["colour"], obj["shape"]) in HELD_OUT for obj in labels)


def sample_split(n: int, size: int = 32, *, held_out: bool = False, generator: torch.Generator | None = None,
                 objects=(1, 2)):  # fmt: skip
    """Like ``sample``, but only images with no ``HELD_OUT`` pair (``held_out=False``: training data), or only
    images with one (``held_out=True``: the test of composition). Drawn from ``sample`` by rejection."""
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    kept_images, kept_captions, kept_labels = [], [], []
    while len(kept_captions) < n:
        images, captions, labels = sample(max(n, 64), size, generator=g, objects=objects)
        for image, text, objs in zip(images, captions, labels):
            if has_held_out(objs) == held_out and len(kept_captions) < n:
                kept_images.append(image)
                kept_captions.append(text)
                kept_labels.append(objs)
    return torch.stack(kept_images), kept_captions, kept_labels
