"""Checks that compare a learner's scratch code with the package reference.

Each ``check_<thing>(candidate)`` runs the candidate and the reference on a fixed seed and tiny shapes,
prints one line per passed check and raises ``AssertionError`` with a hint on the first failure. Handed a
workbook's stub (a body that still raises ``NotImplementedError``), a check fails with one line,
``my_interpolate is not written yet: <the stub's hint>``, and no traceback into this module.
"""

from __future__ import annotations

import functools
import inspect

import torch

from minidiff import flow
from minidiff.settings import smoke_off


def _passed(message: str) -> None:
    print(f"✓ {message}")


def _assert_close(got: torch.Tensor, want: torch.Tensor, what: str, atol=1e-5, rtol=1e-4) -> None:
    """Fail with a message that says which check differs, by how much, and the shapes involved."""
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{what}: expected a torch.Tensor, got {type(got).__name__}")
    if got.shape != want.shape:
        raise AssertionError(f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}")
    if not torch.allclose(got.float(), want.float(), atol=atol, rtol=rtol):
        worst = (got.float() - want.float()).abs().max().item()
        raise AssertionError(f"{what}: values differ from the reference (max abs difference {worst:.3g})")


def _close(got, want, atol: float = 1e-5) -> bool:
    """The quiet twin of _assert_close: checks use it to recognise a typical mistake and name it."""
    return isinstance(got, torch.Tensor) and got.shape == want.shape and torch.allclose(got, want, atol=atol)


class NotWrittenYet(AssertionError):
    """A check was handed a stub: the learner's function or method still raises NotImplementedError."""


def _code_files(candidate) -> set[str]:
    """The files (notebook cells) the learner's function, class or model was written in."""
    cls = type(candidate) if isinstance(candidate, torch.nn.Module) else candidate
    if isinstance(cls, type):
        own = [c for c in cls.__mro__ if c.__module__ == cls.__module__]  # not torch's or object's methods
        members = [member for c in own for member in vars(c).values()]
        functions = [getattr(m, "__func__", getattr(m, "fget", m)) for m in members]  # static/class/property
    else:
        functions = [cls]
    functions = [inspect.unwrap(f) if callable(f) else f for f in functions]  # e.g. under @torch.no_grad()
    return {f.__code__.co_filename for f in functions if hasattr(f, "__code__")}


def _not_written_yet(error: BaseException, candidate) -> str | None:
    """``"<name> is not written yet: <hint>"`` when ``error`` (or what caused it) is the learner's stub."""
    files, seen = _code_files(candidate), set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, NotWrittenYet):
            return str(error)
        if isinstance(error, NotImplementedError) and error.__traceback__ is not None:
            tb = error.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            code = tb.tb_frame.f_code  # where it was raised: the stub itself, or deeper in torch
            if code.co_filename in files:
                hint = f": {error}" if str(error) else ""
                return f"{getattr(code, 'co_qualname', code.co_name)} is not written yet{hint}"
        error = error.__cause__ or error.__context__
    return None


def _learner_code(check):
    """Decorate a check: a stub handed to it fails with one line that names what to write."""

    @functools.wraps(check)
    def run(candidate, *args, **kwargs):
        try:
            return check(candidate, *args, **kwargs)
        except Exception as error:  # re-raised below unless it came from a stub
            message = _not_written_yet(error, candidate)
            if message is None:
                raise
        raise NotWrittenYet(message) from None  # outside the except: the learner sees this line only

    return run


# ---- flow matching (chapter 01) -------------------------------------------------------------------


