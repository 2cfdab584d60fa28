"""The scenes judge: a small fully convolutional segmenter that reads the class map back from an image.

`score(images, maps)` asks how well generated images respect the maps they were drawn from: the segmenter
(trained on real renders by `RECIPE`, cached by the zoo as "scenes-judge") labels every pixel, and we report
pixel accuracy and mean intersection-over-union against the maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minidiff import zoo
from minidiff.data import scenes
from minidiff.metrics import check_images
from minidiff.train import TrainConfig
from minidiff.train import train as run

CONFIG = {"channels": 16, "classes": len(scenes.CLASSES)}
STEPS = 400  # the same for every budget: a judge is a ruler


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.SiLU(),
    )


class Segmenter(nn.Module):
    """A two-level U-Net: full, 1/2 and 1/4 resolution, dilated convolutions at the bottom for context."""

    def __init__(self, channels: int = 16, classes: int = len(scenes.CLASSES)):
        super().__init__()
        c = channels
        self.enc_full = nn.Sequential(_conv(3, c), _conv(c, c))
        self.enc_half = nn.Sequential(_conv(c, 2 * c, stride=2), _conv(2 * c, 2 * c))
        self.enc_quarter = nn.Sequential(
            _conv(2 * c, 4 * c, stride=2), _conv(4 * c, 4 * c, dilation=2), _conv(4 * c, 4 * c, dilation=4)
        )
        self.dec_half = _conv(4 * c + 2 * c, 2 * c)
        self.dec_full = _conv(2 * c + c, c)
        self.head = nn.Conv2d(c, classes, 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (B, 3, H, W) → the encoder's three levels (B, C, H, W), (B, 2C, H/2, W/2), (B, 4C, H/4,
        W/4)."""
        full = self.enc_full(x)
        half = self.enc_half(full)
        return full, half, self.enc_quarter(half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [-1, 1] → class logits (B, K, H, W); H and W divisible by 4."""
        full, half, quarter = self.encode(x)
        half = self.dec_half(torch.cat([F.interpolate(quarter, scale_factor=2.0), half], dim=1))
        full = self.dec_full(torch.cat([F.interpolate(half, scale_factor=2.0), full], dim=1))
        return self.head(full)


def build(config: dict) -> Segmenter:
    """The segmenter for a config dict (the zoo stores it beside the weights)."""
    return Segmenter(**config)


def _loss(model: nn.Module, batch) -> torch.Tensor:
    images, maps = batch
    per_pixel = F.cross_entropy(model(images), maps.argmax(dim=1), reduction="none")  # (B, H, W)
    return per_pixel.mean(dim=(1, 2))


def _augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Blur half the batch a little and add a little noise: generated images are less crisp than renders."""
    g, B = generator, images.shape[0]
    blurred = F.avg_pool2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    mix = torch.rand(B, 1, 1, 1, generator=g) * (torch.rand(B, 1, 1, 1, generator=g) < 0.5)
    noise = 0.08 * torch.rand(B, 1, 1, 1, generator=g) * torch.randn(images.shape, generator=g)
    return (images + mix * (blurred - images) + noise).clamp(-1, 1)


def _data(batch_size: int, generator: torch.Generator):
    images, maps = scenes.sample(batch_size, 32, generator=generator)
    return _augment(images, generator), maps


def fit(steps: int, *, batch_size: int = 16, lr: float = 3e-3, seed: int = 0, device=None, progress=True):
    """Train a fresh segmenter for `steps` steps on fresh 32 px scenes (~0.04 s a step on one CPU thread);
    ``seed`` sets its initial weights and its data."""
    with torch.random.fork_rng(devices=[]):  # the same initial weights whatever ran before; global RNG kept
        torch.manual_seed(seed)
        model = build(CONFIG)
    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, ema_decay=None, seed=seed, progress=progress)
    run(model, _loss, _data, cfg, device=device)
    return model.eval()


