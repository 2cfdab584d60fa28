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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minidiff-course/minidiff/blob/v0.1.0/chapters/10_tread.ipynb)
# and its workbook, to write the `my_*` code yourself with checks: [![Open the workbook in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minidiff-course/minidiff/blob/v0.1.0/workbooks/10_tread.ipynb)

# %% [markdown]
# # 10 · TREAD: fewer tokens through the middle
#
# A transformer's cost grows with the number of tokens every block processes. TREAD (Krause et al.,
# ICCV 2025) trains the same DiT with fewer of them: after the first block, each image sends a random
# half of its tokens *around* the middle blocks, and they rejoin the others before the last block. No
# new weights, no change at sampling, and every pixel is still in the loss. The paper reports two gains
# that multiply: each step is cheaper, and the model learns at least as much per step. This chapter
# builds the route, measures the first gain on this machine, and races the routed model against the
# dense one, at equal steps and at equal wall time, over seeds. Then it uses the routed pass as a weaker
# copy of the model to guide the dense one (the paper's self-guidance).
#
# **Run time:** `quick` < 1 min (CI, 2 CPU cores) · `cpu` ≤ 9 min on a 2-core laptop CPU ·
# `gpu` ≈ 10 min on a Colab T4 (estimated, not measured).
#
# **Stored outputs:** budget `cpu`, CPU x86_64 (2 cores), 8.4 min from kernel start to the last cell.

# %% [markdown]
# **You will:**
# 1. write the routed forward pass (`my_routed_forward`) and check it,
# 2. count the token passes a route saves, and time the training step dense and routed,
# 3. race a dense DiT against the same DiT trained with TREAD, at equal steps and at equal wall time,
#    over seeds, on chapter 09's drawing-to-image task,
# 4. guide the trained model with its own routed pass, against classifier-free guidance.

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
import copy
import statistics
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

import minidiff
from minidiff import checks, count, flow, pick, plot, tread
from minidiff.data import scenes
from minidiff.dit import DiT, DiTConfig, count_parameters
from minidiff.guidance import guided
from minidiff.judges import scenes as judge
from minidiff.metrics import frechet_distance
from minidiff.recipes import drawing
from minidiff.train import TrainConfig, train

# %% [markdown]
# ## 1 · The route
#
# A DiT of depth $L$ runs every one of its $T$ tokens through every block. TREAD picks a span of blocks,
# `start` to `end - 1` (by default all but the first and the last), and a share `keep` of the tokens
# (by default half). After block `start - 1`, each image draws its own random set of $K = \text{keep}
# \cdot T$ tokens; only those go through the span, while the other $T - K$ tokens wait unchanged; before
# block `end` they are all put back in place and every token goes on through the last blocks to the
# final layer:
#
# $$h \leftarrow \text{blocks}_{\text{start}..\text{end}-1}\big(x_{\text{kept}}\big), \qquad
#   x_{\text{kept}} \leftarrow h, \qquad x \leftarrow \text{blocks}_{\text{end}..L-1}(x).$$
#
# Because each block is residual ($x + \text{gate}\cdot f(x)$), a token that skips some blocks is still a
# sensible input for the later ones: it is simply less processed. The figure shows which patches a draw
# keeps (bright) and which it routes around the middle (dark), for four pictures: a fresh set each time.

# %% tags=["nbval-ignore-output"]
images, maps = scenes.sample(4, 32, generator=torch.Generator().manual_seed(0))
index = tread.choose(4, 64, 32, torch.Generator().manual_seed(0))  # (4, 32) of the 8 × 8 = 64 patches
kept = torch.zeros(4, 64).scatter(1, index, 1.0).view(4, 1, 8, 8)
kept = kept.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)  # patch → its 4 × 4 pixels
_ = plot.show_images(
    torch.cat([images, images * (0.25 + 0.75 * kept) - 0.75 * (1 - kept)]),
    nrow=4,
    title="pictures (top); the tokens kept through the middle blocks (bottom, bright)",
)


