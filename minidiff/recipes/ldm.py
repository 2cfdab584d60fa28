"""The zoo recipe of chapter 06's latent text-to-image model: a text UNet on the VAE's latents of emoji.

The parts come from the zoo: chapter 03's VAE (``recipes.vae``: emoji 32x32x3 <-> scaled latents 4x8x8) and
chapter 04's CLIP (``recipes.clip``: prompts -> pooled vector and tokens). The UNet (chapter 05's
``UNetConfig(cond_dim=..., context_dim=...)``) learns flow matching on the latents, conditioned on CLIP's
``text_condition`` of the emoji names, with 10 % of the conditions dropped (for classifier-free guidance).
Latents and text conditions are computed once per run (no grad) and indexed every step.

Which emoji: ``quick`` and ``cpu`` train on the plants, food and drink block, U+1F32D-U+1F37F (83 emoji, from
"hot dog" to "popcorn", "red apple" among them), so a few CPU minutes are enough for a recognisable result;
``gpu`` trains on all 1,280. Measured (the zoo's metrics): the emoji judge's top-1/top-5 recognition of the
generated images against their prompts, among all the judge's ~1,280 classes, at guidance scale 1 and
``GUIDANCE``; against chance, the real emoji of the same prompts and their VAE reconstructions (the ceiling of
a latent model).
"""

from __future__ import annotations

import time
from dataclasses import asdict

import torch

from minidiff import flow, zoo
from minidiff.clip import CLIP
from minidiff.data import emoji
from minidiff.guidance import drop_condition, guided
from minidiff.judges import emoji as judge
from minidiff.metrics import psnr
from minidiff.recipes import clip as clip_recipe
from minidiff.recipes import vae as vae_recipe
from minidiff.recipes.clip import mean_std
from minidiff.settings import budget as current_budget
from minidiff.settings import count
from minidiff.train import TrainConfig
from minidiff.train import train as run
from minidiff.unet import UNet, UNetConfig
from minidiff.vae import VAE

SIZE = 32  # pixels; the VAE makes latents of 4 x SIZE/4 x SIZE/4
P_DROP = 0.1  # condition dropout: the UNet also learns "no condition", which guidance needs
GUIDANCE = 3.0  # the default classifier-free guidance scale of the pipeline and the CLI
SAMPLE_STEPS = 20  # Heun steps (39 UNet evaluations, x2 under guidance)
FOOD = (0x1F32D, 0x1F37F)  # plants, food and drink: the quick and cpu subset (83 emoji)
SUBSETS = {"food": "plants, food and drink, U+1F32D-U+1F37F", "all": "every emoji"}

PRESETS = {  # UNets for 8x8 latents: two levels (8x8, 4x4), attention (and cross-attention) where it is cheap
    "tiny": dict(base_channels=32, channel_mults=(1, 2), blocks_per_level=1, attn_levels=(1,), heads=2,
                 groups=8),
    "small": dict(base_channels=64, channel_mults=(1, 2), blocks_per_level=2, attn_levels=(0, 1), heads=4),
    "base": dict(base_channels=128, channel_mults=(1, 2), blocks_per_level=2, attn_levels=(0, 1), heads=4),
}  # fmt: skip
SETTINGS = {  # per budget: UNet preset, emoji subset, training length, evaluation samples per prompt
    # measured on 2 CPU cores: small ~0.2 s a step at batch 64; at 700 steps (and at 1,000) the samples of
    # the 83 food names were recognised top-1 1.00 at scale 1, 0.99 at scale 3 (3 per prompt); cpu trains
    # 600 steps (~2 min), which chapter 06 doubles by training a pixel model for as long
    "quick": dict(preset="tiny", subset="food", steps=40, batch_size=32, lr=2e-3, samples_per_prompt=1),
    "cpu": dict(preset="small", subset="food", steps=600, batch_size=64, lr=1e-3, samples_per_prompt=3),
    # not measured (no GPU at hand): ~4.6M parameters on 8x8 latents, estimated well under 10 min on a T4
    "gpu": dict(preset="small", subset="all", steps=15_000, batch_size=256, lr=5e-4, samples_per_prompt=1),
}
EVAL_SEED = 1_000


