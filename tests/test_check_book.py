"""tools/check_book.py without a browser: what counts as loading from another host, and which requests in
Chromium's net log are the page's (the browser's own calls home are not)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("minidiff_tools_check_book", ROOT / "tools" / "check_book.py")
check_book = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_book)


def test_external_loads_are_scripts_styles_and_images_not_links(tmp_path):
    (tmp_path / "page.html").write_text(
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>\n'
        '<link rel="stylesheet" href="//fonts.googleapis.com/css">\n'
        '<img alt="x" src="http://example.com/a.png">\n'
        '<script src="_static/mathjax/tex-chtml.js"></script>\n'
        '<a href="https://github.com/owner/repo">repository</a>\n'
        '<link rel="canonical" href="https://example.com/page.html">\n'
    )
    (tmp_path / "style.css").write_text("@font-face { src: url(https://fonts.example/x.woff2); }\n")
    found = check_book.external_loads(tmp_path)
    assert len(found) == 4 and all("_static" not in line and "github.com" not in line for line in found)


def test_page_requests_leave_out_the_browsers_own():
    log = {
        "constants": {"logEventTypes": {"URL_REQUEST_START_JOB": 7, "OTHER": 8}},
        "events": [
            {"type": 7, "params": {"initiator": "null", "url": "https://cdn.example/mathjax.js"}},
            {"type": 7, "params": {"initiator": "not an origin", "url": "https://www.google.com/"}},
            {"type": 7, "params": {"initiator": "null", "url": "file:///tmp/book/_static/x.js"}},
            {"type": 8, "params": {"url": "https://elsewhere.example/"}},
        ],
    }
    assert check_book.page_requests(log) == ["https://cdn.example/mathjax.js"]


def test_a_built_site_without_maths_is_reported(tmp_path):
    (tmp_path / "index.html").write_text("<p>no formulas here</p>")
    assert any("no page holds maths" in problem for problem in check_book.check(tmp_path, binary=None))
