# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] tags=["remove-cell"]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minidiff-course/minidiff/blob/v0.1.0/solutions/11_repa.ipynb)

# %% [markdown]
# # 11 · REPA: solutions
#
# Worked answers to the exercises of chapter 11, with the chapter's set-up: the tiny DiT on landscapes
# without maps, `STEPS` steps, the teacher a segmenter trained from seed 1, quality the Fréchet distance
# of `N_SAMPLES` pictures to real renders in the ruler's features. To fit the time, each arm runs **one
# seed** (0) and is measured once, at the end; the chapter's three seeds showed how far seeds alone move
# these numbers, and that spread is the yardstick for every difference below. (The distances here rest on
# 256 pictures, the chapter's on 192; with fewer samples the distance is biased upwards, so compare
# numbers within one notebook.)
#
# **Run time:** `quick` < 1 min (CI, 2 CPU cores) · `cpu` ≤ 9 min on a 2-core laptop CPU ·
# `gpu` ≈ 10 min on a Colab T4 (estimated, not measured).
#
# **Stored outputs:** budget `cpu`, CPU x86_64 (2 cores), 8.5 min from kernel start to the last cell.

# %% tags=["nbval-ignore-output"]
# Set-up: on Colab this installs minidiff and the emoji font and picks the GPU budget; elsewhere a no-op.
import importlib.util
import subprocess
import sys

if "google.colab" in sys.modules and importlib.util.find_spec("minidiff") is None:
    package = "git+https://github.com/minidiff-course/minidiff@v0.1.0"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)

from minidiff.colab import setup

setup()

# %% tags=["nbval-ignore-output"]
import torch

import minidiff
from minidiff import count, flow, pick, repa
from minidiff.data import scenes
from minidiff.dit import PRESETS, DiT, DiTConfig
from minidiff.guidance import drop_condition
from minidiff.judges import scenes as judge
from minidiff.metrics import frechet_distance
from minidiff.recipes import drawing
from minidiff.train import TrainConfig, train

STEPS = pick(quick=4, cpu=300, gpu=2_000)
BATCH = pick(quick=8, cpu=32, gpu=128)
N_SAMPLES = count(quick=16, cpu=256, gpu=1024)
ruler = judge.RECIPE.load(device="cpu")
real, maps = scenes.sample(256, 32, generator=torch.Generator().manual_seed(7))
real_features = judge.features(
    scenes.sample(N_SAMPLES, 32, generator=torch.Generator().manual_seed(8))[0], ruler
)
sample_noise = torch.randn(N_SAMPLES, 3, 32, 32, generator=torch.Generator().manual_seed(11))


def make_teacher(segmenter):
    """The standardised patch features of a segmenter, as in the chapter."""
    reference = judge.patch_features(real, segmenter)
    return lambda x: repa.standardize(judge.patch_features(x, segmenter), reference)