# %% [markdown]
# Write the routed pass. `model.inputs(xt, t)` gives the tokens (B, T, D) and the conditioning vector
# c; each block is `x = block(x, c)`; `model.outputs(x, c)` gives the prediction. `index` (B, K) holds
# the kept tokens of each image; `tread.gather(x, index)` takes them out (B, K, D) and `tread.scatter(x,
# h, index)` puts `h` back in their places (a new tensor).


# %% tags=["exercise"]
def my_routed_forward(model, xt, t, index, start, end):
    """blocks[:start] on every token; blocks[start:end] on the tokens at index only (tread.gather, then
    tread.scatter back); blocks[end:] on every token. model.inputs before the blocks, model.outputs after."""
    x, c = model.inputs(xt, t)
    for block in model.blocks[:start]:
        x = block(x, c)
    h = tread.gather(x, index)  # (B, K, D): the kept tokens go on, the others wait in x
    for block in model.blocks[start:end]:
        h = block(h, c)
    x = tread.scatter(x, h, index)  # every token again
    for block in model.blocks[end:]:
        x = block(x, c)
    return model.outputs(x, c)


checks.check_routed_forward(my_routed_forward)

# %% [markdown]
# **Hand over.** `minidiff.tread` holds the same pass: `tread.forward(model, xt, t, maps=..., route=Route(
# start, end, keep))` draws the index itself, and `tread.routed(model, route)` wraps it as a function
# that `flow.flow_loss` can train. The weights are the model's; routing is only a way of calling it.
#
# ## 2 · What it saves
#
# The chapter's DiT is chapter 09's drawing model made twice as deep: 8 blocks of width 128, 4 × 4
# patches of a 32 px picture (64 tokens), a map channel per class. With the default route, blocks 1-6
# see half the tokens. Counted per image:

# %% tags=["nbval-ignore-output"]
CONFIG = DiTConfig(depth=8, width=128, heads=4, image_size=32, patch=4, map_channels=len(scenes.CLASSES))
ROUTE = tread.Route()  # blocks 1..6, keep half
active = tread.active_tokens(CONFIG.depth, CONFIG.tokens, ROUTE)
print(
    f"{count_parameters(DiT(CONFIG)):,} parameters; route: blocks {ROUTE.span(CONFIG.depth)}, "
    f"keep {ROUTE.keep}"
)
print(f"tokens per block, dense : {tread.active_tokens(CONFIG.depth, CONFIG.tokens, None)}")
print(f"tokens per block, routed: {active} → {sum(active)} of {CONFIG.depth * CONFIG.tokens} token "
      f"passes ({sum(active) / (CONFIG.depth * CONFIG.tokens):.1%})")  # fmt: skip

model = DiT(CONFIG)
x, maps = scenes.sample(1, 32, generator=torch.Generator().manual_seed(1))
for name, route in [("dense", None), ("routed", ROUTE)]:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        tread.forward(model, x, torch.full((1,), 0.5), maps=maps, route=route)
    print(f"{name:6s}: {counter.get_total_flops() / 1e9:.3f} GFLOPs per image (forward)")

# %% [markdown]
# A training step (forward, x-prediction v-loss, backward, AdamW) on a batch of `BATCH` scenes, dense
# and routed, timed in alternation so that anything else running on the machine slows both alike; the
# median of `REPEATS` steps each:

# %% tags=["nbval-ignore-output"]
BATCH = pick(quick=8, cpu=32, gpu=128)
REPEATS = count(quick=3, cpu=15, gpu=30)
batch = scenes.sample(BATCH, 32, generator=torch.Generator().manual_seed(2))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
callers = {"dense": lambda m: m, "routed": lambda m: tread.routed(m, ROUTE)}
seconds = {name: [] for name in callers}
for i in range(REPEATS + 2):  # the first two rounds warm up
    for name in list(callers)[:: 1 if i % 2 else -1]:
        start = time.perf_counter()
        loss, _ = drawing.loss_fn(callers[name](model), batch)
        optimizer.zero_grad()
        loss.mean().backward()
        optimizer.step()
        if i >= 2:
            seconds[name].append(time.perf_counter() - start)
step_time = {name: statistics.median(values) for name, values in seconds.items()}
for name, value in step_time.items():
    print(f"{name:6s}: {1000 * value:6.1f} ms a step, {BATCH / value:6.1f} images/s")
