"""Read shapes images back into labels, analytically (no training), and score them against their labels.

Objects are the connected regions whose colour is far from the background. For each one we read the colour
(nearest palette colour of its brightest pixels), its coverage of every pixel (how far each pixel lies from
the background towards that colour), then the centroid (→ position) and area, and finally ask which shape,
drawn by `data.shapes.draw` at that centroid with that area, best explains the coverage (→ shape, size).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from minidiff.data import shapes
from minidiff.metrics import check_images

MAX_OBJECTS = len(shapes.POSITIONS)  # one per grid cell; more regions than this are not read
MIN_AREA = 2.0  # pixels; smaller specks are ignored
MAX_ERROR = 0.5  # a region that no shape explains to within half its area is not an object
# quality(): an object is well formed when the best shape explains it to within WELL_FORMED_AREA of its area
# plus WELL_FORMED_EDGE pixels along its outline, at a size the data draws (WELL_FORMED_RADIUS). The edge
# term is the slack of drawing on a pixel grid: it is the same per outline pixel at every size, so it is a
# larger share of a small shape's area (real 16 px renders of small shapes miss by up to 38 % of their area,
# 32 px ones by 14 %); a missing chunk, a bulge or two shapes run together cost area and stay out, and the
# size range keeps out specks of a few pixels, which any shape fits loosely (tests/test_judges_shapes.py).
WELL_FORMED_AREA = 0.2
WELL_FORMED_EDGE = 0.1  # pixels
# radii (image fractions) of the smallest and largest shapes drawn, with a quarter's margin either way
# (real renders are fitted within 0.86-1.03 of that range at 16 px, 0.99-1.01 at 32 px)
WELL_FORMED_RADIUS = (
    0.75 * shapes.SIZES["small"] * (1 - shapes.SIZE_JITTER),
    1.25 * shapes.SIZES["large"] * (1 + shapes.SIZE_JITTER),
)
# what a judge that guesses scores, for the default sample(objects=(1, 2))
CHANCE = {
    "count": 0.5,
    "colour": 1 / len(shapes.COLOURS),
    "shape": 1 / len(shapes.SHAPES),
    "position": 1 / len(shapes.POSITIONS),
    "size": 1 / len(shapes.SIZES),
}

_SMALL, _LARGE = shapes.SIZES["small"], shapes.SIZES["large"]
_SIZE_SPLIT = math.sqrt(_SMALL * _LARGE)  # geometric midpoint between the two radii
_AREA: dict[str, float] = {}  # area of each shape with radius 1, measured once from its drawing
_OUTLINE: dict[str, float] = {}  # length of its outline with radius 1, measured the same way


def _unit_area(shape: str) -> float:
    if shape not in _AREA:
        size = 512
        _AREA[shape] = float(shapes.draw(shape, 0.5, 0.5, 0.25, size).sum()) / (0.25 * size) ** 2
    return _AREA[shape]


def _unit_outline(shape: str) -> float:
    """Outline length of a shape of radius 1: the summed gradient of its smoothed coverage (coarea)."""
    if shape not in _OUTLINE:
        size, sigma = 512, 4.0
        coverage = shapes.draw(shape, 0.5, 0.5, 0.25, size)[None]  # (1, 1, H, W)
        offsets = torch.arange(-3 * sigma, 3 * sigma + 1)
        kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
        kernel = kernel / kernel.sum()
        pad = len(offsets) // 2
        smooth = F.conv2d(coverage, kernel.view(1, 1, 1, -1), padding=(0, pad))
        smooth = F.conv2d(smooth, kernel.view(1, 1, -1, 1), padding=(pad, 0))[0, 0]
        gx = (smooth[1:-1, 2:] - smooth[1:-1, :-2]) / 2
        gy = (smooth[2:, 1:-1] - smooth[:-2, 1:-1]) / 2
        _OUTLINE[shape] = float(torch.sqrt(gx**2 + gy**2).sum()) / (0.25 * size)
    return _OUTLINE[shape]


def _palette() -> torch.Tensor:
    return torch.tensor(list(shapes.COLOURS.values()), dtype=torch.float32) / 255  # (K, 3) in [0, 1]


def label_regions(mask: torch.Tensor) -> torch.Tensor:
    """Connected regions (8-neighbours) of a (B, H, W) bool mask: (B, H, W) int ids, 0 outside the mask.

    Every pixel starts with its own id and repeatedly takes the largest id among its neighbours, until
    nothing changes: then each region carries the id of one of its pixels.
    """
    B, H, W = mask.shape
    keep = mask.float().unsqueeze(1)  # (B, 1, H, W)
    ids = torch.arange(1, H * W + 1, dtype=torch.float32).view(1, 1, H, W) * keep
    while True:
        grown = F.max_pool2d(ids, 3, stride=1, padding=1) * keep
        if torch.equal(grown, ids):
            return ids.squeeze(1).long()
        ids = grown


def _read_object(image: torch.Tensor, region: torch.Tensor, others: torch.Tensor, background) -> dict:
    """One object from its region (H, W bool) in an image (3, H, W) in [0, 1]."""
    size = image.shape[-1]
    pixels = image[:, region]  # (3, N)
    distance = (pixels - background.view(3, 1)).norm(dim=0)
    core = pixels[:, distance >= 0.75 * distance.max()].mean(dim=1)
    palette = _palette()
    colour = int((palette - core).norm(dim=1).argmin())

    # coverage: where each pixel lies between the background (0) and the object's colour (1); the region
    # grown by one pixel takes in the soft edge, but never a pixel of another object
    near = F.max_pool2d(region[None, None].float(), 3, stride=1, padding=1)[0, 0].bool() & ~others
    paint = palette[colour] - background
    alpha = torch.einsum("chw,c->hw", image - background.view(3, 1, 1), paint) / paint.dot(paint)
    alpha = alpha.clamp(0, 1) * near
    area = float(alpha.sum())
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    cx = float((alpha.sum(0) * coords).sum()) / area
    cy = float((alpha.sum(1) * coords).sum()) / area

    # which shape, drawn at this centroid with this area, explains the coverage best?
    errors, radii = [], []
    for name in shapes.SHAPES:
        radius = math.sqrt(area / _unit_area(name)) / size
        drawn = shapes.draw(name, cx, cy, radius, size)[0]
        errors.append(float((drawn - alpha).abs().sum()) / area)
        radii.append(radius)
    best = min(range(len(errors)), key=errors.__getitem__)
    col, row = min(int(cx * 3), 2), min(int(cy * 3), 2)
    return {
        "shape": shapes.SHAPES[best],
        "colour": list(shapes.COLOURS)[colour],
        "position": shapes.POSITIONS[3 * row + col],
        "size": "small" if radii[best] < _SIZE_SPLIT else "large",
        "cx": cx,
        "cy": cy,
        "radius": radii[best],
        "error": errors[best],  # fraction of the area the best shape gets wrong: ~0 for a clean drawing
        "area": area,  # pixels (coverage summed)
        "outline": _unit_outline(shapes.SHAPES[best]) * radii[best] * size,  # the best shape's, in pixels
    }


def read(images: torch.Tensor) -> list[list[dict]]:
    """The objects seen in each image (B, 3, H, W) in [-1, 1], as dicts shaped like `shapes.sample` labels.

    Objects are listed largest first; at most `MAX_OBJECTS` regions are read, and regions that no shape
    fits (`MAX_ERROR`, e.g. noise) are dropped. uint8 images (0-255) are converted with x / 127.5 - 1.
    """
    return _read(check_images(images))


def _read(images: torch.Tensor) -> list[list[dict]]:
    if images.shape[2] != images.shape[3]:
        raise ValueError(f"expected square images (B, 3, H, W), got {tuple(images.shape)}")
    images = ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)
    background = torch.tensor(shapes.BACKGROUND, dtype=torch.float32) / 255
    # a pixel is foreground when it lies over half-way from the background to the nearest palette colour
    threshold = 0.5 * (_palette() - background).norm(dim=1).min()
    foreground = (images - background.view(1, 3, 1, 1)).norm(dim=1) > threshold  # (B, H, W)
    ids = label_regions(foreground)
    found = []
    for b in range(images.shape[0]):
        values, counts = ids[b][ids[b] > 0].unique(return_counts=True)
        order = counts.argsort(descending=True)
        values, counts = values[order], counts[order]
        values = values[counts >= MIN_AREA][:MAX_OBJECTS]
        objects = []
        for value in values:
            region = ids[b] == value
            obj = _read_object(images[b], region, foreground[b] & ~region, background)
            if obj["error"] <= MAX_ERROR:
                objects.append(obj)
        found.append(objects)
    return found


ATTRIBUTES = ("colour", "shape", "position", "size")


def _match(seen: list[dict], wanted: list[dict]) -> list[dict | None]:
    """For each wanted object, the seen object nearest to it (greedy, closest pairs first), or None."""
    pairs = sorted(
        ((w["cx"] - s["cx"]) ** 2 + (w["cy"] - s["cy"]) ** 2, i, j)
        for i, w in enumerate(wanted)
        for j, s in enumerate(seen)
    )
    matched: list[dict | None] = [None] * len(wanted)
    used = set()
    for _, i, j in pairs:
        if matched[i] is None and j not in used:
            matched[i] = seen[j]
            used.add(j)
    return matched


def score(images: torch.Tensor, labels: list[list[dict]]) -> dict:
    """Per-attribute accuracies of images against their labels (from `shapes.sample`).

    count and all are per image (all: right count and every attribute of every object right);
    colour, shape, position, size and object (all four right) are per labelled object. Images (B, 3, H, W)
    in [-1, 1]; uint8 ones are converted with x / 127.5 - 1.
    """
    images = check_images(images)
    if len(images) != len(labels):
        raise ValueError(f"got {len(images)} images but {len(labels)} label lists: pass one list per image")
    seen = _read(images)
    hits = {name: 0 for name in ("count", "all", *ATTRIBUTES, "object")}
    n_objects = 0
    for found, wanted in zip(seen, labels):
        matched = _match(found, wanted)
        right_count = len(found) == len(wanted)
        all_right = right_count
        for want, got in zip(wanted, matched):
            ok = {name: got is not None and got[name] == want[name] for name in ATTRIBUTES}
            for name in ATTRIBUTES:
                hits[name] += ok[name]
            hits["object"] += all(ok.values())
            all_right &= all(ok.values())
        hits["count"] += right_count
        hits["all"] += all_right
        n_objects += len(wanted)
    per_image = {"count", "all"}
    return {name: hits[name] / max(len(labels) if name in per_image else n_objects, 1) for name in hits}


def _spread(objects: list[dict], key: str, names) -> float:
    """Total-variation distance between how often each value of `key` appears and the data's uniform draw."""
    if not objects:
        return 1.0
    counts = torch.tensor([sum(o[key] == name for o in objects) for name in names], dtype=torch.float64)
    return 0.5 * (counts / counts.sum() - 1 / len(names)).abs().sum().item()


