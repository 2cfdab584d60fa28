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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minidiff-course/minidiff/blob/v0.1.0/chapters/08_x_prediction.ipynb)
# and its workbook, to write the `my_*` code yourself with checks: [![Open the workbook in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minidiff-course/minidiff/blob/v0.1.0/workbooks/08_x_prediction.ipynb)

# %% [markdown]
# # 08 · Predict the clean image: x-prediction
#
# Every model so far has output the velocity $v = x - \varepsilon$. Chapter 01 noted that a network may
# just as well output the clean image $x$ or the noise $\varepsilon$: each converts into the others, so one
# loss and one sampler serve all three. Li & He (2025, "Back to Basics: Let Denoising Generative Models
# Denoise", **JiT**) argue that the choice is not cosmetic. Natural images lie near a low-dimensional
# manifold; noise does not. A network asked for $\varepsilon$ or $v$ must reproduce a noise-like
# quantity in *every* dimension, while one asked for $x$ only needs the few dimensions the data uses.
# Their transformers on raw pixels, with patches of $16 \times 16 \times 3 = 768$ numbers per token, fail
# when they predict $\varepsilon$ or $v$ and work when they predict $x$ (with the loss still measured on
# velocities). This chapter measures that claim twice: in the paper's toy, and in chapter 07's DiT as its
# patches grow.
#
# **Run time:** `quick` < 1 min (CI, 2 CPU cores) · `cpu` ≤ 9 min on a 2-core laptop CPU ·
# `gpu` ≈ 15 min on a Colab T4 (estimated, not measured).
#
# **Stored outputs:** budget `cpu`, CPU x86_64 (2 cores), 7.8 min from kernel start to the last cell.

# %% [markdown]
# **You will:**
# 1. write the velocity that an x-, ε- or v-prediction implies (`my_to_v`) and the loss in v space
#    (`my_v_loss`), and check them,
# 2. see what each target looks like when the data fills 2 of $D$ dimensions,
# 3. reproduce JiT's toy: two moons in $D$ = 2 to 512 dimensions, one network of width 256, three targets,
# 4. repeat the comparison with a DiT whose patches outgrow its tokens, judged,
# 5. meet the logit-normal $t$ that JiT trains with.

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
import time

import matplotlib.pyplot as plt
import torch
from torch import nn

import minidiff
from minidiff import checks, count, flow, metrics, pick, plot
from minidiff.data import shapes, toy2d
from minidiff.dit import PRESETS, DiT, DiTConfig
from minidiff.judges import shapes as shapes_judge
from minidiff.train import TrainConfig, train

# %% [markdown]
# ## 1 · Three targets, one velocity
#
# On the straight path $x_t = t\,x + (1 - t)\,\varepsilon$ (chapter 01: $t = 0$ is noise, $t = 1$ data)
# the velocity is $v = x - \varepsilon$. Given $x_t$ and $t$, any one of $x$, $\varepsilon$, $v$ fixes the
# other two. Solving for $v$:
#
# $$\hat v = \frac{\hat x - x_t}{1 - t} \;\text{ from a predicted clean image } \hat x, \qquad
#   \hat v = \frac{x_t - \hat\varepsilon}{t} \;\text{ from a predicted noise } \hat\varepsilon.$$
#
# Both divide by something that reaches 0 at one end of the path: $1 - t$ at the data end, $t$ at the
# noise end. The package clamps the divisor at $1 - t_{\max}$ (`flow.to_v(..., t_max)`: 0.999 when
# sampling, 0.95 in the loss as JiT does). Write the conversion:


# %% tags=["exercise"]
def my_to_v(out, pred, xt, t, t_max=0.95):
    """v implied by out: "v" as is, "x" (out - xt) / (1 - t), "eps" (xt - out) / t; divisors >= 1 - t_max."""
    s = t.reshape(-1, *[1] * (xt.ndim - 1))  # (B,) -> (B, 1, ...) to broadcast over points or images
    if pred == "x":
        return (out - xt) / (1 - s).clamp_min(1 - t_max)
    if pred == "eps":
        return (xt - out) / s.clamp_min(1 - t_max)
    return out


checks.check_to_v(my_to_v)

