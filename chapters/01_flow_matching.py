# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minidiff-course/minidiff/blob/v0.1.0/chapters/01_flow_matching.ipynb)

# %% [markdown]
# # 01 · Flow matching: from noise to data in straight lines
#
# You will build, from scratch, the method that trains every generator in this course: **flow matching**
# with straight paths (*rectified flow*). On 2-D toy data you write the path, the velocity target, the
# loss, a training loop and two samplers (Euler and Heun), check each against the `minidiff` reference,
# then train a model, look at the velocity field it learned, and **measure** how close its samples come to
# the data as a function of the number of sampling steps. A short section sets the older DDPM recipe beside
# it, and the chapter ends by running the very same code on tiny 16×16 images.
#
# Reproduces: Lipman et al. 2023, *Flow Matching for Generative Modeling* and Liu et al. 2023, *Flow
# Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow* (the straight path), on
# 2-D toys; DDPM (Ho et al. 2020) is contrasted.
#
# Run time: `quick` ≈ 40 s (CI smoke test) · `cpu` ≈ 5 min on a 2-core laptop CPU (measured here) ·
# `gpu` ≈ 3 min on a Colab T4 (estimated, not measured).
#
# **Stored outputs:** budget `cpu`, CPU x86_64 (2 cores), 3.7 min.

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

# %%
import math

import matplotlib.pyplot as plt
import torch
from torch import nn

import minidiff
from minidiff import checks, pick, plot
from minidiff.data import toy2d

minidiff.seed_everything(0)

# %% [markdown]
# ## 1 · Generating is moving noise to data
#
# A generator turns something easy to sample — Gaussian noise — into something that looks like the data.
# Here the "data" is a 2-D cloud of points in the shape of two moons, and the noise is a standard normal
# cloud. Both are just sets of points in the plane; our job is to learn a way to **move** the left cloud
# onto the right one.

# %%
data_gen = torch.Generator().manual_seed(0)
data = toy2d.sample("moons", 2_000, generator=data_gen)  # (N, 2)
noise = torch.randn(2_000, 2, generator=data_gen)  # (N, 2)
print(data.shape, noise.shape)

fig, axes = plt.subplots(1, 2, figsize=(8, 4), layout="constrained")
plot.scatter_2d(noise, ax=axes[0], color="C1", lim=3, title="noise: N(0, I)")
plot.scatter_2d(data, ax=axes[1], lim=3, title="data: two moons")
plt.show()

# %% [markdown]
# ## 2 · The straight path (t = 0 is noise, t = 1 is data)
#
# Pick one data point $x$ and one noise point $\varepsilon$ (we write `noise` in code) and walk along the
# straight line between them:
#
# $$x_t = t\,x + (1 - t)\,\varepsilon, \qquad t \in [0, 1].$$
#
# > **The course convention, once and for all: t = 0 is noise, t = 1 is data.** Sampling runs t *upwards*,
# > from 0 to 1. Many papers (DDPM, and some flow papers) run time the other way; when you read them, flip
# > their t before comparing. Every `minidiff` function uses this convention.
#
# `t` is a tensor of shape `(B,)`, one time per example; reshape it so it broadcasts over the other
# dimensions — the same function must work for points `(B, 2)` and images `(B, C, H, W)`.


# %%
def my_interpolate(x, noise, t):
    t = t.reshape(-1, *[1] * (x.ndim - 1))  # (B,) -> (B, 1, ...) to broadcast over the rest
    return t * x + (1 - t) * noise


checks.check_interpolate(my_interpolate)  # runs check_time_convention first

# %% [markdown]
# Pair every noise point with a data point (at random — there is no "right" partner) and look at the whole
# cloud of $x_t$ at a few times. At $t = 0$ it is the Gaussian, at $t = 1$ the moons, and in between a blend
# of the two.

# %%
times = [0.0, 0.25, 0.5, 0.75, 1.0]
fig, axes = plt.subplots(1, len(times), figsize=(15, 3.3), layout="constrained")
for ax, t in zip(axes, times):
    xt = my_interpolate(data, noise, torch.full((len(data),), t))
    plot.scatter_2d(xt, ax=ax, lim=3, color=plt.get_cmap("viridis")(t), title=f"$x_t$ at t = {t}")
plt.show()

