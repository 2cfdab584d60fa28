"""Mutation check: does the unit suite turn red when the package is plausibly broken?

``python tools/mutants.py`` copies the repository to a temporary folder once per mutation, changes the
copy's ``minidiff/`` source by one exact string replacement, runs
``python -m pytest tests -x -q -p no:cacheprovider`` there (PYTHONPATH set to the copy; that the copy's
package is the one imported is checked first) and prints a Markdown table:
mutation | tests that fail | caught. The first row is the baseline, the unmutated copy, run without -x: it
must pass. If it does not, its failures are listed and deselected in the mutants' runs (so that a test that
fails anyway is not counted as catching a mutant), and the script still exits 1.

Exit status 1 if the baseline fails, if a mutation survives, or if a mutation's search string is not found
exactly once (after a refactor the script must be updated, never silently pass). Options: ``--only NAME``
(repeatable; ``baseline`` is a name), ``--tests PATH...`` (default ``tests``), ``--pytest-args "..."``
(e.g. ``"-n 2"``), ``--no-x`` (run each mutant's suite to the end to list every test that catches it).
Slow: wrap it in ``flock /tmp/minidiff-cpu.lock``.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache",
                                ".ipynb_checkpoints", "_build", "node_modules", "*.egg-info")  # fmt: skip

# name: (file under minidiff/, exact text, replacement, what it means)
MUTATIONS = {
    "mlp-relu": (
        "layers.py",
        'return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))',
        "return self.fc2(F.relu(self.fc1(x)))",
        "layers.MLP: GELU -> ReLU",
    ),
    "embedder-relu": (
        "layers.py",
        "self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, dim))",
        "self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))",
        "layers.TimestepEmbedder: SiLU -> ReLU",
    ),
    "mid-order": (
        "unet.py",
        "h = self.mid.res2(self.mid.attn(self.mid.res1(h, emb)), emb)",
        "h = self.mid.res2(self.mid.res1(self.mid.attn(h), emb), emb)",
        "unet.UNet.forward: mid.attn before mid.res1",
    ),
    "upsample-bilinear": (
        "unet.py",
        'F.interpolate(x, scale_factor=2, mode="nearest")',
        'F.interpolate(x, scale_factor=2, mode="bilinear")',
        "unet.Upsample: nearest -> bilinear",
    ),
    "accum-no-division": (
        "train.py",
        "scaler.scale(loss.mean() / cfg.grad_accum).backward()",
        "scaler.scale(loss.mean()).backward()",
        "train.train: loss not divided by cfg.grad_accum before backward",
    ),
    "no-nan-guard": (
        "train.py",
        "if not math.isfinite(history.losses[-1]):",
        "if False:  # mutant: no non-finite-loss guard",
        "train.train: the non-finite-loss guard removed",
    ),
    "ema-stops-at-0.95": (
        "train.py",
        "        decay = self.current_decay()\n",
        "        decay = self.current_decay()\n        if decay >= 0.95:\n            return\n",
        "train.EMA.update: returns early once current_decay() >= 0.95",
    ),
    "ema-warmup-20": (
        "train.py",
        "(1 + self.step) / (10 + self.step)",
        "(1 + self.step) / (20 + self.step)",
        "train.EMA: warm-up decay (1 + n) / (20 + n) instead of (1 + n) / (10 + n)",
    ),
    "ema-fixed-0.99": (
        "train.py",
        "if self.warmup else self.decay",
        "if self.warmup else 0.99",
        "train.EMA: without warm-up, decay 0.99 instead of the configured one",
    ),
    "loss-t-max-0.9": (
        "flow.py",
        "LOSS_T_MAX = 0.95",
        "LOSS_T_MAX = 0.9",
        "flow.LOSS_T_MAX: 0.95 -> 0.9",
    ),
    "loss-t-max-0.99": (
        "flow.py",
        "LOSS_T_MAX = 0.95",
        "LOSS_T_MAX = 0.99",
        "flow.LOSS_T_MAX: 0.95 -> 0.99",
    ),
}


def copy_tree(destination: Path) -> Path:
    """The working tree (without .git, the venv and build outputs) under ``destination / "repo"``."""
    target = destination / "repo"
    shutil.copytree(ROOT, target, ignore=IGNORE, symlinks=True)
    return target


def mutate(repo: Path, file: str, old: str, new: str) -> None:
    path = repo / "minidiff" / file
    text = path.read_text()
    count = text.count(old)
    if count != 1:
        raise LookupError(f"minidiff/{file}: the search string occurs {count} times (expected once): {old!r}")
    path.write_text(text.replace(old, new))


def environment(repo: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(repo), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def check_imports_the_copy(repo: Path) -> None:
    """The installed package (an editable install of ROOT) must not shadow the copy: it would test nothing."""
    done = subprocess.run([sys.executable, "-c", "import minidiff; print(minidiff.__file__)"], cwd=repo,
                          env=environment(repo), capture_output=True, text=True, check=True)  # fmt: skip
    imported = Path(done.stdout.strip()).resolve()
    if not imported.is_relative_to(repo.resolve()):
        raise RuntimeError(f"the copy {repo} imports minidiff from {imported}: the mutant would go untested")


def run_suite(repo: Path, tests: list[str], pytest_args: list[str]) -> tuple[int, list[str], str]:
    """pytest's exit code, the failing tests' ids and the summary line."""
    command = [sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider", "-rfE", *pytest_args]
    done = subprocess.run(command, cwd=repo, env=environment(repo), capture_output=True, text=True)
    output = done.stdout + done.stderr
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.MULTILINE)
    counts = r"\d+ (passed|failed|error|errors|skipped|deselected|xfailed|xpassed)\b"
    lines = [line.strip("= ") for line in output.splitlines() if re.search(counts, line)]
    summary = lines[-1] if lines else ""
    if done.returncode not in (0, 1):  # 2 interrupted, 3 internal error, 4 usage, 5 nothing collected
        failed = failed or [f"pytest exit code {done.returncode}: {output.strip().splitlines()[-1:]}"]
    return done.returncode, failed, summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=["baseline", *MUTATIONS], help="run only these")
    parser.add_argument("--pytest-args", default="", help='extra pytest arguments, e.g. "-n 2"')
    parser.add_argument("--tests", nargs="+", default=["tests"], help="test paths (default: tests, all)")
    parser.add_argument("--no-x", action="store_true", help="run each mutant's suite to the end (no -x)")
    args = parser.parse_args(argv)
    names = args.only or ["baseline", *MUTATIONS]
    pytest_args = shlex.split(args.pytest_args)

    rows, bad, deselect = [], [], []
    for name in names:
        start = time.perf_counter()
        # no "minidiff" in the folder's name: a test may look for the package's frames by that word
        with tempfile.TemporaryDirectory(prefix=f"mutant-{name}-") as temp:
            repo = copy_tree(Path(temp))
            if name == "baseline":
                what = "none (the unmutated copy)"
            else:
                file, old, new, what = MUTATIONS[name]
                try:
                    mutate(repo, file, old, new)
                except LookupError as error:
                    rows.append((name, what, f"search string not found: {error}", "**not applied**"))
                    bad.append(name)
                    print(f"{name}: NOT APPLIED ({error})", file=sys.stderr, flush=True)
                    continue
            check_imports_the_copy(repo)
            if name == "baseline":
                code, failed, summary = run_suite(repo, args.tests, pytest_args)
                deselect = [f"--deselect={test}" for test in failed]
            else:
                stop = [] if args.no_x else ["-x"]
                code, failed, summary = run_suite(repo, args.tests, [*stop, *deselect, *pytest_args])
        seconds = time.perf_counter() - start
        if name == "baseline":
            ok = code == 0
            verdict = "green" if ok else "**red**"
            listed = ", ".join(f"`{test}`" for test in failed)  # all of them: the baseline must be green
            tests = summary if ok else f"{summary}: {listed} (deselected below)"
        else:
            ok = code != 0
            verdict = "yes" if ok else "**no (survived)**"
            more = f", ... ({len(failed)} in all)" if len(failed) > 4 else ""
            tests = ", ".join(f"`{test}`" for test in failed[:4]) + more or summary
        if not ok:
            bad.append(name)
        rows.append((name, what, tests, verdict))
        print(f"{name}: {verdict} in {seconds:.0f} s ({summary})", file=sys.stderr, flush=True)

    print("| mutation | change | tests that fail (first few) | caught |")
    print("|---|---|---|---|")
    for name, what, tests, verdict in rows:
        print(f"| {name} | {what} | {tests} | {verdict} |")
    if bad:
        print(f"\nFAILED: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