SPEEDUP = step_time["dense"] / step_time["routed"]
print(f"TREAD trains {SPEEDUP:.2f}× as many images a second (the paper's goal here: ≥ 1.4×)")

# %% [markdown]
# **What we measured** (`cpu`, batch 32). The route cuts the token passes to 62.5 % and the forward
# FLOPs from 0.207 to 0.131 GFLOPs per image (63 %); a training step goes from 223.9 ms to 143.7 ms, so
# TREAD trains **1.56×** as many images a second, about what the FLOPs promise (1.58×) and above the
# paper's 1.4× goal.
#
# ## 3 · The race: equal steps, equal time
#
# Now the question that matters: does the model trained through the route paint as well? Two DiTs start
# from the same weights and see the same stream of scenes (chapter 09's recipe: x-prediction, v-loss,
# 10 % of the maps dropped, EMA), one dense, one routed. The dense one trains `STEPS` steps. The routed
# one trains the same `STEPS` (equal steps), then goes on for as many steps as fit in the dense run's
# time (equal time). Each is measured with its EMA weights, sampled **dense** (routing is for training), by
#
# * the **validation loss**: the v-loss on 256 fixed held-out scenes, noise draws and times $t$ spread
#   over $[0, 1]$: the same examples for every model, so its only noise is the training's;
# * the scenes judge's **pixel agreement** between `N_MAPS` fresh maps and the pictures painted from
#   them (chapter 09; real renders score 0.999, chance about 0.44);
# * the **Fréchet distance** between those pictures and `N_MAPS` real renders, in the judge's features
#   (`judge.features`: its channels averaged over the picture at three scales; chapter 13 builds the
#   metric). It asks whether the pictures *look* like renders, whatever their maps. Two sets of real
#   renders are not at 0 either (finite samples): the real-vs-real distance printed below is the floor.
#
# Every run is repeated for `SEEDS` seeds (weights and data order), so a difference can be weighed
# against the spread between seeds.

# %% tags=["nbval-ignore-output"]
STEPS = pick(quick=8, cpu=400, gpu=2_000)
EVAL_EVERY = pick(quick=4, cpu=100, gpu=250)
SEEDS = pick(quick=[0, 1], cpu=[0, 1], gpu=[0, 1, 2])
N_MAPS = count(quick=8, cpu=128, gpu=512)
ruler = judge.RECIPE.load(device="cpu")
real, test_maps = scenes.sample(N_MAPS, 32, generator=torch.Generator().manual_seed(7))
other_real, _ = scenes.sample(N_MAPS, 32, generator=torch.Generator().manual_seed(8))
real_features = judge.features(other_real, ruler)
print(f"real renders: pixel agreement {judge.pixel_agreement(real, test_maps, ruler).mean():.4f}, "
      f"Fréchet distance to other real renders "
      f"{frechet_distance(judge.features(real, ruler), real_features):.3f}")  # fmt: skip

held_out = scenes.sample(256, 32, generator=torch.Generator().manual_seed(5_000))
held_noise = torch.randn(256, 3, 32, 32, generator=torch.Generator().manual_seed(5_001))
held_t = (torch.arange(256) + 0.5) / 256


@torch.no_grad()
def validation_loss(model):
    """The v-loss of the dense model on the fixed held-out scenes, noise and times (every map given)."""
    loss, _ = drawing.loss_fn(model.to("cpu"), held_out, p_drop=0.0, t=held_t, noise=held_noise)
    return loss.mean().item()


def judged(pictures):
    """The judge's pixel agreement with the test maps, and the Fréchet distance to real renders."""
    return {"agreement": judge.pixel_agreement(pictures, test_maps, ruler).mean().item(),
            "fd": frechet_distance(judge.features(pictures, ruler), real_features)}  # fmt: skip


def measure(model):
    """judged() for the pictures the model paints (dense, 10 Heun steps) from the test maps."""
    return judged(drawing.paint(model.to("cpu"), test_maps))


# %% [markdown]
# `race` trains in stretches of `EVAL_EVERY` steps and measures the validation loss after each: the
# training loop saves a checkpoint at the end of each stretch and the next call continues it exactly,
# so the stretches add up to one uninterrupted run (chapter 12 explains the resume). Only the training
# steps count as training seconds; measuring does not.