# %% [markdown]
# ## 3 · The velocity along the path
#
# Moving along the line at constant speed, the velocity is the same at every t:
#
# $$v = \frac{d x_t}{d t} = x - \varepsilon .$$
#
# It points **from the noise to the data** (t grows towards the data).


# %%
def my_velocity(x, noise):
    return x - noise


checks.check_velocity(my_velocity)

# %% [markdown]
# Here are 80 of those pairs, each joined by its straight line. Notice that the lines **cross**: a point
# halfway, say at the origin, lies on many lines that go to many different data points.

# %%
fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
plot.scatter_2d(data, ax=ax, color="0.85", alpha=1)  # the whole data set, faint
pairs = torch.stack([noise[:80], data[:80]], 1).numpy()  # (80, 2 ends, 2 coords)
for start, end in pairs:
    ax.plot(*zip(start, end), color="0.45", lw=0.6, alpha=0.7)
plot.scatter_2d(noise[:80], ax=ax, s=12, color="C1", alpha=1, label="noise (t = 0)")
plot.scatter_2d(data[:80], ax=ax, s=12, color="C0", alpha=1, label="data (t = 1)", lim=3.2)
ax.legend(loc="lower left", fontsize=8)
plt.show()

# %% [markdown]
# ## 4 · Why regressing on these velocities works
#
# To *generate*, we want a velocity **field** $u(x_t, t)$ that we can follow from fresh noise, without
# knowing which data point we are heading to. Where lines cross, the sensible direction is the average of the
# directions of all the pairs that pass through that point:
#
# $$u(x_t, t) = \mathbb{E}\left[\, x - \varepsilon \;\middle|\; x_t \,\right].$$
#
# We cannot compute this average, but we do not have to. Train a network $v_\theta$ by plain regression
# onto the per-pair ("conditional") velocity:
#
# $$\mathcal{L}(\theta)
# = \mathbb{E}_{t,\,x,\,\varepsilon}\, \big\| v_\theta(x_t, t) - (x - \varepsilon) \big\|^2
# = \mathbb{E}_{t,\,x_t}\, \big\| v_\theta(x_t, t) - u(x_t, t) \big\|^2 + \text{const}.$$
#
# The equality is the bias–variance split of a squared error (the minimiser of $\mathbb{E}\|f - Y\|^2$ is
# $\mathbb{E}[Y]$), and the constant does not depend on $\theta$: so the loss is minimised exactly by the
# average field $u$ (Lipman et al. 2023, Theorem 2). Following $u$ from $t = 0$ to $t = 1$ carries the *whole
# noise distribution* onto the *whole data distribution* (Liu et al. 2023), even though individual
# trajectories are no longer the straight lines we trained on.
#
# Two consequences to remember: the loss **never reaches zero** (the constant is the spread of the
# directions at a crossing), and a low loss is not the goal in itself — good samples are.

# %% [markdown]
# ## 5 · A velocity network
#
# The network takes a point $x_t$ (2 numbers) and a time $t$ and returns a velocity (2 numbers). An MLP is
# plenty in 2-D. To make $t$ easy to use, we feed it as a few sines and cosines of different frequencies (a
# small *sinusoidal embedding*, as in transformers) concatenated to $x_t$.


