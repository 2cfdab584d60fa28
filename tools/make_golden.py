"""Write tests/fixtures/golden.safetensors: outputs of tiny seeded layers, models, losses and samplers.

``python tools/make_golden.py`` is the ONLY way the fixture is (re)written; tests/test_golden.py reads it and
recomputes every case with the package as it is now. Run this only after a change that is MEANT to change
the numbers (say why in the commit): a regenerated fixture accepts whatever the code does today.

The fixture stores the inputs and every parameter (drawn once here from a seeded generator, in float64)
next to the outputs, so the test never depends on torch's random-number streams, which may change between
torch versions. Zero-initialised output layers (ResBlock, AttnBlock, UNet) are re-randomised like every
other parameter: a fresh UNet outputs exactly 0 and would pin nothing. Layers that the package keeps in
float32 (the time embedding, hence the UNet) run in float32; the rest in float64.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "golden.safetensors"
SEED = 20_240_601


class Source:
    """Hands out named tensors: drawn from a seeded generator and recorded (make), or read back (test)."""

    def __init__(self, stored: dict[str, torch.Tensor] | None = None, seed: int = SEED):
        self.stored = stored
        self.generator = torch.Generator().manual_seed(seed)
        self.drawn: dict[str, torch.Tensor] = {}

    def randn(self, key: str, *shape: int, std: float = 1.0, dtype=torch.float64) -> torch.Tensor:
        key = f"in.{key}"
        if self.stored is not None:
            if key not in self.stored:
                raise KeyError(f"{key} is not in the fixture: run python tools/make_golden.py")
            value = self.stored[key]
        else:
            value = (std * torch.randn(*shape, generator=self.generator, dtype=torch.float64)).to(dtype)
            self.drawn[key] = value
        return value.clone().to(dtype)

    @torch.no_grad()
    def randomise(self, key: str, module: nn.Module) -> nn.Module:
        """Every parameter: weights N(0, 1/fan_in), vectors (biases, norm scales) N(0, 0.5^2)."""
        for name, p in module.named_parameters():
            std = 1 / math.sqrt(p[0].numel()) if p.ndim >= 2 else 0.5
            p.copy_(self.randn(f"{key}.{name}", *p.shape, std=std, dtype=p.dtype))
        return module


class TinyVelocity(nn.Module):
    """A velocity/x/eps model on 4-D points: (xt, t) -> Linear -> SiLU -> Linear, in float64."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(5, 16), nn.SiLU(), nn.Linear(16, 4)).double()

    def forward(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([xt, t[:, None]], dim=1))


# t close to 0 and to 1 on purpose: eps-pred clamps t at 1 - SAMPLE/LOSS_T_MAX, x-pred clamps 1 - t there
LOSS_T = (0.0, 0.02, 0.3, 0.5, 0.89, 0.93, 0.96, 0.98, 0.995, 1.0)
UNET = dict(base_channels=8, channel_mults=(1, 2), blocks_per_level=1, attn_levels=(1,), heads=2, groups=4)


def case_timestep_embedding(src: Source) -> dict[str, torch.Tensor]:
    from minidiff.layers import timestep_embedding

    t = torch.tensor([0.0, 0.001, 0.25, 0.5, 0.77, 1.0])
    return {"even": timestep_embedding(t, 8), "odd": timestep_embedding(t, 7)}


def case_timestep_embedder(src: Source) -> dict[str, torch.Tensor]:
    from minidiff.layers import TimestepEmbedder

    embedder = src.randomise("embedder", TimestepEmbedder(8, hidden=12))
    return {"out": embedder(torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0]))}


def case_attention(src: Source) -> dict[str, torch.Tensor]:
    from minidiff.layers import Attention

    self_attn = src.randomise("self_attn", Attention(8, 2).double())
    cross_attn = src.randomise("cross_attn", Attention(8, 2, context_dim=6).double())
    x, context = src.randn("attn_x", 2, 5, 8), src.randn("attn_context", 2, 3, 6)
    return {"self": self_attn(x), "cross": cross_attn(x, context)}


def case_mlp(src: Source) -> dict[str, torch.Tensor]:
    from minidiff.layers import MLP

    mlp = src.randomise("mlp", MLP(6, 16).double())
    return {"out": mlp(src.randn("mlp_x", 2, 3, 6, std=2.0))}


def case_modulate(src: Source) -> dict[str, torch.Tensor]:
    from minidiff.layers import modulate

    x = src.randn("mod_x", 2, 3, 4)
    return {"out": modulate(x, src.randn("mod_shift", 2, 4), src.randn("mod_scale", 2, 4))}


def case_patches(src: Source) -> dict[str, torch.Tensor]:
    from minidiff.layers import patchify, sincos_2d

    return {"patchify": patchify(src.randn("patch_x", 2, 3, 4, 6), 2), "sincos_2d": sincos_2d(8, 3)}


def case_resblock(src: Source) -> dict[str, torch.Tensor]:
    from minidiff.unet import ResBlock

    same = src.randomise("res_same", ResBlock(4, 4, 6, groups=2).double())
    wider = src.randomise("res_wider", ResBlock(4, 8, 6, groups=2).double())
    x, emb = src.randn("res_x", 2, 4, 4, 4), src.randn("res_emb", 2, 6)
    return {"same": same(x, emb), "wider": wider(x, emb)}


def case_attnblock(src: Source) -> dict[str, torch.Tensor]:
    from minidiff.unet import AttnBlock

    block = src.randomise("attnblock", AttnBlock(8, 2, groups=4).double())
    return {"out": block(src.randn("attnblock_x", 2, 8, 3, 2))}


