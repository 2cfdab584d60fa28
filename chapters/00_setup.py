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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minidiff-course/minidiff/blob/v0.1.0/chapters/00_setup.ipynb)

# %% [markdown]
# # 00 · Setup and tour: the machine, the budgets, the data and the judges
#
# Before building anything, a tour of what you will build and of the tools every chapter uses: the whole
# pipeline in one picture, the three **budgets** that size every run, the **device** you are on, the five
# **datasets** (all offline, deterministic by seed), the **zoo** that keeps trained models, and the
# **judges** that turn "the samples look fine" into a number — with what each scores on real data, on noise
# and by chance, and why a Fréchet distance between two sets of *real* images is not 0. Nothing here trains
# a generator; the first run anywhere trains the two small judges (about a minute on the CPU, then cached).
#
# Reproduces: nothing yet — this chapter sets up the rulers (judges, Fréchet distance, LPIPS) that the
# other chapters' claims are measured with.
#
# **Run time:** `quick` < 1 min (CI, 2 CPU cores) · `cpu` ≤ 3 min on a 2-core laptop CPU ·
# `gpu` ≈ 2 min on a Colab T4 (estimated, not measured).
#
# **Stored outputs:** budget `cpu`, CPU x86_64 (2 cores), 0.1 min from kernel start to the last cell.

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
import os
import tempfile
import time
import warnings
from pathlib import Path
from unittest import mock

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.patches import FancyBboxPatch
from torch import nn

import minidiff
from minidiff import pick, plot

minidiff.seed_everything(0)

# %% [markdown]
# ## 1 · What you will build
#
# By the end of the course a text prompt or a drawing goes in and a 32–64 px image comes out, in a web page,
# on your CPU, in well under a second. Each box below is one or two chapters; you write its core from
# scratch, check it against the package `minidiff`, then use the package's version from there on.


# %%
def draw_box(ax, x, y, text, chapters, colour, width=2.3, height=1.0):
    """A rounded box centred at (x, y) with a bold title and its chapter numbers underneath."""
    box = FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.05",
                         facecolor=colour, edgecolor="0.3", linewidth=1)  # fmt: skip
    ax.add_patch(box)
    ax.text(x, y - 0.1, text, ha="center", va="bottom", fontsize=9, weight="bold")
    ax.text(x, y - 0.2, f"ch. {chapters}", ha="center", va="top", fontsize=8, color="0.25")


def arrow(ax, start, end):
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color="0.3", lw=1.2))


# %%
fig, ax = plt.subplots(figsize=(12, 4.0), layout="constrained")
draw_box(ax, 1.3, 2.0, "data\ntoy2d · shapes · emoji\nscenes · folder", "00", "#e8e8e8", height=1.5)
draw_box(ax, 4.4, 3.1, "VAE: pixels ↔ latents", "03", "#cfe2f3")
draw_box(ax, 4.4, 0.9, "CLIP: text → vectors", "04", "#cfe2f3")
draw_box(ax, 7.6, 2.0, "denoiser UNet / DiT\nflow matching, x-pred", "01 02 07 08", "#d9ead3", 2.6, 1.5)
draw_box(ax, 10.8, 3.1, "sampler + CFG\nconditioning, drawings", "05 06 09", "#fff2cc", 2.5)
draw_box(ax, 10.8, 0.9, "few-step distillation\nint8", "14", "#fce5cd", 2.5)
draw_box(ax, 13.8, 2.0, "ONNX in the\nbrowser", "15", "#f4cccc", 2.0, 1.5)
for start, end in [((2.5, 2.4), (3.2, 3.0)), ((2.5, 1.6), (3.2, 1.0)), ((5.6, 3.0), (6.25, 2.4)),
                   ((5.6, 1.0), (6.25, 1.6)), ((8.95, 2.4), (9.5, 3.0)), ((10.8, 2.5), (10.8, 1.5)),
                   ((12.1, 1.0), (12.75, 1.6))]:  # fmt: skip
    arrow(ax, start, end)
ax.text(7.6, -0.35, "faster, better training: TREAD 10 · REPA 11 · recipes 12", ha="center", fontsize=8)
ax.text(7.6, -0.75, "honest numbers everywhere: judges 00 · evaluation 13", ha="center", fontsize=8)
ax.set(xlim=(0, 15), ylim=(-1.0, 3.9), aspect="equal")
ax.set_axis_off()
plt.show()