# %%
def time_features(t, dim=32, max_freq=100.0):
    """(B,) -> (B, dim): sin and cos of t at frequencies from 1 to max_freq (geometric)."""
    freqs = torch.exp(torch.linspace(0, math.log(max_freq), dim // 2, device=t.device))
    angles = t[:, None] * freqs[None]  # (B, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class VelocityMLP(nn.Module):
    """v(xt, t) for points (B, D): an MLP on [xt, time_features(t)] with SiLU activations."""

    def __init__(self, dim=2, hidden=256, depth=3, t_dim=32):
        super().__init__()
        self.t_dim = t_dim
        layers = [nn.Linear(dim + t_dim, hidden), nn.SiLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.SiLU()]
        self.net = nn.Sequential(*layers, nn.Linear(hidden, dim))

    def forward(self, xt, t):
        return self.net(torch.cat([xt, time_features(t, self.t_dim)], dim=1))


# %%
minidiff.seed_everything(0)
model = VelocityMLP()
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
print(model(data[:4], torch.rand(4)).shape)  # same shape as xt

# %% [markdown]
# ## 6 · The flow-matching loss
#
# One line per symbol of $\mathcal{L}$: build $x_t$, ask the model for $v_\theta(x_t, t)$, compare with
# $x - \varepsilon$. The check passes `t` and `noise` in, so it can compare your number with the reference's.


# %%
def my_loss(model, x, t, noise):
    xt = my_interpolate(x, noise, t)  # x_t = t x + (1 - t) noise
    v_pred = model(xt, t)  # v_theta(x_t, t)
    return ((v_pred - my_velocity(x, noise)) ** 2).mean()  # || v_theta - (x - noise) ||^2


checks.check_flow_loss(my_loss)

# %% [markdown]
# ## 7 · A training loop you can read
#
# Each step: draw a batch of data, fresh noise and a uniform $t \sim U[0, 1]$ per example, then the four
# lines every PyTorch loop has. (The sizes come from `pick`, so the CI run is tiny.)

# %% tags=["nbval-ignore-output"]
scratch_steps = pick(quick=100, cpu=1_000, gpu=2_000)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
scratch_losses = []
for _ in range(scratch_steps):
    x = toy2d.sample("moons", 256, generator=data_gen)
    noise_batch, t = torch.randn_like(x), torch.rand(len(x))
    loss = my_loss(model, x, t, noise_batch)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scratch_losses.append(loss.item())
print(f"{scratch_steps} steps, last loss {sum(scratch_losses[-50:]) / 50:.3f} (mean of 50)")

# %% tags=["nbval-ignore-output"]
_ = plot.loss_curve(scratch_losses, title="scratch loop: flow-matching loss")

# %% [markdown]
# The loss falls fast and then flattens well above zero: that floor is the "const" of section 4, the
# disagreement between crossing lines, not a failure to learn.
#
# ## 8 · Sampling: follow the field from t = 0 to t = 1
#
# A trained $v_\theta$ defines an ordinary differential equation $\frac{d x_t}{dt} = v_\theta(x_t, t)$.
# Start at noise $x_0 = \varepsilon$ and integrate to $t = 1$. The simplest integrator, **Euler**, takes
# `steps` equal steps of size $\Delta t = 1/\text{steps}$ on the grid $t_i = i/\text{steps}$:
#
# $$x_{t_{i+1}} = x_{t_i} + \Delta t\; v_\theta(x_{t_i}, t_i).$$
#
# The model wants `t` as a tensor of shape `(B,)`: `torch.full((B,), t)`. No gradients are needed.


# %%
@torch.no_grad()
def my_euler(model, noise, steps):
    xt, dt = noise, 1 / steps
    for i in range(steps):
        t = torch.full((len(xt),), i / steps)
        xt = xt + dt * model(xt, t)
    return xt


checks.check_euler(my_euler)

# %% [markdown]
# **Heun** (the trapezoid rule) looks one Euler step ahead and averages the slope there with the slope here:
#
# $$\tilde x = x_{t_i} + \Delta t\, v_i, \qquad
# x_{t_{i+1}} = x_{t_i} + \Delta t\, \tfrac{1}{2}\big(v_i + v_\theta(\tilde x, t_{i+1})\big),
# \qquad v_i = v_\theta(x_{t_i}, t_i).$$
#
# It is second-order accurate (error $\propto \Delta t^2$ instead of $\Delta t$) but calls the model twice
# per step. Like EDM (Karras et al. 2022) we make the **last** step a plain Euler step — it saves a call,
# and in later chapters the slope at exactly $t = 1$ can be undefined. So Heun with `steps` steps costs
# $\text{NFE} = 2\cdot\text{steps} - 1$ network function evaluations; Euler costs `steps`.


# %%
@torch.no_grad()
def my_heun(model, noise, steps):
    xt, dt = noise, 1 / steps
    for i in range(steps):
        t, t_next = torch.full((len(xt),), i / steps), torch.full((len(xt),), (i + 1) / steps)
        v = model(xt, t)
        x_euler = xt + dt * v
        xt = x_euler if i == steps - 1 else xt + dt * (v + model(x_euler, t_next)) / 2
    return xt


checks.check_heun(my_heun)

# %% [markdown]
# Our scratch model, sampled with our scratch Heun from fresh noise (at the `quick` budget it has barely
# trained; at `cpu` it already draws two moons):

# %%
sample_noise = torch.randn(2_000, 2, generator=torch.Generator().manual_seed(1))
fig, axes = plt.subplots(1, 2, figsize=(8, 4), layout="constrained")
plot.scatter_2d(data, ax=axes[0], lim=3, title="data")
scratch_samples = my_heun(model, sample_noise, 16)
plot.scatter_2d(scratch_samples, ax=axes[1], color="C2", lim=3, title="scratch model, Heun 16")
plt.show()

# %% [markdown]
# ## 9 · Hand-over: the package versions
#
# Everything you just wrote exists in `minidiff.flow`, checked against your code above:
#
# | yours | package |
# |---|---|
# | `my_interpolate`, `my_velocity` | `flow.interpolate`, `flow.velocity` |
# | `my_loss` | `flow.flow_loss(model, x)` → (loss per example `(B,)`, `t` `(B,)`); draws `t`, noise |
# | `my_euler`, `my_heun` | `flow.euler`, `flow.heun` (+ `return_path=True` for the whole trajectory) |
#
# The loop becomes `minidiff.train.train`: the same zero_grad → loss → backward → step, plus gradient
# clipping, a progress bar, a live loss plot, and an **EMA** (exponential moving average) copy of the
# weights, `history.ema`. We sample from the EMA copy: averaging the last few hundred steps' weights irons out
# the noise of SGD, and you will see below how much that matters.

# %%
from minidiff import flow, live, metrics
from minidiff.train import TrainConfig, train

train_steps = pick(quick=150, cpu=3_000, gpu=6_000)
cfg = TrainConfig(steps=train_steps, batch_size=1024, lr=1e-3, ema_decay=0.999, log_every=25)
minidiff.seed_everything(0)
model = VelocityMLP()


def moons(batch_size, generator):  # data for train(): a fresh batch every step
    return toy2d.sample("moons", batch_size, generator=generator)


def loss_fn(model, x):
    return flow.flow_loss(model, x)  # (loss (B,), t (B,)): train() logs loss by t


# %% tags=["nbval-ignore-output"]
history = train(model, loss_fn, moons, cfg, device="cpu", live=live.LivePlot(title="moons"))
ema = history.ema
print(f"{train_steps} steps in {history.wall_time:.0f} s")

# %% [markdown]
# The right panel bins the loss by $t$ (a habit borrowed from minRF). The floor of section 4 depends on $t$.
# For standard Gaussian data it can be worked out exactly: $\operatorname{Var}[x - \varepsilon \mid x_t] =
# 1 / (t^2 + (1-t)^2)$ per coordinate — 1 at both ends (at $t = 0$ the model cannot know which data point, at
# $t = 1$ which noise) and 2 in the middle, where it must split $x_t$ into its two parts. Real data with
# structure can be split better than a Gaussian of the same spread, so the bars should sit **below** that
# dashed curve; where they do not, the model has not finished learning.

# %%
fig = plot.training_summary(history)
t_grid = torch.linspace(0, 1, 101)
fig.axes[1].plot(t_grid, 1 / (t_grid**2 + (1 - t_grid) ** 2), "k--", lw=1, label="floor for Gaussian data")
fig.axes[1].legend(fontsize=8, loc="lower center")
plt.show()

# %% [markdown]
# ## 10 · Look at what it learned
#
# The learned velocity field at a few times (the data in grey). Early on, every arrow points roughly towards
# the middle of the data; later the field splits and pulls points onto the two moons.

# %%
fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.5), layout="constrained")
for ax, t in zip(axes, [0.0, 0.5, 0.9]):
    plot.vector_field(ema, t, ax=ax, lim=2.5, data=data)