# ---- data ------------------------------------------------------------------------------------------------


def subset(name: str) -> list[int]:
    """Indices into ``emoji.load()`` of an emoji subset: "food" (U+1F32D-U+1F37F) or "all"."""
    if name not in SUBSETS:
        raise ValueError(f"subset={name!r}: use one of {', '.join(SUBSETS)}")
    codepoints = emoji.codepoints()
    if name == "all":
        return list(range(len(codepoints)))
    return [i for i, c in enumerate(codepoints) if FOOD[0] <= c <= FOOD[1]]


@torch.no_grad()
def encode_latents(vae: VAE, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Scaled latents ``vae.encode(images)`` (the posterior mean times the measured scale), on the CPU."""
    device = vae.scale.device
    return torch.cat([vae.encode(chunk.to(device)).cpu() for chunk in images.split(batch_size)])


@torch.no_grad()
def encode_prompts(clip: CLIP, prompts: list[str], batch_size: int = 256) -> dict[str, torch.Tensor]:
    """``clip.text_condition(prompts)`` in batches, on the CPU: cond (N, D), context (N, L, D_t), mask."""
    parts = [clip.text_condition(prompts[i : i + batch_size]) for i in range(0, len(prompts), batch_size)]
    return {key: torch.cat([part[key].cpu() for part in parts]) for key in parts[0]}


def make_data(latents: torch.Tensor, cond: dict[str, torch.Tensor]):
    """``data(batch_size, generator)`` → (latents (B, 4, 8, 8), condition dict): random rows, with repeats."""

    def data(batch_size: int, generator: torch.Generator):
        index = torch.randint(len(latents), (batch_size,), generator=generator)
        return latents[index], {key: value[index] for key, value in cond.items()}

    return data


def loss_fn(model: UNet, batch, p_drop: float = P_DROP, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow matching on latents with condition dropout: ``flow_loss(model, z, cond=drop_condition(cond))``."""
    z, cond = batch
    return flow.flow_loss(model, z, cond=drop_condition(cond, p_drop), **kwargs)


# ---- the model -------------------------------------------------------------------------------------------


def unet_config(vae: VAE, clip: CLIP, preset: str) -> UNetConfig:
    """A preset sized for the VAE's latent channels and CLIP's pooled and per-token widths."""
    channels = vae.cfg.latent_channels
    return UNetConfig(**PRESETS[preset], in_channels=channels, cond_dim=clip.cfg.embed_dim,
                      context_dim=clip.cfg.text_width)  # fmt: skip


def build(config: dict) -> UNet:
    """The UNet for the zoo's config {"unet": UNetConfig fields, "vae": sha256, "clip": sha256, ...}."""
    unet = config["unet"]
    return UNet(UNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in unet.items()}))


def parts(budget: str) -> tuple[VAE, CLIP]:
    """The zoo's VAE and CLIP for ``budget`` (trained first when they are not cached), in eval mode."""
    return vae_recipe.RECIPE.load(budget=budget), clip_recipe.RECIPE.load(budget=budget)


def trained_with(recipe: zoo.Recipe, budget: str) -> str:
    """The sha256 of a cached part's weights ("unsaved" when the cache could not keep it): a UNet trained
    on one VAE's latents is useless with another's, so the pipeline checks these match."""
    try:
        return zoo.info(recipe, budget=budget)["sha256"]
    except zoo.ZooError:
        return "unsaved"