# %% [markdown]
# **The loss in v space.** Whatever the network outputs, JiT converts it to a velocity and compares it
# with $v = x - \varepsilon$: the same loss as chapter 01, so the three parametrisations differ only in
# what the network is asked to produce. For x-prediction it is an x-loss with a weight:
#
# $$\big\|\hat v - v\big\|^2 = \frac{\|\hat x - x\|^2}{(1 - t)^2},$$
#
# large near the data end, where a small error in $\hat x$ is a large error in the step the sampler takes.


# %% tags=["exercise"]
def my_v_loss(model, x, t, noise, pred):
    """mean((my_to_v(model(xt, t), pred, xt, t) - (x - noise)) ** 2), xt on the straight path."""
    xt = t.reshape(-1, *[1] * (x.ndim - 1)) * x + (1 - t.reshape(-1, *[1] * (x.ndim - 1))) * noise
    v_pred = my_to_v(model(xt, t), pred, xt, t)
    return ((v_pred - (x - noise)) ** 2).mean()


checks.check_v_loss(my_v_loss)

# %% [markdown]
# **Hand over.** `flow.flow_loss(model, x, pred="x")` is this loss (its `loss_space="v"` is the default;
# it also passes the target through the same clamp, so an exact prediction scores 0 even where the clamp
# bites), and `flow.euler(model, noise, steps, pred="x")` and `flow.heun` sample from any of the three.
#
# ## 2 · What the network is asked to draw
#
# JiT's toy makes the manifold exact. Take 2-D points (chapter 01's two moons) and place them in $D$
# dimensions with a
# fixed matrix whose two columns are orthonormal (`toy2d.embed`): the data lies on a plane, and
# `toy2d.project` takes it back. The noise fills all $D$ dimensions. The singular values of a batch of
# targets count the directions each target uses:

# %% tags=["nbval-ignore-output"]
TOY, D_DEMO = "moons", 32
generator = torch.Generator().manual_seed(0)
x = toy2d.embed(toy2d.sample(TOY, 2_000, generator=generator), D_DEMO)  # (2000, 32) on a plane
noise = torch.randn(x.shape, generator=generator)
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
for name, value in [("x (clean)", x), ("ε (noise)", noise), ("v = x - ε", x - noise)]:
    singular = torch.linalg.svdvals(value) / len(value) ** 0.5  # the spread along each principal direction
    ax.plot(range(1, D_DEMO + 1), singular.clamp_min(1e-8), "o-", ms=3, label=name)
ax.set(yscale="log", xlabel="direction (sorted)", ylabel="spread (singular value / √n)",
       title=f"the targets of 2,000 points in D = {D_DEMO}")  # fmt: skip
ax.legend(frameon=False)
plt.show()
used = {name: int((torch.linalg.svdvals(v) / len(v) ** 0.5 > 1e-3).sum())
        for name, v in [("x", x), ("eps", noise), ("v", x - noise)]}  # fmt: skip
print("directions with spread > 1e-3:", used)

# %% [markdown]
# The clean points use 2 directions; the noise and the velocity use all 32, with the same spread in each.
# A network's last layer writes its output as a combination of its last hidden features. For $x$, two
# combinations suffice at any $D$. For $\varepsilon$ or $v$ the network must rebuild the noise in all $D$
# directions from its input; once $D$ exceeds the network's width it cannot even represent that, and
# well before, it is a large part of what the network has to learn.
#
# ## 3 · JiT's toy: two moons in D dimensions
#
# The network is the paper's: a 5-layer ReLU MLP of width 256, outputting $D$ numbers; its input is
# $x_t$ and chapter 01's sine and cosine features of $t$. (The paper's data is a spiral; this network does
# not resolve its arms in a CPU budget even at $D = 2$, so we use the moons, which it draws.) For each
# $D \in \{2, 8, 32, 128, 512\}$ and each target we train it for `TOY_STEPS` steps from the same
# seed on the same batches, with the loss in v space, then sample `N_POINTS` points with Euler from the
# same noise. Two numbers per model:
#
# - **in the plane**: project the samples back to 2-D and measure the energy distance to fresh data
#   (chapter 01's ruler), beside the band of two data draws against each other;
# - **off the plane**: the mean distance from each sample to the data's plane. Data: 0; pure noise:
#   about $\sqrt{D - 2}$. In an image this would be the noise left in the picture.


