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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minidiff-course/minidiff/blob/v0.1.0/chapters/05_conditioning.ipynb)
# and its workbook, to write the `my_*` code yourself with checks: [![Open the workbook in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minidiff-course/minidiff/blob/v0.1.0/workbooks/05_conditioning.ipynb)

# %% [markdown]
# # 05 · Conditioning and classifier-free guidance
#
# Chapters 01–02 sampled *some* image from the data. Now we ask for a particular one: "a small red circle
# at the top left". The denoiser gets a second input, the caption, read through chapter 04's CLIP text
# encoder, and learns the velocity field of the images that match it. Two mechanisms carry the text in,
# as in Stable Diffusion (Rombach et al. 2022, §3.3): a pooled text vector added to the time embedding,
# and **cross-attention**, where every pixel of the feature map looks up the caption's tokens. Then
# **classifier-free guidance** (Ho & Salimans 2022) trades variety for obedience with one number, and the
# **guidance interval** (Kynkäänniemi et al. 2024) spends that number only where it helps.
#
# **Run time:** `quick` < 1 min (CI, 2 CPU cores) · `cpu` ≤ 10 min on a 2-core laptop CPU ·
# `gpu` ≈ 15 min on a Colab T4 (estimated, not measured).
#
# **Stored outputs:** budget `cpu`, CPU x86_64 (2 cores), 7.9 min from kernel start to the last cell.

# %% [markdown]
# **You will:**
# 1. build `MyCrossAttnBlock`, the layer through which pixels read text, and check it against the package,
# 2. build condition dropout (`my_drop_condition`) and guidance (`my_guided`), and check them,
# 3. train a text-conditioned UNet on shapes, captions encoded by chapter 04's CLIP,
# 4. measure prompt accuracy (colour and shape both right, read back by the shapes judge) against the
#    guidance scale, with its spread, and what guidance costs in variety,
# 5. try the guidance interval, prompts with colour × shape pairs the model never saw, and a live slider.

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
import matplotlib.pyplot as plt
import torch
from torch import nn

import minidiff
from minidiff import checks, count, flow, guidance, live, pick, plot
from minidiff.data import shapes
from minidiff.judges import shapes as shapes_judge
from minidiff.recipes import clip as clip_recipe
from minidiff.unet import PRESETS, UNet, UNetConfig, count_parameters, group_norm, zero_init

# %% [markdown]
# ## 1 · The caption, as the denoiser sees it
#
# Chapter 04 trained a CLIP on shapes and emoji with their captions; the zoo keeps it (and trains it
# here, with a progress bar, if this machine has not run chapter 04 yet). We use only its **text
# encoder**, frozen: `clip_model.text_condition` turns captions into one vector per token, $(B, L, D)$,
# with a mask that marks the real tokens among the padding, and a pooled vector for the whole caption.
# The shapes here hold one object each, and captions name its size, colour, shape and place. Six colour
# × shape pairs (`shapes.HELD_OUT`) never appear in training, neither for CLIP nor for the denoiser: at
# the end we ask for them anyway.

# %% tags=["nbval-ignore-output"]
clip_model = clip_recipe.RECIPE.load().eval()
device = minidiff.device()


def encode(captions):
    """Captions → {cond (B, D), context (B, L, D_text), context_mask (B, L)}: what the UNet reads."""
    return clip_model.text_condition(captions)


example = ["a small red circle at the top left", "a large blue star at the center"]
text = encode(example)
print({key: tuple(value.shape) for key, value in text.items()})
print("tokens:", [clip_model.tokenizer.tokens(caption) for caption in example])
print("held-out colour × shape pairs:", sorted(shapes.HELD_OUT))

# %% [markdown]
# ## 2 · Cross-attention
#
# Self-attention (chapter 02) lets pixels look at other pixels. Cross-attention takes its **queries from
# the pixels** and its **keys and values from the text tokens**:
#
# $$\mathrm{CrossAttn}(h, c) = \mathrm{softmax}\!\left(\frac{(h W_Q)(c W_K)^\top}{\sqrt{d}}\right) c\, W_V$$
#
# with $h$ the $H \cdot W$ pixel features $(B, HW, C)$ and $c$ the tokens $(B, L, D)$. Each pixel mixes
# the tokens it finds relevant: the pixels where a star should go can attend to "star" and "top left".
# Padding tokens are masked out of the softmax. `minidiff.layers.Attention(ch, heads, context_dim=D)`
# already does this (chapter 02 built it with that hook); the block around it normalises the feature map,
# flattens it to tokens and adds the result back, zero-initialised like `AttnBlock`.

