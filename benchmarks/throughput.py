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


def main(doc: str, run: Callable[..., dict], lines: Callable[[dict], list[str]], presets, batch_size: int):
    """The command line of a benchmark script: --quick, --preset, --batch-size, --threads."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps (a smoke run)")
    parser.add_argument("--preset", default="small", choices=sorted(presets))
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(quick=args.quick, preset=args.preset, batch_size=args.batch_size)
    print(markdown(result, lines(result)))