plt.show()

# %% [markdown]
# Drag the slider to scrub through $t$ (in a live notebook; a static picture at $t = 0.7$ elsewhere):

# %% tags=["nbval-ignore-output"]
live.slider(lambda t: plot.vector_field(ema, t, lim=2.5, data=data), "t", 0.0, 1.0, 0.05, value=0.7)

# %% [markdown]
# Now the trajectories themselves: 200 noise points followed with Euler for 32 steps, coloured by $t$. They
# start at the dots on the left of the colour map and end on the moons. The paths are *curved*: the average
# field $u$ bends where the straight training lines crossed.

# %%
path = flow.euler(ema, sample_noise, 32, return_path=True)  # (steps + 1, N, 2)
print(path.shape)
fig, axes = plt.subplots(1, 2, figsize=(9, 4.6), layout="constrained")
plot.trajectories_2d(path, data=data, ax=axes[0], n=200, lim=3)
plot.scatter_2d(data, ax=axes[1], color="0.7", alpha=0.6, label="data")
plot.scatter_2d(path[-1], ax=axes[1], color="C2", alpha=0.6, label="samples (Euler 32)", lim=3)
axes[1].legend(loc="lower left", fontsize=8, markerscale=3)
plt.show()

# %% [markdown]
# ## 11 · Measure it: distance to the data versus sampling steps
#
# "Looks right" is not a number. The **energy distance** between two point sets $A$ and $B$,
#
# $$\mathrm{ED}(A, B) = 2\,\mathbb{E}\|a - b\| - \mathbb{E}\|a - a'\| - \mathbb{E}\|b - b'\| ,$$
#
# is zero only when the two distributions are equal (Székely & Rizzo 2013). With finite samples it is a bit
# above zero even for two independent draws of the same distribution, so we print that **data-vs-data
# baseline** beside every number: a sampler is as good as we can measure when its distance is within a small
# factor of the baseline.