# %% [markdown]
# | # | chapter | # | chapter |
# |---|---|---|---|
# | 00 | setup and tour (here) | 08 | x-prediction (JiT) |
# | 01 | flow matching | 09 | drawing to image |
# | 02 | a UNet | 10 | TREAD |
# | 03 | a VAE | 11 | REPA |
# | 04 | CLIP | 12 | training recipes |
# | 05 | conditioning and CFG | 13 | evaluating generators |
# | 06 | latent text-to-image | 14 | few steps, small models |
# | 07 | DiT | 15 | in the browser |
#
# The book's [introduction](../book/intro.md) (and the repository's `README.md`) has the full table: what
# each chapter builds and the number it measures. Every chapter has the same arc: **why** → **build it** →
# **check it** → **hand over** to the package → **train / look / measure** → **exercises** (worked
# solutions in `solutions/`).

# %% [markdown]
# ## 2 · How to study, and the budgets
#
# - **JupyterLab on your machine**: `make lab` creates `.venv`, installs everything and opens `chapters/`.
# - **Colab** (free T4 GPU): the *Open in Colab* badge at the top of each chapter; the set-up cell (the
#   first code cell) installs `minidiff` and the emoji font and picks the `gpu` budget. Choose *Runtime →
#   Change runtime type → T4 GPU* first, and mount Google Drive to keep trained models between sessions.
# - **The book**: `make book`, then open `book/_build/html/index.html`: every chapter with a real run's
#   outputs.
#
# Every chapter sizes its runs with **one call**, `pick(quick=..., cpu=..., gpu=...)` (or `count`, below),
# which returns the value for the current **budget**:
#
# | budget | where | time per chapter | what it buys |
# |---|---|---|---|
# | `quick` | `make test`, CI | ≤ 1 min on 2 CPU cores | every cell runs; a smoke test, not results |
# | `cpu` | a laptop | ≤ ~10 min | small models, results visibly right |
# | `gpu` | a Colab T4 | ≤ ~15 min | larger models, good results |
#
# The budget is `gpu` when CUDA (or Apple MPS) is available, else `cpu`; the environment variable
# `MINIDIFF_BUDGET=quick|cpu|gpu` overrides it (set it before starting Jupyter, e.g.
# `MINIDIFF_BUDGET=quick make lab`).

# %% tags=["nbval-ignore-output"]
print("this run's budget:", minidiff.budget())
steps = minidiff.count(quick=40, cpu=2_000, gpu=15_000)  # how many times: steps, samples, seeds
print("count(quick=40, cpu=2_000, gpu=15_000) ->", steps)

# %% [markdown]
# `pick` can also be asked about a budget by name, which is how you see all three without restarting:

# %%
for name in ("quick", "cpu", "gpu"):
    print(f"{name:>5}: {pick(quick=40, cpu=2_000, gpu=15_000, budget_name=name):>6} training steps")

# %% [markdown]
# **How chapters are tested.** `make test` runs the package's unit tests, then executes every notebook with
# `MINIDIFF_BUDGET=quick` under `pytest --nbval`, which compares each cell's output with the one stored in
# the notebook. Cells whose output depends on the budget, the clock or the machine are tagged
# `nbval-ignore-output` (they must still run without error); the others — shapes, labels, check results —
# are the test.
#
# **How often** something runs — training steps, samples to draw, seeds, repeats — is sized with `count`,
# which takes the same three values. It *is* `pick`, except in **smoke mode**: `make smoke` (and CI) runs
# every notebook with the `gpu` budget on a CPU, where `pick` keeps the `gpu` presets, datasets and
# resolutions, while `count`, training and sampling stop after a couple of iterations. So the `gpu` code a
# Colab learner meets first has run before they click, without a GPU and in seconds.

# %% [markdown]
# ## 3 · Your device
#
# `describe()` is the one line the set-up cell printed; `device()` is where the chapters put their models;
# `torch.get_num_threads()` is how many CPU threads torch uses. The set-up cell decided that once for this
# kernel (1 per notebook under `make test`, which runs two at once; `MINIDIFF_THREADS=n` overrides it), and
# no chapter sets it again.

# %% tags=["nbval-ignore-output"]
print(minidiff.describe())
print("device: ", minidiff.device())
print("threads:", torch.get_num_threads())
print("machine:", minidiff.hardware())

# %% [markdown]
# How fast is it? A 1024 × 1024 matrix product is $2 \cdot 1024^3 \approx 2.1$ GFLOP; time a few and divide.

# %% tags=["nbval-ignore-output"]
dev = minidiff.device()
a, b = torch.randn(1024, 1024, device=dev), torch.randn(1024, 1024, device=dev)
for _ in range(2):  # warm-up (first calls allocate; CUDA also compiles kernels)
    a @ b
