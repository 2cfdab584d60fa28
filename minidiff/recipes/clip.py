"""The zoo recipe of chapter 04's CLIP: trained on emoji (image, name) and shapes (image, caption) pairs.

``RECIPE.load()`` returns a trained :class:`minidiff.clip.CLIP` with its tokenizer attached
(``model.tokenizer``), for the current budget; chapters 05 and 06 encode prompts with it.
Held out of training, to measure with: every tenth emoji (``held_out_emoji``) and every shapes image
that holds a colour × shape pair of ``minidiff.data.shapes.HELD_OUT``. The zoo stores zero-shot
retrieval on those, against chance.
"""

from __future__ import annotations

from dataclasses import asdict

import torch

from minidiff import zoo
from minidiff.clip import CLIP, CLIPConfig, clip_loss, config_for
from minidiff.data import emoji, shapes
from minidiff.settings import budget as current_budget
from minidiff.settings import count
from minidiff.text import Tokenizer, course_tokenizer
from minidiff.train import TrainConfig
from minidiff.train import train as run

SIZE = 32
EMOJI_FRACTION = 0.5  # of each training batch; the rest are shapes with one or two objects
EMOJI_HELD_OUT_EVERY = 10  # emoji 0, 10, 20, ... (in emoji.load order) are never trained on
BUDGETS = {  # preset, steps, batch size, learning rate
    "quick": dict(preset="tiny", steps=20, batch_size=32, lr=2e-3),
    "cpu": dict(preset="small", steps=1_000, batch_size=128, lr=1e-3),  # ~4 min on 2 cores
    "gpu": dict(preset="base", steps=6_000, batch_size=256, lr=5e-4),
}
WARMUP = 50  # steps of linear learning-rate warm-up; no EMA: the retrieval numbers are read off the weights
EVAL_SEED = 1_000  # the shapes drawn for measuring (training draws from the train loop's own generator)


# ---- data ------------------------------------------------------------------------------------------------


def held_out_emoji() -> list[int]:
    """Indices (into ``emoji.load()``) of the emoji kept out of training: every tenth one."""
    return list(range(0, len(emoji.names()), EMOJI_HELD_OUT_EVERY))


def train_emoji() -> list[int]:
    """Indices of the emoji CLIP trains on (all but ``held_out_emoji``)."""
    held = set(held_out_emoji())
    return [i for i in range(len(emoji.names())) if i not in held]


def make_data(tokenizer: Tokenizer, emoji_fraction: float = EMOJI_FRACTION, objects=(1, 2)):
    """``data(batch_size, generator)`` → (images (B, 3, 32, 32), ids (B, L)): training emoji, each at most
    once a batch, then shapes without a held-out pair; what ``minidiff.train.train`` calls every step."""
    images, names = emoji.load(SIZE)
    keep = torch.tensor(train_emoji())
    pool_images, pool_names = images[keep], [names[i] for i in keep.tolist()]

    def data(batch_size: int, generator: torch.Generator):
        n_emoji = round(batch_size * emoji_fraction) if emoji_fraction else 0
        index = torch.randperm(len(pool_names), generator=generator)[:n_emoji]  # distinct: no false negatives
        captions = [pool_names[i] for i in index.tolist()]
        x = pool_images[index]
        if batch_size > len(index):
            drawn, more, _ = shapes.sample_split(
                batch_size - len(index), SIZE, generator=generator, objects=objects
            )
            x, captions = torch.cat([x, drawn]), captions + more
        return x, tokenizer(captions)

    return data


def loss_fn(model: CLIP, batch) -> torch.Tensor:
    """Symmetric InfoNCE over the batch (``minidiff.clip.clip_loss``)."""
    images, tokens = batch
    return clip_loss(model(images, tokens))


# ---- training ------------------------------------------------------------------------------------------


def build(config: dict) -> CLIP:
    """The model (with its tokenizer attached) from the zoo's config: {"model": ..., "tokenizer": ...}."""
    return CLIP(CLIPConfig(**config["model"]), Tokenizer(**config["tokenizer"]))


def fit(budget: str | None = None, *, seed: int = 0, tokenizer: Tokenizer | None = None,
        steps: int | None = None, batch_size: int | None = None, lr: float | None = None,
        preset: str | None = None, data=None, live=None, progress: bool = True, **changes):  # fmt: skip
    """Train a fresh CLIP the recipe's way for ``budget`` (arguments override it) → (model, history).

    ``changes`` go to the config (e.g. ``image_pool="mean"``); ``data`` replaces ``make_data(tokenizer)``.
    """
    plan = BUDGETS[budget or current_budget()]
    tokenizer = tokenizer or course_tokenizer()
    with torch.random.fork_rng(devices=[]):  # the same initial weights whatever ran before
        torch.manual_seed(seed)
        model = CLIP(config_for(tokenizer, preset or plan["preset"], **changes), tokenizer)
    cfg = TrainConfig(steps=steps or plan["steps"], batch_size=batch_size or plan["batch_size"],
                      lr=lr or plan["lr"], warmup=WARMUP, ema_decay=None, seed=seed, log_every=25,
                      progress=progress)  # fmt: skip
    history = run(model, loss_fn, data or make_data(tokenizer), cfg, live=live)
    return model.eval(), history


def train(budget: str):
    """The zoo recipe: returns (model, config, steps, metrics)."""
    model, history = fit(budget)
    config = {"model": asdict(model.cfg), "tokenizer": model.tokenizer.config()}
    return model, config, history.steps[-1] if history.steps else 0, evaluate(model)


