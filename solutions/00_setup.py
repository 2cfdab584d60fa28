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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minidiff-course/minidiff/blob/v0.1.0/solutions/00_setup.ipynb)

# %% [markdown]
# # 00 · Setup and tour — solutions
#
# Worked solutions to the exercises of [chapter 00](../chapters/00_setup.ipynb). Each one is short; try it
# yourself first.
#
# Run time: `quick` ≈ 10 s with the judges cached (≈ 2 min the first time: it trains the same judges as
# chapter 00) · `cpu` ≈ 15 s with the judges cached (measured here) · `gpu` about the same (estimated).
#
# **Stored outputs:** budget `cpu`, CPU x86_64 (2 cores), 0.1 min.

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
from pathlib import Path

import torch
import torch.nn.functional as F

import minidiff
from minidiff import pick, plot
from minidiff.judges import scenes as scenes_judge
from minidiff.data import emoji, folder, scenes, shapes
from minidiff.judges import emoji as emoji_judge
from minidiff.judges import shapes as shapes_judge

minidiff.seed_everything(0)

# %% [markdown]
# ## 1 · Budgets
#
# `budget()` reads `MINIDIFF_BUDGET` every time it is called, so changing the variable changes what `pick`
# returns at once. An unknown name is refused with a message that lists the valid ones.

# %%
saved = os.environ.get("MINIDIFF_BUDGET")
for name in ("quick", "cpu", "gpu", "fast"):
    os.environ["MINIDIFF_BUDGET"] = name
    try:
        print(f"{name:>5}: budget() = {minidiff.budget()}, pick(1, 2, 3) = {pick(quick=1, cpu=2, gpu=3)}")
    except ValueError as error:
        print(f"{name:>5}: ValueError: {error}")
if saved is None:
    del os.environ["MINIDIFF_BUDGET"]
else:
    os.environ["MINIDIFF_BUDGET"] = saved

# %% [markdown]
# ## 2 · Two objects, read back by the judge
#
# `objects=(2,)` allows only two objects per image. The judge returns, for each image, the objects it saw
# (largest first) as dicts shaped like the labels.

# %%
images, captions, labels = shapes.sample(64, 32, generator=torch.Generator().manual_seed(2), objects=(2,))
seen = shapes_judge.read(images)
for caption, objects in list(zip(captions, seen))[:3]:
    print("caption:", caption)
    print("   read:", shapes.caption(objects))
print({k: round(v, 3) for k, v in shapes_judge.score(images, labels).items()})

# %%
plot.show_images(images[:8], [shapes.caption(objects) for objects in seen[:8]], nrow=8, title="as read")

# %% [markdown]
# ## 3 · Your favourite emoji, at 32 and 64 px
#
# `emoji.names()` lists the names in the order of `emoji.load()`. To show both sizes side by side in one
# grid, the 32 px render is enlarged ×2 with nearest-neighbour (every pixel becomes a 2 × 2 block), so you
# see exactly what a 32 px model works with.

# %% tags=["nbval-ignore-output"]
_ = (
    emoji.load(32),
    emoji.load(64),
)  # the first use renders and caches them (a few seconds), later ones read them
judge = scenes_judge.RECIPE.load(device="cpu")  # for exercise 4: trained in chapter 00 (or now, once)
print("ready")

# %%
names = emoji.names()
cats = [i for i, name in enumerate(names) if "cat" in name.split()]
print(len(cats), "emoji with the word 'cat':", [names[i] for i in cats])

# %%
small, large = emoji.load(32)[0][cats[:4]], emoji.load(64)[0][cats[:4]]
small_enlarged = F.interpolate(small, scale_factor=2, mode="nearest")  # (B, 3, 32, 32) -> (B, 3, 64, 64)
pairs = torch.stack([small_enlarged, large], dim=1).flatten(0, 1)  # 32 px, 64 px, 32 px, ...
pair_captions = [f"{names[i]} ({px} px)" for i in cats[:4] for px in (32, 64)]
plot.show_images(pairs, pair_captions, nrow=8)

# %% tags=["nbval-ignore-output"]
indices, confidences = emoji_judge.identify(small)
for i, j, confidence in zip(cats[:4], indices.tolist(), confidences.tolist()):
    print(f"{names[i]:<28} judged as {names[j]!r} with confidence {confidence:.2f}")

# %% [markdown]
# ## 4 · A wrong map
#
# The images stay as they are; a `side × side` square in the middle of each map is relabelled to a class
# that is not there (we pick "water" where the square's most common class is something else, else "rock").
# The judge still reads the image correctly, so its agreement with the *corrupted* map drops by about the
# fraction of pixels we changed.

# %%
scene_images, scene_maps = scenes.sample(64, 32, generator=torch.Generator().manual_seed(4))


def corrupt(maps, side):
    """A copy of one-hot maps (B, K, H, W) whose central side×side square says another class."""
    maps = maps.clone()
    lo = (maps.shape[-1] - side) // 2
    square = maps[:, :, lo : lo + side, lo : lo + side]  # a view: writing to it writes to maps
    common = square.sum(dim=(2, 3)).argmax(dim=1)  # (B,) the square's most common class
    wrong = torch.where(common == scenes.WATER, scenes.ROCK, scenes.WATER)
    square.zero_()
    square[torch.arange(len(maps)), wrong] = 1.0
    return maps


# %% tags=["nbval-ignore-output"]
print(f"{'side':>4} {'changed':>8} {'pixel accuracy':>15}")
for side in (0, 4, 8, 12, 16, 24, 32):
    bad_maps = corrupt(scene_maps, side)
    changed = float((bad_maps.argmax(1) != scene_maps.argmax(1)).float().mean())
    accuracy = scenes_judge.score(scene_images, bad_maps, model=judge)["pixel_accuracy"]
    print(f"{side:>4} {changed:>8.3f} {accuracy:>15.3f}")

# %% [markdown]
# Pixel accuracy ≈ (its value on the true maps) − (fraction changed): the judge measures what the image
# shows, whatever the map says — exactly what we want from it when a generator ignores part of a drawing.
# The maps as drawn and as corrupted, above the same images:

# %%
plot.show_maps(torch.cat([scene_maps[:4], corrupt(scene_maps[:4], 12)]), torch.cat([scene_images[:4]] * 2),
               palette=scenes.PALETTE, classes=scenes.CLASSES, nrow=8)  # fmt: skip

# %% [markdown]
# ## 5 · A folder of your own pictures
#
# Offline, we write eight scenes renders at 64 px with a caption each (the classes they contain) to a
# temporary folder. With your own pictures, skip the writing and pass your folder's path.

# %%
my_folder = Path(tempfile.mkdtemp(prefix="my_scenes_"))
renders, maps = scenes.sample(8, 64, generator=torch.Generator().manual_seed(5))
for i, (render, scene_map) in enumerate(zip(renders, maps)):
    plot.to_pil(render).save(my_folder / f"scene_{i:02d}.png")
    present = [scenes.CLASSES[k] for k in scene_map.sum(dim=(1, 2)).nonzero().flatten().tolist()]
    (my_folder / f"scene_{i:02d}.txt").write_text(", ".join(present))

loaded, loaded_captions = folder.load(my_folder, size=32)
print(loaded.shape, f"values in [{loaded.min():.2f}, {loaded.max():.2f}]")
print(loaded_captions[:2])

# %%
_ = plot.show_images(*folder.load(my_folder, 64), nrow=8)

# %% tags=["nbval-ignore-output"]
print(minidiff.run_summary())