repeats = 10
start = time.perf_counter()
for _ in range(repeats):
    c = a @ b
if dev.type == "cuda":
    torch.cuda.synchronize()  # GPU calls return before the work is done
seconds = (time.perf_counter() - start) / repeats
print(f"{seconds * 1e3:.1f} ms per 1024² matmul = {2 * 1024**3 / seconds / 1e9:.0f} GFLOP/s (float32)")

# %% [markdown]
# What to expect: a laptop CPU core does roughly 20–100 GFLOP/s in float32, so two cores train a 4M-parameter
# UNet on 32 × 32 images at about one step a second. A Colab T4 does about 4,000–8,000 GFLOP/s in float32
# (and up to 65 TFLOP/s in float16, which chapter 12's mixed precision uses): the same step takes a few
# milliseconds, so the `gpu` budget trains 10–100× longer in the same wall time.

# %% [markdown]
# ## 4 · The datasets
#
# All five are made on your machine — drawn, rendered or read from your disk — so nothing is downloaded,
# and the same seed gives the same images. Images follow one convention throughout the course: **float32
# tensors of shape (B, 3, H, W) with values in [-1, 1]**.
#
# ### toy2d: points in the plane
#
# Chapter 01 learns flow matching on 2-D point clouds, where you can see every sample. Each distribution is
# scaled to about unit standard deviation.

# %%
from minidiff.data import toy2d

print(toy2d.NAMES)
fig, axes = plt.subplots(1, len(toy2d.NAMES), figsize=(15, 2.8), layout="constrained")
for ax, name in zip(axes, toy2d.NAMES):
    plot.scatter_2d(toy2d.sample(name, 2_000), ax=ax, lim=3, title=name)
plt.show()

# %% [markdown]
# ### shapes: captions with exact labels
#
# One or two coloured shapes on a dark background, each in its own cell of a 3 × 3 grid, with a caption
# that says what is where. Because the images are *drawn from* the labels, a judge can read the labels back
# and check a generated image exactly: this is the course's text-to-image toy.

# %%
from minidiff.data import shapes

shape_images, shape_captions, _ = shapes.sample(16, 32)
_ = plot.show_images(shape_images, shape_captions, nrow=4)

# %% [markdown]
# `shapes.sample(n, size, generator=...)` returns the images, the captions and the labels. Here is one
# example, printed in full (the numbers are fractions of the image width; `cy` grows downwards):

# %%
images, captions, labels = shapes.sample(4, 32, generator=torch.Generator().manual_seed(0))
print(images.shape, images.dtype, f"values in [{images.min():.2f}, {images.max():.2f}]")
print(captions[0])
for obj in labels[0]:
    print({k: round(v, 3) if isinstance(v, float) else v for k, v in obj.items()})

# %% [markdown]
# **One rule for randomness in data.** Every sampler (`toy2d`, `shapes`, `emoji`, `scenes`) takes
# `generator=`, and *without one it is seeded with 0*: the same call gives the same data, in this notebook
# and the next, here and on Colab, so a figure or a judge's score on "real data" does not move when you
# re-run a cell. For another draw, pass `torch.Generator().manual_seed(k)`; for fresh batches in a loop,
# make **one** generator and pass it to every call (each call moves it on). The trap this rule sets:
# a training loop that calls `shapes.sample(64)` without a generator trains on the same 64 images every
# step.


# %%
def eight_shapes(generator=None):
    """Eight 32 px shapes images drawn with generator (None: the default, seeded with 0)."""
    return shapes.sample(8, 32, generator=generator)[0]


seeded_0, moving = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
print("no generator, twice:             same images?", torch.equal(eight_shapes(), eight_shapes()))
print("no generator vs manual_seed(0):  same images?", torch.equal(eight_shapes(), eight_shapes(seeded_0)))
first, second = eight_shapes(moving), eight_shapes(moving)
print("one generator through two calls: same images?", torch.equal(first, second))

# %% [markdown]
# ### emoji: real pictures with names
#
# The Noto Color Emoji font rendered to small RGB images, each captioned with its Unicode name: real,
# varied, recognisable pictures with text. The first call renders every emoji (a few seconds) and caches
# the result under `minidiff.home()` (the package's cache folder, see §5); later calls, in this or any later
# notebook, read the cache.

# %% tags=["nbval-ignore-output"]
from minidiff.data import emoji

