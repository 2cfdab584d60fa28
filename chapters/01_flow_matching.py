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
# and its workbook, to write the `my_*` code yourself with checks: [![Open the workbook in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minidiff-course/minidiff/blob/v0.1.0/workbooks/01_flow_matching.ipynb)

# %% [markdown]
# # 01 · Flow matching: from noise to data in straight lines
#
# You will build, from scratch, the method that trains every generator in this course: **flow matching**
# with straight paths (*rectified flow*). On 2-D toy data you write the path, the velocity target, the
# loss, a training loop and two samplers (Euler and Heun), check each against the `minidiff` reference,
# then train a model, look at the velocity field it learned, and **measure** how close its samples come to
# the data as a function of the number of sampling steps, against the spread of the same distance between
# two draws of the data itself. A short section sets the older DDPM recipe beside it; chapter 02 then runs
# the very same loss and samplers on images.
#
# Reproduces: Lipman et al. 2023, *Flow Matching for Generative Modeling* and Liu et al. 2023, *Flow
# Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow* (the straight path), on
# 2-D toys; DDPM (Ho et al. 2020) is contrasted.
#
# **Run time:** `quick` < 1 min (CI, 2 CPU cores) · `cpu` ≤ 4 min on a 2-core laptop CPU ·
# `gpu` ≈ 3 min on a Colab T4 (estimated, not measured; the 2-D models run on the CPU there too).
#
# **Stored outputs:** budget `cpu`, CPU x86_64 (2 cores), 1.4 min from kernel start to the last cell.

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
import time

import matplotlib.pyplot as plt
import torch
from torch import nn

import minidiff
from minidiff import checks, count, pick, plot
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


# %% tags=["exercise"]
def my_interpolate(x, noise, t):
    """xt = t x + (1 - t) noise, with t (B,) reshaped to broadcast over x."""
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


# %% tags=["exercise"]
def my_velocity(x, noise):
    """d xt / dt of the straight path: it points from the noise to the data."""
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
scratch_model = VelocityMLP()
print(f"{sum(p.numel() for p in scratch_model.parameters()):,} parameters")
print(scratch_model(data[:4], torch.rand(4)).shape)  # same shape as xt

# %% [markdown]
# ## 6 · The flow-matching loss
#
# One line per symbol of $\mathcal{L}$: build $x_t$, ask the model for $v_\theta(x_t, t)$, compare with
# $x - \varepsilon$. The check passes `t` and `noise` in, so it can compare your number with the reference's.


# %% tags=["exercise"]
def my_loss(model, x, t, noise):
    """mean((model(xt, t) - (x - noise)) ** 2) with xt from my_interpolate."""
    xt = my_interpolate(x, noise, t)  # x_t = t x + (1 - t) noise
    v_pred = model(xt, t)  # v_theta(x_t, t)
    return ((v_pred - my_velocity(x, noise)) ** 2).mean()  # || v_theta - (x - noise) ||^2


checks.check_flow_loss(my_loss)

# %% [markdown]
# ## 7 · A training loop you can read
#
# Each step: draw a batch of data, fresh noise and a uniform $t \sim U[0, 1]$ per example, then the four
# lines every PyTorch loop has. One extra line lowers the learning rate linearly to 0 over the run: the
# last updates are tiny, so the weights we keep settle instead of jittering around the minimum (section 9
# shows the other cure, averaging the weights). The number of steps comes from `count` (chapter 00), so
# the CI run is tiny; at the `cpu` budget, 3,000 steps of 512 points take well under a minute.

# %% tags=["nbval-ignore-output"]
scratch_steps = count(quick=100, cpu=3_000, gpu=3_000)
optimizer = torch.optim.AdamW(scratch_model.parameters(), lr=2e-3)
schedule = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.0, total_iters=scratch_steps)  # lr: 2e-3 → 0
scratch_losses, start = [], time.perf_counter()
for _ in range(scratch_steps):
    x = toy2d.sample("moons", 512, generator=data_gen)
    noise_batch, t = torch.randn_like(x), torch.rand(len(x))
    loss = my_loss(scratch_model, x, t, noise_batch)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    schedule.step()
    scratch_losses.append(loss.item())
print(f"{scratch_steps} steps in {time.perf_counter() - start:.0f} s, "
      f"last loss {sum(scratch_losses[-50:]) / 50:.3f} (mean of 50)")  # fmt: skip

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


# %% tags=["exercise"]
@torch.no_grad()
def my_euler(model, noise, steps):
    """Euler, t = 0 → 1: xt += dt * model(xt, t), t = i / steps as a (B,) tensor."""
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


# %% tags=["exercise"]
@torch.no_grad()
def my_heun(model, noise, steps):
    """Average v here and v at the Euler guess each step; the last step plain Euler."""
    xt, dt = noise, 1 / steps
    for i in range(steps):
        t, t_next = torch.full((len(xt),), i / steps), torch.full((len(xt),), (i + 1) / steps)
        v = model(xt, t)
        x_euler = xt + dt * v
        xt = x_euler if i == steps - 1 else xt + dt * (v + model(x_euler, t_next)) / 2
    return xt