def train():
    """The zoo recipe (a ruler, ~15 s on one CPU thread): returns (model, config, steps, metrics)."""
    steps = STEPS
    model = fit(steps)
    images, maps = scenes.sample(512, 32, generator=torch.Generator().manual_seed(12345))  # held out
    noise = torch.rand(images.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    metrics = {
        **score(images, maps, model=model),
        **{f"noise_{k}": v for k, v in score(noise, maps, model=model).items()},
        **{f"chance_{k}": v for k, v in chance(maps).items()},
    }
    return model, dict(CONFIG), steps, metrics


_DEFAULT: dict[str, nn.Module] = {}  # cache file -> the loaded judge, so score() loads it once


def _judge(model: nn.Module | None) -> nn.Module:
    """The given model, else the zoo's "scenes-judge" (trained once, ~15 s, then loaded from the cache)."""
    if model is not None:
        return model
    key = str(zoo.paths(RECIPE)[0])
    if key not in _DEFAULT:
        _DEFAULT[key] = RECIPE.load(device="cpu")
    return _DEFAULT[key]


def _run(images: torch.Tensor, model: nn.Module, fn, batch_size: int = 256) -> torch.Tensor:
    """``fn(model, x)`` over the images in chunks, in eval mode and without gradients, gathered on the CPU."""
    device, was_training = next(model.parameters()).device, model.training
    model.eval()  # BatchNorm must use its running statistics, not this batch's
    try:
        with torch.no_grad():
            return torch.cat(
                [fn(model, chunk.float().to(device)).cpu() for chunk in images.split(batch_size)]
            )
    finally:
        model.train(was_training)


def _segment(images: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """Predicted class (B, H, W) of every pixel; sizes not divisible by 4 are resized for the model."""
    size = tuple(images.shape[-2:])
    padded = tuple(-(-s // 4) * 4 for s in size)

    def classes(model, x):
        if padded != size:
            x = F.interpolate(x, size=padded, mode="bilinear", align_corners=False)
        logits = model(x)
        if padded != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits.argmax(dim=1)

    return _run(images, model, classes)


def _agreement(predicted: torch.Tensor, target: torch.Tensor, classes: int) -> dict:
    """Pixel accuracy, and IoU averaged over the classes that appear in the target or the prediction."""
    ious = []
    for k in range(classes):
        inter = ((predicted == k) & (target == k)).sum()
        union = ((predicted == k) | (target == k)).sum()
        if union > 0:
            ious.append(float(inter) / float(union))
    return {
        "pixel_accuracy": float((predicted == target).float().mean()),
        "mean_iou": sum(ious) / max(len(ious), 1),
    }


def _read(images: torch.Tensor, maps: torch.Tensor, model: nn.Module | None) -> tuple[torch.Tensor, ...]:
    """The class the judge reads at each pixel and the class the map asks for, (B, H, W) each, on the CPU,
    after checking both."""
    images = check_images(images)
    maps = scenes.check_maps(maps, batch=len(images), size=images.shape[-2:])
    return _segment(images, _judge(model)), maps.argmax(dim=1).cpu()


def score(images: torch.Tensor, maps: torch.Tensor, model: nn.Module | None = None) -> dict:
    """How well images (B, 3, H, W) in [-1, 1] respect one-hot maps (B, K, H, W): pixel_accuracy, mean_iou.

    uint8 images (0-255) are converted with x / 127.5 - 1. model=None loads (or trains once, ~15 s) the
    zoo's "scenes-judge".
    """
    return _agreement(*_read(images, maps, model), len(scenes.CLASSES))


def pixel_agreement(images: torch.Tensor, maps: torch.Tensor, model: nn.Module | None = None) -> torch.Tensor:
    """Per image (B,): the fraction of its pixels the judge reads as the class its map asks for (``score``'s
    pixel_accuracy, image by image, for a mean with its spread)."""
    predicted, target = _read(images, maps, model)
    return (predicted == target).float().flatten(1).mean(1)


def features(images: torch.Tensor, model: nn.Module | None = None) -> torch.Tensor:
    """Per image (B, 11C): the mean of each channel at the encoder's three levels and the spread of the
    deepest (colours, textures and how much they vary), for a Fréchet distance to real renders
    (``metrics.frechet_distance``). Images (B, 3, H, W) in [-1, 1], H and W divisible by 4."""

    def pooled(model, x):
        levels = model.encode(x)
        return torch.cat([level.mean((2, 3)) for level in levels] + [levels[-1].std((2, 3))], 1)

    return _run(check_images(images), _judge(model), pooled)


def patch_features(images: torch.Tensor, model: nn.Module | None = None) -> torch.Tensor:
    """The encoder's deepest features, one vector per 4×4 patch: (B, H/4 · W/4, 4C), patches row-major
    (a DiT's token order at patch size 4). Images (B, 3, H, W) in [-1, 1], H and W divisible by 4."""
    return _run(check_images(images), _judge(model), lambda m, x: m.encode(x)[-1].flatten(2).transpose(1, 2))


def chance(maps: torch.Tensor) -> dict:
    """The score of a judge that ignores the image and answers the most common class everywhere."""
    maps = scenes.check_maps(maps)
    target = maps.argmax(dim=1)
    common = torch.bincount(target.flatten(), minlength=maps.shape[1]).argmax()
    return _agreement(torch.full_like(target, int(common)), target, maps.shape[1])


RECIPE = zoo.Recipe(
    name="scenes-judge",
    build=build,
    train=train,
    data_version=scenes.DATA_VERSION,
    description="scenes judge: a 144k-parameter fully convolutional segmenter trained on 32 px scenes",
    config_keys=frozenset(CONFIG) | {"classes"},
    ruler=True,  # the same judge for every budget, so numbers compare across budgets
)
