"""Distances against closed forms and brute-force references; LPIPS with and without backbone weights."""

from __future__ import annotations

import importlib.util
import math
import warnings

import numpy as np
import pytest
import torch

from minidiff import metrics


def _exact(n: int, mean: torch.Tensor, cov: torch.Tensor, seed: int) -> torch.Tensor:
    """n samples whose sample mean and (unbiased) sample covariance are exactly mean and cov."""
    z = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = z - z.mean(0)
    z = z @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(z.T))).T  # whiten: sample cov = I
    return z @ torch.linalg.cholesky(cov).T + mean


def test_frechet_distance_matches_closed_form():
    mean_a, mean_b = (
        torch.tensor([0.0, 1.0], dtype=torch.float64),
        torch.tensor([2.0, -1.0], dtype=torch.float64),
    )
    cov_a = torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=torch.float64)
    cov_b = torch.tensor([[0.5, -0.2], [-0.2, 1.5]], dtype=torch.float64)
    a, b = _exact(500, mean_a, cov_a, 0), _exact(700, mean_b, cov_b, 1)
    # for 2x2 matrices with non-negative eigenvalues, Tr(M^1/2) = sqrt(Tr M + 2 sqrt(det M))
    product = cov_a @ cov_b
    trace_root = math.sqrt(product.trace() + 2 * math.sqrt(torch.linalg.det(product)))
    want = float((mean_a - mean_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_root)
    assert metrics.frechet_distance(a, b) == pytest.approx(want, rel=1e-9)
    assert metrics.frechet_distance(b.numpy(), a.float()) == pytest.approx(want, rel=1e-5)  # numpy, float32


def test_frechet_distance_of_diagonal_gaussians_and_identical_sets():
    var_a, var_b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 1.0])
    a = _exact(300, torch.zeros(3, dtype=torch.float64), torch.diag(var_a).double(), 2)
    b = _exact(300, torch.ones(3, dtype=torch.float64), torch.diag(var_b).double(), 3)
    want = 3 + float((var_a.sqrt() - var_b.sqrt()).square().sum())  # commuting covariances
    assert metrics.frechet_distance(a, b) == pytest.approx(want, rel=1e-9)
    feats = torch.randn(200, 64, generator=torch.Generator().manual_seed(4))
    assert metrics.frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="feature sizes differ"):
        metrics.frechet_distance(feats, feats[:, :10])


def test_energy_distance_against_brute_force_and_shift():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(40, 2, generator=generator), torch.randn(30, 2, generator=generator) + 0.5
    pair = lambda x, y: np.mean([np.linalg.norm(p - q) for p in x.numpy() for q in y.numpy()])  # noqa: E731
    want = 2 * pair(a, b) - pair(a, a) - pair(b, b)
    assert metrics.energy_distance(a, b) == pytest.approx(want, rel=1e-6)
    data, same, shifted = (torch.randn(1000, 2, generator=generator) + s for s in (0.0, 0.0, 0.5))
    baseline, moved = metrics.energy_distance(data, same), metrics.energy_distance(data, shifted)
    assert metrics.energy_distance(data, data) == 0.0
    assert 0 <= baseline < 0.01 < moved


def test_sliced_wasserstein_of_a_shift():
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    shift = torch.tensor([3.0, 0.0])
    # sorting commutes with a shift, so each projection's W2 is exactly |<theta, c>|, and over random unit
    # directions in 2-D, E<theta, c>^2 = |c|^2 / 2
    want = 3 / math.sqrt(2)
    assert metrics.sliced_wasserstein(x, x + shift, projections=1000) == pytest.approx(want, rel=0.03)
    assert metrics.sliced_wasserstein(x, x) == 0.0
    assert metrics.sliced_wasserstein(x, x[:200] + shift, projections=64) > 1.5  # sets of different sizes


