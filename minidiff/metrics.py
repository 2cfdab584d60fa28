"""Honest numbers: distances between sample sets and perceptual distances between images.

- ``frechet_distance``: Fréchet distance between Gaussians fitted to two feature sets (FID's formula).
- ``energy_distance`` / ``sliced_wasserstein``: sample-based distances for low-dimensional (2-D) samples.
- ``psnr``, ``ssim_distance``, ``lpips_distance`` / ``LPIPS``: per-image distances for reconstructions.

Images go through ``check_images`` first (the judges use it too): a batch in another range or with NaNs
is refused with the fix, never measured. The judges that score generated images live one floor up, in
``minidiff.judges`` (they use these metrics).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from minidiff.settings import one_thread


def _float64(x, what: str) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().cpu().double()
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"{what}: expected a (N, D) array with N >= 2 samples, got shape {tuple(x.shape)}")
    return x


# ---- distances between sets of samples ------------------------------------------------------------


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition (float64)."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T  # V diag(sqrt(values)) V^T


def frechet_distance(feats_a, feats_b) -> float:
    """Fréchet distance between N(mu_a, C_a) and N(mu_b, C_b) fitted to two (N, D) feature sets:
    ``|mu_a - mu_b|^2 + Tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2)``.

    The formula of FID (Heusel et al. 2017, arXiv:1706.08500, eq. 6; Dowson & Landau 1982). The matrix
    square root comes from symmetric eigendecompositions in float64, so no scipy is needed. It is >= 0, and
    biased upwards for small N: compare distances computed from equally many samples.
    """
    a, b = _float64(feats_a, "feats_a"), _float64(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}; use the same feature extractor"
        )
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)  # unbiased (N - 1), like numpy.cov in the FID reference
    # one thread: a symmetric eigendecomposition of a few hundred rows gains nothing from threads, and with
    # a second thread on a busy core MKL's eigh was measured 500x slower (25 s for five distances, not 0.05 s)
    with one_thread():
        root_a = _sqrt_psd(cov_a)
        # Tr((C_a C_b)^1/2) = Tr((C_a^1/2 C_b C_a^1/2)^1/2), and that inner matrix is symmetric PSD
        inner = root_a @ cov_b @ root_a
        trace_root = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
    distance = (mean_a - mean_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_root
    return max(float(distance), 0.0)


def _mean_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance over all pairs (a_i, b_j), in row chunks of <= 2^24 distances (128 MB)."""
    total = sum(torch.cdist(part, b).sum() for part in a.split(max(1, 2**24 // len(b))))
    return total / (len(a) * len(b))


def energy_distance(a, b) -> float:
    """Energy distance ``2 E|X - Y| - E|X - X'| - E|Y - Y'|`` between samples a (N, D) and b (M, D).

    Székely & Rizzo (2013). For distributions it is >= 0 and = 0 only when they are the same. This plug-in
    (V-statistic) estimate is also >= 0, but two finite samples of one distribution still score a little
    above 0: print a data-vs-data baseline beside it.
    """
    a, b = _float64(a, "a"), _float64(b, "b")
    value = 2 * _mean_distance(a, b) - _mean_distance(a, a) - _mean_distance(b, b)
    return max(float(value), 0.0)


def sliced_wasserstein(a, b, projections: int = 256, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance: the 1-D W2 between sorted projections, averaged over random directions.

    Bonneel et al. (2015). Sets of different sizes are compared at matching quantiles.
    """
    a, b = _float64(a, "a"), _float64(b, "b")
    directions = torch.randn(a.shape[1], projections, generator=torch.Generator().manual_seed(seed)).double()
    directions = directions / directions.norm(dim=0, keepdim=True)
    proj_a, proj_b = (a @ directions).sort(dim=0).values, (b @ directions).sort(dim=0).values  # (N, K)
    if len(proj_a) != len(proj_b):
        levels = torch.linspace(0, 1, min(len(a), len(b)), dtype=torch.float64)
        proj_a, proj_b = torch.quantile(proj_a, levels, dim=0), torch.quantile(proj_b, levels, dim=0)
    return float((proj_a - proj_b).square().mean().sqrt())


# ---- the images every measure here and every judge takes ----------------------------------------

FAR = 1.5  # beyond +-1.5 a batch is not [-1, 1] images that overshoot a little, but another convention


def check_images(images, name: str = "images") -> torch.Tensor:
    """``images`` as a floating tensor (B, 3, H, W) in [-1, 1], or a ValueError that says what to change.

    uint8 images are read as 0-255 pixels and converted with ``x / 127.5 - 1``. Refused: other integer and
    bool dtypes, an empty batch, NaN or infinite values, values beyond +-FAR, and [0, 1]-looking batches.
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name}: expected a torch tensor (B, 3, H, W), got a {type(images).__name__} "
                         "(for a numpy array: torch.from_numpy(x))")  # fmt: skip
    shape = tuple(images.shape)
    if images.ndim != 4 or shape[1] != 3:
        hint = ""
        if images.ndim == 3 and shape[0] == 3:
            hint = ": one image? add the batch dimension with x[None]"
        elif images.ndim == 4 and shape[-1] == 3:
            hint = ": channels last? use x.permute(0, 3, 1, 2)"
        raise ValueError(f"{name}: expected images (B, 3, H, W), got shape {shape}{hint}")
    if shape[0] == 0:
        raise ValueError(f"{name}: the batch is empty (shape {shape}): pass at least one image")
    if images.dtype == torch.uint8:
        return images.float() / 127.5 - 1  # 0-255 pixels, converted explicitly
    if not images.is_floating_point():
        raise ValueError(f"{name}: dtype {images.dtype} is not an image type: pass float images in [-1, 1] "
                         "(or uint8 pixels 0-255, converted with x / 127.5 - 1)")  # fmt: skip
    x = images.detach()
    if bad := int((~torch.isfinite(x)).sum()):
        raise ValueError(f"{name}: {bad} of {x.numel()} values are NaN or infinite: no score means anything "
                         "on them; find where they come from (a diverged model samples NaN)")  # fmt: skip
    low, high = float(x.min()), float(x.max())
    if low < -FAR or high > FAR:
        raise ValueError(f"{name}: values from {low:.4g} to {high:.4g}, but minidiff images are in [-1, 1]: "
                         "convert 0-255 pixels with x / 127.5 - 1, and clamp samples with "
                         "x.clamp(-1, 1)")  # fmt: skip
    if 0 <= low < high <= 1:
        raise ValueError(
            f"{name}: every value lies in [0, 1] ({low:.3g} to {high:.3g}): these look like "
            "[0, 1] images, but minidiff images are in [-1, 1]: convert with x * 2 - 1"
        )
    return images


# ---- distances between pairs of images ------------------------------------------------------------


def _pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = check_images(a, "a"), check_images(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"expected two image batches (B, 3, H, W) of one shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")  # fmt: skip
    return a.float(), b.float()


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio (B,) in dB of images in [-1, 1] (peak-to-peak 2); higher is closer.

    uint8 images (0-255) are converted with x / 127.5 - 1; see ``check_images`` for what is refused.
    """
    a, b = _pair(a, b)
    mse = (a - b).square().mean(dim=(1, 2, 3)).clamp(min=1e-12)
    return 10 * torch.log10(4 / mse)


def _ssim(a: torch.Tensor, b: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM (B,) of images in [0, 1] with a Gaussian window (Wang et al. 2004, eq. 13)."""
    radius = min(3, (min(a.shape[-2:]) - 1) // 2)  # a 7 x 7 window, smaller for tiny images
    taps = torch.exp(-(torch.arange(-radius, radius + 1, dtype=a.dtype) ** 2) / (2 * sigma**2))
    window = (taps[:, None] * taps[None, :]) / taps.sum() ** 2
    window = window.expand(a.shape[1], 1, *window.shape).to(a.device)  # one filter per channel

    def blur(x):
        return F.conv2d(F.pad(x, [radius] * 4, mode="reflect"), window, groups=a.shape[1])

    mean_a, mean_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mean_a**2, blur(b * b) - mean_b**2
    cov = blur(a * b) - mean_a * mean_b
    c1, c2 = 0.01**2, 0.03**2  # the paper's constants for a data range of 1
    ssim = ((2 * mean_a * mean_b + c1) * (2 * cov + c2)) / (
        (mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2)
    )
    return ssim.mean(dim=(1, 2, 3))


def ssim_distance(a: torch.Tensor, b: torch.Tensor, scales: int = 3) -> torch.Tensor:
    """1 - multi-scale SSIM (B,) of images in [-1, 1]: SSIM averaged over up to 3 halvings (>= 8 px).

    A weight-free perceptual distance in [0, ~1] (0 = identical) in the spirit of MS-SSIM (Wang, Simoncelli
    & Bovik 2003), with equal weights because our images are too small for its five 161 px scales.
    uint8 images (0-255) are converted with x / 127.5 - 1.
    """
    return _ssim_distance(*_pair(a, b), scales)


def _ssim_distance(a: torch.Tensor, b: torch.Tensor, scales: int = 3) -> torch.Tensor:
    a, b = (a + 1) / 2, (b + 1) / 2
    values = [_ssim(a, b)]
    for _ in range(scales - 1):
        if min(a.shape[-2:]) < 16:
            break
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        values.append(_ssim(a, b))
    return 1 - torch.stack(values).mean(dim=0)


# The torchvision ImageNet weights LPIPS builds on and their download sizes in MB (file names as in
# torchvision.models.*_Weights.IMAGENET1K_V1, written out so the offline check needs no torchvision import)
BACKBONES = {"alex": ("alexnet-owt-7be5be79.pth", 233), "vgg": ("vgg16-397923af.pth", 528),
             "squeeze": ("squeezenet1_1-b8a52dc0.pth", 5)}  # fmt: skip
_WARNED: set[str] = set()


def backbone_file(net: str = "alex") -> Path:
    """Where torchvision caches the backbone LPIPS needs: ``$TORCH_HOME/hub/checkpoints/<file>``."""
    if net not in BACKBONES:
        raise ValueError(f"net={net!r}: LPIPS backbones are {', '.join(BACKBONES)}")
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONES[net][0]


class LPIPS(nn.Module):
    """LPIPS (Zhang et al. 2018, arXiv:1801.03924) with its real ImageNet backbone, or a stated fallback.

    The ``lpips`` package ships its calibrated linear layers but not the backbone: torchvision's weights must
    be in its cache. Without them, and unless ``allow_download=True``, this says so once and measures
    ``ssim_distance`` instead: a backbone with random weights would give numbers that mean nothing, while
    multi-scale SSIM is a published, weight-free perceptual measure. ``backend`` says which one runs.
    """

    def __init__(self, net: str = "alex", *, allow_download: bool = False):
        super().__init__()
        path = backbone_file(net)
        if path.is_file() or allow_download:
            import lpips

            with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=True`
                warnings.simplefilter("ignore", UserWarning)
                self.net = lpips.LPIPS(net=net, verbose=False).eval().requires_grad_(False)
            self.backend = f"lpips-{net}"
        else:
            self.net = None
            self.backend = "ssim"
            if net not in _WARNED:
                _WARNED.add(net)
                warnings.warn(
                    f"LPIPS: no {net} backbone weights at {path} and downloads are off, so lpips_distance "
                    "measures 1 - multi-scale SSIM instead (not comparable with LPIPS numbers). For real "
                    f"LPIPS pass allow_download=True once online ({BACKBONES[net][1]} MB).",
                    stacklevel=2,
                )

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Distances (B,) between image batches (B, 3, H, W) in [-1, 1] (uint8: x / 127.5 - 1); 0 means
        identical. Differentiable in the images, so it also serves as a perceptual loss."""
        return self.loss(*_pair(a, b))

    def loss(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The same distances (B,) without ``check_images``, for a training loss: early reconstructions may
        all lie in [0, 1], which the check refuses as [0, 1]-style images. Pass float batches in [-1, 1]
        (clamp the model's output); nothing here checks them."""
        if self.net is None:
            return _ssim_distance(a, b)
        device = next(self.net.parameters()).device
        return self.net(a.to(device), b.to(device)).flatten().to(a.device)  # (B, 1, 1, 1) -> (B,)


_LPIPS: dict[tuple[str, bool], LPIPS] = {}


def lpips_distance(a: torch.Tensor, b: torch.Tensor, *, net: str = "alex", allow_download: bool = False):
    """LPIPS distances (B,) between two image batches in [-1, 1] (see ``LPIPS`` for the offline fallback).

    LPIPS was calibrated on 64 x 64 patches; on 32 px images its deepest layers see 1 x 1 maps.
    uint8 images (0-255) are converted with x / 127.5 - 1.
    """
    a, b = _pair(a, b)  # checked before the (slow, once) LPIPS construction
    key = (net, allow_download)
    if key not in _LPIPS or (_LPIPS[key].net is None and backbone_file(net).is_file()):
        _LPIPS[key] = LPIPS(net, allow_download=allow_download)
    with torch.no_grad():
        return _LPIPS[key].loss(a, b)