# %% tags=["exercise"]
from einops import rearrange

from minidiff.layers import Attention


class MyCrossAttnBlock(nn.Module):
    def __init__(self, ch: int, context_dim: int, heads: int, groups: int = 32):
        """norm = group_norm(ch, groups); attn = Attention(ch, heads, context_dim); zero-init attn.to_out."""
        super().__init__()
        self.norm = group_norm(ch, groups)
        self.attn = Attention(ch, heads, context_dim=context_dim)
        zero_init(self.attn.to_out)

    def forward(self, x, context, mask=None):
        """x (B, C, H, W) → pixels as tokens (B, HW, C) → attn(tokens, context, mask) → back, plus x."""
        H, W = x.shape[-2:]
        tokens = rearrange(self.norm(x), "B C H W -> B (H W) C")
        out = self.attn(tokens, context, mask)  # (B, HW, C)
        return x + rearrange(out, "B (H W) C -> B C H W", H=H, W=W)


checks.check_cross_attn_block(MyCrossAttnBlock)

# %% [markdown]
# **Hand over.** `UNetConfig(context_dim=D)` puts a `CrossAttnBlock` after every self-attention (the
# levels in `attn_levels`) and in the middle, and `cond_dim=D` adds the pooled vector to the time
# embedding. Everything else is chapter 02's UNet. Cross-attention at the 8×8 level is cheap: 64 pixels
# attend to at most 32 tokens.

# %% tags=["nbval-ignore-output"]
PRESET = pick(quick="tiny", cpu="tiny", gpu="small")
SIZE = 32
config = UNetConfig(**PRESETS[PRESET], cond_dim=text["cond"].shape[-1], context_dim=text["context"].shape[-1])
plain = count_parameters(UNet(UNetConfig(**PRESETS[PRESET])))
model = UNet(config)
print(f"UNet {PRESET}: {plain:,} parameters unconditional, {count_parameters(model):,} with text")
print(
    "cross-attention blocks:",
    [name for name, m in model.named_modules() if type(m).__name__ == "CrossAttnBlock"],
)

# %% [markdown]
# ## 3 · Classifier-free guidance
#
# A conditional model learns $v(x_t, t \mid c)$. Sampled as it is (scale 1), it often draws something
# *plausible* that only roughly fits the caption. Classifier guidance (Dhariwal & Nichol 2021) pushed
# samples towards $\nabla \log p(c \mid x_t)$, the direction that makes a classifier more sure of $c$. By
# Bayes, $\log p(c \mid x) = \log p(x \mid c) - \log p(x) + \text{const}$, so the same push is the
# difference between a conditional and an unconditional model, and we need no classifier:
#
# $$\tilde v = v(x_t, t \mid \varnothing) + w \,\big(v(x_t, t \mid c) - v(x_t, t \mid \varnothing)\big)$$
#
# $w = 1$ is the conditional model, $w = 0$ the unconditional one, $w > 1$ extrapolates past the
# conditional one, towards images that fit the caption *more* than typical ones do. One network learns
# both terms: in training, each caption is replaced by "no condition" $\varnothing$ with probability
# $p \approx 0.1$ (**condition dropout**). Here $\varnothing$ is the condition zeroed
# (`guidance.null_like`: zero vectors, one zero token left to attend to).


# %% tags=["exercise"]
def my_drop_condition(cond, p, generator=None):
    """Zero each row of cond (B, D) with probability p: one coin per sample, kept rows unchanged."""
    drop = torch.rand(cond.shape[0], generator=generator) < p  # (B,)
    return torch.where(drop[:, None], torch.zeros_like(cond), cond)


checks.check_drop_condition(my_drop_condition)

# %% [markdown]
# Guidance needs two predictions at every step. Rather than two forward passes, stack the conditional
# and unconditional inputs into one batch of $2B$ and split the output: one bigger pass is faster than
# two small ones. The **interval** $[t_\text{low}, t_\text{high}]$ applies the scale only at those times
# (scale 1, one pass of $B$, elsewhere); `my_guided` returns a denoiser `fn(xt, t)` that the samplers of
# chapter 01 take in place of the model.


