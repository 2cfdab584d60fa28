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
# **datasets** (all offline, deterministic by seed) and the **judges** that turn "the samples look fine"
# into a number. Nothing here trains a generator; two small judges are trained (once, then cached).
#
# Reproduces: nothing yet — this chapter sets up the rulers (judges, Fréchet distance, LPIPS) that the
# other chapters' claims are measured with.
#
# Run time: `quick` ≈ 15 s with the judges cached, ≈ 2.5 min the very first time (the scenes judge and the
# emoji judge train once, ≈ 20 s and ≈ 75 s here; see §5) · `cpu` ≈ 35 s with the judges cached (measured
# here), ≈ 2–3 min the first time · `gpu` ≈ the same on a Colab T4 (estimated, not measured: the judges
# train on the CPU).
#
# **Stored outputs:** budget `cpu`, CPU x86_64 (2 cores), 0.2 min.

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
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyBboxPatch

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
# Every chapter sizes its runs with **one call**, `pick(quick=..., cpu=..., gpu=...)`, which returns the value
# for the current **budget**:
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
steps = pick(quick=40, cpu=2_000, gpu=15_000)
print("pick(quick=40, cpu=2_000, gpu=15_000) ->", steps)

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

# %% [markdown]
# ## 3 · Your device
#
# `describe()` is the one line the set-up cell printed; `device()` is where the chapters put their models;
# `torch.get_num_threads()` is how many CPU threads torch uses (the set-up cell decided it: 1 per notebook
# under `make test`, which runs two at once).

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

shape_images, shape_captions, _ = shapes.sample(16, 32)  # no generator: seeded with 0
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
# ### emoji: real pictures with names
#
# The Noto Color Emoji font rendered to small RGB images, each captioned with its Unicode name: real,
# varied, recognisable pictures with text. The first call renders every emoji (a few seconds) and caches
# the result under `MINIDIFF_HOME`; later calls, in this or any later notebook, read the cache.

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
# A judge is only worth trusting if it scores **≈ 100 % on real data** and **≈ chance (or 0) on noise**, so
# we check both here, once, for each of them. Each score below is on 256 real images and 256 images of
# uniform noise in [-1, 1].

# %%
n_judge = 256
judge_gen = torch.Generator().manual_seed(0)
noise = torch.rand(n_judge, 3, 32, 32, generator=judge_gen) * 2 - 1
results = {}  # judge -> (real, noise) of its main number, for the table at the end

# %% [markdown]
# ### The shapes judge (analytic, no training)
#
# It finds the regions that differ from the background, reads each one's colour, centroid (→ position)
# and area, and asks which shape drawn there best explains its pixels (→ shape and size). `score` compares
# that with the labels: `all` is the fraction of images with every attribute of every object right.

# %%
from minidiff.judges import shapes as shapes_judge

real_images, _, real_labels = shapes.sample(n_judge, 32, generator=judge_gen)
on_real = shapes_judge.score(real_images, real_labels)
on_noise = shapes_judge.score(noise, real_labels)
print("real: ", {k: round(v, 3) for k, v in on_real.items()})
print("noise:", {k: round(v, 3) for k, v in on_noise.items()})
print("guessing would score:", {k: round(v, 3) for k, v in shapes_judge.CHANCE.items()})
results["shapes: all attributes right"] = (on_real["all"], on_noise["all"])

# %% [markdown]
# On noise it scores 0, below guessing: it does not *guess*, it finds no shape at all in noise.
#
# ### The zoo: models trained once and cached
#
# The other two judges are small networks. They, and every model a later chapter needs from an earlier one
# (chapter 06 needs the VAE of 03 and the CLIP of 04), come from the **zoo**, a cache handed a *recipe*:
# `zoo.load(recipe)` (or `recipe.load()`) returns the cached model for the current budget, or trains it
# with the recipe the first time and caches the weights (safetensors) and a JSON of how they were made under
# `minidiff.home()`. Recipes live beside the model they train, e.g. `minidiff.judges.scenes.RECIPE`.

# %% tags=["nbval-ignore-output"]
from minidiff import zoo

print("minidiff.home():", minidiff.home(), " (set MINIDIFF_HOME to move it)")
print("cached so far:", [row["name"] for row in zoo.cached()])

# %% [markdown]
# ### The scenes judge (a small segmenter)
#
# It labels every pixel of an image with a class; `score(images, maps)` reports the **pixel accuracy** and
# the mean intersection-over-union against the maps the images were drawn from. The first `zoo.load` trains
# it (about 20 s on one CPU thread at the `quick` budget).

# %% tags=["nbval-ignore-output"]
from minidiff.judges import scenes as scenes_judge

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
results["scenes: pixel accuracy"] = (on_real["pixel_accuracy"], on_noise["pixel_accuracy"])