checks.check_heun(my_heun)

# %% [markdown]
# Our scratch model, sampled with our scratch Heun from fresh noise. At the `quick` budget it has barely
# trained; at `cpu` it draws two moons (section 11 measures how close they come to the data):

# %%
sample_noise = torch.randn(2_000, 2, generator=torch.Generator().manual_seed(1))
fig, axes = plt.subplots(1, 2, figsize=(8, 4), layout="constrained")
plot.scatter_2d(data, ax=axes[0], lim=3, title="data")
scratch_samples = my_heun(scratch_model, sample_noise, 16)
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
# weights, `history.ema`. After every step the EMA moves a fraction $1 - \text{decay}$ of the way towards the
# current weights, so with decay 0.999 it averages over roughly the last $1/(1 - 0.999) = 1000$ steps (a
# step's weight has fallen to $1/e$ after 1,000 more). We sample from the EMA copy: the average irons out
# the noise of SGD, and section 11 measures how much that matters.

# %%
from minidiff import flow, live, metrics
from minidiff.train import TrainConfig, train

train_steps = count(quick=150, cpu=3_000, gpu=6_000)
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
# is zero only when the two distributions are equal (Székely & Rizzo 2013). With finite samples it is above
# zero even for two independent draws of the *same* distribution, and it varies a lot from one pair of
# draws to the next. So before judging a model we measure the ruler: draw the data twice, many times over,
# and record the **data-vs-data** distance each time. Its median is the baseline, and the band from its
# 10th to its 90th percentile is how much one measurement can move by chance. Samples whose distance falls
# inside that band are as close to the data as this measurement can tell.

# %% tags=["nbval-ignore-output"]
n_eval = pick(quick=500, cpu=4_000, gpu=4_000)  # points per draw
n_draws = count(quick=4, cpu=24, gpu=24)  # data-vs-data pairs for the baseline
n_model_draws = count(quick=2, cpu=5, gpu=5)  # draws (noise + data) each model is judged on


def eval_draw(seed):
    """Two independent draws of the data and one of noise, n_eval points each."""
    generator = torch.Generator().manual_seed(seed)
    real_a, real_b = (toy2d.sample("moons", n_eval, generator=generator) for _ in range(2))
    return real_a, real_b, torch.randn(n_eval, 2, generator=generator)


draws = [eval_draw(1_000 + seed) for seed in range(n_draws)]
base = torch.tensor([metrics.energy_distance(real_a, real_b) for real_a, real_b, _ in draws])
low, baseline, high = base.quantile(torch.tensor([0.1, 0.5, 0.9], dtype=base.dtype)).tolist()
print(f"data vs data, {n_draws} pairs of {n_eval} points: median {baseline:.5f}, "
      f"10–90 % band {low:.5f} … {high:.5f} = {low / baseline:.2f}× … {high / baseline:.2f}× the median "
      f"(min {base.min():.5f}, max {base.max():.5f}: {base.max() / base.min():.0f}× apart)")  # fmt: skip

# %% [markdown]
# One pair of draws can land anywhere in that range, which is why a single data-vs-data number is no
# baseline. Every distance below is the **median over the first few draws** (fresh noise and fresh data
# each time), written as a multiple of the median baseline; ✓ marks a median inside the 10–90 % band.
# First the scratch model of section 8 against the one `train()` just made:


# %% tags=["nbval-ignore-output"]
def distances(net, sampler, steps):
    """Energy distance of net's samples to the data, one per judging draw: a tensor (n_model_draws,)."""
    return torch.tensor(
        [
            metrics.energy_distance(sampler(net, noise, steps), real_a)
            for real_a, _, noise in draws[:n_model_draws]
        ]
    )


def judged(eds):
    """'1.23× ✓' : median distance as a multiple of the median baseline; ✓ when inside the band."""
    return f"{eds.median() / baseline:5.2f}× {'✓' if eds.median() <= high else ' '}"


def spread(eds):
    """The lowest and highest of the draws, as multiples of the median baseline."""
    return f"(draws: {eds.min() / baseline:.2f}× … {eds.max() / baseline:.2f}×)"


for name, net in [("scratch model (section 8)", scratch_model), ("train() + EMA", ema)]:
    eds = distances(net, flow.heun, 16)
    print(f"{name:>25}, Heun 16: {judged(eds)}  {spread(eds)}")

# %% [markdown]
# Now both samplers at 1 to 64 steps, on the EMA model:

# %% tags=["nbval-ignore-output"]
steps_list = [1, 2, 4, 8, 16, 32, 64]
rows = {}
print(f"{'steps':>5} | {'Euler NFE':>9} {'ED / base':>10} | {'Heun NFE':>8} {'ED / base':>10}")
for steps in steps_list:
    rows[steps] = distances(ema, flow.euler, steps), distances(ema, flow.heun, steps)
    euler_eds, heun_eds = rows[steps]
    print(f"{steps:>5} | {steps:>9} {judged(euler_eds):>10} | {2 * steps - 1:>8} {judged(heun_eds):>10}")

