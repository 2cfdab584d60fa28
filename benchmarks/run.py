"""Reproducible measurements: notebook wall times, UNet, VAE, text-UNet, DiT speed vs diffusers, TREAD's
training speed-up, data speed.

    python benchmarks/run.py                 # everything, writes benchmarks/results/latest.{json,md}
    python benchmarks/run.py --only data     # one section: notebooks|unet|vae|cond_unet|dit|tread|data

Each section is measured in this one run, on this machine, so the ratios are fair.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))


def notebook_times(paths: list[Path]) -> list[dict]:
    """Execute each notebook with the quick budget (as nbval does) and time it, kernel start included."""
    import nbformat
    from nbclient import NotebookClient

    rows = []
    env_before = dict(os.environ)
    os.environ.update(MINIDIFF_BUDGET="quick", MINIDIFF_LIVE="0")
    try:
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            start = time.perf_counter()
            NotebookClient(
                nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
            ).execute()
            seconds = time.perf_counter() - start
            rows.append({"notebook": str(path.relative_to(ROOT)), "seconds": round(seconds, 1)})
            print(f"{path.name}: {seconds:.1f} s", flush=True)
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    return rows


def train_throughput(
    model: torch.nn.Module, shape: tuple[int, ...], batch_size: int, steps: int = 5
) -> float:
    """Training images/s of a denoiser (forward + loss + backward + AdamW step) at one input shape."""
    from minidiff.flow import flow_loss

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch_size, *shape)
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            start = time.perf_counter()
        loss, _ = flow_loss(model, x)
        optimizer.zero_grad(set_to_none=True)
        loss.mean().backward()
        optimizer.step()
    return batch_size * steps / (time.perf_counter() - start)


def data_throughput(fn, n: int, repeats: int = 3) -> float:
    """Samples/s of a data callable ``fn(n, generator)``, best of a few repeats."""
    best = float("inf")
    for seed in range(repeats):
        start = time.perf_counter()
        fn(n, torch.Generator().manual_seed(seed))
        best = min(best, time.perf_counter() - start)
    return n / best


def data_section() -> list[dict]:
    """Each dataset's throughput against the training throughput of the model it feeds in the chapters."""
    from minidiff.data import emoji, scenes, shapes, toy2d
    from minidiff.unet import PRESETS, UNet, UNetConfig

    unet_small = UNet(UNetConfig(**PRESETS["small"]))
    mlp = _toy_mlp()
    feeds = {
        "toy2d (moons)": (lambda n, g: toy2d.sample("moons", n, generator=g), 4096, mlp, (2,), 512),
        "shapes 32px": (lambda n, g: shapes.sample(n, 32, generator=g), 256, unet_small, (3, 32, 32), 32),
        "scenes 32px": (lambda n, g: scenes.sample(n, 32, generator=g), 256, unet_small, (3, 32, 32), 32),
        "emoji 32px": (lambda n, g: emoji.sample(n, 32, generator=g), 256, unet_small, (3, 32, 32), 32),
    }
    emoji.load(32)  # render/cache outside the timing
    rows = []
    for name, (fn, n, model, shape, batch) in feeds.items():
        data_rate = data_throughput(fn, n)
        train_rate = train_throughput(model, shape, batch)
        rows.append(
            {
                "dataset": name,
                "data_per_s": round(data_rate),
                "train_per_s": round(train_rate, 1),
                "ratio": round(data_rate / train_rate, 1),
            }
        )
        print(rows[-1], flush=True)
    return rows


def _toy_mlp() -> torch.nn.Module:
    """The 2-D velocity MLP size chapter 01 trains (input xt and t, 3 hidden layers of 256)."""

    class MLP(torch.nn.Module):
        def __init__(self, hidden: int = 256):
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(3, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
                torch.nn.Linear(hidden, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, 2),
            )  # fmt: skip

        def forward(self, xt, t):
            return self.net(torch.cat([xt, t[:, None]], dim=1))

    return MLP()


COMPARED = {
    "unet": "unet_vs_diffusers",
    "vae": "vae_vs_diffusers",
    "cond_unet": "cond_unet_vs_diffusers",
    "dit": "dit_vs_diffusers",
    "tread": "tread_throughput",
}


def _modules(results: dict) -> dict:
    """The *_vs_diffusers scripts whose sections ``results`` holds, imported."""
    return {
        section: importlib.import_module(name) for section, name in COMPARED.items() if results.get(section)
    }


def markdown(results: dict) -> str:
    lines = [f"# Benchmarks ({results['machine']})", ""]
    if results.get("notebooks"):
        lines += ["## Notebooks, quick budget", "", "| notebook | wall time (s) |", "|---|---:|"]
        lines += [f"| {r['notebook']} | {r['seconds']} |" for r in results["notebooks"]]
        lines.append("")
    for section, module in _modules(results).items():
        result = results[section]
        resolution = f" ({result['resolution']})"
        lines += [f"## {module.TITLE}{resolution}", "", *module.lines(result), ""]
    if results.get("data"):
        lines += [
            "## Data throughput vs the training throughput it feeds",
            "",
            "| dataset | samples/s | training samples/s | ratio |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {r['dataset']} | {r['data_per_s']:,} | {r['train_per_s']} | {r['ratio']}× |"
            for r in results["data"]
        ]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["notebooks", *COMPARED, "data"], action="append")
    parser.add_argument("--quick", action="store_true", help="fewer timing steps (a smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest")
    args = parser.parse_args()
    sections = args.only or ["notebooks", *COMPARED, "data"]
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        "date": time.strftime("%Y-%m-%d"),
    }
    if "notebooks" in sections:
        paths = sorted((ROOT / "chapters").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))
        results["notebooks"] = notebook_times(paths)
    for section, name in COMPARED.items():
        if section in sections:
            results[section] = importlib.import_module(name).run(quick=args.quick)
    if "data" in sections:
        results["data"] = data_section()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
