"""The course's reference recipes: how the zoo trains each generator part that later chapters load.

One module per model (``recipes/vae.py`` for chapter 03's autoencoder, ``recipes/clip.py`` for chapter 04's
CLIP, ...), each with a ``RECIPE`` (a :class:`minidiff.zoo.Recipe`) whose ``train(budget)`` sizes itself by
budget. They sit on the third floor, beside ``train`` and ``zoo`` which they use; the models they build
(``minidiff.vae``, ``minidiff.clip``) sit below and know nothing of them.
"""