# %% tags=["nbval-ignore-output"]
n_eval = pick(quick=500, cpu=4_000, gpu=5_000)
eval_gen = torch.Generator().manual_seed(123)
real_a = toy2d.sample("moons", n_eval, generator=eval_gen)
real_b = toy2d.sample("moons", n_eval, generator=eval_gen)  # an independent second draw
eval_noise = torch.randn(n_eval, 2, generator=eval_gen)
baseline = metrics.energy_distance(real_a, real_b)
print(f"data vs data baseline ({n_eval} points each): {baseline:.5f}")

# %% tags=["nbval-ignore-output"]
steps_list = [1, 2, 4, 8, 16, 32, 64]
rows = []
print(f"{'steps':>5} | {'Euler NFE':>9} {'ED':>8} {'×base':>6} | {'Heun NFE':>8} {'ED':>8} {'×base':>6}")
for steps in steps_list:
    ed_euler = metrics.energy_distance(flow.euler(ema, eval_noise, steps), real_a)
    ed_heun = metrics.energy_distance(flow.heun(ema, eval_noise, steps), real_a)
    rows.append((steps, ed_euler, ed_heun))
    print(f"{steps:>5} | {steps:>9} {ed_euler:>8.5f} {ed_euler / baseline:>6.1f} | "
          f"{2 * steps - 1:>8} {ed_heun:>8.5f} {ed_heun / baseline:>6.1f}")  # fmt: skip

# %% [markdown]
# The same table as curves, once against the number of **steps** and once against the real cost, the number
# of **network evaluations (NFE)**. The dashed line is the data-vs-data baseline.

# %% tags=["nbval-ignore-output"]
steps_arr = torch.tensor([r[0] for r in rows], dtype=torch.float)
ed_e, ed_h = [r[1] for r in rows], [r[2] for r in rows]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
panels = [
    (steps_arr, steps_arr, "sampling steps"),
    (steps_arr, 2 * steps_arr - 1, "NFE (network evaluations)"),
]
for ax, (x_euler, x_heun, label) in zip(axes, panels):
    ax.loglog(x_euler, ed_e, "o-", label="Euler")
    ax.loglog(x_heun, ed_h, "s-", label="Heun")
    ax.axhline(baseline, color="k", ls="--", lw=1, label="data vs data")
    ax.set(xlabel=label, ylabel="energy distance to data")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Read the claim off the printout below, computed from the table: the best sampler's distance as a multiple
# of the baseline, and a fair comparison at (nearly) equal cost — Heun with $s$ steps (NFE $2s-1$) against
# Euler with $2s$ steps (NFE $2s$, one more evaluation than Heun).

# %% tags=["nbval-ignore-output"]
ratio_euler, ratio_heun = rows[-1][1] / baseline, rows[-1][2] / baseline
print(f"{steps_list[-1]} steps: Euler {ratio_euler:.2f}× baseline, Heun {ratio_heun:.2f}× baseline")
print("within 2× of the data-vs-data baseline:", min(ratio_euler, ratio_heun) < 2)
by_steps = {r[0]: r for r in rows}
for steps in [2, 4, 8, 16, 32]:
    heun_ed, euler_ed = by_steps[steps][2], by_steps[2 * steps][1] if 2 * steps in by_steps else None
    if euler_ed is not None:
        print(f"NFE ≈ {2 * steps:>2}: Heun {steps:>2} steps {heun_ed / baseline:6.1f}× | "
              f"Euler {2 * steps:>2} steps {euler_ed / baseline:6.1f}×")  # fmt: skip

