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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minidiff-course/minidiff/blob/v0.1.0/solutions/03_vae.ipynb)

# %% [markdown]
# # 03 · A VAE — worked solutions
#
# Solutions to the exercises of chapter 03, each with a measurement. Every run is the chapter's recipe
# (`minidiff.recipes.vae.fit`: the `tiny` VAE on the 1,152 training emoji, batch 64), shortened to the
# same number of steps for every variant and repeated with three seeds; numbers are measured on the 128
# held-out emoji and reported as mean ± standard deviation over the seeds. A difference counts only when
# it is larger than twice its standard error, and is called inconclusive otherwise.
#
# **Run time:** `quick` < 1 min (CI, 2 CPU cores) · `cpu` ≤ 10 min on a 2-core laptop CPU ·
# `gpu` ≈ 5 min on a Colab T4 (estimated, not measured).
#
# **Stored outputs:** budget `cpu`, CPU x86_64 (2 cores), 9.7 min from kernel start to the last cell.

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
import torch

import minidiff
from minidiff import count, plot
from minidiff.metrics import LPIPS, psnr
from minidiff.recipes import vae as recipe
from minidiff.vae import kl_per_channel, perceptual_distance

# %% [markdown]
# One helper trains a VAE with the recipe's settings changed by `changes`, for `STEPS` steps and a seed,
# and measures it on the held-out emoji: PSNR, the perceptual distance (1 − multi-scale SSIM here, the
# offline fallback of `metrics.LPIPS`), the KL per latent channel (nats per image) and the std of the raw
# latents. `compare` runs a variant for every seed and prints the means and spreads.

# %% tags=["nbval-ignore-output"]
STEPS = count(quick=8, cpu=120, gpu=1_500)
SEEDS = range(count(quick=1, cpu=3, gpu=3))
_, held_out, _ = recipe.split()
lpips = LPIPS()


def run(seed, **changes):
    """Train the recipe's VAE with `changes` for STEPS steps; its numbers on the held-out emoji."""
    model, _ = recipe.fit(steps=STEPS, seed=seed, progress=False, **changes)
    recon = recipe.reconstruct(model, held_out)
    with torch.no_grad():
        mean, logvar = model.posterior(held_out)
    return {
        "psnr": float(psnr(recipe.pixels(recon), held_out).mean()),
        "perceptual": float(perceptual_distance(lpips, recon, held_out).mean()),
        "kl": kl_per_channel(mean, logvar).mean(0),  # (C,) nats per image
        "raw_std": float(mean.std()),
        "recon": recon[:8],
    }


def stats(runs, key):
    values = torch.tensor([float(r[key].sum()) if key == "kl" else r[key] for r in runs])
    return float(values.mean()), float(values.std()) if len(values) > 1 else 0.0


def compare(variants):
    """{name: changes} -> {name: [run per seed]}; prints mean ± std over the seeds."""
    out = {name: [run(seed, **changes) for seed in SEEDS] for name, changes in variants.items()}
    print(f"{STEPS} steps, seeds {list(SEEDS)}; mean ± std over seeds")
    for name, runs in out.items():
        cells = [
            f"{key} {m:.3f} ± {s:.3f}"
            for key in ("psnr", "perceptual", "kl", "raw_std")
            for m, s in [stats(runs, key)]
        ]
        channels = torch.stack([r["kl"] for r in runs]).mean(0)
        print(
            f"{name:16s} " + "   ".join(cells) + f"   KL per channel {[round(float(v), 1) for v in channels]}"
        )
    return out


def verdict(a, b, key, runs):
    """Is the mean of `key` different between variants a and b by more than twice its standard error?"""
    (ma, sa), (mb, sb) = stats(runs[a], key), stats(runs[b], key)
    se = ((sa**2 + sb**2) / len(SEEDS)) ** 0.5
    call = "inconclusive" if len(SEEDS) < 2 or abs(ma - mb) <= 2 * se else ("higher" if mb > ma else "lower")
    print(f"{key}: {b} vs {a}: {mb - ma:+.3f} (2 standard errors: {2 * se:.3f}) → {call}")


# %% [markdown]
# ## Exercise 1 · The KL weight
#
# Three weights two orders of magnitude apart, the chapter's $10^{-4}$ in the middle.

# %% tags=["nbval-ignore-output"]
kl_runs = compare(
    {"kl 1e-6": dict(kl_weight=1e-6), "kl 1e-4": dict(kl_weight=1e-4), "kl 1e-2": dict(kl_weight=1e-2)}
)
verdict("kl 1e-4", "kl 1e-6", "psnr", kl_runs)
verdict("kl 1e-4", "kl 1e-2", "psnr", kl_runs)
verdict("kl 1e-4", "kl 1e-6", "raw_std", kl_runs)