# ---- measuring -----------------------------------------------------------------------------------------


@torch.no_grad()
def similarity(model: CLIP, images: torch.Tensor, captions: list[str]) -> torch.Tensor:
    """Cosine similarities (images, captions) in the shared space, computed on the model's device."""
    device = model.logit_scale.device
    image_emb = torch.cat([model.encode_image(x.to(device)) for x in images.split(256)])
    tokens = model.tokenizer(captions)
    text_emb = torch.cat([model.encode_text(t.to(device)) for t in tokens.split(256)])
    return (image_emb @ text_emb.T).cpu()  # (N images, M captions)


def ranks(sim: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Rank (0 = best) of each row's target column: how many captions score above the right one."""
    right = sim.gather(1, target[:, None])  # (N, 1)
    return (sim > right).sum(1)  # (N,)


def mean_std(hits: torch.Tensor, resamples: int = 200, seed: int = 0) -> tuple[float, float]:
    """The mean of 0/1 hits and its bootstrap standard deviation over resampled images."""
    g = torch.Generator().manual_seed(seed)
    index = torch.randint(len(hits), (resamples, len(hits)), generator=g)
    return float(hits.float().mean()), float(hits.float()[index].mean(1).std())


def retrieval(model: CLIP, images: torch.Tensor, captions: list[str]) -> dict:
    """Zero-shot retrieval among N distinct (image, caption) pairs: image → caption and caption → image,
    top-1 and top-5 with bootstrap spreads, and chance (1/N, 5/N)."""
    first = {c: i for i, c in reversed(list(enumerate(captions)))}
    keep = sorted(first.values())  # one image per distinct caption: a repeat would be a false negative
    sim = similarity(model, images[keep], [captions[i] for i in keep])
    target = torch.arange(len(keep))
    out = {"n": len(keep), "chance_top1": 1 / len(keep), "chance_top5": min(5, len(keep)) / len(keep)}
    for name, r in (("image_to_text", ranks(sim, target)), ("text_to_image", ranks(sim.T, target))):
        for k in (1, 5):
            out[f"{name}_top{k}"], out[f"{name}_top{k}_std"] = mean_std(r < k)
    return out


def composition(model: CLIP, held_out: bool, n: int = 192) -> dict:
    """One-object shapes, each scored against the 48 captions that differ only in colour × shape (its own
    size and position kept): top-1/top-5 of the right caption, and how often the best caption has the right
    colour and the right shape. ``held_out``: images of ``shapes.HELD_OUT`` pairs only (else none of them)."""
    g = torch.Generator().manual_seed(EVAL_SEED + held_out)
    images, _, labels = shapes.sample_split(n, SIZE, held_out=held_out, generator=g, objects=(1,))
    combos = [(colour, shape) for colour in shapes.COLOURS for shape in shapes.SHAPES]
    hits = {"top1": [], "top5": [], "colour": [], "shape": []}
    device = model.logit_scale.device
    with torch.no_grad():
        image_emb = model.encode_image(images.to(device)).cpu()
    for emb, (obj,) in zip(image_emb, labels):
        captions = [f"a {obj['size']} {c} {s} at the {obj['position']}" for c, s in combos]
        with torch.no_grad():
            scores = model.encode_text(model.tokenizer(captions).to(device)).cpu() @ emb  # (48,)
        right = combos.index((obj["colour"], obj["shape"]))
        rank = int((scores > scores[right]).sum())
        best = combos[int(scores.argmax())]
        hits["top1"].append(rank < 1)
        hits["top5"].append(rank < 5)
        hits["colour"].append(best[0] == obj["colour"])
        hits["shape"].append(best[1] == obj["shape"])
    out = {"n": n, "chance_top1": 1 / len(combos), "chance_top5": 5 / len(combos)}
    for key, values in hits.items():
        out[key], out[f"{key}_std"] = mean_std(torch.tensor(values))
    out["chance_colour"], out["chance_shape"] = 1 / len(shapes.COLOURS), 1 / len(shapes.SHAPES)
    return out


def evaluate(model: CLIP, n: int | None = None) -> dict:
    """The zoo's metrics: retrieval on fresh shapes captions and on held-out emoji names, composition on
    seen vs held-out colour × shape pairs, and the learned temperature."""
    n = n or count(quick=64, cpu=256, gpu=256)
    images, names = emoji.load(SIZE)
    held = torch.tensor(held_out_emoji()[:n])
    seen = torch.tensor(train_emoji()[:: max(1, len(train_emoji()) // len(held))][: len(held)])
    g = torch.Generator().manual_seed(EVAL_SEED)
    x, captions, _ = shapes.sample_split(n, SIZE, generator=g)
    return {
        "shapes_fresh_captions": retrieval(model, x, captions),
        "emoji_seen": retrieval(model, images[seen], [names[i] for i in seen.tolist()]),
        "emoji_held_out": retrieval(model, images[held], [names[i] for i in held.tolist()]),
        "composition_seen": composition(model, held_out=False, n=n),
        "composition_held_out": composition(model, held_out=True, n=n),
        "temperature": float(1 / model.scale().detach()),
    }


RECIPE = zoo.Recipe(
    name="clip",
    build=build,
    train=train,
    data_version=f"emoji{emoji.DATA_VERSION}-shapes{shapes.DATA_VERSION}",
    description="chapter 04's CLIP: a text transformer and a ViT trained with InfoNCE on emoji and shapes",
    config_keys=frozenset({"model", "tokenizer"}),
)
