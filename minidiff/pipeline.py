"""Text to image, the course's parts assembled (chapter 06): CLIP reads the prompt, the UNet draws latents,
the VAE turns them into pixels.

    pipe = Pipeline.load()                       # the zoo's vae, clip and ldm for the current budget
    images = pipe.generate("red apple", seed=0)  # a list of PIL images, 32 x 32

``Pipeline.load`` never trains behind your back: a part that is not cached is an error that says how to
train it (``train=True``, or ``--train`` on the command line). It also refuses a UNet trained on another
VAE's latents or another CLIP's text than the ones cached now.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from minidiff import zoo
from minidiff.clip import CLIP
from minidiff.recipes import clip as clip_recipe
from minidiff.recipes import ldm
from minidiff.recipes import vae as vae_recipe
from minidiff.settings import BUDGETS
from minidiff.settings import budget as current_budget
from minidiff.text import Tokenizer, course_tokenizer, words
from minidiff.unet import UNet
from minidiff.vae import VAE

PARTS = {"vae": vae_recipe.RECIPE, "clip": clip_recipe.RECIPE, "ldm": ldm.RECIPE}  # in the order they train
MAX_STEPS = 1_000
EXAMPLE = "red apple"


class PipelineError(ValueError):
    """A part is missing, corrupt or does not fit the others; the message says what to do."""


# ---- checks ----------------------------------------------------------------------------------------------


def check_budget(budget: str | None) -> str:
    """The budget asked for (default: the current one), refused with the list of budgets if unknown."""
    budget = current_budget() if budget is None else budget
    if budget not in BUDGETS:
        raise PipelineError(f"unknown budget {budget!r}: use one of {', '.join(BUDGETS)}")
    return budget


def check_prompts(prompts, tokenizer: Tokenizer | None = None) -> list[str]:
    """A prompt or a list of them, each non-empty and (given a tokenizer) within its limit, as a list."""
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts:
        raise ValueError(f"no prompts given: pass a prompt, e.g. {EXAMPLE!r}")
    for prompt in prompts:
        if not isinstance(prompt, str):
            raise TypeError(f"a prompt is a string, got {type(prompt).__name__}: e.g. {EXAMPLE!r}")
        if not words(prompt):
            raise ValueError(f"the prompt is empty: describe what to draw, e.g. {EXAMPLE!r}")
        if not any(c.isalnum() for c in prompt):
            raise ValueError(f"the prompt {prompt!r} has no words: describe what to draw in words, e.g. "
                             f"{EXAMPLE!r}")  # fmt: skip
        n = tokenizer.count(prompt) if tokenizer is not None else 0
        if tokenizer is not None and n > tokenizer.max_len:
            raise ValueError(f"the prompt is {n} tokens long, the limit is {tokenizer.max_len}: shorten it "
                             f"(about {tokenizer.max_len // 2} words fit), e.g. {EXAMPLE!r}")  # fmt: skip
    return prompts


def check_sampling(steps, cfg, interval) -> None:
    """Refuse sampler settings that cannot work, saying which values do."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps={steps!r}: use a whole number of sampling steps from 1 to {MAX_STEPS} "
                         f"(20 is plenty)")  # fmt: skip
    if (
        isinstance(cfg, bool)
        or not isinstance(cfg, (int, float))
        or not math.isfinite(cfg)
        or not 0 <= cfg <= 50
    ):
        raise ValueError(f"cfg={cfg!r}: use a guidance scale from 0 to 50 (1 = no guidance, "
                         f"{ldm.GUIDANCE:g} is the default)")  # fmt: skip
    low, high = interval
    if not 0 <= low <= high <= 1:
        raise ValueError(f"interval={interval}: use two times 0 <= low <= high <= 1 (0 = noise, 1 = data)")


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """Images (B, 3, H, W) in [-1, 1] -> a list of PIL RGB images (rounded to the nearest 0-255 value)."""
    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # (B, 3, H, W)
    return [Image.fromarray(np.ascontiguousarray(x.permute(1, 2, 0).numpy())) for x in pixels]


# ---- the zoo's parts -------------------------------------------------------------------------------------


def tokenizer(budget: str | None = None) -> Tokenizer:
    """The tokenizer of the zoo's CLIP for ``budget`` (read from its JSON, no weights loaded), else the
    course's, which the CLIP recipe trains with: enough to check prompts before anything is trained."""
    try:
        return Tokenizer(**zoo.info(clip_recipe.RECIPE, budget=check_budget(budget))["config"]["tokenizer"])
    except (zoo.ZooError, KeyError, TypeError, ValueError):
        return course_tokenizer()