def test_psnr_and_ssim_distance():
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert metrics.psnr(x, x + 0.02).allclose(torch.full((4,), 10 * math.log10(4 / 0.02**2)))
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    near = metrics.ssim_distance(x, (x + 0.05 * noise).clamp(-1, 1))
    far = metrics.ssim_distance(x, (x + 0.5 * noise).clamp(-1, 1))
    assert metrics.ssim_distance(x, x).abs().max() < 1e-6
    assert (0 < near).all() and (near < far).all()


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torchvision cache, a fresh warn-once state, and any download attempt recorded, not made."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(metrics, "_WARNED", set())
    monkeypatch.setattr(metrics, "_LPIPS", {})
    attempts = []
    monkeypatch.setattr(
        torch.hub, "download_url_to_file", lambda url, *args, **kw: attempts.append(url) or 1 / 0
    )
    return tmp_path, attempts


# The oldest-torch CI run (torch 2.13 CPU wheel) has no torchvision that matches it, so no lpips.
needs_lpips = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("lpips", "torchvision")),
    reason="lpips/torchvision not installed",
)


def test_lpips_without_backbone_warns_once_and_falls_back(torch_home):
    _, attempts = torch_home
    a = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    b = a.flip(-1)
    with pytest.warns(UserWarning, match="allow_download=True"):
        distance = metrics.lpips_distance(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call must not warn again
        assert metrics.LPIPS().backend == "ssim"
        assert torch.equal(metrics.lpips_distance(a, b), distance)
    assert torch.allclose(distance, metrics.ssim_distance(a, b)) and not attempts
    x = a.clone().requires_grad_()
    metrics.LPIPS()(x, b).sum().backward()  # usable as a perceptual loss
    assert x.grad is not None and x.grad.abs().sum() > 0
    bright = (a + 1) / 2  # a [0, 1] batch: forward refuses it, loss (unchecked, for training) measures it
    with pytest.raises(ValueError, match=r"lies in \[0, 1\]"):
        metrics.LPIPS()(bright, b)
    assert torch.allclose(metrics.LPIPS().loss(bright, b), metrics._ssim_distance(bright, b))


@needs_lpips
def test_lpips_download_is_tried_only_when_the_learner_opts_in(torch_home):
    _, attempts = torch_home
    assert not attempts
    with pytest.raises(ZeroDivisionError):
        metrics.LPIPS("squeeze", allow_download=True)  # the learner opted in: it tries to download
    assert attempts and attempts[0].endswith("squeezenet1_1-b8a52dc0.pth")


@needs_lpips
def test_lpips_with_cached_backbone_uses_the_real_network(torch_home):
    import lpips
    import torchvision

    _, attempts = torch_home
    names = {"alex": "AlexNet_Weights", "vgg": "VGG16_Weights", "squeeze": "SqueezeNet1_1_Weights"}
    for net, weights in names.items():
        url = getattr(torchvision.models, weights).IMAGENET1K_V1.url
        assert metrics.backbone_file(net).name == url.rsplit("/", 1)[-1]  # where torchvision looks
    path = metrics.backbone_file("squeeze")  # SqueezeNet: a 5 MB stand-in for AlexNet's 233 MB
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.squeezenet1_1().state_dict(), path)  # torchvision's own cache format
    a = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    b = (a + 0.3 * torch.randn(a.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        judge = metrics.LPIPS("squeeze")
        assert judge.backend == "lpips-squeeze"
        got = metrics.lpips_distance(a, b, net="squeeze")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = lpips.LPIPS(net="squeeze", verbose=False)(a, b).flatten()  # the package, same cached weights
    assert torch.allclose(got, want.detach()) and judge(a, a).abs().max() < 1e-6
    x = a.clone().requires_grad_()
    judge(x, b).sum().backward()  # usable as a perceptual loss; the network itself stays frozen
    assert x.grad.abs().sum() > 0 and not any(p.requires_grad for p in judge.parameters())
    assert not attempts
