"""The emoji judge: a small CNN that names which of the ~1,280 emoji an image shows, or says "none".

Trained by ``RECIPE`` (cached by the zoo as "emoji-judge") on the real 32 px renders with light
augmentation (shifts, scale, blur, brightness, noise), and with *outlier exposure* (Hendrycks et al.
2019, arXiv:1812.04606): on images that are not one emoji (noise, flat colours, smooth blobs, shuffled
tiles, 4 px thumbnails, blends of two emoji) it is taught to spread its belief evenly over all classes.
So its top-1 confidence is high on real emoji and near 1/N on noise, blanks, and the blurry averages a
weak generator makes. ``score`` reports how many images it recognises and a Fréchet distance in its
penultimate features. It is a ruler: trained the same way on the CPU, once, for every budget.
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch import nn

from minidiff import zoo
from minidiff.data import emoji
from minidiff.metrics import check_images, frechet_distance
from minidiff.train import TrainConfig
from minidiff.train import train as run

SIZE = 32  # the judge looks at 32 px; other sizes are resized first
CONFIG = {"width": 16, "features": 256}  # + "classes", set from the data when training
STEPS = 900  # the same for every budget: ~50 s on one CPU thread
OUTLIER_FRACTION = 1 / 3  # outliers per real image in a training batch
OUTLIER_WEIGHT = 0.5
# Recognised = top-1 confidence >= 0.5: the judge puts more belief on one emoji than on all the other
# ~1,280 together. Measured: real 32 px 99.9 %, real 64 px 100 %, Gaussian noise 0 %, flat colours 0.2 %,
# blank images 0 % (confidence ~0.001-0.02), blends of two emoji 3 %, 8 px thumbnails 47 %.
THRESHOLD = 0.5


# ---- the model -----------------------------------------------------------------------------------


def _conv(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    padding = kernel // 2 if stride == 1 else 0
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding=padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
    )


class Classifier(nn.Module):
    """4x4 patches -> two 3x3 conv layers -> a flattened 4x4 map -> features -> one logit per emoji."""

    def __init__(self, classes: int, width: int = 16, features: int = 256):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            _conv(3, 3 * w, kernel=4, stride=4), _conv(3 * w, 4 * w), nn.MaxPool2d(2), _conv(4 * w, 4 * w)
        )
        # flattening (not average pooling) keeps *where* things are: layout tells many emoji apart
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * w, features), nn.ReLU())
        self.classify = nn.Linear(features, classes)
        self.register_buffer("codepoints", torch.zeros(classes, dtype=torch.int64))  # class i is chr(...)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, 32, 32) in [-1, 1] -> penultimate features (B, F)."""
        return self.embed(self.body(x))  # (B, 4w, 4, 4) -> (B, F)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))  # (B, classes)


def build(config: dict) -> Classifier:
    """The classifier for a config dict (the zoo stores it beside the weights)."""
    return Classifier(**config)


# ---- training data: augmented real emoji and outliers --------------------------------------------


def _uniform(n: int, generator: torch.Generator, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, 1, 1, 1, generator=generator)  # one value per image (B,1,1,1)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Light changes a generated emoji may show: shift <= 2 px, scale +-8 %, blur, brightness, noise."""
    n = x.shape[0]
    theta = torch.zeros(n, 2, 3)
    scale = 1 + _uniform(n, generator, -0.08, 0.08).flatten()
    theta[:, 0, 0], theta[:, 1, 1] = scale, scale
    theta[:, :, 2] = (torch.rand(n, 2, generator=generator) - 0.5) * 0.25  # +-0.125 of the half-width: 2 px
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    moved = F.grid_sample(x - 1, grid, align_corners=False) + 1  # zero padding of x - 1: white comes in
    keep = (torch.rand(n, 1, 1, 1, generator=generator) < 0.3).float()  # 30 % keep their exact pixels
    x = keep * x + (1 - keep) * moved
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    amount = _uniform(n, generator, 0, 1) * (torch.rand(n, 1, 1, 1, generator=generator) < 0.5)
    x = x + amount * (blurred - x)
    x = x * _uniform(n, generator, 0.85, 1.15) + _uniform(n, generator, -0.1, 0.1)
    x = x + torch.randn(x.shape, generator=generator) * _uniform(n, generator, 0, 0.1)
    return x.clamp(-1, 1)


