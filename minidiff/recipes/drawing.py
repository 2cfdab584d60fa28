"""The zoo recipe of chapter 09's drawing-to-image model: a pixel DiT that paints a landscape from its map.

The model is chapter 07's DiT with a map per token (``DiTConfig(map_channels=8)``): each token is a 4x4 patch
of the noisy image plus the embedding of the same patch of the one-hot ``scenes`` map (sky, cloud, mountain,
water, sand, grass, tree, rock). It predicts the clean image (chapter 08's x-prediction, loss in v space) and
also learns "no map" from the 10 % of maps it sees zeroed, for classifier-free guidance. Data: ``scenes`` at
32 px, drawn fresh every step, so nothing is memorised. Size: the DiT ``tiny`` preset (1.3M parameters) at
every budget, the size the browser chapter ships.

Measured (the zoo's metrics): the scenes judge's pixel agreement between each map and the image generated
from it, against real renders of the same maps and against chance; the CPU time per image at batch 1.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict

import torch

from minidiff import flow, zoo
from minidiff.data import scenes
from minidiff.dit import PRESETS, DiT, DiTConfig
from minidiff.guidance import drop_condition, guided
from minidiff.judges import scenes as judge
from minidiff.settings import budget as current_budget
from minidiff.settings import count, one_thread
from minidiff.train import TrainConfig
from minidiff.train import train as run

SIZE = 32  # pixels per side
PATCH = 4  # 64 tokens of 4x4 patches: 48 numbers each, fewer than the 128-wide token (chapter 08)
CLASSES = len(scenes.CLASSES)
P_DROP = 0.1  # map dropout: the model also learns "no map", which guidance needs
SAMPLE_STEPS = 10  # Heun steps (19 evaluations)
EVAL_SEED = 2_000

SETTINGS = {  # per budget: training length and evaluation size
    # measured on 2 CPU cores: 1,132 steps at batch 32 (150 s) gave pixel agreement 0.998 against the real
    # renders' 0.999 (64 maps, 10 Heun steps): the cpu budget trains about that long
    "quick": dict(steps=30, batch_size=16, lr=1e-3, eval_maps=16),
    "cpu": dict(steps=1_200, batch_size=32, lr=1e-3, eval_maps=128),
    "gpu": dict(steps=8_000, batch_size=128, lr=1e-3, eval_maps=512),  # not measured (no GPU at hand)
}


def config(preset: str = "tiny") -> DiTConfig:
    """The drawing DiT: ``preset`` sizes, 32 px, 4x4 patches, one map channel per scenes class."""
    return DiTConfig(**PRESETS[preset], image_size=SIZE, patch=PATCH, map_channels=CLASSES)


def build(config: dict) -> DiT:
    """The DiT for the zoo's config {"dit": DiTConfig fields}."""
    return DiT(DiTConfig(**config["dit"]))


# ---- data and loss ---------------------------------------------------------------------------------------


def data(batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh scenes: images (B, 3, 32, 32) in [-1, 1] and their one-hot maps (B, 8, 32, 32)."""
    return scenes.sample(batch_size, SIZE, generator=generator)


def loss_fn(model: DiT, batch, p_drop: float = P_DROP, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """x-prediction with the v-loss, told the map (zeroed for a fraction ``p_drop`` of the batch)."""
    x, maps = batch
    return flow.flow_loss(model, x, pred="x", cond=drop_condition({"maps": maps}, p_drop), **kwargs)


# ---- training, sampling, measuring -----------------------------------------------------------------------


def fit(budget: str | None = None, *, seed: int = 0, steps: int | None = None, preset: str = "tiny",
        live=None, progress: bool = True):  # fmt: skip
    """A fresh drawing DiT trained the recipe's way for ``budget`` (or ``steps``) → (EMA DiT, history)."""
    plan = SETTINGS[budget or current_budget()]
    with torch.random.fork_rng(devices=[]):  # the same initial weights whatever ran before
        torch.manual_seed(seed)
        model = DiT(config(preset))
    cfg = TrainConfig(steps=steps or plan["steps"], batch_size=plan["batch_size"], lr=plan["lr"], warmup=100,
                      ema_decay=0.995, seed=seed, log_every=25, progress=progress)  # fmt: skip
    history = run(model, loss_fn, data, cfg, live=live)
    return history.ema.eval(), history


@torch.no_grad()
def paint(model: DiT, maps: torch.Tensor, *, steps: int = SAMPLE_STEPS, scale: float = 1.0,
          noise: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:  # fmt: skip
    """Images (B, 3, 32, 32) in [-1, 1], on the CPU, painted from ``maps`` (B, 8, 32, 32) by Heun.

    ``scale`` > 1 applies classifier-free guidance against "no map"; ``noise`` defaults to a seeded draw.
    """
    maps = scenes.check_maps(maps, size=(SIZE, SIZE), one_hot=False)
    device = next(model.parameters()).device
    if noise is None:
        noise = torch.randn(len(maps), 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))
    denoiser = guided(model, {"maps": maps.to(device)}, scale)
    return flow.heun(denoiser, noise.to(device), steps, pred="x").clamp(-1, 1).cpu()


def latency(model: DiT, repeats: int = 5, steps: int = SAMPLE_STEPS, scale: float = 1.0) -> float:
    """Median seconds to paint one image (batch 1) on the CPU with one thread, as a browser would."""
    model = copy.deepcopy(model).cpu()  # leave the caller's model where it is
    maps = scenes.sample(1, SIZE, generator=torch.Generator().manual_seed(EVAL_SEED))[1]
    with one_thread():
        paint(model, maps, steps=steps, scale=scale)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            paint(model, maps, steps=steps, scale=scale)
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def evaluate(model: DiT, n: int, scales=(1.0,), steps: int = SAMPLE_STEPS) -> dict:
    """The zoo's metrics: the scenes judge's agreement of images painted from ``n`` fresh maps with those
    maps, at each guidance scale; of the real renders of the same maps; chance; CPU latency per image."""
    n = count(quick=n, cpu=n, gpu=n)  # smoke mode: a few
    real, maps = scenes.sample(n, SIZE, generator=torch.Generator().manual_seed(EVAL_SEED))
    ruler = judge.RECIPE.load(device="cpu")
    out = {"maps": n, "steps": steps, "sampler": "heun", "real": judge.score(real, maps, ruler),
           "chance": judge.chance(maps)}  # fmt: skip
    for scale in scales:
        out[f"scale_{scale:g}"] = judge.score(paint(model, maps, steps=steps, scale=scale), maps, ruler)
    out["cpu_seconds_per_image"] = latency(model, steps=steps)
    return out


def train(budget: str, live=None) -> tuple[DiT, dict, int, dict]:
    """The zoo recipe: returns (EMA model on the CPU, config, steps, metrics); ``live`` plots the loss."""
    plan = SETTINGS[budget]
    model, history = fit(budget, live=live)
    model = model.cpu()
    metrics = {
        "train_seconds": round(history.wall_time, 1),
        "final_loss": sum(history.losses[-20:]) / max(1, len(history.losses[-20:])),
        **evaluate(model, plan["eval_maps"]),
    }
    return model, {"dit": asdict(model.cfg)}, history.steps[-1] if history.steps else 0, metrics


RECIPE = zoo.Recipe(
    name="drawing",
    build=build,
    train=train,
    data_version=scenes.DATA_VERSION,
    description="drawing-to-image: a 1.3M-parameter pixel DiT (x-prediction) painting 32 px scenes from maps",
    config_keys=frozenset({"dit"}),
)