# %% [markdown]
# In the stored run (120 steps, three seeds) the KL weight decides how much the latents may say. At
# $10^{-2}$ the posterior collapses: the KL is 0.023 ± 0.028 nats per image, every channel at 0.0, the raw
# latents have std 0.011, and the decoder can only paint an average emoji (PSNR 12.030 ± 0.020 dB against
# 19.196 ± 0.319 at $10^{-4}$, 7.166 dB lower). At $10^{-6}$ the latents carry almost four times as much
# (731.919 nats against 189.315), reconstruct slightly better (+0.510 dB, just above its 0.399 two standard
# errors) and spread wider (raw std 1.123 against 0.800). Between $10^{-6}$ and $10^{-4}$ the weight costs
# little quality and keeps the latents tamer; that is why the recipe uses $10^{-4}$. Note that at $10^{-4}$
# the four channels carry unequal amounts (53.5, 14.8, 89.6 and 31.4 nats).
#
# ## Exercise 2 · Free bits
#
# At the strong weight $10^{-2}$, give every channel `BITS` nats for free: the KL of a channel counts as
# max(BITS, its batch mean), so a channel under BITS is not pushed towards the prior.

# %% tags=["nbval-ignore-output"]
BITS = 8.0
bits_runs = {"kl 1e-2": kl_runs["kl 1e-2"]} | compare(
    {f"kl 1e-2, {BITS:g} bits": dict(kl_weight=1e-2, bits=BITS)}
)
verdict("kl 1e-2", f"kl 1e-2, {BITS:g} bits", "psnr", bits_runs)
verdict("kl 1e-2", f"kl 1e-2, {BITS:g} bits", "kl", bits_runs)

# %% [markdown]
# Free bits bring the collapsed channels back: with 8 free nats per channel at weight $10^{-2}$ each
# channel carries 5.4 to 6.9 nats (24.933 ± 0.758 in all, against 0.023), and PSNR rises by 3.428 dB to
# 15.458 ± 0.123, far above its 0.144 two standard errors. The channels settle *under* the 8 nats, where
# the KL has no gradient, because the squared error alone decides there. It is still far below the
# 19.196 dB of the weak weight: free bits stop the collapse; they do not make a strong weight cheap.
#
# ## Exercise 3 · The perceptual term
#
# The chapter's recipe (perceptual weight 0.1) against the same without it.

# %% tags=["nbval-ignore-output"]
perc_runs = {"with (0.1)": kl_runs["kl 1e-4"]} | compare({"without": dict(perceptual_weight=0.0)})
verdict("with (0.1)", "without", "psnr", perc_runs)
verdict("with (0.1)", "without", "perceptual", perc_runs)
_ = plot.show_images(
    torch.cat([held_out[:8], perc_runs["with (0.1)"][0]["recon"], perc_runs["without"][0]["recon"]]),
    nrow=8,
    title="held out / with the perceptual term / without (seed 0)",
    scale=1.1,
)

# %% [markdown]
# Without the perceptual term PSNR is the same within the noise (−0.205 dB, two standard errors 0.465:
# inconclusive), and the perceptual distance (here 1 − multi-scale SSIM) is worse by 0.020, just above
# its 0.017 two standard errors: a small effect at this budget, in the expected direction. The term
# optimises the very measure it is judged by, so this says less than a real LPIPS term judged by a
# different network would; side by side (above) the two sets of reconstructions look alike to the eye.
#
# ## Exercise 4 · Eight latent channels
#
# 8×8×8 latents (512 numbers, 6× fewer than the image) against the chapter's 4×8×8 (256).

# %% tags=["nbval-ignore-output"]
chan_runs = {"4 channels": kl_runs["kl 1e-4"]} | compare({"8 channels": dict(config={"latent_channels": 8})})
verdict("4 channels", "8 channels", "psnr", chan_runs)
verdict("4 channels", "8 channels", "perceptual", chan_runs)

# %% [markdown]
# Eight channels do not reconstruct measurably better after 120 steps: PSNR +0.160 dB (two standard
# errors 0.396) and perceptual distance −0.006 (0.015): inconclusive. At this budget the model's capacity
# and training, not the 256 latent numbers, limit the reconstructions; the 8-channel model uses its room
# unevenly (7.9 to 71.3 nats per channel). Twice the channels would double the denoiser's input, so the
# recipe keeps 4.
#
# ## Conclusions
#
# - The KL weight is the lever that matters: $10^{-2}$ collapses every channel (PSNR −7.166 dB), while
#   $10^{-6}$ and $10^{-4}$ reconstruct within 0.510 dB of each other.
# - Free bits (8 nats per channel) prevent the collapse at the strong weight (+3.428 dB) but do not recover
#   the weak weight's quality (15.458 against 19.196 dB).
# - The perceptual term (1 − MS-SSIM offline) helps its own measure slightly and leaves PSNR unchanged;
#   8 latent channels are inconclusive at 120 steps.

# %% tags=["nbval-ignore-output"]
print(minidiff.run_summary())