# %% tags=["exercise"]
def my_guided(model, cond, scale, interval=(0.0, 1.0)):
    """fn(xt, t): one pass over [cond; zeros] (2B), then uncond + s * (cond - uncond); s = scale inside."""
    low, high = interval

    def fn(xt, t):
        both = torch.cat([cond, torch.zeros_like(cond)])  # (2B, D): conditional, then "no condition"
        out_cond, out_uncond = model(torch.cat([xt, xt]), torch.cat([t, t]), both).chunk(2)
        s = torch.where((t >= low) & (t <= high), scale, 1.0).view(-1, *[1] * (xt.ndim - 1))  # (B, 1, 1, 1)
        return out_uncond + s * (out_cond - out_uncond)

    return fn


checks.check_guided(my_guided)

# %% [markdown]
# **Hand over.** `minidiff.guidance` does the same for a condition that is a dict of tensors (pooled
# vector, tokens, mask): `drop_condition(cond, p)`, `guided(model, cond, scale, interval)`; and it skips
# the unconditional half where the scale is 1.
#
# ## 4 · Train
#
# Flow matching exactly as before, with the caption's encoding as the condition and 10 % of them dropped.
# The data are one-object shapes without the held-out pairs (`shapes.sample_split`); CLIP stays frozen.

# %% tags=["nbval-ignore-output"]
from minidiff.live import LivePlot
from minidiff.train import TrainConfig, train

STEPS = count(quick=60, cpu=2_500, gpu=12_000)
BATCH = pick(quick=16, cpu=32, gpu=128)
P_DROP = 0.1


def data(batch_size, generator):
    """One-object shapes without a held-out pair, with their captions encoded by CLIP."""
    images, captions, _ = shapes.sample_split(batch_size, SIZE, generator=generator, objects=(1,))
    return images, encode(captions)


def loss_fn(model, batch):
    images, cond = batch
    return flow.flow_loss(model, images, cond=guidance.drop_condition(cond, P_DROP))


minidiff.seed_everything(0)
model = UNet(config)
cfg = TrainConfig(steps=STEPS, batch_size=BATCH, lr=2e-3, warmup=100, ema_decay=0.995, log_every=25)
history = train(model, loss_fn, data, cfg, live=LivePlot(title=f"text-conditioned UNet {PRESET}"))
denoiser = history.ema.eval()
print(f"{STEPS} steps in {history.wall_time:.0f} s; final loss {sum(history.losses[-50:]) / 50:.4f}")

# %% [markdown]
# ## 5 · Look
#
# Eight captions, each sampled from the same noise at guidance scale 1 (top) and 4 (bottom):

# %% tags=["nbval-ignore-output"]
SAMPLE_STEPS = pick(quick=3, cpu=8, gpu=20)


def generate(captions, noise, scale, interval=(0.0, 1.0)):
    """Samples in [-1, 1] for `captions` from `noise` (Heun), guided at `scale` within `interval`."""
    cond = {key: value.to(device) for key, value in encode(captions).items()}
    fn = guidance.guided(denoiser, cond, scale, interval)
    return flow.heun(fn, noise.to(device), SAMPLE_STEPS).clamp(-1, 1).cpu()


look_images, look_captions, _ = shapes.sample_split(
    8, SIZE, generator=torch.Generator().manual_seed(7), objects=(1,)
)
look_noise = torch.randn(8, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(8))
rows = [look_images, generate(look_captions, look_noise, 1.0), generate(look_captions, look_noise, 4.0)]
_ = plot.show_images(torch.cat(rows), captions=look_captions + [""] * 16, nrow=8,
                     title="rows: real, guidance scale 1, guidance scale 4", scale=1.3)  # fmt: skip

# %% [markdown]
# ## 6 · Measure: prompt accuracy against the guidance scale
#
# For `N_EVAL` captions drawn from the training distribution (new images, unseen noise) we sample at each
# scale from the **same noise** and let the shapes judge read each sample back. A sample is *right* when
# the judge finds one object whose colour and shape are the caption's. The spread is the binomial
# standard error; differences between two scales are paired (same captions, same noise), so we give them
# a paired bootstrap standard deviation.