def fit(budget: str | None = None, *, vae: VAE | None = None, clip: CLIP | None = None, seed: int = 0,
        steps: int | None = None, preset: str | None = None, subset_name: str | None = None, live=None,
        progress: bool = True):  # fmt: skip
    """Train a fresh text UNet the recipe's way for ``budget`` (arguments override it) → (EMA UNet, history).

    ``vae`` and ``clip`` default to the zoo's for the budget; ``subset_name`` is "food" or "all".
    """
    budget = budget or current_budget()
    plan = SETTINGS[budget]
    if vae is None or clip is None:
        vae, clip = parts(budget)
    images, names = emoji.load(SIZE)
    keep = subset(subset_name or plan["subset"])
    latents = encode_latents(vae, images[keep])
    cond = encode_prompts(clip, [names[i] for i in keep])
    with torch.random.fork_rng(devices=[]):  # the same initial weights whatever ran before
        torch.manual_seed(seed)
        model = UNet(unet_config(vae, clip, preset or plan["preset"]))
    cfg = TrainConfig(steps=steps or plan["steps"], batch_size=plan["batch_size"], lr=plan["lr"], warmup=100,
                      ema_decay=0.999, seed=seed, log_every=25, progress=progress)  # fmt: skip
    history = run(model, loss_fn, make_data(latents, cond), cfg, live=live)
    return history.ema.eval(), history


# ---- sampling and measuring ------------------------------------------------------------------------------


@torch.no_grad()
def sample(unet: UNet, vae: VAE, cond: dict[str, torch.Tensor], noise: torch.Tensor,
           steps: int = SAMPLE_STEPS, scale: float = GUIDANCE, interval=(0.0, 1.0),
           progress: bool = False) -> torch.Tensor:  # fmt: skip
    """Images (B, 3, 32, 32) in [-1, 1] on the CPU: Heun from ``noise`` (B, 4, 8, 8) guided, decoded."""
    device = next(unet.parameters()).device
    cond = {key: value.to(device) for key, value in cond.items()}
    z = flow.heun(guided(unet, cond, scale, interval), noise.to(device), steps, progress=progress)
    return vae.decode(z.to(vae.scale.device)).clamp(-1, 1).cpu()


@torch.no_grad()
def judge_ranks(images: torch.Tensor, targets: torch.Tensor, model=None) -> torch.Tensor:
    """Rank (0 = best) of each image's target emoji among all the judge's classes (ties count in favour).

    ``model``: the emoji judge (default: the zoo's). Images (B, 3, 32, 32) in [-1, 1].
    """
    model = model if model is not None else judge.RECIPE.load(device="cpu")
    logits = torch.cat([model(chunk.float()) for chunk in images.split(512)])  # (N, classes)
    return (logits > logits.gather(1, targets[:, None])).sum(1)


def recognition(images: torch.Tensor, targets: torch.Tensor, model=None) -> dict:
    """Top-1 and top-5 recognition of ``images`` as their ``targets`` (indices into ``emoji.load()``) by the
    emoji judge ``model`` (default: the zoo's), with bootstrap spreads."""
    ranks = judge_ranks(images, targets, model)
    out = {}
    for k in (1, 5):
        out[f"top{k}"], out[f"top{k}_std"] = mean_std(ranks < k)
    return out


