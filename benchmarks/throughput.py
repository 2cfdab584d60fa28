"""What the *_vs_diffusers benchmarks share: interleaved timing of training steps, tables, the command line.

Each benchmark builds its models and a ``step()`` per model (forward + loss + backward + optimizer step on a
fixed batch), then ``images_per_second`` times them: warm-up steps first, then the models' steps
interleaved, alternating which goes first, so load from other processes hits all of them alike; img/s is
the batch size over the median step time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F


def repeats(quick: bool) -> int:
    """How many timed steps per model: 20, or 4 for a smoke run."""
    return 4 if quick else 20


def images_per_second(steps: dict[str, Callable[[], None]], batch_size: int, quick: bool = False) -> dict:
    """img/s of each named training step, timed interleaved after warm-up (fewer steps with ``quick``)."""
    warmup, repeats_ = (1 if quick else 3), repeats(quick)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(warmup + repeats_):
        order = list(steps) if i % 2 == 0 else list(reversed(steps))  # alternate who goes first
        for name in order:
            start = time.perf_counter()
            steps[name]()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: batch_size / statistics.median(seconds) for name, seconds in times.items()}


def training_step(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module], torch.Tensor]) -> Callable:
    """``step()``: ``loss_fn(model)`` + backward + an AdamW step (lr 1e-4), the unit the benchmarks time."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        loss = loss_fn(model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def check_matched(params: dict[str, int], tolerance: float) -> None:
    """Refuse a comparison whose two models' parameter counts differ by more than ``tolerance``."""
    if abs(params["diffusers"] / params["minidiff"] - 1) > tolerance:
        raise ValueError(f"configurations not matched: {params} differ by more than {100 * tolerance:g} %")


def v_loss(x: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, **condition) -> Callable:
    """``loss(model)``: the flow-matching v-loss on one fixed batch (t = 0 noise, t = 1 data)."""
    xt = t[:, None, None, None] * x + (1 - t[:, None, None, None]) * noise
    return lambda model: F.mse_loss(model(xt, t, **condition), x - noise)


def images_per_second_of(models: dict, loss: Callable, batch_size: int, quick: bool) -> dict:
    """img/s of each named model trained with the same ``loss(model)``, timed by ``images_per_second``."""
    return images_per_second({name: training_step(m, loss) for name, m in models.items()}, batch_size, quick)


def result(params: dict[str, int], img_s: dict[str, float], quick: bool, **fields) -> dict:
    """What every comparison records: both parameter counts and img/s, their ratio, ``fields``, the timing."""
    return {
        "minidiff_params": params["minidiff"],
        "diffusers_params": params["diffusers"],
        "minidiff_img_s": round(img_s["minidiff"], 1),
        "diffusers_img_s": round(img_s["diffusers"], 1),
        "ratio": round(img_s["minidiff"] / img_s["diffusers"], 2),
        **fields,
        "steps": repeats(quick),
        "threads": torch.get_num_threads(),
    }


def table(rows: list[tuple[str, int | None, float]], ratios: list[tuple[str, float]]) -> list[str]:
    """Markdown lines: a row (model, parameters, img/s) per model, then a row per ratio."""
    lines = ["| model | parameters | img/s |", "|---|---:|---:|"]
    lines += [f"| {name} | {params:,} | {img_s:.1f} |" for name, params, img_s in rows]
    lines += [f"| {name} | | {ratio:.2f} |" for name, ratio in ratios]
    return lines


def markdown(result: dict, lines: list[str]) -> str:
    """A benchmark's result: one line saying what was timed, then its table ``lines``."""
    preset = f"{result['preset_of']} preset" if "preset_of" in result else "preset"
    return "\n".join([
        f"Training throughput, {preset} {result['preset']!r}, {result['resolution']}, batch "
        f"{result['batch_size']}, {result['threads']} torch threads, median of {result['steps']} steps", "",
        *lines,
    ])  # fmt: skip


def main(
    doc: str,
    run: Callable[..., dict],
    lines: Callable[[dict], list[str]],
    presets,
    batch_size: int,
    preset: str = "small",
):
    """The command line of a benchmark script: --quick, --preset, --batch-size, --threads."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps (a smoke run)")
    parser.add_argument("--preset", default=preset, choices=sorted(presets))
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(quick=args.quick, preset=args.preset, batch_size=args.batch_size)
    print(markdown(result, lines(result)))