# %% tags=["nbval-ignore-output"]
N_EVAL = count(quick=32, cpu=256, gpu=1_024)
SCALES = (1.0, 1.5, 2.0, 3.0, 4.5, 6.0)


def right(images, labels):
    """(B,) bool: the judge reads exactly one object and its colour and shape are the caption's."""
    found = shapes_judge.read(images)
    pairs = lambda objects: [(obj["colour"], obj["shape"]) for obj in objects]  # noqa: E731
    return torch.tensor([pairs(seen) == pairs(wanted) for seen, wanted in zip(found, labels)])


def accuracy(hits):
    p = hits.float().mean().item()
    return p, (p * (1 - p) / len(hits)) ** 0.5


def paired_difference(a, b, resamples=1_000, seed=0):
    """Mean of b - a (bool per sample) and its bootstrap standard deviation over resampled samples."""
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(len(a), (resamples, len(a)), generator=generator)
    diffs = b.float()[index].mean(1) - a.float()[index].mean(1)
    return (b.float().mean() - a.float().mean()).item(), diffs.std().item()


def evaluate(seed, held_out=False, scales=SCALES, interval=(0.0, 1.0)):
    generator = torch.Generator().manual_seed(seed)
    real, captions, labels = shapes.sample_split(
        N_EVAL, SIZE, held_out=held_out, generator=generator, objects=(1,)
    )
    noise = torch.randn(N_EVAL, 3, SIZE, SIZE, generator=generator)
    samples = {scale: generate(captions, noise, scale, interval) for scale in scales}
    return real, labels, samples, {scale: right(images, labels) for scale, images in samples.items()}


real, labels, sweep, hits = evaluate(seed=100)
real_hits = right(real, labels)  # the real images of the same captions
print(f"real images:  {accuracy(real_hits)[0]:.3f}   (the judge's own ceiling)")
print(f"chance:       {1 / (len(shapes.COLOURS) * len(shapes.SHAPES)):.3f}   (a random colour and shape)")
for scale in SCALES:
    p, se = accuracy(hits[scale])
    print(f"scale {scale:3.1f}:    {p:.3f} ± {se:.3f}")

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(5, 3.4), layout="constrained")
values = [accuracy(hits[scale]) for scale in SCALES]
ax.errorbar(SCALES, [v[0] for v in values], [v[1] for v in values], fmt="o-", capsize=3, label="samples")
ax.axhline(accuracy(real_hits)[0], color="C2", ls="--", label="real images")
ax.axhline(1 / 48, color="C3", ls=":", label="chance")
ax.set(xlabel="guidance scale w", ylabel="prompt accuracy (colour and shape)", ylim=(0, 1.05),
       title=f"{N_EVAL} captions, {STEPS} training steps")  # fmt: skip
ax.legend(frameon=False)
plt.show()

# %% [markdown]
# The best scale above is picked on these same samples, which flatters it. So we measure scale 1 and the
# best scale again on **fresh** captions and noise (seed 200), and that is the number we report.

# %% tags=["nbval-ignore-output"]
best = max(SCALES[1:], key=lambda scale: hits[scale].float().mean().item())
_, fresh_labels, fresh, fresh_hits = evaluate(seed=200, scales=(1.0, best))
gain, gain_sd = paired_difference(fresh_hits[1.0], fresh_hits[best])
print(f"fresh captions, scale 1.0: {accuracy(fresh_hits[1.0])[0]:.3f} ± {accuracy(fresh_hits[1.0])[1]:.3f}")
print(
    f"fresh captions, scale {best}: {accuracy(fresh_hits[best])[0]:.3f} ± {accuracy(fresh_hits[best])[1]:.3f}"
)
print(f"guidance adds {100 * gain:+.1f} ± {100 * gain_sd:.1f} points (goal: at least +20)")

