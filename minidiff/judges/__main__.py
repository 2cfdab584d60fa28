"""``python -m minidiff.judges``: train (once) and cache the trained judges, so notebooks find them ready."""

from minidiff.judges import emoji, scenes
from minidiff.zoo import paths

for recipe in (scenes.RECIPE, emoji.RECIPE):
    recipe.load(device="cpu")
    print(f"judges: {recipe.name} ready in {paths(recipe)[0]}")
