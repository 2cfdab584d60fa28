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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minidiff-course/minidiff/blob/v0.1.0/solutions/10_tread.ipynb)

# %% [markdown]
# # 10 · TREAD: solutions
#
# Worked answers to the exercises of chapter 10. Every run here trains the chapter's DiT (8 blocks of
# width 128, the drawing task) for the same wall time, `SECONDS` of training on this machine, from the
# same initial weights and data for a seed, and is measured by the chapter's validation loss (the
# v-loss on 256 fixed held-out scenes, noise draws and times) with its EMA weights, sampled dense. Means
# ± the standard deviation over `SEEDS`.
#
# **Run time:** `quick` < 1 min (CI, 2 CPU cores) · `cpu` ≤ 9 min on a 2-core laptop CPU ·
# `gpu` ≈ 10 min on a Colab T4 (estimated, not measured).
#
# **Stored outputs:** budget `cpu`, CPU x86_64 (2 cores), 7.1 min from kernel start to the last cell.

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
from minidiff import count, flow, pick, tread
from minidiff.data import scenes
from minidiff.dit import DiT, DiTConfig
from minidiff.judges import scenes as judge
from minidiff.recipes import drawing
from minidiff.train import TrainConfig, train

CONFIG = DiTConfig(depth=8, width=128, heads=4, image_size=32, patch=4, map_channels=len(scenes.CLASSES))
BATCH = pick(quick=8, cpu=32, gpu=128)
SECONDS = pick(quick=1.5, cpu=40, gpu=120)
SEEDS = pick(quick=[0], cpu=[0, 1], gpu=[0, 1, 2])
held_out = scenes.sample(256, 32, generator=torch.Generator().manual_seed(5_000))
held_noise = torch.randn(256, 3, 32, 32, generator=torch.Generator().manual_seed(5_001))
held_t = (torch.arange(256) + 0.5) / 256


@torch.no_grad()
def validation_loss(model, route=None):
    """The chapter's validation loss; with a route, of the routed pass (a fixed draw of kept tokens)."""
    fn = model if route is None else tread.routed(model, route, torch.Generator().manual_seed(0))
    loss, _ = drawing.loss_fn(fn, held_out, p_drop=0.0, t=held_t, noise=held_noise)
    return loss.mean().item()


def fit(route, seed):
    """A fresh DiT trained (routed if route is given) for SECONDS of training → (EMA model, history)."""
    torch.manual_seed(seed)
    model = DiT(CONFIG)

    def loss_fn(model, batch):
        return drawing.loss_fn(model if route is None else tread.routed(model, route), batch)

    cfg = TrainConfig(steps=1_000_000, batch_size=BATCH, lr=1e-3, warmup=50, ema_decay=0.995, seed=seed,
                      log_every=25, time_limit=SECONDS, progress=False)  # fmt: skip
    history = train(model, loss_fn, drawing.data, cfg)
    return history.ema, history


def spread(values):
    values = torch.tensor(values, dtype=torch.float64)
    return f"{values.mean():.4f} ± {values.std():.4f}" if len(values) > 1 else f"{values.mean():.4f}"


# %% [markdown]
# ## 1 · Keep more, keep less
#
# The share of tokens kept sets how much the middle blocks compute. Dense is `keep = 1`; the chapter's
# route keeps 0.5. Each arm trains for the same `SECONDS`:

# %% tags=["nbval-ignore-output"]
arms = {"dense": None, **{f"keep {keep:g}": tread.Route(keep=keep) for keep in (0.75, 0.5, 0.25)}}
runs = {name: [fit(route, seed) for seed in SEEDS] for name, route in arms.items()}
print(f"{'':10s} {'token passes':>12s} {'steps':>6s} {'ms a step':>9s}   validation loss at {SECONDS:g} s")
for name, route in arms.items():
    active = tread.active_tokens(CONFIG.depth, CONFIG.tokens, route)
    steps = [history.steps[-1] for _, history in runs[name]]
    ms = [1_000 * history.wall_time / history.steps[-1] for _, history in runs[name]]
    losses = [validation_loss(model) for model, _ in runs[name]]
    print(f"{name:10s} {sum(active) / (CONFIG.depth * CONFIG.tokens):12.1%} {sum(steps) / len(steps):6.0f} "
          f"{sum(ms) / len(ms):9.1f}   {spread(losses)}")  # fmt: skip