def case_unet(src: Source) -> dict[str, torch.Tensor]:
    from minidiff.unet import UNet, UNetConfig

    model = src.randomise("unet", UNet(UNetConfig(**UNET)))  # float32: the time embedding is float32
    cond_model = src.randomise("unet_cond", UNet(UNetConfig(**UNET, cond_dim=3)))
    xt = src.randn("unet_xt", 2, 3, 8, 8, dtype=torch.float32)
    t = torch.tensor([0.2, 0.9])
    cond = src.randn("unet_cond_in", 2, 3, dtype=torch.float32)
    with torch.no_grad():
        return {"out": model(xt, t), "cond": cond_model(xt, t, cond)}


def case_flow_loss(src: Source) -> dict[str, torch.Tensor]:
    from minidiff.flow import flow_loss

    model = src.randomise("velocity", TinyVelocity())
    x, noise = src.randn("loss_x", len(LOSS_T), 4), src.randn("loss_noise", len(LOSS_T), 4)
    t = torch.tensor(LOSS_T, dtype=torch.float64)
    out = {}
    with torch.no_grad():
        for pred in ("v", "x", "eps"):
            for space in sorted({"v", pred}):
                loss, _ = flow_loss(model, x, pred=pred, loss_space=space, t=t, noise=noise)
                out[f"{pred}_in_{space}"] = loss
    return out


def case_samplers(src: Source) -> dict[str, torch.Tensor]:
    from minidiff.flow import euler, heun

    model = src.randomise("sampler_model", TinyVelocity())
    noise = src.randn("sampler_noise", 3, 4)
    out = {}
    for pred in ("v", "x", "eps"):
        out[f"euler_{pred}"] = euler(model, noise, 4, pred=pred, return_path=True)
        out[f"heun_{pred}"] = heun(model, noise, 4, pred=pred, return_path=True)
    return out


def case_clip(src: Source) -> dict[str, torch.Tensor]:
    from minidiff.clip import CLIP, CLIPConfig, clip_loss

    cfg = CLIPConfig(vocab_size=11, max_len=6, text_width=8, text_depth=2, text_heads=2, image_size=8,
                     patch=4, image_width=8, image_depth=2, image_heads=2, embed_dim=4)  # fmt: skip
    model = CLIP(cfg).double()  # logit_scale (0-d) stays at log(1 / 0.07); every other weight is drawn
    for part in ("text", "image", "text_proj", "image_proj"):
        src.randomise(f"clip_{part}", getattr(model, part))
    tokens = torch.tensor([[3, 7, 10, 0, 0, 0], [5, 1, 2, 9, 4, 8]])  # 0 = padding
    images = src.randn("clip_images", 2, 3, 8, 8).clamp(-1, 1)
    features, pooled = model.text(tokens)
    with torch.no_grad():
        return {
            "text_features": features,
            "text_pooled": pooled,
            "image": model.image(images),
            "logits": model(images, tokens),
            "loss": clip_loss(src.randn("clip_logits", 5, 5, std=3.0))[None],
        }


VAE = dict(base_channels=8, channel_mults=(1, 2, 2), blocks_per_level=1, groups=4)


def case_vae(src: Source) -> dict[str, torch.Tensor]:
    from minidiff.vae import VAE as Model
    from minidiff.vae import VAEConfig, free_bits, kl_per_channel, reparameterize

    model = src.randomise("vae", Model(VAEConfig(**VAE)).double())
    model.scale.fill_(0.7)
    x = src.randn("vae_x", 2, 3, 8, 8, std=0.5).clamp(-1, 1)
    noise = src.randn("vae_noise", 2, 4, 2, 2)
    mean, logvar = src.randn("vae_mean", 2, 4, 2, 2), src.randn("vae_logvar", 2, 4, 2, 2)
    kl = kl_per_channel(mean, logvar)
    with torch.no_grad():
        x_hat, post_mean, post_logvar = model(x, noise)
        return {"x_hat": x_hat, "mean": post_mean, "logvar": post_logvar, "encode": model.encode(x),
                "decode": model.decode(noise), "z": reparameterize(mean, logvar, noise), "kl": kl,
                "free_bits": free_bits(kl, 1.0)[None]}  # fmt: skip


CASES = {name.removeprefix("case_"): fn for name, fn in globals().items() if name.startswith("case_")}


def compute(name: str, src: Source) -> dict[str, torch.Tensor]:
    """The outputs of one case, keyed ``out.<case>.<what>``."""
    return {f"out.{name}.{key}": value.detach().contiguous() for key, value in CASES[name](src).items()}


def main() -> int:
    from safetensors.torch import save_file

    import minidiff
    from minidiff.settings import VERSION

    torch.set_num_threads(1)  # the same float32 rounding on every machine that regenerates it
    src, outputs = Source(), {}
    for name in CASES:
        outputs.update(compute(name, src))
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"torch": torch.__version__, "minidiff": VERSION, "seed": str(SEED),
                "written_by": "python tools/make_golden.py"}  # fmt: skip
    save_file({**src.drawn, **outputs}, str(FIXTURE), metadata=metadata)
    size = FIXTURE.stat().st_size
    print(f"wrote {FIXTURE.relative_to(ROOT)} ({size / 1024:.0f} KiB): {len(outputs)} golden outputs of "
          f"{len(CASES)} cases ({', '.join(CASES)}) and {len(src.drawn)} stored inputs/parameters, "
          f"torch {torch.__version__}, minidiff {VERSION} from {Path(minidiff.__file__).parent}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # the package of this checkout, not another installed one
    sys.exit(main())