# %% [markdown]
# What to take from it:
#
# - **Both samplers converge** to the same distribution as steps grow; with enough steps the distance is a
#   small multiple of the data-vs-data baseline — at the baseline the measurement cannot tell samples from
#   real data any more.
# - **One step is not enough.** A single Euler step lands every point at $\varepsilon + u(\varepsilon, 0)$,
#   roughly the *mean* of the data: the curved trajectories above need several steps. (Chapter 14 trains
#   models that work in 1–4 steps.)
# - **At equal cost**, compare the rows of the last printout, not the rows of the table: Heun's per-step
#   advantage is partly paid for by its second evaluation. At the very smallest budget (NFE ≈ 4) Heun is not
#   ahead — with 2 steps, its second step is plain Euler, so half of the path is integrated to first order
#   only. From NFE ≈ 8 on it wins clearly, and the two meet once both have converged.
#
# And the EMA claim from section 9, one line: the raw (last-step) weights against their average.

# %% tags=["nbval-ignore-output"]
for name, net in [("raw weights", model), ("EMA weights", ema)]:
    ed = metrics.energy_distance(flow.heun(net, eval_noise, 32), real_a)
    print(f"{name:>11}: Heun 32 steps, {ed / baseline:5.1f}× baseline")

# %% [markdown]
# ## 12 · The same idea, another path: DDPM in one cell
#
# Denoising diffusion (Ho et al. 2020, *Denoising Diffusion Probabilistic Models*) came first and is built
# from the same parts with different choices:
#
# | | flow matching (this course) | DDPM |
# |---|---|---|
# | time | $t \in [0, 1]$, **0 = noise**, 1 = data | step $k = 0 \dots T$ ($T = 1000$), **0 = data** |
# | path |$x_t = tx + (1-t)\varepsilon$ | $x_k = \sqrt{\bar\alpha_k} x + \sqrt{1-\bar\alpha_k} \varepsilon$|
# | target | velocity $x - \varepsilon$ | the noise $\varepsilon$ ("ε-prediction") |
# | sampler | a deterministic ODE, ~10–50 steps | $T$ stochastic (ancestral) steps, fresh noise each |
#
# with $\bar\alpha_k = \prod_{s \le k} (1 - \beta_s)$ for a *noise schedule* $\beta_1, \dots, \beta_T$.
#
# DDPM's **time runs the other way**: its $k$ counts *noising* steps, so $k = 0$ is the data and $k = T$ the
# noise. To draw both on one axis, map DDPM step $k$ to our time $t = 1 - k/T$. The schedule is DDPM's linear
# $\beta_k$ from $10^{-4}$ to $0.02$. DDPM keeps $\text{signal}^2 + \text{noise}^2 = 1$ ("variance
# preserving"), flow matching keeps $\text{signal} + \text{noise} = 1$; and DDPM's last step is not pure
# noise ($\bar\alpha_T > 0$, printed below).

# %%
T = 1_000
betas = torch.linspace(1e-4, 0.02, T)  # Ho et al. 2020, linear schedule
alpha_bar = torch.cumprod(1 - betas, 0)  # alpha_bar[k - 1] for steps k = 1..T
t_ddpm = 1 - torch.arange(1, T + 1) / T  # DDPM step k -> our t (t = 0 noise, t = 1 data)
t_flow = torch.linspace(0, 1, 101)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
axes[0].plot(t_flow, t_flow, "C0", label="flow: signal $t$")
axes[0].plot(t_flow, 1 - t_flow, "C1", label="flow: noise $1-t$")
axes[0].plot(t_ddpm, alpha_bar.sqrt(), "C0--", label=r"DDPM: signal $\sqrt{\bar\alpha}$")
axes[0].plot(t_ddpm, (1 - alpha_bar).sqrt(), "C1--", label=r"DDPM: noise $\sqrt{1-\bar\alpha}$")
axes[0].set(xlabel="t  (0 = noise, 1 = data; DDPM: t = 1 - k/T)", ylabel="coefficient", title="the two paths")
axes[1].plot(t_flow[1:-1], 2 * torch.log(t_flow[1:-1] / (1 - t_flow[1:-1])), "C0", label="flow matching")
axes[1].plot(t_ddpm, torch.log(alpha_bar / (1 - alpha_bar)), "C3--", label="DDPM (linear β)")
axes[1].set(xlabel="t", ylabel="log signal-to-noise ratio", title="log SNR = log(signal² / noise²)")
for ax in axes:
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
plt.show()
print(f"DDPM at k = T: signal {alpha_bar[-1].sqrt():.4f}, noise {(1 - alpha_bar[-1]).sqrt():.4f}")