for size in (32, 64, 32):
    start = time.perf_counter()
    emoji_images, emoji_names = emoji.load(size)
    print(f"emoji.load({size}): {tuple(emoji_images.shape)} in {time.perf_counter() - start:.2f} s")
print(f"{len(emoji_names)} emoji, e.g. {emoji_names[:3]}; cached in {emoji.cache_path(32).parent}")

# %% [markdown]
# The first timing of each size above is a render (or, on a re-run, a read from the disk cache); the last
# `emoji.load(32)` is the in-memory copy. Here are 24 of them at 64 px:

# %%
index = torch.randperm(len(emoji_names), generator=torch.Generator().manual_seed(0))[:24]
emoji_64, _ = emoji.load(64)
_ = plot.show_images(emoji_64[index], [emoji_names[i] for i in index], nrow=8)

# %% [markdown]
# ### scenes: drawings and the pictures they become
#
# A procedural landscape is drawn from a **semantic map**: each pixel of the map says which class it is (sky,
# cloud, mountain, …) and the renderer paints it with that class's colour, gradient and texture. In chapter
# 09 you draw the map and the model paints the picture. Maps are one-hot tensors `(B, K, H, W)`; the top row
# shows them in the flat palette below, the row under each map is its render.

# %%
from minidiff.data import scenes

for name, rgb in scenes.PALETTE.items():
    print(f"{scenes.CLASSES.index(name)}  {name:<9} {rgb}")
scene_images, scene_maps = scenes.sample(8, 64)
_ = plot.show_maps(scene_maps, scene_images, palette=scenes.PALETTE, classes=scenes.CLASSES)

# %% [markdown]
# ### folder: your own pictures
#
# `folder.load(path, size)` reads every jpg/png/webp under a folder (center-cropped to a square, resized)
# and, when `cat.txt` sits beside `cat.png`, its caption. To see it work without downloading anything, we
# write a few shapes images and their captions to a temporary folder, then load them back:

# %%
from PIL import Image

from minidiff.data import folder

my_pictures = Path(tempfile.mkdtemp(prefix="my_pictures_"))
pictures, texts, _ = shapes.sample(6, 64, generator=torch.Generator().manual_seed(1))
for i, (picture, text) in enumerate(zip(pictures, texts)):
    plot.to_pil(picture).save(my_pictures / f"picture_{i}.png")
    if i % 2 == 0:  # captions are optional: give only every other picture one
        (my_pictures / f"picture_{i}.txt").write_text(text)
print(sorted(p.name for p in my_pictures.iterdir()))

# %%
loaded, loaded_captions = folder.load(my_pictures, size=32)
print(loaded.shape, loaded_captions[:2])
_ = plot.show_images(loaded, [c or "" for c in loaded_captions], nrow=6)

# %% [markdown]
# For your own photos: `folder.load("path/to/photos", 32)` (on Colab, upload them first or mount Drive).
# Nothing is cached: the folder is read every time.

# %% [markdown]
# ## 5 · The judges: numbers you can trust
#
# In every later chapter a model makes images and a **judge** says how good they are: does the image show
# the shapes the caption asked for, does the landscape follow the drawn map, is this emoji recognisable?
# A judge is worth trusting if it scores **≈ 100 % on real data** and **no more than chance on noise**,
# where *chance* is what a judge that ignored the image would score by guessing. We check all three numbers
# here, for each judge, on 256 real images and 256 images of uniform noise in [-1, 1] (judges take float
# images in [-1, 1], the course's convention).

# %%
n_judge = 256
judge_gen = torch.Generator().manual_seed(0)
noise = torch.rand(n_judge, 3, 32, 32, generator=judge_gen) * 2 - 1
results = {}  # judge: main number -> (real, noise, chance), for the table at the end

# %% [markdown]
# ### The shapes judge (analytic, no training)
#
# It finds the regions that differ from the background, reads each one's colour, centroid (→ position)
# and area, and asks which shape drawn there best explains its pixels (→ shape and size). `score` compares
# that with the labels: one accuracy per attribute, and `all`, the fraction of images with the right number
# of objects and every attribute of every object right. Guessing gets each attribute right by chance (one
# of 8 colours, 6 shapes, 9 positions, 2 sizes; 1 or 2 objects) and `all` almost never: all four
# attributes of one object are right with probability $\frac{1}{8 \cdot 6 \cdot 9 \cdot 2} = \frac{1}{864}$.

# %%
from minidiff.judges import shapes as shapes_judge