def fit(teacher=None, weight=1.5, block=2, map_channels=None, seed=0):
    """The chapter's tiny DiT trained STEPS steps (REPA if a teacher is given); returns the EMA DiT."""
    torch.manual_seed(seed)
    dit = DiT(DiTConfig(**PRESETS["tiny"], image_size=32, patch=4, map_channels=map_channels))
    model = repa.Aligned(dit, 64, block) if teacher else dit

    def loss_fn(model, batch):
        x, maps = batch
        cond = drop_condition({"maps": maps}, 0.1) if map_channels else None
        if teacher is None:
            return flow.flow_loss(model, x, pred="x", cond=cond)
        loss, t, _ = repa.loss(model, x, teacher(x), weight=weight, pred="x", cond=cond)
        return loss, t

    cfg = TrainConfig(steps=STEPS, batch_size=BATCH, lr=1e-3, warmup=min(50, STEPS // 4), ema_decay=0.995,
                      seed=seed, log_every=25, progress=False)  # fmt: skip
    history = train(model, loss_fn, lambda n, g: scenes.sample(n, 32, generator=g), cfg)
    return history.ema.model if teacher else history.ema


def distance(model):
    pictures = flow.heun(model, sample_noise, 5, pred="x").clamp(-1, 1)
    return frechet_distance(judge.features(pictures, ruler), real_features)


teacher = make_teacher(
    judge.fit(count(quick=20, cpu=judge.STEPS, gpu=judge.STEPS), seed=1, progress=False, device="cpu")
)
baseline = distance(fit())
print(f"baseline (no REPA), seed 0: Fréchet distance {baseline:.3f} after {STEPS} steps")

# %% [markdown]
# ## 1 · How hard to pull
#
# The chapter's $\lambda$ is 1.5; the paper's is 0.5.

# %% tags=["nbval-ignore-output"]
for weight in (0.5, 1.5, 4.0):
    score = distance(fit(teacher, weight=weight))
    print(f"λ = {weight:3.1f}: Fréchet distance {score:.3f}   (baseline {baseline:.3f})")

# %% [markdown]
# **What we measured** (`cpu`, seed 0, 300 steps, one measurement each; baseline 2.670). The harder the
# pull, the lower the distance: λ = 0.5 gives 2.460, 1.5 gives 2.301, 4 gives 1.934. One seed: the steps
# between neighbours (0.16 to 0.37) are of the size the chapter's seeds move a paired difference, so the
# order is a hint, not a finding; that every λ beats the baseline agrees with the chapter's three seeds.
#
# ## 2 · Where to align

# %% tags=["nbval-ignore-output"]
for block in (1, 3):
    score = distance(fit(teacher, block=block))
    print(f"after block {block} of 4: Fréchet distance {score:.3f}   (block 2: see above)")

# %% [markdown]
# **What we measured** (`cpu`, seed 0): after block 1, 2.467; after block 2 (above), 2.301; after block 3,
# 2.159. Later is a little better here, by less than the seeds move these numbers: inconclusive. With 4
# blocks, "a third of the way" (the paper's rule) is block 1 or 2, and block 3 leaves one block to turn
# what the tokens learnt into the prediction.
#
# ## 3 · Is it the knowledge?
#
# An untrained segmenter (random weights, BatchNorm statistics from nothing) still gives one 64-number
# vector per patch, and they still depend on the picture: colours and edges through random filters.

# %% tags=["nbval-ignore-output"]
torch.manual_seed(0)
untrained = judge.build(judge.CONFIG).eval()
score = distance(fit(make_teacher(untrained)))
print(f"untrained teacher: Fréchet distance {score:.3f}   (baseline {baseline:.3f})")

# %% [markdown]
# **What we measured** (`cpu`, seed 0): the untrained teacher gives 2.299, the trained one (λ = 1.5, above)
# 2.301: **the same**. At this scale the gain does not come from what the teacher knows: asking the tokens
# to predict *any* rich per-patch description of the clean picture, even random filters of it, helps the
# DiT as much. That is a real limit of this reproduction: the paper's argument is about semantic features
# from a strong encoder, which our landscapes (eight kinds of stuff, no objects) barely need. The
# chapter's claim, fewer steps to the target, holds; its explanation is not shown here.
#
# ## 4 · When the map says it all
#
# Chapter 09's task: the same tiny DiT told the map, 10 % of maps dropped. Measured by the judge's pixel
# agreement between maps and pictures (10 Heun steps, as chapter 09) and by the distance.

# %% tags=["nbval-ignore-output"]
_, test_maps = scenes.sample(N_SAMPLES, 32, generator=torch.Generator().manual_seed(12))
for name, use in (("without REPA", None), ("with REPA", teacher)):
    model = fit(use, map_channels=len(scenes.CLASSES))
    pictures = drawing.paint(model, test_maps)
    agreement = judge.pixel_agreement(pictures, test_maps, ruler)
    fd = frechet_distance(judge.features(pictures, ruler), real_features)
    print(f"with maps, {name:12s}: pixel agreement {agreement.mean():.4f} ± "
          f"{agreement.std() / len(agreement) ** 0.5:.4f}, Fréchet distance {fd:.3f}")  # fmt: skip

# %% [markdown]
# **What we measured** (`cpu`, seed 0, 256 maps): with maps, REPA still helps a little: pixel agreement
# 0.9822 ± 0.0005 against 0.9806 ± 0.0006 (about three standard errors), distance 0.340 against 0.377.
# The map tells each token its class, yet the texture and detail the teacher's features also describe
# are still there to teach. One seed: small and suggestive, not settled.

# %% tags=["nbval-ignore-output"]
print(minidiff.run_summary())