# %% [markdown]
# The paths differ mostly in *where they spend time*: DDPM's linear schedule rushes through the low-noise end
# and lingers near pure noise. The target and parametrisation matter too: ε-prediction has to be converted
# into a velocity before an ODE sampler can use it (`flow.v_from_noise`), and it is ill-posed at pure noise,
# which is one reason later chapters (08, JiT) revisit x-, ε- and v-prediction. Everything after this chapter
# uses the straight path and the velocity loss.
#
# ## 13 · Tiny images with the same code
#
# Nothing above used the fact that the data was 2-D. A 16×16 RGB image is a point in
# $3 \cdot 16 \cdot 16 = 768$ dimensions; flow matching moves Gaussian noise in that space onto the images
# exactly as it did in the plane. The data: `minidiff.data.shapes`, one coloured shape per image. We draw a
# fixed pool once (drawing is the slow part on a CPU) and train on random batches from it.

# %%
from minidiff.data import shapes

pool_size = pick(quick=512, cpu=10_000, gpu=20_000)
pool, _, _ = shapes.sample(pool_size, 16, generator=torch.Generator().manual_seed(0), objects=(1, 1))
print(tuple(pool.shape[1:]), "per image")
plot.show_images(pool[:16], nrow=8, title="real 16×16 shapes", scale=1.5)

# %% [markdown]
# The model is the same MLP on flattened pixels: `(B, 3, 16, 16)` → a vector of 768, concatenated with the
# time features → back to an image.


# %%
class PixelMLP(nn.Module):
    """A model for images (B, C, H, W): VelocityMLP on the flattened pixels."""

    def __init__(self, shape=(3, 16, 16), hidden=512, depth=3):
        super().__init__()
        self.shape = shape
        self.mlp = VelocityMLP(dim=math.prod(shape), hidden=hidden, depth=depth, t_dim=64)

    def forward(self, xt, t):
        out = self.mlp(xt.flatten(1), t)  # (B, C*H*W)
        return out.view(-1, *self.shape)  # (B, C, H, W)


minidiff.seed_everything(0)
print(f"{sum(p.numel() for p in PixelMLP().parameters()):,} parameters")

# %% [markdown]
# **A snag, and the fix.** Ask this MLP for the velocity $v = x - 
# arepsilon$ and it learns very little: the
# target *contains the noise*, 768 random numbers that the network must carry from its input, through a
# 512-wide hidden layer, to its output. The clean image, on the other hand, is simple (one blob on a flat
# background). So let the network predict the clean image $\hat x$ and compute the velocity by formula — from
# $x_t = t\,x + (1-t)\,
# arepsilon$,
#
# $$v = 
# rac{\hat x - x_t}{1 - t}.$$
#
# `flow.flow_loss(..., pred="x")` does this conversion (and still measures the error on velocities);
# `flow.heun(..., pred="x")` samples with it. This is *x-prediction*, the idea of JiT (Li & He 2025) that
# chapter 08 studies properly. A short race at equal steps shows the difference: the pixel spread of the
# samples should match the data's.


# %%
def image_loss(pred):
    return lambda model, x: flow.flow_loss(model, x, pred=pred)


def from_pool(batch_size, generator):
    return pool[torch.randint(len(pool), (batch_size,), generator=generator)]


race_cfg = TrainConfig(steps=pick(quick=20, cpu=400, gpu=400), batch_size=128, lr=2e-3, progress=False)
image_noise = torch.randn(32, 3, 16, 16, generator=torch.Generator().manual_seed(2))
dev = minidiff.device()  # images: the GPU if there is one (the 2-D MLP above is faster on the CPU)

