"""What every check shares: one printed line per pass, close-enough comparisons, and the wrapper that turns a
workbook's stub (a body that still raises ``NotImplementedError``) into one line, ``my_interpolate is not
written yet: <the stub's hint>``, with no traceback into this package."""

from __future__ import annotations

import functools
import inspect

import torch


def passed(message: str) -> None:
    print(f"✓ {message}")


def assert_close(got: torch.Tensor, want: torch.Tensor, what: str, atol=1e-5, rtol=1e-4) -> None:
    """Fail with a message that says which check differs, by how much, and the shapes involved."""
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{what}: expected a torch.Tensor, got {type(got).__name__}")
    if got.shape != want.shape:
        raise AssertionError(f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}")
    if not torch.allclose(got.float(), want.float(), atol=atol, rtol=rtol):
        worst = (got.float() - want.float()).abs().max().item()
        raise AssertionError(f"{what}: values differ from the reference (max abs difference {worst:.3g})")


def close(got, want, atol: float = 1e-5) -> bool:
    """The quiet twin of assert_close: checks use it to recognise a typical mistake and name it."""
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


def learner_code(check):
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


def perturbed(module: torch.nn.Module, seed: int = 0, std: float = 0.2) -> torch.nn.Module:
    """Add fixed noise N(0, std²) to every parameter (seeded, in place), so zero-initialised layers cannot
    hide a missing piece; returns the module in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=generator))
    return module.eval()


def match_parameters(candidate: torch.nn.Module, reference: torch.nn.Module, what: str, hint=None) -> None:
    """Same parameter names, shapes and count as the reference, so that its weights can be loaded.

    ``hint(name)`` says how to fix a missing, unexpected or misshapen parameter ``name``.
    """
    hint = hint or (lambda name: "copy the layer names of the reference")
    if not isinstance(candidate, torch.nn.Module):
        raise AssertionError(f"{what}: expected an nn.Module, got {type(candidate).__name__}")
    want, got = reference.state_dict(), candidate.state_dict()
    missing = [name for name in want if name not in got]
    unexpected = [name for name in got if name not in want]
    for names, kind in ((missing, "missing"), (unexpected, "unexpected")):
        if names:
            more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
            raise AssertionError(
                f"{what}: {kind} parameter `{names[0]}`{more}; hint: {hint(names[0])}. "
                f"The reference has: {', '.join(list(want)[:12])}{', ...' if len(want) > 12 else ''}"
            )
    passed(f"{what}: parameter names match the reference ({len(want)} tensors)")
    for name, tensor in want.items():
        if got[name].shape != tensor.shape:
            raise AssertionError(
                f"{what}: `{name}` has shape {tuple(got[name].shape)}, expected {tuple(tensor.shape)}; "
                f"hint: {hint(name)}"
            )
    count = sum(p.numel() for p in candidate.parameters())
    want_count = sum(p.numel() for p in reference.parameters())
    if count != want_count:
        raise AssertionError(f"{what}: {count:,} parameters, expected {want_count:,}")
    passed(f"{what}: {count:,} parameters, same as the reference")


def load_reference_weights(candidate: torch.nn.Module, reference: torch.nn.Module, what: str, hint=None):
    """Check the parameters match, then load the reference's weights into the candidate (strict)."""
    match_parameters(candidate, reference, what, hint)
    candidate.load_state_dict(reference.state_dict(), strict=True)
    candidate.eval()
