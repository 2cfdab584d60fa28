"""The zoo recipe of chapter 03's VAE: emoji at 32 px -> latents 4x8x8, sized per budget.

``RECIPE.load()`` (chapter 06) returns the trained VAE with its latent scale measured. Held out: every
``HELD_OUT_EVERY``-th emoji (index i with i % 10 == 0, 128 of the 1,280) is never trained on; the metrics are
measured on them: PSNR, the perceptual distance (``metrics.LPIPS``: real LPIPS when its backbone is cached,
else 1 - multi-scale SSIM), the emoji judge's recognition of reconstructions against that of the originals,
and the latent std after scaling. ``fit`` is what chapter 03 calls to train one with a live loss plot.
"""

from __future__ import annotations

from dataclasses import asdict, fields

import torch

from minidiff import zoo
from minidiff.data import emoji
from minidiff.judges import emoji as judge
from minidiff.metrics import LPIPS, psnr
from minidiff.settings import budget as current_budget
from minidiff.train import TrainConfig
from minidiff.train import train as run
from minidiff.vae import PRESETS, VAE, VAEConfig, fit_scale, perceptual_distance, vae_loss

SIZE = 32
HELD_OUT_EVERY = 10  # emoji i is held out when i % 10 == 0: 128 of 1,280, never seen in training
SETTINGS = {  # per budget: preset and training length (batch 64: tiny ~0.2 s a step on 2 CPU threads)
    "quick": dict(preset="tiny", steps=40, batch_size=32, lr=2e-3),
    "cpu": dict(preset="tiny", steps=800, batch_size=64, lr=2e-3),
    "gpu": dict(preset="small", steps=6_000, batch_size=128, lr=1e-3),
}
LOSS = dict(kl_weight=1e-4, bits=0.0, perceptual_weight=0.1)  # measured in chapter 03 and solutions/03


def split(size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """(training images, held-out images, held-out indices into ``emoji.load()``)."""
    images, _ = emoji.load(size)
    held = torch.arange(len(images)) % HELD_OUT_EVERY == 0
    return images[~held], images[held], held.nonzero().flatten().tolist()


def build(config: dict) -> VAE:
    """The VAE for a config dict of VAEConfig fields (the zoo stores it beside the weights)."""
    return VAE(VAEConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}))


def fit(budget: str | None = None, *, preset: str | None = None, steps: int | None = None, seed: int = 0,
        live=None, progress: bool = True, config: dict | None = None, **loss):  # fmt: skip
    """Train a VAE on the training split; returns (EMA model with its scale fitted, log).

    ``log`` holds the train History ("history") and the loss parts per step ("mse", "perceptual", "kl").
    ``preset``, ``steps``, ``config`` (VAEConfig fields over the preset) and ``loss`` (kl_weight, bits,
    perceptual_weight) override the budget's settings, for experiments at equal budget.
    """
    settings = SETTINGS[budget or current_budget()]
    train_images, _, _ = split()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VAE(VAEConfig(**{**PRESETS[preset or settings["preset"]], **(config or {})}))
    loss = {**LOSS, **loss}
    lpips = LPIPS() if loss["perceptual_weight"] else None
    log = {"mse": [], "perceptual": [], "kl": []}

    def loss_fn(model, x):
        out, parts = vae_loss(model, x, perceptual=lpips, **loss)
        for key in log:
            log[key].append(parts[key])
        return out

    def data(batch_size, generator):
        return train_images[torch.randint(len(train_images), (batch_size,), generator=generator)]

    cfg = TrainConfig(steps=steps or settings["steps"], batch_size=settings["batch_size"], lr=settings["lr"],
                      warmup=50, ema_decay=0.995, seed=seed, progress=progress, log_every=20)  # fmt: skip
    history = run(model, loss_fn, data, cfg, live=live)
    log = {key: torch.stack(values).tolist() if values else [] for key, values in log.items()}
    vae = history.ema.eval()
    fit_scale(vae, train_images)
    return vae, {"history": history, **log}


@torch.no_grad()
def reconstruct(model: VAE, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """decode(encode(images)) clamped to [-1, 1], in batches on the model's device, returned on the CPU."""
    device = model.scale.device
    out = [
        model.decode(model.encode(chunk.to(device))).clamp(-1, 1).cpu() for chunk in images.split(batch_size)
    ]
    return torch.cat(out)


def pixels(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] as 0-255 pixels (uint8), as a PNG stores them. Measure reconstructions this way:
    ``metrics.check_images`` refuses a float batch that lies in [0, 1] (a blurry, bright one may)."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


@torch.no_grad()
def evaluate(model: VAE, images: torch.Tensor) -> dict:
    """PSNR and perceptual distance (means and standard errors), judge recognition of reconstructions and
    originals and their ratio, and the std of the scaled latents, on ``images`` (e.g. the held-out split)."""
    recon = reconstruct(model, images)
    lpips = LPIPS()
    psnrs, dists = psnr(pixels(recon), images), perceptual_distance(lpips, recon, images)
    recognised = judge.score(pixels(recon))["recognised"]
    original = judge.score(images)["recognised"]
    latents = torch.cat([model.encode(chunk.to(model.scale.device)).cpu() for chunk in images.split(256)])
    n = len(images) ** 0.5
    return {
        "psnr": float(psnrs.mean()), "psnr_se": float(psnrs.std() / n),
        "perceptual": float(dists.mean()), "perceptual_se": float(dists.std() / n),
        "perceptual_backend": lpips.backend,
        "recognised": recognised, "recognised_originals": original, "ratio": recognised / max(original, 1e-9),
        "latent_std": float(latents.std()), "scale": float(model.scale),
    }  # fmt: skip


def train(budget: str) -> tuple[VAE, dict, int, dict]:
    """The zoo recipe: (model, config, steps, metrics on the held-out emoji)."""
    model, log = fit(budget)
    _, held_out, _ = split()
    config = {f.name: getattr(model.cfg, f.name) for f in fields(VAEConfig)}
    metrics = evaluate(model, held_out)
    return model.cpu(), asdict(VAEConfig(**config)), len(log["history"].losses), metrics


RECIPE = zoo.Recipe(
    name="vae",
    build=build,
    train=train,
    data_version=emoji.DATA_VERSION,
    description="chapter 03's VAE: emoji 32x32x3 -> latents 4x8x8, scale measured; 1 in 10 emoji held out",
    config_keys=frozenset(f.name for f in fields(VAEConfig)),
)

__all__ = [
    "RECIPE",
    "SETTINGS",
    "LOSS",
    "HELD_OUT_EVERY",
    "split",
    "fit",
    "reconstruct",
    "pixels",
    "evaluate",
]