def _flow_tensors(shape=(4, 3)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fixed x, noise and t (B,) for the flow checks; t avoids 0 and 1 so every term matters."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=generator) + 2  # data away from 0, so x and noise are easy to tell apart
    noise = torch.randn(shape, generator=generator)
    t = torch.tensor([0.1, 0.35, 0.6, 0.85])[: shape[0]]
    return x, noise, t


@_learner_code
def check_time_convention(fn) -> None:
    """``fn(x, noise, t) -> xt`` must give noise at t = 0 and the data at t = 1."""
    x, noise, _ = _flow_tensors()
    at_zero, at_one = fn(x, noise, torch.zeros(4)), fn(x, noise, torch.ones(4))
    if _close(at_zero, x) and _close(at_one, noise):
        raise AssertionError(
            "did you swap x and noise? t=0 must be noise and t=1 data: xt = t*x + (1-t)*noise"
        )
    _assert_close(at_zero, noise, "t = 0 must give the noise")
    _passed("t = 0 gives the noise")
    _assert_close(at_one, x, "t = 1 must give the data")
    _passed("t = 1 gives the data")


@_learner_code
def check_interpolate(fn) -> None:
    """``fn(x, noise, t) -> xt = t * x + (1 - t) * noise`` with t of shape (B,) broadcast over the rest."""
    check_time_convention(fn)
    x, noise, t = _flow_tensors()
    _assert_close(fn(x, noise, t), flow.interpolate(x, noise, t), "xt at t in (0, 1) (shape (4, 3))")
    _passed("xt = t * x + (1 - t) * noise in between")
    images, image_noise, _ = _flow_tensors((4, 2, 3, 3))  # B C H W
    try:
        got = fn(images, image_noise, t)
    except RuntimeError as error:
        raise AssertionError(f"images (B, C, H, W) failed ({error}): reshape t to (B, 1, 1, 1)") from error
    _assert_close(got, flow.interpolate(images, image_noise, t), "xt for images (B, C, H, W)")
    _passed("t of shape (B,) broadcasts over images (B, C, H, W)")


@_learner_code
def check_velocity(fn) -> None:
    """``fn(x, noise) -> v``: the velocity of the straight path, d xt / dt = x - noise."""
    x, noise, t = _flow_tensors()
    got = fn(x, noise)
    if _close(got, noise - x):
        raise AssertionError("wrong sign: v points from noise (t=0) to data (t=1), so v = x - noise")
    _assert_close(got, flow.velocity(x, noise), "v = x - noise")
    _passed("v = x - noise")
    step = 1e-2  # the path is straight, so a finite difference of xt is exact up to rounding
    slope = (flow.interpolate(x, noise, t + step) - flow.interpolate(x, noise, t)) / step
    _assert_close(got, slope, "v must be the time derivative of xt", atol=1e-3)
    _passed("v is the time derivative of xt")


class _TinyVelocity(torch.nn.Module):
    """A small trainable velocity model for checking losses (it depends on both xt and t)."""

    def __init__(self, dim: int = 3) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(dim + 1, dim)
        torch.nn.init.normal_(self.linear.weight, generator=torch.Generator().manual_seed(1))
        self.seen_xt = None

    def forward(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not isinstance(t, torch.Tensor) or t.shape != (xt.shape[0],):
            raise AssertionError("call model(xt, t) with t a tensor of shape (B,)")
        self.seen_xt = xt.detach().clone()
        return self.linear(torch.cat([xt, t[:, None]], 1))


@_learner_code
def check_flow_loss(fn) -> None:
    """``fn(model, x, t, noise) -> loss``: the mean over the batch of mean((model(xt, t) - v) ** 2)."""
    x, noise, t = _flow_tensors()
    model = _TinyVelocity()
    loss = fn(model, x, t, noise)
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise AssertionError("the loss must be a single number (a 0-d tensor): take .mean() over the batch")
    _passed("returns a scalar tensor")
    if model.seen_xt is None or not _close(model.seen_xt, flow.interpolate(x, noise, t)):
        raise AssertionError("the model must see xt = t * x + (1 - t) * noise (t = 0 is noise, t = 1 data)")
    _passed("the model sees xt = t * x + (1 - t) * noise")
    with torch.no_grad():
        v_pred = model(flow.interpolate(x, noise, t), t)
    for wrong, hint in (
        (noise - x, "wrong sign: the target is v = x - noise"),
        (x, "the target is v, not x"),
    ):
        if torch.allclose(loss.detach(), ((v_pred - wrong) ** 2).mean(), atol=1e-6):
            raise AssertionError(hint)
    want, _ = flow.flow_loss(model, x, t=t, noise=noise)
    _assert_close(loss.detach(), want.mean().detach(), "the v-loss mean((model(xt, t) - (x - noise)) ** 2)")
    _passed("equals the flow-matching loss of the reference")
    if not loss.requires_grad:
        raise AssertionError("the loss carries no gradient: do not detach it or call .item() inside")
    _passed("gradients reach the model")


class _RecordingField:
    """A t-dependent toy velocity field that records the times it is called at (for precise hints)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not isinstance(t, torch.Tensor) or t.shape != (xt.shape[0],):
            raise AssertionError("call model(xt, t) with t a tensor of shape (B,), e.g. torch.full((B,), t)")
        self.times.append(round(float(t[0]), 6))
        t = t[:, None]
        return (1 + t) * (0.5 - xt) + torch.sin(4 * t)


def _check_sampler(fn, name: str, steps: int = 4) -> None:
    """Shared by check_euler and check_heun: the times the model is called at, then the samples."""
    noise = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    field, reference_field = _RecordingField(), _RecordingField()
    got = fn(field, noise.clone(), steps)  # a clone: an in-place update must not change the reference's noise
    with smoke_off():  # the reference takes every step asked for, also under make smoke
        reference = getattr(flow, name)(reference_field, noise, steps)
    times, want_times = field.times, reference_field.times
    if times and times[0] == 1.0:
        raise AssertionError("sampling starts from noise at t = 0 and moves towards the data at t = 1")
    if name == "heun" and len(times) == 2 * steps:
        raise AssertionError("make the last step a plain Euler step (at t = 1 the x-pred slope is 0/0)")
    if times != want_times:
        raise AssertionError(
            f"{name} should call the model at t = {want_times} (NFE = {len(want_times)}), got t = {times}: "
            "an off-by-one in the time grid? t_i = i / steps, from t_0 = 0 to t_steps = 1"
        )
    _passed(f"calls the model {len(times)} times, at t = {', '.join(f'{time:g}' for time in times)}")
    step = "xt + dt * v" if name == "euler" else "xt + dt * (v + v_next) / 2, v_next at the Euler guess"
    _assert_close(got, reference, f"{name} samples after {steps} steps (a step is {step})")
    _passed(f"{name} samples match the reference")


@_learner_code
def check_euler(fn) -> None:
    """``fn(model, noise, steps) -> x``: Euler from t = 0 (noise) to t = 1 in equal steps."""
    _check_sampler(fn, "euler")


@_learner_code
def check_heun(fn) -> None:
    """``fn(model, noise, steps) -> x``: Heun (trapezoid), the last step plain Euler."""
    _check_sampler(fn, "heun")


# ---- UNet (chapter 02) ----------------------------------------------------------------------------
# The learner's classes must use the parameter names of minidiff.unet, so that the reference's weights
# load into them (strict): then the same weights must give the same output.

_NAME_HINTS = {
    "skip": "when in_ch != out_ch the residual path is a 1x1 conv named `skip` (nn.Identity otherwise)",
    "emb_proj": "the time embedding enters through a Linear named `emb_proj` (emb_dim → out_ch)",
    "to_q": "use minidiff.layers.Attention (to_q, to_k, to_v, to_out) as `attn`",
    "to_out": "use minidiff.layers.Attention (to_q, to_k, to_v, to_out) as `attn`",
    "time_embed": "embed t with minidiff.layers.TimestepEmbedder(4 * base_channels) named `time_embed`",
    "down.": "the down path is `down`: one stage per level with `res`, `attn` lists and `downsample`",
    "up.": "the up path is `up`, deepest level first, with blocks_per_level + 1 blocks per level",
    "mid.": "the middle is `mid` with `res1`, `attn`, `res2`",
    "out_": "the output is `out_norm` (GroupNorm) then SiLU then `out_conv` (3x3, zero-initialised)",
}


def _perturbed(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Add fixed noise to every parameter, so zero-initialised layers cannot hide a missing piece."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=generator))
    return module.eval()


def _hint(name: str) -> str:
    import re

    if re.match(r"up\.\d+\.res\.\d+\.(norm1|conv1|skip)", name):
        return "an up-path block reads torch.cat([h, skip], dim=1), so its in_ch is C + C_skip"
    hints = (hint for key, hint in _NAME_HINTS.items() if key in name)
    return next(hints, "copy the layer names of the reference")


def _match_parameters(candidate: torch.nn.Module, reference: torch.nn.Module, what: str) -> None:
    """Same parameter names, shapes and count as the reference, so that its weights can be loaded."""
    if not isinstance(candidate, torch.nn.Module):
        raise AssertionError(f"{what}: expected an nn.Module, got {type(candidate).__name__}")
    want, got = reference.state_dict(), candidate.state_dict()
    missing = [name for name in want if name not in got]
    unexpected = [name for name in got if name not in want]
    for names, kind in ((missing, "missing"), (unexpected, "unexpected")):
        if names:
            more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
            raise AssertionError(
                f"{what}: {kind} parameter `{names[0]}`{more}; hint: {_hint(names[0])}. "
                f"The reference has: {', '.join(list(want)[:12])}{', ...' if len(want) > 12 else ''}"
            )
    _passed(f"{what}: parameter names match the reference ({len(want)} tensors)")
    for name, tensor in want.items():
        if got[name].shape != tensor.shape:
            raise AssertionError(
                f"{what}: `{name}` has shape {tuple(got[name].shape)}, expected {tuple(tensor.shape)}; "
                f"hint: {_hint(name)}"
            )
    count = sum(p.numel() for p in candidate.parameters())
    want_count = sum(p.numel() for p in reference.parameters())
    if count != want_count:
        raise AssertionError(f"{what}: {count:,} parameters, expected {want_count:,}")
    _passed(f"{what}: {count:,} parameters, same as the reference")


def _load_reference_weights(candidate: torch.nn.Module, reference: torch.nn.Module, what: str) -> None:
    """Check the parameters match, then load the reference's weights into the candidate (strict)."""
    _match_parameters(candidate, reference, what)
    candidate.load_state_dict(reference.state_dict(), strict=True)
    candidate.eval()


@_learner_code
def check_timestep_embedding(fn) -> None:
    """``fn(t, dim) -> (B, dim)``: ``[cos | sin]`` of 1000 * t times frequencies 1 ... 1/10000."""
    from minidiff.layers import timestep_embedding

    t = torch.tensor([0.0, 0.1, 0.5, 1.0])
    for dim in (8, 32):
        got, want = fn(t, dim), timestep_embedding(t, dim)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise AssertionError(f"dim={dim}: got {shape}, expected shape {tuple(want.shape)} (B, dim)")
        if _close(got, torch.cat([want[:, dim // 2 :], want[:, : dim // 2]], dim=1), atol=1e-4):
            raise AssertionError("cos and sin are swapped: the reference puts the cosines first, [cos | sin]")
        if _close(got, timestep_embedding(t / 1000, dim), atol=1e-4):
            raise AssertionError("scale t by 1000 first: t in [0, 1] stands for DDPM's steps 0..999")
        _assert_close(got, want, f"timestep embedding, dim={dim}", atol=1e-4)
    _passed("shape (B, dim) for dim = 8 and 32")
    _passed("values match [cos | sin] of 1000 * t * freqs at t = 0, 0.1, 0.5, 1")


@_learner_code
def check_resblock(cls) -> None:
    """``cls(in_ch, out_ch, emb_dim, dropout)``, ``forward(x, emb)``, named like minidiff.unet.ResBlock."""
    from minidiff.unet import ResBlock

    generator = torch.Generator().manual_seed(0)
    x, emb = torch.randn(2, 32, 8, 8, generator=generator), torch.randn(2, 16, generator=generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for in_ch, out_ch in ((32, 64), (32, 32)):
            what = f"ResBlock({in_ch}, {out_ch})"
            reference = _perturbed(ResBlock(in_ch, out_ch, 16, 0.0))
            candidate = cls(in_ch, out_ch, 16, 0.0)
            _load_reference_weights(candidate, reference, what)
            with torch.no_grad():
                got, want = candidate(x, emb), reference(x, emb)
                if _close(got, want - reference.skip(x), atol=1e-4):
                    raise AssertionError(f"{what}: add the residual: return self.skip(x) + h")
            _assert_close(got, want, f"{what} output with the reference's weights", atol=1e-4)
            _passed(f"{what}: same weights → same output {tuple(got.shape)}")
        fresh = cls(32, 32, 16, 0.0).eval()
        with torch.no_grad():
            if not _close(fresh(x, emb), x, atol=1e-6):
                raise AssertionError(
                    "a fresh block must be the identity: zero-initialise conv2 (weight, bias)"
                )
    _passed("a fresh block is the identity (conv2 starts at zero)")


@_learner_code
def check_attention(cls, cross: bool = False) -> None:
    """``cls(dim, heads)`` (``context_dim=`` too when ``cross``), named like minidiff.layers.Attention."""
    from minidiff.layers import Attention

    generator = torch.Generator().manual_seed(0)
    x, context = torch.randn(2, 5, 16, generator=generator), torch.randn(2, 7, 12, generator=generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        kwargs = {"context_dim": 12} if cross else {}
        reference, candidate = _perturbed(Attention(16, 4, **kwargs)), cls(16, 4, **kwargs)
        what = "cross-attention" if cross else "self-attention"
        _load_reference_weights(candidate, reference, what)
        with torch.no_grad():
            got = candidate(x, context) if cross else candidate(x)
            want = reference(x, context) if cross else reference(x)
    hint = "split D into heads as (B, heads, T, D / heads) and scale by 1 / sqrt(D / heads)"
    _assert_close(got, want, f"{what} output (hint: {hint})", atol=1e-4)
    _passed(f"{what}: same weights → same output {tuple(got.shape)}")


@_learner_code
def check_attn_block(cls) -> None:
    """``cls(ch, heads)`` with ``forward(x)`` on (B, C, H, W), named like minidiff.unet.AttnBlock."""
    from minidiff.unet import AttnBlock

    x = torch.randn(2, 32, 4, 6, generator=torch.Generator().manual_seed(0))  # H != W catches mix-ups
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        reference, candidate = _perturbed(AttnBlock(32, 4)), cls(32, 4)
        _load_reference_weights(candidate, reference, "AttnBlock(32, 4)")
        with torch.no_grad():
            got, want = candidate(x), reference(x)
    if _close(got, want - x, atol=1e-4):
        raise AssertionError("AttnBlock: add the residual: return x + attention output")
    hint = "tokens are (B, H*W, C), then back to (B, C, H, W)"
    _assert_close(got, want, f"AttnBlock output (hint: {hint})", atol=1e-4)
    _passed(f"AttnBlock(32, 4): same weights → same output {tuple(got.shape)}")


@_learner_code
def check_unet(cls_or_model) -> None:
    """A UNet class (built here from a tiny UNetConfig) or a model with ``.cfg``, named like unet.UNet."""
    import copy
    from dataclasses import fields

    from minidiff.unet import UNet, UNetConfig

    given_model = isinstance(cls_or_model, torch.nn.Module)
    if given_model:
        if not hasattr(cls_or_model, "cfg"):
            raise AssertionError(
                "keep the config as `self.cfg` (a UNetConfig): the check builds the reference"
            )
        cfg = UNetConfig(**{f.name: getattr(cls_or_model.cfg, f.name) for f in fields(UNetConfig)})
    else:
        tiny = dict(base_channels=16, channel_mults=(1, 2), blocks_per_level=1, attn_levels=(1,), heads=2)
        cfg = UNetConfig(**tiny, groups=8)
    generator = torch.Generator().manual_seed(0)
    shape = (2, cfg.in_channels, 16, 16)
    xt, t = torch.randn(shape, generator=generator), torch.tensor([0.3, 0.8])
    cond = torch.randn(2, cfg.cond_dim, generator=generator) if cfg.cond_dim else None
    args = (xt, t) if cond is None else (xt, t, cond)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        reference = UNet(cfg)
        # a copy of a given model, so that the learner's own weights stay untouched
        candidate = copy.deepcopy(cls_or_model).cpu() if given_model else cls_or_model(cfg)
    _match_parameters(candidate, reference, "UNet")  # before any forward, so shape errors come with hints
    if not given_model:
        with torch.no_grad():
            if not torch.equal(candidate.eval()(*args), torch.zeros_like(xt)):
                raise AssertionError("a fresh UNet must output exactly zero: zero-initialise out_conv")
        _passed("a fresh UNet outputs exactly zero (out_conv starts at zero)")
    _perturbed(reference)
    candidate.load_state_dict(reference.state_dict(), strict=True)
    candidate.eval()
    with torch.no_grad():
        got, want = candidate(*args), reference(*args)
        hint = "the up path concatenates [h, skips.pop()], the most recent skip first"
        _assert_close(got, want, f"UNet output with the reference's weights (hint: {hint})", atol=1e-4)
        _passed(f"UNet: same weights → same output {tuple(got.shape)}")
        wide = torch.randn(1, cfg.in_channels, 16, 32, generator=generator)  # another resolution, not square
        wide_args = (wide, t[:1]) if cond is None else (wide, t[:1], cond[:1])
        _assert_close(candidate(*wide_args), reference(*wide_args), "UNet output at 16x32", atol=1e-4)
    _passed("UNet: same output at another resolution (16x32)")