# %% [markdown]
# **What we measured** (`cpu`, 40 s of training each, seeds 0 and 1). The fewer tokens kept, the cheaper
# the step (212 ms dense, 171 / 159 / 128 ms keeping 0.75 / 0.5 / 0.25) and the more steps fit in the
# time (190, 234, 252, 312). In this short race every routed arm beats dense by far more than the seed
# spread (validation loss 0.2702 ± 0.0014 dense, 0.2151 ± 0.0041, 0.2045 ± 0.0016, 0.1791 ± 0.0009), and
# keeping a quarter wins. This is early training, where more updates is what counts; the paper keeps
# half because, trained long, a model that sees too few tokens per step learns less from each. A longer
# run (the `gpu` budget) is where to look for the turn.
#
# ## 2 · The weak pass
#
# Run the trained models routed (blocks 1-6 on a random half of the tokens) instead of dense, and see
# how much worse the validation loss gets, for the model trained with routing and for the one trained
# dense. Then the pictures: the judge's pixel agreement of 10-step samples from 64 maps, dense and routed.

# %% tags=["nbval-ignore-output"]
ROUTE = tread.Route()
N_MAPS = count(quick=8, cpu=64, gpu=256)
_, maps = scenes.sample(N_MAPS, 32, generator=torch.Generator().manual_seed(7))
noise = torch.randn(N_MAPS, 3, 32, 32, generator=torch.Generator().manual_seed(11))
ruler = judge.RECIPE.load(device="cpu")


def paint(model, route):
    generator = torch.Generator().manual_seed(0)

    def fn(xt, t):
        return tread.forward(model, xt, t, maps=maps, route=route, generator=generator)

    pictures = flow.heun(fn, noise, drawing.SAMPLE_STEPS, pred="x").clamp(-1, 1)
    return judge.pixel_agreement(pictures, maps, ruler).mean().item()


print(f"{'':20s} {'loss dense':>10s} {'loss routed':>11s}   agreement dense   agreement routed")
for name in ("dense", "keep 0.5"):
    model = runs[name][0][0]
    print(f"trained {name:12s} {validation_loss(model):10.4f} {validation_loss(model, ROUTE):11.4f}   "
          f"{paint(model, None):15.4f}   {paint(model, ROUTE):.4f}")  # fmt: skip

# %% [markdown]
# **What we measured** (`cpu`, seed 0). The dense-trained model run routed falls apart: its validation
# loss more than doubles (0.2692 → 0.5895) and its pictures follow their maps less (agreement 0.9539 →
# 0.9288). The TREAD-trained model barely notices (0.2034 → 0.2129; 0.9726 → 0.9652): every one of its
# training steps went through exactly that pass, so for it the routed pass is a slightly weaker copy of
# the same model rather than a broken one. That is what self-guidance needs: a prediction a little worse
# than the dense one, in the same direction, to steer away from.
#
# ## 3 · Where to route
#
# `Route(2, 6)` routes four blocks instead of six: two full blocks before the route and two after.

# %% tags=["nbval-ignore-output"]
narrow = tread.Route(2, 6)
narrow_runs = [fit(narrow, seed) for seed in SEEDS]
for name, route, these in (("blocks 1-6", ROUTE, runs["keep 0.5"]), ("blocks 2-5", narrow, narrow_runs)):
    active = tread.active_tokens(CONFIG.depth, CONFIG.tokens, route)
    steps = [history.steps[-1] for _, history in these]
    losses = [validation_loss(model) for model, _ in these]
    print(f"{name}: {sum(active) / (CONFIG.depth * CONFIG.tokens):.1%} of the token passes, "
          f"{sum(steps) / len(steps):.0f} steps in {SECONDS:g} s, "
          f"validation loss {spread(losses)}")  # fmt: skip

# %% [markdown]
# **What we measured** (`cpu`, 40 s, seeds 0 and 1). Routing four blocks instead of six does more work
# per step (75 % of the token passes instead of 62.5 %), so fewer steps fit (216 instead of 252), and the
# validation loss at equal time is worse (0.2332 ± 0.0055 against 0.2045 ± 0.0016): nothing is won in
# quality. The paper routes from the second block to the second-to-last of 28; at 8 blocks, one full
# block on each side is enough.

# %% tags=["nbval-ignore-output"]
print(minidiff.run_summary())