# %% [markdown]
# **What we measured** (the sweep and the fresh set above, 256 captions each): guidance helps, steadily
# but modestly. On the sweep, accuracy rises from 0.316 ± 0.029 at scale 1 to 0.387 ± 0.030 at scale 6,
# against 1.000 for real images and 0.021 for chance. On fresh captions, scale 6 against scale 1 is
# 0.352 against 0.242: **+10.9 ± 3.2 points**, well above the noise but **short of the +20 goal**. What
# limits it is the model, not guidance: colour, size and place come out right almost always (look at
# the grids), while the shape is often a blob the judge cannot tell from its neighbours. The objects are
# 5 to 8 pixels across, this UNet trained for 2,500 steps of 32 images, and chapter 04's CLIP itself
# tells shapes apart only partly (its 48-way colour × shape test). A longer run (the `gpu` budget) is
# the first thing to try.
#
# **What guidance costs.** A caption fixes colour, shape, size class and grid cell, but leaves some
# freedom: the data place the object anywhere in its cell that fits and vary its radius by ±8 %. Guidance
# pushes samples towards what is *most* typical of the caption, so we measure how much of that freedom
# survives: over the samples the judge reads as one object, the spread (standard deviation) of the
# centre's offset from its cell's centre, in pixels, and of the radius relative to its size class. The
# judge's drawing error (the fraction of the object's area that its best-fitting clean shape gets wrong)
# says how cleanly the object is drawn. The real images of the same captions are the baseline.


