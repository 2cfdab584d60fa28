"""2-D toy distributions for flow matching, and the JiT toy: 2-D data hidden in a D-dimensional space.

Every sampler is deterministic by ``generator`` (None: seeded with 0, so the same call gives the same points)
and scaled to roughly zero mean and unit std per coordinate.
"""

from __future__ import annotations

import math

import torch

DATA_VERSION = "1"

NAMES = ("moons", "spirals", "checkerboard", "8gaussians", "rings", "swissroll")

# ---- the distributions (each returns raw points; SCALE below brings them to unit std) -------------


def _rand(n, generator):
    return torch.rand(n, generator=generator)


def _randn(shape, generator):
    return torch.randn(shape, generator=generator)


def _moons(n, generator):
    upper = _rand(n, generator) < 0.5
    angle = math.pi * _rand(n, generator)
    x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
    y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
    return torch.stack([x - 0.5, y - 0.25], 1) + 0.08 * _randn((n, 2), generator)


def _spirals(n, generator):
    radius = torch.sqrt(_rand(n, generator))  # uniform density along the arm
    angle = 3 * math.pi * radius + math.pi * (_rand(n, generator) < 0.5)  # two arms, half a turn apart
    points = radius[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    return points + 0.03 * _randn((n, 2), generator)


def _checkerboard(n, generator):
    # 4 x 4 board on [-2, 2]^2, only the "black" squares hold points (as in FFJORD's toy set)
    cell = torch.randint(0, 8, (n,), generator=generator)
    row = cell // 2
    col = 2 * (cell % 2) + (row % 2)
    offset = _rand(n, generator), _rand(n, generator)
    return torch.stack([col + offset[0] - 2, row + offset[1] - 2], 1)


def _8gaussians(n, generator):
    angle = torch.randint(0, 8, (n,), generator=generator) * (math.pi / 4)
    centres = torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    return centres + 0.1 * _randn((n, 2), generator)


def _rings(n, generator):
    radius = torch.randint(1, 4, (n,), generator=generator).float() / 3  # three concentric rings
    angle = 2 * math.pi * _rand(n, generator)
    points = radius[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    return points + 0.03 * _randn((n, 2), generator)


def _swissroll(n, generator):
    turn = 1.5 * math.pi * (1 + 2 * _rand(n, generator))  # sklearn's make_swiss_roll, seen from above
    points = torch.stack([turn * torch.cos(turn) - 2, turn * torch.sin(turn) - 2 / (3 * math.pi)], 1)
    return points + 0.5 * _randn((n, 2), generator)  # the shifts are the exact means of the roll


_SAMPLERS = {
    "moons": _moons,
    "spirals": _spirals,
    "checkerboard": _checkerboard,
    "8gaussians": _8gaussians,
    "rings": _rings,
    "swissroll": _swissroll,
}
# one scale per distribution, the root-mean-square coordinate (measured on 2e6 points): dividing by it
# keeps each shape's aspect ratio and gives unit std on average over the two axes
_SCALE = {
    "moons": 0.7098,
    "spirals": 0.5009,
    "checkerboard": 1.1546,
    "8gaussians": 0.7141,
    "rings": 0.5100,
    "swissroll": 6.8080,
}

# ---- public API -----------------------------------------------------------------------------------


def sample(name: str, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` points of distribution ``name`` as a float32 tensor (n, 2), roughly unit std per coordinate."""
    if name not in _SAMPLERS:
        raise ValueError(f"unknown toy distribution {name!r}: use one of {', '.join(NAMES)}")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    return (_SAMPLERS[name](n, generator) / _SCALE[name]).float()


def _projection(dim: int, seed: int) -> torch.Tensor:
    """A fixed (dim, 2) matrix with orthonormal columns: QR of a seeded Gaussian (JiT, Li & He 2025)."""
    if dim < 2:
        raise ValueError(f"embed needs dim >= 2 to hold 2-D data, got dim={dim}")
    gaussian = torch.randn(dim, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.linalg.qr(gaussian).Q.float()  # (dim, 2)


def embed(x2d: torch.Tensor, dim: int, *, seed: int = 0) -> torch.Tensor:
    """Map 2-D points (n, 2) into ``dim`` dimensions (n, dim) with a fixed column-orthogonal matrix.

    The data then lives on a 2-D plane in a D-dimensional space (each coordinate has std ~ sqrt(2/dim))
    while the noise fills all D dimensions: JiT's toy, where x-prediction keeps working as D grows.
    """
    matrix = _projection(dim, seed).to(x2d)
    return x2d @ matrix.T  # (n, 2) @ (2, dim) -> (n, dim)


def project(x_high: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Map points (n, dim) back to the 2-D plane (n, 2); exact inverse of ``embed`` on embedded data."""
    matrix = _projection(x_high.shape[-1], seed).to(x_high)
    return x_high @ matrix  # (n, dim) @ (dim, 2) -> (n, 2)