def _well_formed(obj: dict, max_error: float, max_edge: float) -> bool:
    small, large = WELL_FORMED_RADIUS
    fits = obj["error"] * obj["area"] <= max_error * obj["area"] + max_edge * obj["outline"]
    return fits and small <= obj["radius"] <= large


def _quality(seen: list[list[dict]], max_error: float, max_edge: float) -> dict:
    good = [
        objs
        for objs in seen
        if 1 <= len(objs) <= 2 and all(_well_formed(o, max_error, max_edge) for o in objs)
    ]
    objects = [o for objs in good for o in objs]
    return {
        "well_formed": len(good) / max(len(seen), 1),
        "shape_tv": _spread(objects, "shape", shapes.SHAPES),
        "colour_tv": _spread(objects, "colour", list(shapes.COLOURS)),
        "images": len(seen),  # what well_formed rests on
        "well_formed_images": len(good),  # what shape_tv and colour_tv rest on (their objects)
    }


def quality(
    images: torch.Tensor,
    max_error: float = WELL_FORMED_AREA,
    max_edge: float = WELL_FORMED_EDGE,
    *,
    bootstrap: int = 0,
    seed: int = 0,
) -> dict:
    """How much unconditional samples look like the shapes data (no labels needed).

    well_formed: fraction of images read as 1-2 objects that a shape each explains to within `max_error`
    of its area plus `max_edge` pixels along its outline, at a size the data draws (`WELL_FORMED_RADIUS`)
    (real images: ~1 at 16 and 32 px, noise: 0).
    shape_tv, colour_tv: total-variation distance between the shapes (colours) drawn in the well-formed
    images and the data's uniform mix (0 = same mix, 1 = nothing readable); catches a model that draws
    clean circles only. `images` and `well_formed_images` say how many images the numbers rest on. With
    ``bootstrap=n`` each number also gets its standard deviation over n resamples of the images
    (``well_formed_std``, ...). Images (B, 3, H, W) in [-1, 1]; uint8 ones are converted with x / 127.5 - 1.
    """
    seen = _read(check_images(images))
    result = _quality(seen, max_error, max_edge)
    if bootstrap:
        generator = torch.Generator().manual_seed(seed)
        draws = []
        for _ in range(bootstrap):  # resample the images (with replacement), not the objects
            picks = torch.randint(len(seen), (len(seen),), generator=generator).tolist()
            draws.append(_quality([seen[i] for i in picks], max_error, max_edge))
        for key in ("well_formed", "shape_tv", "colour_tv"):
            result[f"{key}_std"] = float(torch.tensor([draw[key] for draw in draws]).std())
    return result
