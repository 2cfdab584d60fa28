"""minidiff: the companion package of the minidiff course (build a small image generator from scratch).

The package's floors (imports only go down; tests/test_layers_of_the_package.py checks it):

1. ``settings`` (budget, smoke mode, device, seeds, threads, cache folder), the maths: ``flow``, ``layers``,
   ``guidance``;
2. models (``unet``, ``dit``, ``vae``, ``clip`` and its tokenizer ``text``), ``data/``, ``metrics``,
   ``checkpoint``;
3. ``train``, ``zoo``, ``judges/``, ``recipes/`` (how the zoo trains the models later chapters load),
   ``pipeline`` (text → image);
4. what a notebook or a shell touches: ``plot``, ``live``, ``checks``, ``colab``, ``cli``;
5. ``__init__`` and ``__main__`` (``python -m minidiff``).
"""

from minidiff.settings import VERSION as __version__
from minidiff.settings import (
    budget,
    count,
    describe,
    device,
    hardware,
    home,
    pick,
    run_summary,
    seed_everything,
    smoke,
)

__all__ = ["__version__", "budget", "count", "describe", "device", "hardware", "home", "pick", "run_summary"]
__all__ += ["seed_everything", "smoke"]