real_images, _, real_labels = shapes.sample(n_judge, 32, generator=judge_gen)
on_real = shapes_judge.score(real_images, real_labels)
on_noise = shapes_judge.score(noise, real_labels)
guess = dict(shapes_judge.CHANCE)
one_object = guess["colour"] * guess["shape"] * guess["position"] * guess["size"]  # 1/864
guess["all"] = guess["count"] * (one_object + one_object**2) / 2  # one or two objects, equally often
print("real:    ", {k: round(v, 3) for k, v in on_real.items()})
print("noise:   ", {k: round(v, 3) for k, v in on_noise.items()})
print("guessing:", {k: round(v, 4) for k, v in guess.items()})
results["shapes: all attributes right"] = (on_real["all"], on_noise["all"], guess["all"])

# %% [markdown]
# On noise it scores 0, *below* guessing: it does not guess, it finds no shape at all in noise, so there
# is nothing to be right about.
#
# ### The zoo: models trained once and cached
#
# The other two judges are small networks trained on the real data. They, and every model a later chapter
# needs from an earlier one (chapter 06 needs the VAE of 03 and the CLIP of 04), come from the **zoo**: a
# cache that is handed a **recipe**. A recipe (`zoo.Recipe`) sits in the code beside the model it makes and
# says four things: its `name`; `build(config)`, the untrained model; `train(budget)`, which returns the
# trained model, its config, its steps and its metrics; and `data_version` (a model cached from older data
# is refused). `recipe.load()` — the same as `zoo.load(recipe)` — returns the model for the current budget:
# read from the cache when it is there, else trained now and saved (safetensors weights plus a JSON of how
# they were made).
#
# The smallest recipe there is shows the whole life cycle. Its "model" is the mean and spread of the moons;
# "training" measures them on more points the bigger the budget.

# %%
from minidiff import zoo


class Moments(nn.Module):
    """The mean and standard deviation of a 2-D point cloud: the smallest model a zoo can keep."""

    def __init__(self, dim: int = 2):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))


def train_moments(budget: str):
    points = pick(quick=1_000, cpu=10_000, gpu=100_000, budget_name=budget)
    x = toy2d.sample("moons", points)
    model = Moments(dim=2)
    model.mean.copy_(x.mean(dim=0))
    model.std.copy_(x.std(dim=0))
    return model, {"dim": 2}, points, {"std": x.std(dim=0).tolist()}


MOONS = zoo.Recipe(name="moons-moments", build=lambda config: Moments(**config), train=train_moments,
                   data_version=toy2d.DATA_VERSION)  # fmt: skip


def cache_at(folder):
    """A block in which MINIDIFF_HOME (where the zoo keeps its files) is folder; the old value comes back."""
    return mock.patch.dict(os.environ, {"MINIDIFF_HOME": str(folder)})


# %% [markdown]
# In a scratch folder (so your real cache is untouched), load it twice:

# %% tags=["nbval-ignore-output"]
scratch = Path(tempfile.mkdtemp(prefix="zoo_tour_"))
with cache_at(scratch):
    first = MOONS.load(budget="cpu")  # not cached yet: trains it (and says so), then saves it
    again = MOONS.load(budget="cpu")  # cached: reads the files back, checks them, trains nothing
    folder = zoo.paths(MOONS, budget="cpu")[0].parent  # scratch / "zoo"
    print("files:", sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")))
    print({k: zoo.info(MOONS, budget="cpu")[k] for k in ("name", "budget", "steps", "config")})
print(
    "the same numbers came back:", torch.equal(first.mean, again.mean) and torch.equal(first.std, again.std)
)

# %% [markdown]
# The first `load` trained and saved (the line it printed); the second read the two files back and checked
# them (checksum, config, versions) before building the model. **Where the cache lives** is
# `minidiff.home()`: `$MINIDIFF_HOME` if you set it; on Colab, `MyDrive/minidiff` when Google Drive is
# mounted (a Colab runtime forgets its disk when it resets; the set-up cell says how to mount Drive);
# else `~/.cache/minidiff`. A cache that cannot be written — a read-only disk, a mistyped `MINIDIFF_HOME` —
# never throws training away: the model is kept for the rest of this session and one line says where it
# could not be saved. Here the cache folder is asked to live inside a file:

# %% tags=["nbval-ignore-output"]
blocker = scratch / "a_file"
blocker.write_text("a file, where MINIDIFF_HOME expects a folder")
with cache_at(blocker / "minidiff"):
    kept = MOONS.load(budget="cpu")  # trains; cannot save; says so once and keeps the model
    kept_again = MOONS.load(budget="cpu")  # trains nothing: the copy kept for this session
print("kept for this session:", torch.equal(kept.mean, kept_again.mean))

# %% [markdown]
# **Rulers.** A judge is trained one way for *every* budget: its recipe says `ruler=True`, its files carry
# no budget in their name, and the zoo keeps one copy. That is what makes a score at `quick` and a score at
# `gpu` comparable: the same ruler measured both. Other models (the moons above, chapter 03's VAE) train
# longer at bigger budgets and get one file per budget.

# %%
from minidiff.judges import emoji as emoji_judge
from minidiff.judges import scenes as scenes_judge

for recipe in (MOONS, scenes_judge.RECIPE, emoji_judge.RECIPE):
    budgets = [None] if recipe.ruler else ["quick", "cpu", "gpu"]
    files = ", ".join(zoo.paths(recipe, budget=b)[0].name for b in budgets)
    print(f"{recipe.name:<14} ruler={recipe.ruler!s:<5}  {files}")

# %% tags=["nbval-ignore-output"]
print("minidiff.home():", minidiff.home())
print("cached here:", [(row["name"], row["budget"]) for row in zoo.cached()])

# %% [markdown]
# ### The scenes judge (a small segmenter)
#
# It labels every pixel of an image with a class; `score(images, maps)` reports the **pixel accuracy** and
# the mean intersection-over-union against the maps the images were drawn from. Its chance level is the
# score of a judge that ignores the image and answers the most common class (sky) everywhere. The first
# `load` anywhere trains it (about 15 s on one CPU thread).

# %% tags=["nbval-ignore-output"]
scenes_model = scenes_judge.RECIPE.load(device="cpu")
info = zoo.info(scenes_judge.RECIPE)
print({k: info[k] for k in ("name", "budget", "steps", "created")})
print("its held-out metrics when trained:", {k: round(v, 3) for k, v in info["metrics"].items()})

# %% tags=["nbval-ignore-output"]
scene_images, scene_maps = scenes.sample(n_judge, 32, generator=judge_gen)
on_real = scenes_judge.score(scene_images, scene_maps, model=scenes_model)
on_noise = scenes_judge.score(noise, scene_maps, model=scenes_model)
chance = scenes_judge.chance(scene_maps)  # answer "the most common class" everywhere
for what, values in (("real", on_real), ("noise", on_noise), ("chance", chance)):
    print(f"{what:>6}: pixel accuracy {values['pixel_accuracy']:.3f}, mean IoU {values['mean_iou']:.3f}")
results["scenes: pixel accuracy"] = (on_real["pixel_accuracy"], on_noise["pixel_accuracy"],
                                     chance["pixel_accuracy"])  # fmt: skip

# %% [markdown]
# Noise does not score 0 here. A segmenter cannot abstain: it names a class at *every* pixel, noise or not.
# On noise its answers have nothing to do with the map, so they agree with it only by coincidence: if at a
# pixel it says class $k$ with frequency $p_k$ and the maps hold class $k$ there with frequency $q_k$, the two
# agree with probability $\sum_k p_k q_k$. Averaged over the pixels, that predicts the noise score:

# %% tags=["nbval-ignore-output"]
with torch.no_grad():
    answers = scenes_model(noise).argmax(dim=1)  # (B, H, W): the class it names at each pixel of noise
said = F.one_hot(answers, len(scenes.CLASSES)).float().mean(dim=0)  # (H, W, K): p_k at each pixel
drawn = scene_maps.mean(dim=0).permute(1, 2, 0)  # (K, H, W) -> (H, W, K): q_k at each pixel
coincidence = (said * drawn).sum(dim=-1).mean()
print("on noise it says:", {k: round(float(v), 2) for k, v in zip(scenes.CLASSES, said.mean(dim=(0, 1)))})
print("the maps hold:   ", {k: round(float(v), 2) for k, v in zip(scenes.CLASSES, drawn.mean(dim=(0, 1)))})
print(f"agreement by coincidence: {coincidence:.3f}   measured on noise: {on_noise['pixel_accuracy']:.3f}")

# %% [markdown]
# The coincidence rate (0.177) and the measured noise score (0.177) match: the noise score is pure
# coincidence. It is *below* the most-common-class baseline (0.414) because on noise the judge seldom says
# *sky* (0.1 of its answers), the class that covers 0.41 of the maps. So for this judge the bar on noise
# is "no better than chance", not "0". (A generator that paints perfect landscapes but ignores the drawing
# scores *above* that baseline, because all landscapes share a layout: exercise 2.)
#
# ### The emoji judge (a small classifier that can say "none of them")
#
# It names which of the emoji an image shows, and was also trained to spread its belief evenly over all of
# them when the image is *not* an emoji (noise, flat colours, blends of two emoji). An image counts as
# **recognised** when its top class gets ≥ 50 % of the probability. A judge that ignored the image would
# spread its belief evenly too: a confidence of $1/N$ on each of the $N$ emoji, far below 50 %, so
# recognised 0. The first `load` anywhere trains it on the CPU (about a minute).

# %% tags=["nbval-ignore-output"]
emoji_model = emoji_judge.RECIPE.load(device="cpu")  # a ruler: one model for every budget
print({k: zoo.info(emoji_judge.RECIPE)[k] for k in ("name", "budget", "steps", "created")})

# %% [markdown]
# Besides the recognised rate, `score` gives a **Fréchet distance** (FD): fit a Gaussian to the judge's
# features of one set of images and another to a reference set, and measure how far apart they are,
#
# $$\mathrm{FD} = \lVert \mu_a - \mu_b \rVert^2 + \operatorname{Tr}\!\big(\Sigma_a + \Sigma_b -
# 2\,(\Sigma_a^{1/2} \Sigma_b \Sigma_a^{1/2})^{1/2}\big),$$
#
# the formula of FID, in the judge's features instead of Inception's. Here: two disjoint sets of 256 real
# emoji, then noise against the same reference.

# %% tags=["nbval-ignore-output"]
emoji32, _ = emoji.load(32)
order = torch.randperm(len(emoji32), generator=torch.Generator().manual_seed(0))
half_a, half_b = emoji32[order[:n_judge]], emoji32[order[n_judge : 2 * n_judge]]
on_real = emoji_judge.score(half_a, model=emoji_model, reference=half_b)
on_noise = emoji_judge.score(noise, model=emoji_model, reference=half_b)
for what, values in (("real", on_real), ("noise", on_noise)):
    print(f"{what:>5}: recognised {values['recognised']:.3f}, mean confidence "
          f"{values['mean_confidence']:.3f}, FD to other real emoji {values['fd']:.1f}")  # fmt: skip
print(f"chance: recognised 0, mean confidence 1/N = 1/{len(emoji32)} = {1 / len(emoji32):.4f}")
results["emoji: recognised"] = (on_real["recognised"], on_noise["recognised"], 0.0)
results["emoji: mean confidence"] = (
    on_real["mean_confidence"],
    on_noise["mean_confidence"],
    1 / len(emoji32),
)

# %% [markdown]
# On noise the judge says "none of them" just as it was trained to: its confidence is about $1/N$, the
# chance level. But why is the FD between two sets of *real* emoji not 0? Because they are two different,
# finite sets: their means and covariances differ by sampling alone. The gap between the means is the small
# part; the big part is the covariances, $256 \times 256$ matrices estimated from only 256 images each, whose
# errors the matrix square root turns into a positive bias. Both shrink as the sets grow. Over 5 random
# splits of the emoji into two disjoint sets of N:

# %% tags=["nbval-ignore-output"]
from minidiff import metrics

feats = emoji_judge.features(emoji32, model=emoji_model)  # (1280, 256): the features FD is measured in
print(f"{len(feats)} emoji, {feats.shape[1]} features each")
print(f"{'N':>4} {'FD real vs real':>18} {'of which means':>15} {'N x FD':>8}")
for n in (32, 64, 128, 256, 640):
    fds, mean_terms = [], []
    for split in range(5):
        order = torch.randperm(len(feats), generator=torch.Generator().manual_seed(split))
        a, b = feats[order[:n]], feats[order[n : 2 * n]]
        fds.append(metrics.frechet_distance(a, b))
        mean_terms.append(float((a.mean(dim=0) - b.mean(dim=0)).square().sum()))
    fds = torch.tensor(fds)
    print(
        f"{n:>4} {fds.mean():>10.1f} ± {fds.std():<5.1f} {sum(mean_terms) / 5:>15.1f} {n * fds.mean():>8.0f}"
    )

# %% [markdown]
# The real-vs-real FD roughly halves each time N doubles — 1012.7 at N = 32, 242.8 at N = 256, 99.4 at
# N = 640 — and $N \times \mathrm{FD}$ levels off near 60,000 from N = 128 on: a bias that goes as $1/N$,
# far larger than the spread between splits (± 3.9 at N = 256). The means contribute only 8.4 of the 242.8
# at N = 256; the covariances the rest. So the 236.5 printed above is no error: it is one split of the
# N = 256 row, and the best FD a *perfect* generator could get with 256 images. An FD means nothing
# without its N: compare a generator's FD only with FDs at the same N, and print the real-vs-real FD at
# that N beside it (exercise 3 shows a ranking flip when you do not).
#
# ### LPIPS: a perceptual distance between two images
#
# Chapters 03 and 13 compare a reconstruction with its original. LPIPS (Zhang et al. 2018) measures the
# distance in the features of an ImageNet network; the `lpips` package is installed, but the ImageNet
# backbone weights are a download (5–530 MB). **Offline, `minidiff.metrics` does not pretend**: without the
# weights it says so and measures 1 − multi-scale SSIM instead (a published, weight-free perceptual
# measure), and `backend` tells you which one ran.

# %% tags=["nbval-ignore-output"]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    lpips = metrics.LPIPS("alex")
print("backend:", lpips.backend, "|", caught[0].message if caught else "real LPIPS weights found")
noisy = (real_images + 0.2 * torch.randn(real_images.shape, generator=judge_gen)).clamp(-1, 1)
print(f"same image {lpips(real_images, real_images).mean():.3f} · slightly noisy "
      f"{lpips(real_images, noisy).mean():.3f} · noise {lpips(real_images, noise).mean():.3f}")  # fmt: skip

# %% [markdown]
# ### All judges at a glance

# %% tags=["nbval-ignore-output"]
print(f"{'judge: main number':<32}{'real':>8}{'noise':>8}{'chance':>8}")
for what, (real, fake, guessed) in results.items():
    print(f"{what:<32}{real:>8.3f}{fake:>8.3f}{guessed:>8.4f}")

# %% [markdown]
# On real data every judge gives (nearly) full marks. On noise each gives no more than chance: the shapes
# judge 0 (it finds nothing, below guessing), the emoji judge 0 recognised with a confidence of about $1/N$
# (it says "none of them", which is chance), and the scenes judge 0.177, pure coincidence and below its
# most-common-class baseline. That is what makes them rulers: when chapter 05 says that guidance raises
# prompt accuracy, the numbers come from a judge that gives real images full marks and noise no more than
# guessing, not from eyeballing a grid. Every later chapter reports its claim with one of these
# judges (or FD and LPIPS), on a fixed number of samples, with the real-data score — and for FD the
# real-vs-real FD at the same N — beside it.

# %% [markdown]
# ## Exercises
#
# Worked, executed solutions are in `solutions/00_setup.ipynb`. Each exercise asks for a measurement: give
# every mean with its spread over seeds (or splits), and call a difference inconclusive when it is within
# that spread.
#
# 1. **How many samples does a score need?** Make a blurry "generator": draw shapes at 32 px, shrink them to
#    16 px and blow them back up (`F.interpolate`). Score its `all` with the shapes judge on N = 16, 64,
#    256 and 1024 images, 40 seeds each. How does the spread over seeds fall with N — compare it with
#    $\sqrt{p(1-p)/N}$ — and how many images would you need to tell two generators 0.05 apart?
# 2. **Guessing is not noise.** For each judge, score three kinds of images against the same labels, maps or
#    emoji: the real ones; real ones of a *different* draw (a generator that draws perfect pictures but
#    ignores its prompt); and uniform noise, over 5 seeds. For the emoji judge, also count how often it names
#    the emoji that was asked for. Which judges give the prompt-ignoring generator chance, which give it more,
#    and which give it full marks? What does that tell you about what each number measures?
# 3. **Comparing Fréchet distances.** Split the emoji into a reference half and a pool; make a blurry copy of
#    the pool (down to 12 px and back up) and a thumbnail copy (8 px and back). Measure the FD of the pool
#    and of each copy to the reference on N = 64, 128, 256 and 640 images, over 5 random splits. Does a
#    perfect generator measured on 64 images beat the thumbnails measured on 640? From which N can you tell
#    the blurry copy from the real emoji?
# 4. **A wrong map.** Keep a batch of scenes images, overwrite a central square of each *map* with a class
#    that is not there, and measure the scenes judge's pixel accuracy and mean IoU as the square grows. Does
#    the pixel accuracy drop by exactly the fraction of pixels you changed? Does the IoU?
# 5. **A folder round trip.** Write 12 shapes images (32 px PNG, named `picture_0.png` … `picture_11.png`)
#    with their captions to a temporary folder and load them back at 32 px. Do the images and captions come
#    back in the order you wrote them? How far is each pixel from what you wrote, and why exactly that far?
#    Then save them as JPEG instead: how far now, and does the shapes judge still read them right?

# %% tags=["nbval-ignore-output"]
print(minidiff.run_summary())