# %% [markdown]
# ### The emoji judge (a small classifier that can say "none of them")
#
# It names which of the emoji an image shows, and was also trained to spread its belief evenly over all of
# them when the image is *not* an emoji (noise, flat colours, blends of two emoji). An image counts as
# **recognised** when its top class gets ≥ 50 % of the probability. It trains on the CPU the first time (about
# a minute) — the same judge for every budget (a *ruler*), so the zoo keeps one copy for all of them.

# %% tags=["nbval-ignore-output"]
from minidiff.judges import emoji as emoji_judge

emoji_model = emoji_judge.RECIPE.load(device="cpu")  # a ruler: one model for every budget
print({k: zoo.info(emoji_judge.RECIPE)[k] for k in ("name", "budget", "steps", "created")})

# %% [markdown]
# Besides the recognised rate, `score` gives a **Fréchet distance** (FD): fit a Gaussian to the judge's
# features of one set of images and another to a reference set, and measure how far apart they are,
#
# $$\mathrm{FD} = \lVert \mu_a - \mu_b \rVert^2 + \operatorname{Tr}\!\big(\Sigma_a + \Sigma_b -
# 2\,(\Sigma_a^{1/2} \Sigma_b \Sigma_a^{1/2})^{1/2}\big),$$
#
# the formula of FID, in the judge's features instead of Inception's. It is biased upwards for small sets,
# so always compare sets of the same size: here two disjoint halves of the real emoji, then real vs noise.

# %% tags=["nbval-ignore-output"]
emoji32, _ = emoji.load(32)
order = torch.randperm(len(emoji32), generator=torch.Generator().manual_seed(0))
half_a, half_b = emoji32[order[:n_judge]], emoji32[order[n_judge : 2 * n_judge]]
on_real = emoji_judge.score(half_a, model=emoji_model, reference=half_b)
on_noise = emoji_judge.score(noise, model=emoji_model, reference=half_b)
for what, values in (("real", on_real), ("noise", on_noise)):
    print(f"{what:>5}: recognised {values['recognised']:.3f}, mean confidence "
          f"{values['mean_confidence']:.3f}, FD to other real emoji {values['fd']:.1f}")  # fmt: skip
results["emoji: recognised"] = (on_real["recognised"], on_noise["recognised"])

# %% [markdown]
# ### LPIPS: a perceptual distance between two images
#
# Chapters 03 and 13 compare a reconstruction with its original. LPIPS (Zhang et al. 2018) measures the
# distance in the features of an ImageNet network; the `lpips` package is installed, but the ImageNet
# backbone weights are a download (5–530 MB). **Offline, `minidiff.metrics` does not pretend**: without the
# weights it says so and measures 1 − multi-scale SSIM instead (a published, weight-free perceptual
# measure), and `backend` tells you which one ran.

# %% tags=["nbval-ignore-output"]
from minidiff import metrics

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
print(f"{'judge: main number':<32}{'real':>8}{'noise':>8}")
for what, (real, fake) in results.items():
    print(f"{what:<32}{real:>8.3f}{fake:>8.3f}")

# %% [markdown]
# All three are near 1 on real data and near 0 on noise. That is what makes them useful: when chapter 05
# says "guidance raises prompt accuracy from 40 % to 80 %", the number comes from a ruler that gives real
# images full marks and garbage none, not from eyeballing a grid. Every later chapter reports its claim with
# one of these judges (or FD and LPIPS), on a fixed number of samples, with the real-data score beside it.

# %% [markdown]
# ## Exercises
#
# Worked, executed solutions are in `solutions/00_setup.ipynb`.
#
# 1. **Budgets.** Set `os.environ["MINIDIFF_BUDGET"]` to each of `quick`, `cpu`, `gpu` in turn and print
#    `minidiff.budget()` and `pick(quick=1, cpu=2, gpu=3)`. What happens with `"fast"`? Restore the old value.
# 2. **Two objects, read back.** Make a shapes batch where every image has exactly two objects
#    (`shapes.sample(..., objects=(2,))`), read them back with `shapes_judge.read(images)` and print the
#    caption next to what the judge read for a few images. Then score the whole batch.
# 3. **Your favourite emoji.** Find an emoji by name (e.g. every name that contains `"cat"`) with
#    `emoji.names()`, and show its 32 px and 64 px renders side by side. Does the judge recognise it?
# 4. **A wrong map.** Take a few scenes, overwrite a square region of each *map* with another class (the
#    images stay as they are) and measure how the scenes judge's pixel accuracy drops as the square grows.
#    Does it drop by the fraction of pixels you changed?
# 5. **Your own folder.** Build a `folder` dataset from your own pictures (or, offline, from a few scenes
#    renders written to a temporary folder with `.txt` captions), load it at 32 px, show it, and check the
#    images come back in [-1, 1] with the captions in file-name order.

# %% tags=["nbval-ignore-output"]
print(minidiff.run_summary())
