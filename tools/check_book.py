"""Check the built book works offline: nothing is loaded from another host, and the maths renders.

``python tools/check_book.py book/_build/html`` (run by ``make book``) reads every page for scripts,
stylesheets, images or frames from another host, then opens each page that holds maths in headless
Chromium with the network off (every request goes to a dead proxy; Chromium's net log lists what was
asked for) and checks that MathJax rendered each formula (``mjx-container``) without a TeX error
(``mjx-merror``) or an undefined command (shown in red) and that no request left the machine. Without
Chromium the browser part is skipped with a warning, except under CI (``CI`` set) or
``--require-browser``, where it fails.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--proxy-server=127.0.0.1:9",  # the discard port: any request to the network fails here
    "--virtual-time-budget=10000",
    "--dump-dom",
]
# Tags that make the browser fetch something when the page loads (an <a href> does not).
LOADS = re.compile(
    r"<(script|img|iframe|source|audio|video)\b[^>]*?\ssrc=[\"'](?P<src>https?:)?//[^\"']+[\"']"
    r"|<link\b(?=[^>]*\srel=[\"'](?:stylesheet|preload|modulepreload|prefetch|icon)[\"'])[^>]*?"
    r"\shref=[\"'](?:https?:)?//[^\"']+[\"']"
    r"|url\(\s*[\"']?(?:https?:)?//[^)]+\)"
    r"|@import\s+[\"'](?:https?:)?//[^\"']+[\"']",
    re.IGNORECASE,
)
MATH = re.compile(r"<(span|div)\s+class=\"math notranslate nohighlight\"")
MERROR = re.compile(r"<mjx-merror\b[^>]*?data-mjx-error=\"([^\"]*)\"", re.IGNORECASE)
UNDEFINED = re.compile(r"<mtext mathcolor=\"red\">([^<]*)</mtext>")  # MathJax's noundefined: a command in red


def external_loads(site: Path) -> list[str]:
    """``page: tag`` for each resource a page (or a stylesheet of the site) fetches from another host."""
    found = []
    for path in sorted([*site.rglob("*.html"), *site.rglob("*.css")]):
        text = path.read_text(errors="replace")
        found += [f"{path.relative_to(site)}: {m.group(0)[:160]}" for m in LOADS.finditer(text)]
    return found


def browser(name: str | None = None) -> str | None:
    return next((found for b in ([name] if name else BROWSERS) if (found := shutil.which(b))), None)


def render(binary: str, page: Path, scratch: Path) -> tuple[str, list[str]]:
    """The page's DOM after scripts ran, and the network URLs the browser asked for."""
    netlog = scratch / f"{page.stem}.netlog.json"
    command = [
        binary,
        *FLAGS,
        f"--user-data-dir={scratch / 'profile'}",
        f"--log-net-log={netlog}",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or "<html" not in done.stdout:
        raise RuntimeError(f"{binary} failed on {page} (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout, page_requests(json.loads(netlog.read_text()))


def page_requests(log: dict) -> list[str]:
    """The network URLs a page asked for, from Chromium's net log (the browser's own calls home, e.g. for
    spelling dictionaries, have no origin as initiator and are not the page's doing)."""
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    urls = {
        event["params"]["url"]
        for event in log["events"]
        if names.get(event["type"]) == "URL_REQUEST_START_JOB"
        and event.get("params", {}).get("initiator") != "not an origin"
        and re.match(r"(https?|wss?)://", event["params"].get("url", ""))
    }
    return sorted(urls)


def check(site: Path, binary: str | None, pages: list[Path] | None = None) -> list[str]:
    """Everything wrong with the built site at ``site``; empty when it works offline."""
    problems = [f"loads from another host: {line}" for line in external_loads(site)]
    with_math = pages or [
        p for p in sorted(site.rglob("*.html")) if MATH.search(p.read_text(errors="replace"))
    ]
    if not with_math:
        problems.append(f"{site}: no page holds maths (class 'math notranslate'): was the book built?")
    if binary is None:
        return problems
    with tempfile.TemporaryDirectory(prefix="check-book-") as scratch:
        for page in with_math:
            formulas = len(MATH.findall(page.read_text(errors="replace")))
            dom, urls = render(binary, page, Path(scratch))
            rendered = dom.count("<mjx-container")
            name = page.relative_to(site)
            if rendered < formulas:
                problems.append(f"{name}: MathJax rendered {rendered} of {formulas} formulas (offline)")
            problems += [f"{name}: TeX error {html.unescape(e)!r}" for e in MERROR.findall(dom)]
            problems += [f"{name}: undefined TeX {html.unescape(e)!r}" for e in UNDEFINED.findall(dom)]
            problems += [f"{name}: asked the network for {url}" for url in urls]
            print(f"check_book: {name}: {rendered} formulas rendered offline, {len(urls)} network requests")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the built book, e.g. book/_build/html")
    parser.add_argument("pages", nargs="*", type=Path, help="pages to open (default: every page with maths)")
    parser.add_argument("--browser", help=f"the browser binary (default: the first of {', '.join(BROWSERS)})")
    parser.add_argument("--require-browser", action="store_true", default=bool(os.environ.get("CI")))
    args = parser.parse_args(argv)
    binary = browser(args.browser)
    if binary is None:
        message = (
            "no Chromium found: install it (Debian/Ubuntu: apt-get install -y chromium) to check the maths"
        )
        if args.require_browser:
            print(f"check_book: {message}", file=sys.stderr)
            return 1
        print(f"check_book: WARNING: {message}; only the pages' links were checked", file=sys.stderr)
    pages = [p.resolve() for p in args.pages] or None
    problems = check(args.site.resolve(), binary, pages)
    for line in problems:
        print(f"check_book: {line}", file=sys.stderr)
    if not problems:
        print(f"check_book: {args.site} works offline" + (" (maths rendered in Chromium)" if binary else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