def _shuffle_tiles(x: torch.Tensor, generator: torch.Generator, tiles: int = 4) -> torch.Tensor:
    """The same pixels in a 4x4 grid of tiles put back in random order: emoji texture, no emoji."""
    n, c, h, w = x.shape
    p = h // tiles
    parts = x.reshape(n, c, tiles, p, tiles, p).permute(0, 2, 4, 1, 3, 5).reshape(n, tiles * tiles, c, p, p)
    order = torch.argsort(torch.rand(n, tiles * tiles, generator=generator), dim=1)
    parts = parts[torch.arange(n)[:, None], order]  # (B, tiles*tiles, C, P, P)
    return parts.reshape(n, tiles, tiles, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(n, c, h, w)


def outliers(n: int, real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """n images that are not one emoji, of seven kinds (see the module docstring); (n, 3, 32, 32)."""
    size = real.shape[-1]
    pick = lambda m: real[torch.randint(len(real), (m,), generator=generator)]  # noqa: E731
    kinds = [
        lambda m: torch.randn(m, 3, size, size, generator=generator) * _uniform(m, generator, 0.2, 1.5),
        lambda m: torch.rand(m, 3, size, size, generator=generator) * 2 - 1,
        lambda m: (
            (torch.rand(m, 3, 1, 1, generator=generator) * 2 - 1)
            + torch.randn(m, 3, size, size, generator=generator) * _uniform(m, generator, 0, 0.05)
        ),
        lambda m: F.interpolate(torch.randn(m, 3, 4, 4, generator=generator), size=size, mode="bicubic"),
        lambda m: _shuffle_tiles(pick(m), generator),
        lambda m: F.interpolate(F.interpolate(pick(m), size=4, mode="area"), size=size, mode="bilinear"),
        lambda m: (mix := _uniform(m, generator, 0.3, 0.7)) * pick(m) + (1 - mix) * pick(m),
    ]
    kind = torch.randint(len(kinds), (n,), generator=generator)
    out = torch.empty(n, 3, size, size)
    for k, make in enumerate(kinds):
        chosen = kind == k
        if chosen.any():
            out[chosen] = make(int(chosen.sum()))
    return out.clamp(-1, 1)


def _batch(
    real: torch.Tensor, batch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented real emoji with their class, then outliers with class -1."""
    labels = torch.randint(len(real), (batch_size,), generator=generator)
    extra = outliers(int(batch_size * OUTLIER_FRACTION), real, generator)
    images = torch.cat([augment(real[labels], generator), extra])
    return images, torch.cat([labels, torch.full((len(extra),), -1)])


def _loss(model: nn.Module, batch) -> torch.Tensor:
    """Cross-entropy on real emoji; on outliers, cross-entropy to the uniform distribution (per sample)."""
    images, labels = batch
    log_probs = F.log_softmax(model(images), dim=1)  # (B, classes)
    real = -log_probs.gather(1, labels.clamp(min=0)[:, None])[:, 0]
    return torch.where(labels >= 0, real, -OUTLIER_WEIGHT * log_probs.mean(dim=1))


def fit(steps: int = STEPS, *, batch_size: int = 128, lr: float = 3e-3, seed: int = 0,
        classes: int | None = None, progress: bool = True) -> Classifier:  # fmt: skip
    """Train a fresh judge on the CPU (the same ruler on every machine); ~0.05 s a step on one thread.

    Two phases, the second at lr / 10 for the last third of the steps (a step decay, as in ResNet):
    without it the judge ends too unsure of the real emoji. ``classes=k`` learns only the first k emoji.
    """
    real = emoji.load(SIZE)[0][:classes]
    with torch.random.fork_rng(devices=[]):  # the same initial weights whatever ran before; global RNG kept
        torch.manual_seed(seed)
        model = build({**CONFIG, "classes": len(real)})
    model.codepoints.copy_(torch.tensor(emoji.codepoints()[: len(real)]))
    data = lambda batch_size, generator: _batch(real, batch_size, generator)  # noqa: E731
    for phase, (phase_steps, phase_lr) in enumerate([(steps - steps // 3, lr), (steps // 3, lr / 10)]):
        cfg = TrainConfig(steps=phase_steps, batch_size=batch_size, lr=phase_lr, weight_decay=1e-4,
                          warmup=50 if phase == 0 else 0, ema_decay=None, amp="off", seed=seed + phase,
                          progress=progress, log_every=50)  # fmt: skip
        run(model, _loss, data, cfg, device="cpu")
    return model.eval()


def train():
    """The zoo recipe (a ruler: the same for every budget): returns (model, config, steps, metrics)."""
    model = fit(STEPS)
    real, _ = emoji.load(SIZE)
    noise = torch.randn(1000, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    metrics = {
        "real": score(real, model=model)["recognised"],
        "real_64px": score(emoji.load(64)[0], model=model)["recognised"],
        "noise": score(noise, model=model)["recognised"],
        "blank": score(torch.ones(8, 3, SIZE, SIZE), model=model)["recognised"],
    }
    return model, {**CONFIG, "classes": len(real)}, STEPS, metrics


# ---- judging ---------------------------------------------------------------------------------------


_DEFAULT: dict[str, nn.Module] = {}  # cache file -> the loaded judge, so score() loads it once


def _judge(model: nn.Module | None) -> nn.Module:
    """The given model, else the zoo's "emoji-judge" (trained once, ~50 s, then loaded from the cache)."""
    if model is not None:
        return model
    key = str(zoo.paths(RECIPE)[0])
    if key not in _DEFAULT:
        _DEFAULT[key] = RECIPE.load(device="cpu")
    return _DEFAULT[key]


def _run(images: torch.Tensor, model: nn.Module, fn, batch_size: int = 512) -> torch.Tensor:
    """fn(model, x) on checked images resized to 32 px, in eval mode and batches, on the model's device."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()  # BatchNorm must use its running statistics, not this batch's
    out = []
    with torch.no_grad():
        for chunk in images.split(batch_size):
            x = chunk.float().to(device)
            if x.shape[-2:] != (SIZE, SIZE):
                x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False)
            out.append(fn(model, x).float().cpu())
    model.train(was_training)
    return torch.cat(out)


def features(images: torch.Tensor, model: nn.Module | None = None) -> torch.Tensor:
    """Penultimate features (B, F) of images (B, 3, H, W) in [-1, 1]: the space ``score`` measures FD in.

    uint8 images (0-255) are converted with x / 127.5 - 1; ``metrics.check_images`` says what is refused.
    """
    return _features(check_images(images), _judge(model))


def _features(images: torch.Tensor, model: nn.Module) -> torch.Tensor:
    return _run(images, model, lambda m, x: m.features(x))


def identify(images: torch.Tensor, model: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices (B,), confidences (B,)): the most likely emoji (an index into ``emoji.load()``) and its
    probability; ``emoji.names()[i]`` names it. Images (B, 3, H, W) in [-1, 1]; uint8: x / 127.5 - 1."""
    return _identify(check_images(images), _judge(model))


def _identify(images: torch.Tensor, model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    probs = _run(images, model, lambda m, x: F.softmax(m(x), dim=1))
    confidences, indices = probs.max(dim=1)
    return indices, confidences


_REFERENCE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # judge -> features of real emoji


def reference_features(model: nn.Module | None = None) -> torch.Tensor:
    """Features of every real 32 px emoji (computed once per judge)."""
    model = _judge(model)
    if model not in _REFERENCE:
        _REFERENCE[model] = _features(emoji.load(SIZE)[0], model)
    return _REFERENCE[model]


def score(images: torch.Tensor, model: nn.Module | None = None, reference=None) -> dict:
    """recognised (fraction with top-1 confidence >= THRESHOLD), mean_confidence, and fd: the Fréchet
    distance between the images' features and ``reference`` (features or images; default: all real emoji).

    Images (B, 3, H, W) in [-1, 1]; uint8 ones are converted with x / 127.5 - 1. FD needs two images or
    more (else NaN) and is biased upwards for small sets: compare FDs from the same number of images.
    """
    images, model = check_images(images), _judge(model)
    _, confidences = _identify(images, model)
    if reference is None:
        reference = reference_features(model)
    elif isinstance(reference, torch.Tensor) and reference.ndim == 4:
        reference = _features(check_images(reference, "reference"), model)
    fd = frechet_distance(_features(images, model), reference) if len(images) > 1 else float("nan")
    return {
        "recognised": float((confidences >= THRESHOLD).float().mean()),
        "mean_confidence": float(confidences.mean()),
        "fd": fd,
    }


RECIPE = zoo.Recipe(
    name="emoji-judge",
    build=build,
    train=train,
    data_version=emoji.DATA_VERSION,
    description="emoji judge: a 0.66M-parameter CNN naming which emoji a 32 px image shows (or none)",
    config_keys=frozenset(CONFIG) | {"classes"},
    ruler=True,  # the same judge for every budget, so numbers compare across budgets
)
