"""The command line: ``python -m minidiff generate "red apple" -o apple.png`` (or the ``minidiff`` script).

It loads chapter 06's pipeline from the zoo (``minidiff.pipeline``) and writes one PNG. Nothing is trained
unless asked: ``--train`` trains what the zoo lacks (with progress bars); without it, an interactive shell
is asked first and a script gets a one-line hint. Every bad input is one line on stderr that says what to
do, and a non-zero exit status: 2 for a bad argument, 1 for a model or file that cannot be used.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from PIL import Image

from minidiff.pipeline import (
    MAX_STEPS,
    Pipeline,
    PipelineError,
    check_budget,
    check_prompts,
    missing,
    tokenizer,
)
from minidiff.recipes.ldm import GUIDANCE, SAMPLE_STEPS
from minidiff.settings import BUDGETS, set_threads

PROG = "minidiff"
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}
TRAIN_TIME = {  # measured here, every part trained (vae, clip, ldm); gpu estimated
    "quick": "about 15 seconds",
    "cpu": "about 11 minutes on 2 CPU cores",
    "gpu": "about 15 minutes on a T4",
}


class Refused(Exception):
    """A bad input: its message (one line, with the fix) goes to stderr; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, and where help is), exit status 2."""

    def error(self, message: str):
        raise Refused(f"{message} (see {self.prog} --help)", code=2)


def _steps(text: str) -> int:
    try:
        steps = int(text)
    except ValueError:
        steps = 0
    if not 1 <= steps <= MAX_STEPS:
        raise argparse.ArgumentTypeError(f"--steps {text}: use a whole number from 1 to {MAX_STEPS}, e.g. 20")
    return steps


def _cfg(text: str) -> float:
    try:
        scale = float(text)
    except ValueError:
        scale = math.nan
    if not (math.isfinite(scale) and 0 <= scale <= 50):
        raise argparse.ArgumentTypeError(f"--cfg {text}: use a guidance scale from 0 to 50 (1 = none), e.g. "
                                         f"{GUIDANCE:g}")  # fmt: skip
    return scale


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed {text}: use a whole number, e.g. 0") from None


def parser() -> Parser:
    main_parser = Parser(prog=PROG, description="minidiff's text-to-image model (chapter 06) from the shell.")
    commands = main_parser.add_subparsers(dest="command", metavar="command", parser_class=Parser)
    generate = commands.add_parser(
        "generate", help="draw a prompt into an image file",
        description="Draw a prompt (an emoji name, e.g. 'red apple') as a 32 x 32 image with the zoo's "
                    "vae, clip and ldm models of one budget, and write it to a file.",
    )  # fmt: skip
    generate.add_argument("prompt", help="what to draw, e.g. 'red apple' (an emoji's name)")
    generate.add_argument("-o", "--output", required=True, type=Path, help="image file to write (.png, .jpg)")
    generate.add_argument(
        "--steps", type=_steps, default=SAMPLE_STEPS, help=f"Heun steps (default {SAMPLE_STEPS})"
    )
    generate.add_argument("--cfg", type=_cfg, default=GUIDANCE,
                          help=f"guidance scale, 1 = none (default {GUIDANCE:g})")  # fmt: skip
    generate.add_argument("--seed", type=_seed, default=0, help="noise seed: the same seed, the same image")
    generate.add_argument("--budget", choices=BUDGETS, default=None,
                          help="which models: quick (seconds to train, smoke only), cpu, gpu (default: "
                               "$MINIDIFF_BUDGET, else gpu with a GPU, else cpu)")  # fmt: skip
    generate.add_argument("--size", type=int, default=128,
                          help="pixels of the written image (the model draws 32; default 128)")  # fmt: skip
    generate.add_argument(
        "--train", action="store_true", help="train the models the zoo lacks (progress bars)"
    )
    return main_parser


def check_output(path: Path) -> None:
    """Refuse an output path the image cannot be written to, before spending time on generating it."""
    if path.suffix.lower() not in FORMATS:
        raise Refused(f"cannot write {path}: name it with one of {', '.join(FORMATS)}, e.g. apple.png")
    if path.is_dir():
        raise Refused(f"cannot write {path}: it is a folder; give a file name, e.g. {path / 'apple.png'}")
    if not path.parent.is_dir():
        raise Refused(f"cannot write {path}: the folder {path.parent} does not exist; create it or choose "
                      f"another -o")  # fmt: skip
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as err:
        raise Refused(f"cannot write {path} ({err.strerror or err}): choose another -o") from None
    if not existed:
        path.unlink()


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def _consent(budget: str, absent: list[str], train: bool) -> bool:
    """Whether training is allowed: --train, or a yes typed at the prompt of an interactive shell when parts
    are missing. Never otherwise: a broken file is reported, not silently replaced."""
    if train:
        return True
    if absent and _interactive():
        answer = input(f"{PROG}: the {budget} models {', '.join(absent)} are not trained yet; train them now "
                       f"({TRAIN_TIME[budget]})? [y/N] ")  # fmt: skip
        return answer.strip().lower() in ("y", "yes")
    return False


def generate(args) -> None:
    check_output(args.output)
    try:
        budget = check_budget(args.budget)
    except (PipelineError, ValueError) as err:  # MINIDIFF_BUDGET set to something that is not a budget
        raise Refused(str(err), code=2) from None
    if args.size < 1 or args.size > 4096:
        raise Refused(f"--size {args.size}: use 1 to 4096 pixels (the model draws 32)", code=2)
    absent = missing(budget)
    try:
        check_prompts(args.prompt)  # empty?
        train = _consent(budget, absent, args.train)
        if train or not absent:  # too long? Before anything is trained (without training: Pipeline.load says)
            check_prompts(args.prompt, tokenizer(budget))
    except ValueError as err:
        raise Refused(str(err), code=2) from None
    try:
        pipe = Pipeline.load(budget, train=train)
        image = pipe.generate(args.prompt, steps=args.steps, cfg=args.cfg, seed=args.seed, progress=True)[0]
    except PipelineError as err:
        raise Refused(str(err)) from None
    except ValueError as err:  # the prompt: empty or too long (the tokenizer of this CLIP decides)
        raise Refused(str(err), code=2) from None
    if args.size != image.width:
        image = image.resize((args.size, args.size), Image.Resampling.LANCZOS)
    try:
        image.save(args.output, format=FORMATS[args.output.suffix.lower()])
    except OSError as err:
        raise Refused(f"cannot write {args.output} ({err.strerror or err}): choose another -o") from None
    print(f"wrote {args.output.resolve()} ({args.size} x {args.size} px, drawn at 32): {args.prompt!r}, "
          f"budget {budget}, steps {args.steps}, cfg {args.cfg:g}, seed {args.seed}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0: done). The console script ``minidiff`` calls it."""
    set_threads()  # MINIDIFF_THREADS, e.g. 1 on a busy machine: two threads that fight for a core crawl
    try:
        args = parser().parse_args(argv)
        if args.command is None:
            raise Refused(
                f"give a command, e.g. {PROG} generate 'red apple' -o apple.png (see {PROG} --help)", 2
            )
        generate(args)
    except Refused as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0


__all__ = ["main", "parser", "check_output", "Refused"]