def fidelity(images: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """PSNR (dB) of each image (B, 3, 32, 32) in [-1, 1] against the real emoji of its prompt (``targets``:
    indices into ``emoji.load()``), as 0-255 pixels: its mean and standard error. With one picture per
    name, how close a sample comes to the picture the model learned."""
    real, _ = emoji.load(SIZE)
    values = psnr(vae_recipe.pixels(images), vae_recipe.pixels(real[targets]))
    return values.mean().item(), (values.std() / len(values) ** 0.5).item() if len(values) > 1 else 0.0


def evaluate(unet: UNet, vae: VAE, clip: CLIP, keep: list[int], samples_per_prompt: int = 1,
             scales=(1.0, GUIDANCE), steps: int = SAMPLE_STEPS) -> dict:  # fmt: skip
    """The zoo's metrics: recognition of samples of the emoji names in ``keep`` at each guidance scale, of
    the real emoji and of their VAE reconstructions, chance, and the CPU-or-device time per image."""
    images, names = emoji.load(SIZE)
    targets = torch.tensor(keep).repeat(samples_per_prompt)
    n = count(quick=len(targets), cpu=len(targets), gpu=len(targets))  # smoke mode: a few
    targets = targets[torch.randperm(len(targets), generator=torch.Generator().manual_seed(EVAL_SEED))[:n]]
    cond = encode_prompts(clip, [names[i] for i in targets.tolist()])
    noise = torch.randn(len(targets), vae.cfg.latent_channels, SIZE // vae.cfg.factor, SIZE // vae.cfg.factor,
                        generator=torch.Generator().manual_seed(EVAL_SEED))  # fmt: skip
    ruler = judge.RECIPE.load(device="cpu")
    classes = len(ruler.codepoints)
    out = {"n": len(targets), "prompts": len(set(targets.tolist())), "steps": steps, "sampler": "heun",
           "judge_classes": classes, "chance_top1": 1 / classes, "chance_top5": 5 / classes}  # fmt: skip
    real = images[targets]
    out["real"] = recognition(real, targets, ruler)
    out["vae_reconstructions"] = recognition(vae_recipe.reconstruct(vae, real), targets, ruler)
    for scale in scales:
        start = time.perf_counter()
        samples = torch.cat([sample(unet, vae, {k: v[i : i + 256] for k, v in cond.items()},
                                    noise[i : i + 256], steps, scale)
                             for i in range(0, len(targets), 256)])  # fmt: skip
        seconds = time.perf_counter() - start
        out[f"scale_{scale:g}"] = {
            **recognition(samples, targets, ruler),
            "seconds_per_image": seconds / len(targets),
        }
    return out


def train(budget: str, live=None) -> tuple[UNet, dict, int, dict]:
    """The zoo recipe: returns (EMA model on the CPU, config, steps, metrics); ``live`` plots the loss.

    Chapter 06 calls it itself and hands the result to ``zoo.store``. ``metrics["train_seconds"]`` counts
    the encoding of the data too, ``metrics["loop_seconds"]`` only the training loop.
    """
    plan = SETTINGS[budget]
    vae, clip = parts(budget)
    start = time.perf_counter()
    model, history = fit(budget, vae=vae, clip=clip, live=live)
    seconds = time.perf_counter() - start
    keep = subset(plan["subset"])
    metrics = {
        "subset": SUBSETS[plan["subset"]], "emoji": len(keep), "train_seconds": round(seconds, 1),
        "loop_seconds": round(history.wall_time, 1),
        "final_loss": sum(history.losses[-50:]) / max(1, len(history.losses[-50:])),
        **evaluate(model, vae, clip, keep, plan["samples_per_prompt"]),
    }  # fmt: skip
    config = {
        "unet": asdict(model.cfg),
        "vae": trained_with(vae_recipe.RECIPE, budget),  # the parts it was trained with
        "clip": trained_with(clip_recipe.RECIPE, budget),
        "subset": plan["subset"],
    }
    return model.cpu(), config, history.steps[-1] if history.steps else 0, metrics


RECIPE = zoo.Recipe(
    name="ldm",
    build=build,
    train=train,
    data_version=f"emoji{emoji.DATA_VERSION}",
    description="chapter 06's latent text-to-image UNet: flow matching on the VAE's 4x8x8 emoji latents, "
    "conditioned on CLIP's text of the emoji names (10 % dropped for guidance)",
    config_keys=frozenset({"unet", "vae", "clip", "subset"}),
)

__all__ = ["RECIPE", "SETTINGS", "PRESETS", "GUIDANCE", "SAMPLE_STEPS", "P_DROP", "subset", "encode_latents",
           "encode_prompts", "make_data", "loss_fn", "unet_config", "fit", "sample", "recognition",
           "fidelity", "evaluate"]  # fmt: skip