# %% tags=["nbval-ignore-output"]
race = {}
for pred in ["v", "x"]:
    minidiff.seed_everything(0)
    race_history = train(PixelMLP(), image_loss(pred), from_pool, race_cfg, device=dev)
    race[pred] = flow.heun(race_history.ema, image_noise.to(dev), 20, pred=pred).clamp(-1, 1).cpu()
    print(f"pred={pred}: loss {sum(race_history.losses[-20:]) / 20:.3f}, "
          f"sample pixel std {race[pred].std():.2f} (data {pool.std():.2f})")  # fmt: skip

# %% tags=["nbval-ignore-output"]
both = torch.cat([race["v"][:8], race["x"][:8]])
_ = plot.show_images(both, nrow=8, title=f"after {race_cfg.steps} steps — top: pred='v', bottom: pred='x'")

# %% [markdown]
# Now the real run, with x-prediction:

# %%
image_steps = pick(quick=30, cpu=3_000, gpu=8_000)
image_cfg = TrainConfig(steps=image_steps, batch_size=128, lr=2e-3, ema_decay=0.995, log_every=25)
minidiff.seed_everything(0)
pixel_model = PixelMLP()

# %% tags=["nbval-ignore-output"]
image_history = train(pixel_model, image_loss("x"), from_pool, image_cfg, device=dev,
                      live=live.LivePlot(title="16×16 shapes, pixel MLP, x-prediction"))  # fmt: skip
print(f"{image_steps} steps in {image_history.wall_time:.0f} s")

# %% [markdown]
# Samples: the same 32 noise images integrated with Heun for 20 steps (39 network evaluations), under real
# images for comparison.

# %% tags=["nbval-ignore-output"]
samples = flow.heun(image_history.ema, image_noise.to(dev), 20, pred="x").clamp(-1, 1).cpu()
plot.show_images(pool[16:32], nrow=8, title="real", scale=1.5)
plot.show_images(samples, nrow=8, title="generated: pixel MLP (x-pred), Heun 20 steps", scale=1.5)
plt.show()

# %% [markdown]
# At the `cpu` budget many samples are a single coloured blob on the dark background, in one of the nine
# cells where the data puts its shapes, in believable colours. The limits show too: edges are soft, a circle
# and a square are hard to tell apart, and many samples have not "decided" — several faint blobs instead of
# one bright shape, the average of the images the model could not choose between. That is an honest
# picture of what an MLP can do here: it treats the 768 numbers as an unordered vector, does not know that
# neighbouring pixels belong together, and what it learns about a shape in one corner does not transfer to
# another — it must learn every position separately. **Chapter 02** replaces it with a UNet, whose
# convolutions share weights across positions and see the image at several scales: with the same loss and
# sampler, shapes come out crisp.

# %% [markdown]
# ## Exercises
#
# Worked, executed solutions are in `solutions/01_flow_matching.ipynb`.
#
# 1. **Logit-normal t.** Train the 2-D model with `flow.flow_loss(model, x, t_dist="logit_normal")`, which
#    samples $t = \sigma(n)$ with $n \sim \mathcal{N}(0, 1)$ and so spends more steps near $t = 0.5$ (SD3,
#    Esser et al. 2024). At equal training steps, does the energy distance change? Plot the two $t$
#    histograms.
# 2. **Back to noise.** The ODE runs both ways. Write an Euler integrator from $t = 1$ to $t = 0$ (velocity
#    with a minus sign), turn data points into "noise", check that the result looks Gaussian (mean, std,
#    a scatter), and run it forward again: how close is the round trip as a function of the steps?
# 3. **x-prediction.** Train the same MLP to predict the clean point, `flow.flow_loss(model, x, pred="x")`
#    (the loss is still measured on velocities), and sample with `flow.heun(..., pred="x")`. Compare the
#    energy distance with v-prediction at equal steps. (Chapter 08 shows where x-prediction really shines.)
# 4. **Midpoint vs Heun.** The midpoint rule (RK2) evaluates the slope at $t + \Delta t/2$ after a half
#    Euler step. Implement it and compare it with Heun **at equal NFE** on the trained model.
# 5. **Harder toys.** Train on `checkerboard`, `spirals` and `8gaussians` with the same budget. Which is
#    hardest, by energy distance relative to its own baseline, and why? Look at the samples.

# %% tags=["nbval-ignore-output"]
print(minidiff.run_summary())