def missing(budget: str | None = None) -> list[str]:
    """The parts (vae, clip, ldm) that the zoo has no files for at ``budget``: they would be trained."""
    budget = check_budget(budget)
    return [name for name, recipe in PARTS.items() if not zoo.paths(recipe, budget)[1].exists()]


def _load(name: str, budget: str, device, train: bool) -> torch.nn.Module:
    """One part from the zoo. A broken file is retrained with ``train``, else a PipelineError names it."""
    recipe = PARTS[name]
    weights, meta = zoo.paths(recipe, budget)
    try:
        return zoo.load(recipe, budget=budget, device=device)
    except zoo.ZooError as err:
        if train:
            print(f"pipeline: {err}")
            return zoo.load(recipe, budget=budget, device=device, retrain=True)
        reason = " ".join(str(err).split(": retrain it")[0].split("; retrain it")[0].split())  # one line
        raise PipelineError(f"the {name} model ({budget}) cannot be used: {reason}. Delete {weights} and "
                            f"{meta}, or run again with --train (Pipeline.load(train=True)) to replace "
                            "them") from err  # fmt: skip


def _trained_with_others(budget: str) -> list[str]:
    """The parts (vae, clip) that differ from those the cached UNet was trained with (its config records
    their sha256). Files the cache could not keep are not compared."""
    try:
        config = zoo.info(ldm.RECIPE, budget=budget)["config"]
        have = {name: zoo.info(PARTS[name], budget=budget)["sha256"] for name in ("vae", "clip")}
    except zoo.ZooError:
        return []
    return [name for name in have if config.get(name) not in (have[name], "unsaved")]


# ---- the pipeline ----------------------------------------------------------------------------------------


@dataclass
class Pipeline:
    """The VAE, the CLIP (its tokenizer attached) and the text UNet of one budget, in eval mode."""

    vae: VAE
    clip: CLIP
    unet: UNet

    @classmethod
    def load(cls, budget: str | None = None, train: bool = False, device=None) -> Pipeline:
        """The zoo's parts for ``budget`` (default: the current one). With ``train``, missing or broken parts
        are trained (minutes at ``cpu``, with progress bars); without it they are a PipelineError."""
        budget = check_budget(budget)
        if (absent := missing(budget)) and not train:
            folder = zoo.paths(ldm.RECIPE, budget)[0].parent
            raise PipelineError(f"no trained text-to-image model for budget {budget!r} in {folder} (missing: "
                                f"{', '.join(absent)}): train it with --train on the command line, or "
                                f"Pipeline.load(train=True)")  # fmt: skip
        vae, clip, unet = (_load(name, budget, device, train) for name in PARTS)
        if others := _trained_with_others(budget):
            weights, meta = zoo.paths(ldm.RECIPE, budget)
            if not train:
                raise PipelineError(f"the ldm model ({budget}) was trained with another "
                                    f"{' and '.join(others)} than the one cached now: run again with --train "
                                    f"(Pipeline.load(train=True)) to retrain it, or delete {weights} and "
                                    f"{meta}")  # fmt: skip
            print(f"pipeline: the ldm model was trained with another {' and '.join(others)}: retraining it")
            unet = zoo.load(ldm.RECIPE, budget=budget, device=device, retrain=True)
        return cls(vae=vae, clip=clip, unet=unet)

    @torch.no_grad()
    def generate(self, prompts, steps: int = ldm.SAMPLE_STEPS, cfg: float = ldm.GUIDANCE, seed: int = 0,
                 interval=(0.0, 1.0), progress: bool = False) -> list[Image.Image]:  # fmt: skip
        """One 32 x 32 image per prompt (a str or a list): Heun in ``steps`` steps from noise drawn with
        ``seed``, guidance scale ``cfg`` (1 = none) inside ``interval``; one seed, the same images."""
        prompts = check_prompts(prompts, self.clip.tokenizer)
        check_sampling(steps, cfg, interval)
        cond = self.clip.text_condition(prompts)
        channels, factor = self.vae.cfg.latent_channels, self.vae.cfg.factor
        shape = (len(prompts), channels, ldm.SIZE // factor, ldm.SIZE // factor)
        noise = torch.randn(shape, generator=torch.Generator().manual_seed(seed))  # CPU: every device agrees
        images = ldm.sample(self.unet, self.vae, cond, noise, steps, float(cfg), interval, progress=progress)
        return to_pil(images)


__all__ = ["Pipeline", "PipelineError", "PARTS", "check_budget", "check_prompts", "check_sampling", "missing",
           "to_pil", "tokenizer"]  # fmt: skip