# %% tags=["nbval-ignore-output"]
workdir = Path(tempfile.mkdtemp(prefix="tread-"))


def race(route, seed, steps):
    """Train a fresh DiT (dense if route is None) for `steps` steps. Returns its curve [(step, seconds,
    validation loss)], its EMA model at STEPS steps and the history (history.ema: the EMA model at the
    end)."""
    torch.manual_seed(seed)
    model = DiT(CONFIG)  # the same initial weights for both arms of a seed

    def loss_fn(model, batch):
        return drawing.loss_fn(model if route is None else tread.routed(model, route), batch)

    path = workdir / f"{'dense' if route is None else 'tread'}-{seed}.safetensors"
    curve, at_steps = [], None
    for until in [*range(EVAL_EVERY, steps, EVAL_EVERY), steps]:
        cfg = TrainConfig(steps=until, batch_size=BATCH, lr=1e-3, warmup=min(100, STEPS // 4),
                          ema_decay=0.995, seed=seed, log_every=EVAL_EVERY, ckpt_path=path,
                          progress=False)  # fmt: skip
        history = train(model, loss_fn, drawing.data, cfg)
        curve.append((history.steps[-1], history.wall_time, validation_loss(history.ema)))
        if until == STEPS:
            at_steps = copy.deepcopy(history.ema)
            at_steps.point = curve[-1]  # (step, seconds, loss) at STEPS, kept with the model
    return curve, at_steps, history


# %% [markdown]
# Equal time is set by the step times measured in section 2, not by the clock during the race: the
# routed model trains `STEPS × SPEEDUP` steps, what fits in the dense run's time at those step times.
# (A clock read during training would hand whichever run the machine happened to slow down a different
# budget; the timing above alternated the two to be fair to both.) The training seconds are printed too.

# %% tags=["nbval-ignore-output"]
EQUAL_TIME_STEPS = round(STEPS * SPEEDUP)
results = []  # one dict per seed
for seed in tqdm(SEEDS, desc="seeds"):
    dense_curve, dense_model, dense = race(None, seed, STEPS)
    tread_curve, tread_steps_model, timed = race(ROUTE, seed, EQUAL_TIME_STEPS)
    results.append({
        "dense": dense_curve, "tread": tread_curve,
        "dense_judged": measure(dense_model), "steps_judged": measure(tread_steps_model),
        "time_judged": measure(timed.ema), "time_model": timed.ema, "dense_model": dense_model,
        "tread_at_steps": tread_steps_model.point,
    })  # fmt: skip
    at = tread_steps_model.point
    print(f"seed {seed}: dense {STEPS} steps in {dense_curve[-1][1]:.0f} s; TREAD {STEPS} steps in "
          f"{at[1]:.0f} s, {tread_curve[-1][0]} steps in {tread_curve[-1][1]:.0f} s")  # fmt: skip

# %% [markdown]
# The table: each number is the mean over the seeds ± their standard deviation; the last rows give the
# paired difference, TREAD − dense, seed by seed (lower is better for the loss and the distance, higher
# for the agreement).


# %% tags=["nbval-ignore-output"]
def point(result, arm, when):
    """(steps, seconds, validation loss, agreement, distance) of one arm of one seed."""
    curve = result["dense" if arm == "dense" else "tread"]
    step, seconds, loss = curve[-1] if when == "end" else result["tread_at_steps"]
    marks = result[{"dense": "dense_judged", "steps": "steps_judged", "time": "time_judged"}[arm]]
    return step, seconds, loss, marks["agreement"], marks["fd"]


def spread(values):
    values = torch.tensor(values, dtype=torch.float64)
    return f"{values.mean():.4f} ± {values.std():.4f}" if len(values) > 1 else f"{values.mean():.4f}"


rows = {
    "dense": ("dense", "end"),
    "TREAD, equal steps": ("steps", "steps"),
    "TREAD, equal time": ("time", "end"),
}
table = {name: [point(r, *where) for r in results] for name, where in rows.items()}
print(
    f"{'':19s} {'steps':>6s} {'seconds':>8s}   {'validation loss':17s}   {'pixel agreement':17s}   "
    "Fréchet distance"
)
for name, points in table.items():
    columns = list(zip(*points))
    print(f"{name:19s} {statistics.mean(columns[0]):6.0f} {statistics.mean(columns[1]):8.0f}   "
          f"{spread(columns[2]):17s}   {spread(columns[3]):17s}   {spread(columns[4])}")  # fmt: skip
for name in ("TREAD, equal steps", "TREAD, equal time"):
    differences = [[b - a for a, b in zip(dense_point[2:], tread_point[2:])]
                   for dense_point, tread_point in zip(table["dense"], table[name])]  # fmt: skip
    loss, agree, fd = ([f"{d:+.4f}" for d in column] for column in zip(*differences))
    print(f"{name} − dense, per seed: loss {', '.join(loss)}; agreement {', '.join(agree)}; "
          f"distance {', '.join(fd)}")  # fmt: skip

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for result, seed in zip(results, SEEDS):
    for arm, colour in (("dense", "C0"), ("tread", "C1")):
        step, seconds, loss = zip(*result[arm])
        label = ("dense" if arm == "dense" else "TREAD") if seed == SEEDS[0] else None
        axes[0].plot(step, loss, "o-", color=colour, alpha=0.8, ms=3, label=label)
        axes[1].plot(seconds, loss, "o-", color=colour, alpha=0.8, ms=3, label=label)
for ax, xlabel in zip(axes, ("training steps", "training seconds (this machine)")):
    ax.set(xlabel=xlabel, ylabel="validation loss", yscale="log")
    ax.grid(alpha=0.3)
    ax.legend()
axes[0].set_title("equal steps")
axes[1].set_title("equal time")
plt.tight_layout()
plt.show()

# %% tags=["nbval-ignore-output"]
noise = torch.randn(len(test_maps[:8]), 3, 32, 32, generator=torch.Generator().manual_seed(0))
_ = plot.show_maps(
    test_maps[:8],
    drawing.paint(results[0]["dense_model"], test_maps[:8], noise=noise),
    palette=scenes.PALETTE,
    title=f"maps, and what the dense model paints after {STEPS} steps (seed {SEEDS[0]})",
)
_ = plot.show_images(
    drawing.paint(results[0]["time_model"], test_maps[:8], noise=noise),
    title="the same maps and noise: the TREAD model after the same training time",
)

# %% [markdown]
# **What we measured** (`cpu`, 400 steps, seeds 0 and 1; the routed model's 623 steps took 103 s on the
# race's clock against the dense run's 98 s, 5 % more than the timing promised, since its run is cut into
# more stretches, each with a checkpoint).
#
# * **Equal steps: TREAD is slightly worse, not better.** Validation loss 0.1538 ± 0.0012 against 0.1499
#   ± 0.0036 (+0.0023 and +0.0056 seed by seed), pixel agreement 0.9892 against 0.9899, Fréchet distance
#   0.382 against 0.337 (+0.050, +0.040): the same sign in both seeds, small next to everything else in the
#   table. The paper's "better per step" is measured over hundreds of thousands of steps on ImageNet;
#   after 400 steps on landscapes it does not reproduce: a model that sees half the tokens in its middle
#   learns a little less from each step.
# * **Equal time: TREAD is clearly better.** Validation loss 0.1170 ± 0.0023 against 0.1499 ± 0.0036
#   (−0.034 and −0.032, ten times the seed spread), agreement 0.9953 against 0.9899 (+0.005 in both seeds)
#   and distance 0.293 against 0.337 (−0.027, −0.060). The right-hand plot shows why: per step the curves
#   lie on top of each other, and TREAD simply takes its steps faster.
#
# In the pictures both models put the mountains, shores and trees where the maps ask, still grainy after
# two minutes of training; the TREAD model's are a little cleaner. At this scale TREAD is a speed-up at
# (nearly) unchanged quality per step, which is what a learner on a CPU or a T4 wants.
#
# ## 4 · Self-guidance: the routed pass as a weaker model
#
# A model trained with routing can also be *run* routed, and that pass is a somewhat worse version of
# the same model: it sees each image through half its tokens in the middle blocks. Guidance needs
# exactly that, a prediction to steer away from (chapter 05 used the model without its condition;
# autoguidance, Karras et al. 2024, a smaller or less trained model). TREAD's self-guidance keeps the map
# in both passes:
#
# $$\hat x = \hat x_{\text{routed}} + w\,(\hat x_{\text{dense}} - \hat x_{\text{routed}}),$$
#
# which costs a dense pass plus a routed one (about 0.6 of a dense one here), where classifier-free
# guidance costs two dense passes. `tread.self_guided(model, {"maps": maps}, w, route)` returns that
# denoiser. Below, the seed-0 TREAD model after equal time, the same maps and noise for every line: the
# plain dense pass, self-guidance at three scales, and classifier-free guidance at scale 2 (the model
# learnt "no map" from the 10 % of maps it saw dropped).

# %% tags=["nbval-ignore-output"]
guided_model = results[0]["time_model"].to("cpu")
noise = torch.randn(N_MAPS, 3, 32, 32, generator=torch.Generator().manual_seed(11))
denoisers = {
    "dense, no guidance": lambda: guided(guided_model, {"maps": test_maps}, 1.0),
    **{
        f"self-guidance w = {w:g}": (
            lambda w=w: tread.self_guided(guided_model, {"maps": test_maps}, w, ROUTE)
        )
        for w in (1.5, 2.0, 3.0)
    },  # fmt: skip
    "classifier-free w = 2": lambda: guided(guided_model, {"maps": test_maps}, 2.0),
}
pictures = {}
print(f"{'':24s} {'seconds':>8s}   pixel agreement     Fréchet distance")
for name, make in denoisers.items():
    start = time.perf_counter()
    pictures[name] = flow.heun(make(), noise, drawing.SAMPLE_STEPS, pred="x").clamp(-1, 1)
    seconds = time.perf_counter() - start
    per_image = judge.pixel_agreement(pictures[name], test_maps, ruler)
    fd = frechet_distance(judge.features(pictures[name], ruler), real_features)
    se = per_image.std() / len(per_image) ** 0.5
    print(f"{name:24s} {seconds:8.1f}   {per_image.mean():.4f} ± {se:.4f}   {fd:.3f}")
shown = min(6, N_MAPS)
_ = plot.show_images(
    torch.cat([pictures[name][:shown] for name in pictures]),
    captions=[name if i == 0 else "" for name in pictures for i in range(shown)],
    nrow=shown,
    title="the same maps and noise, one sampler per row",
)

# %% [markdown]
# **What we measured** (`cpu`, the seed-0 TREAD model, 128 maps, one draw of noise). Self-guidance
# raises both numbers steadily with $w$: pixel agreement 0.9952 ± 0.0003 (no guidance) → 0.9957, 0.9960,
# 0.9963 at $w$ = 1.5, 2, 3, and the Fréchet distance to real renders 0.308 → 0.299, 0.291, 0.278, for
# 1.6× the time of plain sampling (8.2 s instead of 5.1 s for the 128 pictures). Classifier-free guidance
# at 2 follows the maps best (0.9974 ± 0.0002) but the pictures look *less* like renders (distance
# 0.488): the bottom row shows why, flat saturated colours where the grass and water had texture; and it
# costs 2.5× the time. One model and one draw of noise: the steps of 0.01 between the self-guidance scales
# are within what another draw could move (two sets of real renders are 0.214 apart at this size); the
# steady trend and classifier-free guidance's jump are what to take away.
#
# ## Exercises
#
# Worked solutions are in `solutions/10_tread.ipynb`.
#
# 1. **Keep more, keep less.** Route with `keep` 0.25 and 0.75. How do the step time and the validation
#    loss at equal wall time change?
# 2. **The weak pass.** Sample the TREAD model routed, and the dense-trained model routed. How much worse
#    are they than dense? Why would a model trained with routing handle it better?
# 3. **Where to route.** Route blocks 2-5 instead of 1-6 (`Route(2, 6)`). What is lost in speed, and is
#    anything won in quality?

# %% tags=["nbval-ignore-output"]
print(minidiff.run_summary())