# %% [markdown]
# The same table as curves, once against the number of **steps** and once against the real cost, the number
# of **network evaluations (NFE)**. The dashed line is the median data-vs-data distance, the grey band its
# 10–90 % range.

# %% tags=["nbval-ignore-output"]
steps_arr = torch.tensor(steps_list, dtype=torch.float)
ed_e = [rows[s][0].median() for s in steps_list]
ed_h = [rows[s][1].median() for s in steps_list]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
panels = [
    (steps_arr, steps_arr, "sampling steps"),
    (steps_arr, 2 * steps_arr - 1, "NFE (network evaluations)"),
]
for ax, (x_euler, x_heun, label) in zip(axes, panels):
    ax.loglog(x_euler, ed_e, "o-", label="Euler")
    ax.loglog(x_heun, ed_h, "s-", label="Heun")
    ax.axhspan(low, high, color="0.85", label="data vs data, 10–90 %")
    ax.axhline(baseline, color="k", ls="--", lw=1, label="data vs data, median")
    ax.set(xlabel=label, ylabel="energy distance to data")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# A fair comparison is at (nearly) equal cost: Heun with $s$ steps (NFE $2s-1$) against Euler with $2s$
# steps (NFE $2s$, one more evaluation than Heun). Both are judged on the same draws, so we can also count
# on how many of them Heun is the closer one:

# %% tags=["nbval-ignore-output"]
for steps in [1, 2, 4, 8, 16, 32]:
    heun_eds, euler_eds = rows[steps][1], rows[2 * steps][0]
    wins = int((heun_eds < euler_eds).sum())
    print(f"NFE ≈ {2 * steps:>3}: Heun {steps:>2} steps {judged(heun_eds)} | Euler {2 * steps:>2} steps "
          f"{judged(euler_eds)} | Heun closer on {wins} of {n_model_draws} draws")  # fmt: skip

# %% [markdown]
# What to take from it:
#
# - **Both samplers converge** to the data as steps grow. Heun's median enters the data-vs-data band at 8
#   steps, Euler's only at 64. Inside the band the measurement cannot tell samples from real data any more,
#   so the differences between ✓ rows (0.92× against 0.94×) mean nothing.
# - **One step is not enough.** A single Euler step lands every point at $\varepsilon + u(\varepsilon, 0)$,
#   roughly the *mean* of the data, hundreds of times the baseline: the curved trajectories of section 10
#   need several steps. (Chapter 14 trains models that work in 1–4 steps.)
# - **At equal cost**, read the last printout, not the table: Heun's per-step advantage is partly paid for
#   by its second evaluation. At NFE ≈ 2 and 4 Heun is *behind* on every draw — with 1 or 2 steps its last
#   step is plain Euler, so most of the path is integrated to first order only. From NFE ≈ 8 to 32 it is
#   closer on every draw, by a factor of 1.9 to 3.1 in the medians. At NFE ≈ 64 both are inside the band
#   and the count of draws no longer says anything.
#
# And the EMA claim from section 9, on the same draws: the raw (last-step) weights against their average.

# %% tags=["nbval-ignore-output"]
raw, averaged = distances(model, flow.heun, 32), distances(ema, flow.heun, 32)
for name, eds in [("raw weights", raw), ("EMA weights", averaged)]:
    print(f"{name:>11}: Heun 32 steps, {judged(eds)}  {spread(eds)}")
print(f"the EMA copy is closer on {int((averaged < raw).sum())} of {n_model_draws} draws")

# %% [markdown]
# The last-step weights of `train()` (constant learning rate, no decay) land outside the band; their
# average, the EMA copy, lands inside it. The scratch loop of section 7 reached the band without an EMA,
# by letting its learning rate fall to 0: two ways to stop the weights jittering at the end of training.

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
# ## 13 · Where this goes next
#
# Nothing in sections 2–8 used the fact that the data was 2-D. A 16×16 RGB image is a point in
# $3 \cdot 16 \cdot 16 = 768$ dimensions, and flow matching moves Gaussian noise onto images with exactly the
# same `interpolate`, `flow_loss` and `heun`. What changes is the network: an MLP that treats the 768
# numbers as an unordered vector must learn every pixel position separately, which is why **chapter 02**
# builds a UNet, whose convolutions share weights across positions, and trains it with this chapter's loss
# and sampler. **Chapter 08** returns to the choice this chapter made without comment — predict the
# velocity $v$, the noise $\varepsilon$ or the clean image $x$ — and compares the three at equal capacity as
# the dimension grows.

# %% [markdown]
# ## Exercises
#
# Worked, executed solutions are in `solutions/01_flow_matching.ipynb`. Judge each comparison as section
# 11 does: train a few seeds per variant, count a difference only when it is larger than the spread over
# seeds, and treat a distance inside the data-vs-data band as indistinguishable from the data.
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