# %% tags=["nbval-ignore-output"]
def freedom(images, labels):
    """Position spread (px), radius spread (%) and mean drawing error over the one-object readings."""
    offsets, radii, errors = [], [], []
    for seen, wanted in zip(shapes_judge.read(images), labels):
        if len(seen) == 1:
            cell = shapes.POSITIONS.index(wanted[0]["position"])
            centre = torch.tensor([(cell % 3 + 0.5) / 3, (cell // 3 + 0.5) / 3])
            offsets.append((torch.tensor([seen[0]["cx"], seen[0]["cy"]]) - centre) * SIZE)
            radii.append(seen[0]["radius"] / shapes.SIZES[wanted[0]["size"]] - 1)
            errors.append(seen[0]["error"])
    if len(offsets) < 2:
        return float("nan"), float("nan"), float("nan")
    position = torch.stack(offsets).std(0).pow(2).mean().sqrt().item()  # rms of the x and y spreads
    return position, 100 * torch.tensor(radii).std().item(), torch.tensor(errors).mean().item()


print(f"{'':12s} {'position spread':>16s} {'radius spread':>14s} {'drawing error':>14s}")
for name, images in [("real", real), *[(f"scale {scale:3.1f}", sweep[scale]) for scale in SCALES]]:
    position, radius, error = freedom(images, labels)
    print(f"{name:12s} {position:13.2f} px {radius:12.1f} % {error:14.3f}")

# %% [markdown]
# **What we measured:** the position spread shrinks as the scale grows, from 0.83 px at scale 1 to
# 0.70 px at scale 6 (real images: 0.95 px): guidance pulls objects towards the middle of their cell,
# the typical place. The radius spread and the drawing error are far above the real images' at every
# scale (11.4 % and 0.220 at scale 1, against 4.8 % and 0.024): these are the model's imperfect shapes,
# and guidance does not fix them (14.9 % and 0.216 at scale 6). One seed of training and sampling: read
# these as trends, not exact costs.
#
# The same caption sampled sixteen times at scale 1 and at scale 6 (the first caption of the sweep):

# %% tags=["nbval-ignore-output"]
caption = shapes.caption(labels[0])
noise16 = torch.randn(16, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(9))
low, high = generate([caption] * 16, noise16, 1.0), generate([caption] * 16, noise16, 6.0)
_ = plot.show_images(
    torch.cat([low, high]), nrow=16, title=f"“{caption}”: scale 1 (top), 6 (bottom)", scale=1.2
)

# %% [markdown]
# ## 7 · The guidance interval
#
# Kynkäänniemi et al. (2024) found guidance harmful at the highest noise levels (it pushes every sample
# towards the same few layouts before any detail exists) and useless at the lowest (the caption is already
# decided). In our time convention their interval is about $t \in [0.16, 0.78]$ (`minidiff.guidance`
# explains the mapping). Same captions and noise as the sweep, at the best scale:

# %% tags=["nbval-ignore-output"]
INTERVAL = (0.16, 0.78)
_, _, inside, inside_hits = evaluate(seed=100, scales=(best,), interval=INTERVAL)
diff, diff_sd = paired_difference(hits[best], inside_hits[best])
for name, images, hit in [
    ("everywhere", sweep[best], hits[best]),
    (f"in {INTERVAL}", inside[best], inside_hits[best]),
]:
    position, radius, _ = freedom(images, labels)
    print(
        f"scale {best} {name:14s}: accuracy {hit.float().mean():.3f}, position spread {position:.2f} px, "
        f"radius spread {radius:.1f} %"
    )
print(f"interval - everywhere: accuracy {100 * diff:+.1f} ± {100 * diff_sd:.1f} points")
times = torch.linspace(0, 1, SAMPLE_STEPS + 1).tolist()
evaluated = (
    times[:-1] + times[1:-1]
)  # where Heun calls the model: each step's start, and its end but the last
passes = sum(2 if INTERVAL[0] <= t <= INTERVAL[1] else 1 for t in evaluated)
print(f"model evaluations per sample: {2 * len(evaluated)} everywhere, {passes} with the interval")

# %% [markdown]
# **What we measured:** at scale 6, guiding only inside $[0.16, 0.78]$ scored 0.418 against 0.387 for
# guiding everywhere: +3.1 ± 2.3 points, **inconclusive** (within two standard deviations), while keeping
# more of the position spread (0.84 against 0.70 px) and costing 25 model evaluations per sample instead
# of 30. At this budget the interval is at least free: no worse, a little more varied and cheaper.
#
# ## 8 · Pairs it never saw
#
# Neither CLIP nor the denoiser saw a red star, an orange diamond, a yellow circle, a green triangle, a
# blue cross or a purple square. Each word appeared, only never together. Captions with those pairs, at
# scale 1 and the best scale:

# %% tags=["nbval-ignore-output"]
held_real, held_labels, held, held_hits = evaluate(seed=400, held_out=True, scales=(1.0, best))
held_gain, held_sd = paired_difference(held_hits[1.0], held_hits[best])
for scale in (1.0, best):
    p, se = accuracy(held_hits[scale])
    print(f"held-out pairs, scale {scale}: {p:.3f} ± {se:.3f}")
print(f"guidance on held-out pairs: {100 * held_gain:+.1f} ± {100 * held_sd:.1f} points")
shown = min(8, len(held_labels))
held_captions = [shapes.caption(objects) for objects in held_labels[:shown]] + [""] * shown
_ = plot.show_images(torch.cat([held_real[:shown], held[best][:shown]]), captions=held_captions, nrow=shown,
                     title=f"held-out pairs: real (top), at scale {best} (bottom)", scale=1.3)  # fmt: skip

# %% [markdown]
# **What we measured:** on captions with a held-out pair, accuracy is 0.164 ± 0.023 at scale 1 and
# 0.289 ± 0.028 at scale 6 (+12.5 ± 2.9 points), below the seen pairs' 0.242 and 0.352 on fresh captions
# but far above chance (0.021). The model composes a colour and a shape it never saw together, partly;
# guidance helps about as much as on seen pairs. Solutions, exercise 4, breaks this down pair by pair.
#
# ## 9 · Turn the knob
#
# Drag the slider (in a live notebook; elsewhere a static picture at scale 3): the same eight captions
# and noise, re-sampled at each scale.

# %% tags=["nbval-ignore-output"]
live.slider(
    lambda scale: plot.show_images(generate(look_captions, look_noise, scale), captions=look_captions, nrow=8,
                                   title=f"guidance scale {scale:g}", scale=1.3),
    "scale", 0.0, 8.0, 0.5, value=3.0,
)  # fmt: skip

# %% [markdown]
# ## Exercises
#
# Worked solutions are in `solutions/05_conditioning.ipynb`.
#
# 1. **Dropout rate.** Train with `P_DROP = 0` and guide anyway. What does the "unconditional" half
#    predict when it never saw a null condition? Compare with 0.1 at equal steps.
# 2. **Pooled vector against tokens.** Drop `context_dim` (the pooled vector only) or `cond_dim` (the
#    tokens only). Which attributes suffer (colour, shape, position, size)?
# 3. **Which interval?** Sweep a few intervals at the best scale: is the paper's the best here?
# 4. **Held-out pairs, one by one.** Which of the six pairs does the model compose, which not?

# %% tags=["nbval-ignore-output"]
print(minidiff.run_summary())