# %% tags=["nbval-ignore-output"]
class ToyDenoiser(nn.Module):
    """JiT's toy network: a ReLU MLP (`depth` layers, `width` wide) on [xt, features of t] -> D numbers."""

    def __init__(self, dim, width=256, depth=5, t_dim=32):
        super().__init__()
        sizes = [dim + t_dim] + [width] * (depth - 1)
        layers = [layer for a, b in zip(sizes, sizes[1:]) for layer in (nn.Linear(a, b), nn.ReLU())]
        self.net = nn.Sequential(*layers, nn.Linear(width, dim))
        self.register_buffer("freqs", torch.logspace(0, 2, t_dim // 2))  # chapter 01: frequencies 1 to 100

    def forward(self, xt, t):
        angles = t[:, None] * self.freqs  # (B, t_dim / 2)
        return self.net(torch.cat([xt, angles.sin(), angles.cos()], dim=1))  # (B, D + t_dim) -> (B, D)


DIMS = (2, 8, 32, 128, 512)
PREDS = ("eps", "v", "x")
TOY_STEPS = count(quick=20, cpu=1_000, gpu=2_000)
TOY_SEEDS = count(quick=1, cpu=2, gpu=3)
N_POINTS = pick(quick=500, cpu=2_000, gpu=2_000)
reference = toy2d.sample(TOY, N_POINTS, generator=torch.Generator().manual_seed(1))
draws = [toy2d.sample(TOY, N_POINTS, generator=torch.Generator().manual_seed(100 + i))
         for i in range(count(quick=3, cpu=10, gpu=10))]  # fmt: skip
band = torch.tensor([metrics.energy_distance(draw, reference) for draw in draws])
band_low, band_median, band_high = band.quantile(torch.tensor([0.1, 0.5, 0.9], dtype=band.dtype)).tolist()
print(f"data vs data: energy distance {band_median:.4f} (10-90 %: {band_low:.4f}-{band_high:.4f}), "
      f"{N_POINTS} points each")  # fmt: skip


def train_toy(dim, pred, seed):
    """A ToyDenoiser for `dim` dimensions, trained with the v-loss on target `pred` (seed: weights, data)."""
    torch.manual_seed(seed)
    data = lambda batch_size, generator: toy2d.embed(toy2d.sample(TOY, batch_size, generator=generator), dim)
    cfg = TrainConfig(steps=TOY_STEPS, batch_size=256, lr=1e-3, ema_decay=None, seed=seed, progress=False)
    model = ToyDenoiser(dim)
    train(model, lambda model, x: flow.flow_loss(model, x, pred=pred), data, cfg, device="cpu")
    return model


def judge_toy(model, dim, pred):
    """Samples from fixed noise: (2-D projection, energy distance in the plane, mean distance off it)."""
    noise = torch.randn(N_POINTS, dim, generator=torch.Generator().manual_seed(2))
    samples = flow.euler(model, noise, 50, pred=pred)
    plane = toy2d.project(samples)  # (N, 2)
    off = (samples - toy2d.embed(plane, dim)).norm(dim=1).mean().item()
    return plane, metrics.energy_distance(plane, reference), round(off, 4)  # rounding: 1e-8 at D = 2 is 0


# %% tags=["nbval-ignore-output"]
from tqdm.auto import tqdm

toy, start = {}, time.perf_counter()
runs = [(dim, pred, seed) for seed in range(TOY_SEEDS) for dim in DIMS for pred in PREDS]
for dim, pred, seed in tqdm(runs, desc="toy models"):
    toy[dim, pred, seed] = judge_toy(train_toy(dim, pred, seed), dim, pred)
print(f"{len(runs)} models of {TOY_STEPS} steps in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# The two tables (one number per training seed, separated by "/"):


# %% tags=["nbval-ignore-output"]
def table(what, column, fmt, extra=None):
    print(f"{what:10s}" + "".join(f"{f'D = {dim}':>22s}" for dim in DIMS))
    for pred in PREDS:
        cells = [" / ".join(format(toy[dim, pred, s][column], fmt) for s in range(TOY_SEEDS)) for dim in DIMS]
        print(f"{pred + '-pred':10s}" + "".join(f"{cell:>22s}" for cell in cells))
    if extra:
        print(f"{extra[0]:10s}" + "".join(f"{format(value, fmt):>22s}" for value in extra[1]))


table("in plane", 1, ".3g", ("data 90 %", [band_high] * len(DIMS)))
print()
table("off plane", 2, ".3g", ("noise", [(dim - 2) ** 0.5 for dim in DIMS]))

# %% [markdown]
# And the samples of the first seed, projected back to the plane (grey: the data):

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(len(PREDS), len(DIMS), figsize=(11, 6.8), layout="constrained")
for row, pred in enumerate(PREDS):
    for col, dim in enumerate(DIMS):
        ax = axes[row, col]
        plane, energy, off = toy[dim, pred, 0]
        plot.scatter_2d(reference[:1_000], ax=ax, s=2, color="0.8", alpha=1)
        plot.scatter_2d(plane[:1_000], ax=ax, s=2, color="C3", alpha=0.6, lim=3)
        ax.set_title(f"{pred}-pred, D = {dim}\nenergy {energy:.3g}, off {off:.3g}", fontsize=8)
plt.show()

# %% [markdown]
# How far the samples end up from the data's plane, against the noise they started from:

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(6, 3.4), layout="constrained")
for pred in PREDS:
    mean_off = [sum(toy[dim, pred, s][2] for s in range(TOY_SEEDS)) / TOY_SEEDS for dim in DIMS[1:]]
    ax.plot(DIMS[1:], mean_off, "o-", label=f"{pred}-pred")
ax.plot(DIMS[1:], [(dim - 2) ** 0.5 for dim in DIMS[1:]], "k--", lw=1, label="the starting noise")
ax.set(xscale="log", yscale="log", xlabel="D", ylabel="mean distance off the plane",
       title="what is left off the data's plane after sampling")  # fmt: skip
ax.legend(frameon=False, fontsize=8)
plt.show()

# %% [markdown]
# **What we measured** (`cpu`, 1,000 steps per model, training seeds 0 / 1; two data draws differ by
# 0.0026, 0.0044 at the 90th percentile). The claim reproduces, each target failing in its own way:
#
# - **ε collapses first.** Already at $D = 2$ it is the worst (0.876 / 0.307: it divides by $t$, so its
#   first steps from pure noise are its weak point, chapter 01). From $D = 32$ its samples leave the frame
#   (energy 25.3 / 33.1) and end *further* from the plane (104 / 88.9) than the noise they started from
#   (5.48).
# - **v blurs, and keeps the noise.** In the plane its energy distance grows from 0.0134 / 0.0041 at
#   $D = 2$ to 0.0462 / 0.0432 at $D = 512$, and the figure shows the moons dissolving into a cloud from
#   $D = 32$ on. Off the plane it leaves 4.4 / 4.58 of the starting 11.2 at $D = 128$, and 19.5 of 22.6 at
#   $D = 512$: its samples are still mostly noise, which projecting back hides.
# - **x holds.** Off the plane it stays within 0.024 at every $D$; in the plane it scores 0.0078 to 0.0544
#   with no trend in $D$ (0.0088 / 0.0249 at $D = 512$, against v's 0.0462 / 0.0432).
#
# Below $D = 32$, v and x are within each other's seed spread (at $D = 8$, v 0.0322 / 0.0069 and x
# 0.0544 / 0.0318), and no model reaches the data band in 1,000 steps: x-prediction does not draw better
# moons, it keeps drawing them when the space around them grows.
#
# ## 4 · The same in pixels: patches that outgrow their tokens
#
# A DiT token is one $P \times P \times 3$ patch, embedded into the model's width (128 for the `tiny`
# preset) and read out again by the final layer. With $P = 2$ a patch holds 12 numbers, with $P = 4$ 48,
# with $P = 8$ 192: more than the token is wide. That is JiT's large-patch setting in miniature (their
# $16 \times 16 \times 3 = 768$ numbers per 768-wide token, and more). The shapes images are the manifold:
# flat background and a few coloured objects. We train the same DiT on shapes at each patch size, once
# predicting $v$ and once $x$ (both with the v-loss), for the same `SECONDS` each, and ask the shapes
# judge how many of `N_IMAGES` samples are well-formed.

# %% tags=["nbval-ignore-output"]
SIZE = 32
PATCHES = pick(quick=(4, 8), cpu=(4, 8), gpu=(2, 4, 8))
BATCH = pick(quick=16, cpu=32, gpu=128)
SECONDS = pick(quick=2, cpu=50, gpu=150)  # the wall time every model gets
N_IMAGES = count(quick=32, cpu=128, gpu=512)
SAMPLE_STEPS = pick(quick=3, cpu=10, gpu=25)
data = lambda batch_size, generator: shapes.sample(batch_size, SIZE, generator=generator)[0]
image_noise = torch.randn(N_IMAGES, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def fresh_dit(patch, seed=0):
    torch.manual_seed(seed)
    return DiT(DiTConfig(**PRESETS["tiny"], image_size=SIZE, patch=patch))


def race(patch, pred, t_dist="uniform", seed=0):
    """A tiny DiT trained for SECONDS on target `pred`; its EMA judged: (history, score, images)."""

    def loss_fn(model, x):  # JiT's logit-normal t: mean -0.8, std 0.8 (leaning towards the noise end)
        t = flow.sample_t(len(x), t_dist, mean=-0.8, std=0.8, device=x.device)
        return flow.flow_loss(model, x, pred=pred, t=t)

    cfg = TrainConfig(steps=count(quick=10_000, cpu=100_000, gpu=1_000_000), batch_size=BATCH, lr=1e-3,
                      warmup=100, ema_decay=0.995, seed=seed, time_limit=SECONDS, progress=False)  # fmt: skip
    history = train(fresh_dit(patch, seed), loss_fn, data, cfg)
    images = flow.heun(history.ema, image_noise.to(minidiff.device()), SAMPLE_STEPS, pred=pred)
    images = images.clamp(-1, 1).cpu()
    return history, shapes_judge.quality(images, bootstrap=100), images


def line(name, history, score):
    loss = torch.tensor(history.losses[-20:]).mean()  # the last 20 logged steps (v-loss: comparable)
    print(f"{name:22s} {history.steps[-1]:6d} steps, loss {loss:.4f}, well-formed "
          f"{score['well_formed']:.3f} ± {score['well_formed_std']:.3f}")  # fmt: skip


real = shapes_judge.quality(data(N_IMAGES, torch.Generator().manual_seed(2)), bootstrap=100)
print(f"real shapes: well-formed {real['well_formed']:.3f} ± {real['well_formed_std']:.3f}")
pixels = {}
for patch in PATCHES:
    for pred in ("v", "x"):
        pixels[patch, pred] = race(patch, pred)
        line(f"P = {patch} ({3 * patch * patch} numbers), {pred}", *pixels[patch, pred][:2])

# %% [markdown]
# Why no $P = 2$ on a CPU? It makes 256 tokens of a $32 \times 32$ image, and attention's cost grows with
# their square:

# %% tags=["nbval-ignore-output"]
for patch in (2, 4, 8):
    model, x0 = fresh_dit(patch), data(BATCH, torch.Generator().manual_seed(3))
    start = time.perf_counter()
    for _ in range(2):
        flow.flow_loss(model, x0.to(next(model.parameters()).device))[0].mean().backward()
    print(f"P = {patch}: {(SIZE // patch) ** 2:3d} tokens, {(time.perf_counter() - start) / 2:.3f} s per "
          f"training step of {BATCH} images on {minidiff.device().type}")  # fmt: skip

# %% [markdown]
# The samples, from the same noise (top to bottom: each patch size, v then x):

# %% tags=["nbval-ignore-output"]
rows = [pixels[patch, pred][2][:12] for patch in PATCHES for pred in ("v", "x")]
titles = ", ".join(f"P = {patch} {pred}" for patch in PATCHES for pred in ("v", "x"))
_ = plot.show_images(torch.cat(rows), nrow=12, scale=1.1, title=f"rows: {titles}")

# %% [markdown]
# **What we measured** (`cpu`, 50 s per model, one seed; spreads: the judge's bootstrap over 128
# samples). With $P = 4$ (48 numbers per patch, fewer than the token's 128) the two targets are
# indistinguishable: training loss 0.1055 (v) and 0.1044 (x), well-formed 0.086 ± 0.025 and
# 0.102 ± 0.024. With $P = 8$ (192 numbers) **v-prediction fails**: its loss stays at 0.4579 and its samples
# are coloured noise (well-formed 0.000); **x-prediction trains** (loss 0.1390, a third of v's) and draws
# objects on a clean background (0.047 ± 0.018: few whole shapes after 50 s, but no noise). The same
# network and the same loss; only the target differs. $P = 2$ costs 0.505 s a step here, 17 times
# $P = 8$'s 0.029 s, so in 50 s it would take about 100 steps: the `gpu` budget runs it.
#
# ## 5 · Where training spends its t: logit-normal
#
# JiT draws the training times from a **logit-normal** distribution, $t = \sigma(n)$ with
# $n \sim \mathcal N(-0.8, 0.8^2)$ (Esser et al. 2024 introduced it for SD3): most steps land at
# mid-to-noisy $t$, where the prediction is hardest, and few at the ends. Here is where each choice puts
# its training steps, and what the loss looks like along $t$ for the $P = 8$ x-prediction model above:

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained")
times = {"uniform": flow.sample_t(100_000, "uniform"),
         "logit-normal(-0.8, 0.8)": flow.sample_t(100_000, "logit_normal", mean=-0.8, std=0.8)}  # fmt: skip
for name, t in times.items():
    axes[0].hist(t.numpy(), bins=50, range=(0, 1), density=True, histtype="step", lw=1.5, label=name)
axes[0].set(xlabel="t (0 = noise, 1 = data)", ylabel="density", title="training times")
axes[0].legend(frameon=False, fontsize=8)
history = pixels[8, "x"][0]
plot.loss_by_t(history, ax=axes[1], title="P = 8 x-pred: v-loss by t")
plt.show()

# %% [markdown]
# Does it help here? The same $P = 8$ x-prediction DiT, trained for the same `SECONDS` with
# logit-normal $t$:

# %% tags=["nbval-ignore-output"]
logit_normal = race(8, "x", t_dist="logit_normal")
line("P = 8 x, uniform t", *pixels[8, "x"][:2])
line("P = 8 x, logit-normal t", *logit_normal[:2])
_ = plot.show_images(torch.cat([pixels[8, "x"][2][:12], logit_normal[2][:12]]), nrow=12, scale=1.1,
                     title="P = 8, x-pred: uniform t (top), logit-normal t (bottom)")  # fmt: skip

# %% [markdown]
# The loss along $t$ shows the v-loss's weighting at work: x-prediction's error counts $1/(1 - t)^2$
# times, so most of the loss sits in the last bins near the data, where uniform $t$ spends a tenth of its
# steps and the logit-normal far fewer.
#
# **What we measured** (`cpu`, 50 s each, one seed): well-formed 0.094 ± 0.029 with logit-normal $t$
# against 0.047 ± 0.018 with uniform $t$. The difference is 1.4 times its combined spread, from one
# training run each, and a run limited by time takes a different number of steps each time it is run:
# inconclusive at this scale. (The two loss values are not comparable: each is averaged over its own
# distribution of $t$.) JiT trains its ImageNet models with it; a run this short cannot tell whether it
# pays off at course scale.
#
# ## Exercises
#
# Worked solutions are in `solutions/08_x_prediction.ipynb`.
#
# 1. **ε in pixels.** Add ε-prediction to the patch race at $P = 4$ and $P = 8$. Where does it fail, and
#    how do its samples differ from v-prediction's?
# 2. **Is it the width?** The explanation above is capacity: the network is narrower than the noise it
#    must rebuild. At $D = 512$, widen the toy network to 1,024. Does v-prediction recover?
# 3. **A second seed.** At $P = 4$ v and x scored about the same. Train both again from another seed:
#    does the order hold?

# %% tags=["nbval-ignore-output"]
print(minidiff.run_summary())
