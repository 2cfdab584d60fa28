"""Emoji: the colour emoji font rendered to small RGB images, with Unicode names as captions.

Every single-codepoint emoji the font draws in U+2600–27BF and U+1F300–1FAFF (about 1,280 with Noto
Color Emoji) is rendered once at 128 px, cropped to its content, centred on a **white** background
(white keeps outlines and light-coloured emoji recognisable and gives the model one flat colour to
learn for the background), then downsampled to the size asked for. Renders are cached as safetensors
under ``minidiff.home() / "data"``; a second ``load`` reads the cache in well under a second.

Fonts: Noto Color Emoji (Linux, Colab), Apple Color Emoji (macOS: drawn at a size its bitmaps exist in,
then scaled to Noto's ~120 px glyphs), Segoe UI Emoji (Windows). Each draws its own pictures and a
different set, so the cache records which font (and Unicode table) made it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from minidiff.settings import home

DATA_VERSION = "1"
MASTER = 128  # render size; every other size is downsampled from this one render
COMMON_SIZES = (32, 64)  # cached together whenever a render happens
BACKGROUND = (255, 255, 255)
RANGES = ((0x2600, 0x27C0), (0x1F300, 0x1FB00))  # Misc Symbols, Dingbats, and the emoji planes

# Where the font usually lives (the first existing file wins; MINIDIFF_EMOJI_FONT beats them all).
FONT_PATHS = [
    "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",  # Debian, Ubuntu, Colab (fonts-noto-color-emoji)
    "/usr/share/fonts/noto/NotoColorEmoji.ttf",  # Arch
    "/usr/share/fonts/google-noto-emoji/NotoColorEmoji.ttf",  # Fedora
    "/usr/share/fonts/google-noto-color-emoji-fonts/NotoColorEmoji.ttf",
    "/usr/local/share/fonts/NotoColorEmoji.ttf",
    "~/.local/share/fonts/NotoColorEmoji.ttf",
    "~/.fonts/NotoColorEmoji.ttf",
    "/System/Library/Fonts/Apple Color Emoji.ttc",  # macOS (built in)
    "C:/Windows/Fonts/seguiemj.ttf",  # Windows (Segoe UI Emoji, built in)
]
INSTALL_HINT = (
    "emoji font not found. Debian/Ubuntu/Colab: `sudo apt-get install fonts-noto-color-emoji` "
    "(in Colab: `!apt-get -qq install fonts-noto-color-emoji`); macOS and Windows ship one "
    "(Apple Color Emoji, Segoe UI Emoji); or point MINIDIFF_EMOJI_FONT at any colour emoji .ttf/.ttc file."
)


def _fc_match() -> str | None:
    """Ask fontconfig for an emoji font; it answers with a fallback font when none is installed."""
    if shutil.which("fc-match") is None:
        return None
    try:
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", "emoji:color"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return found if "emoji" in Path(found).name.lower() else None


def find_font() -> Path:
    """The colour emoji font file: ``MINIDIFF_EMOJI_FONT``, then the usual paths, then ``fc-match``."""
    forced = os.environ.get("MINIDIFF_EMOJI_FONT")
    if forced:
        if not Path(forced).expanduser().is_file():
            raise FileNotFoundError(f"MINIDIFF_EMOJI_FONT={forced!r} is not a file: fix the path or unset it")
        return Path(forced).expanduser()
    for candidate in [*FONT_PATHS, _fc_match()]:
        if candidate and Path(candidate).expanduser().is_file():
            return Path(candidate).expanduser()
    raise FileNotFoundError(INSTALL_HINT)


def _font_identity(path: Path) -> str:
    """Font name, size and content hash, and Python's Unicode version (it decides which codepoints have
    names): a cache rendered from another font or Unicode table is not reused."""
    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:16]
    return f"{path.name}:{path.stat().st_size}:{digest}:unicode-{unicodedata.unidata_version}"


def _open_font(path: Path) -> tuple[ImageFont.FreeTypeFont, float]:
    """Open the font at a size it can draw and return it with the scale that makes glyphs ~120 px.

    Bitmap fonts draw only at their strike sizes: Noto Color Emoji at 109 px (its glyphs come out
    ~120 px, used as is), Apple Color Emoji at 160/96/64 px (scaled to match). Vector fonts take any size.
    """
    for size in (109, 160, 96, 64, 137):
        try:
            font = ImageFont.truetype(str(path), size)
            glyph = _draw(font, "\U0001f600")  # grinning face: every colour emoji font has it
        except OSError:
            continue
        if glyph is not None:
            if not _in_colour(glyph):  # a text font (DejaVu Sans, ...) draws emoji as one-colour outlines
                raise FileNotFoundError(
                    f"{path} is not a colour emoji font: it draws emoji in one colour, so rendering them "
                    "would replace the emoji data with grey outlines (nothing was rendered; the cache is "
                    "unchanged). Point MINIDIFF_EMOJI_FONT at a colour emoji font (e.g. NotoColorEmoji.ttf "
                    "from `apt-get install fonts-noto-color-emoji`), or unset it"
                )
            scale = 120 / max(glyph.size)
            return font, 1.0 if abs(scale - 1) < 0.05 else scale
    raise FileNotFoundError(f"{path} does not draw colour emoji with Pillow. {INSTALL_HINT}")


def _in_colour(glyph: Image.Image) -> bool:
    """Whether at least 10 % of a glyph's visible pixels have colour (channels 32+ apart), not only grey.

    Noto's grinning face: 96 % (yellow); a text font's: 0 %.
    """
    pixels = np.asarray(glyph.convert("RGBA")).astype(np.int16)  # (H, W, 4)
    visible = pixels[..., :3][pixels[..., 3] > 128]  # (N, 3)
    return len(visible) > 0 and float(np.mean(visible.max(1) - visible.min(1) > 32)) >= 0.1


def _draw(font: ImageFont.FreeTypeFont, char: str) -> Image.Image | None:
    """The glyph as an RGBA image cropped to its visible pixels, or None when the font has no glyph."""
    side = int(font.size * 1.4)  # Noto at 109 needs 136 x 128 (the brief's canvas); leave room for others
    canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((0, 0), char, font=font, embedded_color=True)
    box = canvas.getchannel("A").getbbox()
    return None if box is None else canvas.crop(box)


def _render(path: Path) -> tuple[np.ndarray, list[int]]:
    """Render every drawable emoji once at MASTER px: (N, MASTER, MASTER, 3) uint8 and its codepoints."""
    font, scale = _open_font(path)
    codepoints = [cp for low, high in RANGES for cp in range(low, high) if unicodedata.name(chr(cp), "")]
    images, kept, seen = [], [], set()
    for cp in tqdm(codepoints, desc="rendering emoji", leave=False):
        glyph = _draw(font, chr(cp))
        if glyph is None:  # the font has no picture for it (Pillow draws nothing, not a tofu box)
            continue
        fit = min(scale, MASTER / max(glyph.size))  # keep the font's own sizes; only shrink what overflows
        if fit != 1.0:
            size = (max(1, round(glyph.width * fit)), max(1, round(glyph.height * fit)))
            glyph = glyph.resize(size, Image.Resampling.LANCZOS)
        tile = Image.new("RGBA", (MASTER, MASTER), (*BACKGROUND, 255))
        tile.alpha_composite(glyph, ((MASTER - glyph.width) // 2, (MASTER - glyph.height) // 2))
        pixels = np.asarray(tile.convert("RGB"))
        key = hashlib.sha1(pixels.tobytes()).digest()
        if key in seen:  # one picture, one class: skip codepoints that draw the same image as another
            continue
        seen.add(key)
        images.append(pixels)
        kept.append(cp)
    return np.stack(images), kept


def _resize(master: np.ndarray, size: int) -> torch.Tensor:
    """Downsample (N, MASTER, MASTER, 3) uint8 to (N, 3, size, size) uint8 with Lanczos (antialiased)."""
    if size == MASTER:
        small = master
    else:
        small = np.stack(
            [np.asarray(Image.fromarray(p).resize((size, size), Image.Resampling.LANCZOS)) for p in master]
        )
    return torch.from_numpy(small).permute(0, 3, 1, 2).contiguous()  # (N, H, W, C) -> (N, C, H, W)


def cache_path(size: int) -> Path:
    """The cache file for one size: images, codepoints and (in its header) names, version, font."""
    return home() / "data" / f"emoji-v{DATA_VERSION}-{size}px.safetensors"


def _read_cache(path: Path, font_id: str | None) -> tuple[torch.Tensor, list[int], list[str]] | None:
    """The cached render, or None (with a one-line notice) when it is unreadable or from another font."""
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
        images, codepoints = tensors["images"], tensors["codepoints"].tolist()
        names = json.loads(meta["names"])
        if meta["data_version"] != DATA_VERSION or not len(names) == len(codepoints) == images.shape[0]:
            raise ValueError("stale")
    except (OSError, SafetensorError, ValueError, KeyError, TypeError) as error:
        print(f"emoji cache {path} is unreadable ({type(error).__name__}): rendering again", file=sys.stderr)
        return None
    if font_id is not None and meta["font"] != font_id:
        print(f"emoji cache {path} was rendered from another font: rendering it again", file=sys.stderr)
        return None
    return images, codepoints, names


def _write_cache(path: Path, images: torch.Tensor, codepoints: list[int], names: list[str], font_id: str):
    """Write atomically (temporary file, then rename) so an interrupted run never leaves half a cache."""
    meta = {"data_version": DATA_VERSION, "font": font_id, "names": json.dumps(names)}
    tensors = {"images": images, "codepoints": torch.tensor(codepoints, dtype=torch.int64)}
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, path)
    except OSError as error:  # a read-only or full disk: carry on without a cache
        print(f"could not cache emoji at {path} ({error}): set MINIDIFF_HOME to a writable folder",
              file=sys.stderr)  # fmt: skip


_MEMO: dict[tuple[str, int], tuple[int, torch.Tensor, list[int], list[str]]] = {}


def _load_uint8(size: int) -> tuple[torch.Tensor, list[int], list[str]]:
    """(N, 3, size, size) uint8, codepoints, names: from memory, the cache, or a fresh render."""
    if not isinstance(size, int) or not 4 <= size <= MASTER:
        raise ValueError(f"size={size!r}: emoji render at 128 px, so ask for an int size from 4 to {MASTER}")
    path = cache_path(size)
    stamp = path.stat().st_mtime_ns if path.is_file() else -1
    memo = _MEMO.get((str(path), size))
    if memo is not None and memo[0] == stamp:
        return memo[1:]
    try:
        font = find_font()
    except FileNotFoundError:
        if not path.is_file():
            raise
        font = None  # no font on this machine, but a cache from one: use it
    font_id = _font_identity(font) if font is not None else None
    if font is not None:
        _open_font(font)  # a font that draws no colour emoji is refused before the cache is touched
    cached = _read_cache(path, font_id) if path.is_file() else None
    if cached is None:
        master, codepoints = _render(font)
        names = [unicodedata.name(chr(cp)).lower() for cp in codepoints]
        cached = (_resize(master, size), codepoints, names)
        # one render serves every size: also cache the sizes the course uses, while the master is at hand
        for other in {size, *COMMON_SIZES}:
            if other == size or not cache_path(other).is_file():
                images = cached[0] if other == size else _resize(master, other)
                _write_cache(cache_path(other), images, codepoints, names, font_id)
    stamp = path.stat().st_mtime_ns if path.is_file() else -1
    _MEMO[(str(path), size)] = (stamp, *cached)
    return cached


def _to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1.0  # uint8 [0, 255] -> float32 [-1, 1]


def load(size: int = 32) -> tuple[torch.Tensor, list[str]]:
    """All emoji: images (N, 3, size, size) float32 in [-1, 1] and their lower-case Unicode names."""
    images, _, names = _load_uint8(size)
    return _to_float(images), list(names)


def names() -> list[str]:
    """The N lower-case Unicode names, in the order of ``load`` (e.g. 'grinning face')."""
    return list(_load_uint8(32)[2])


def codepoints() -> list[int]:
    """The N codepoints, in the order of ``load``: ``chr(codepoints()[i])`` is emoji i."""
    return list(_load_uint8(32)[1])


def sample(
    n: int, size: int = 32, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, list[str]]:
    """n emoji drawn uniformly with replacement: images (n, 3, size, size) in [-1, 1] and names.

    Without a generator the draw is seeded with 0 (the rule of every ``minidiff.data`` sampler).
    """
    images, _, all_names = _load_uint8(size)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    index = torch.randint(len(all_names), (n,), generator=generator)
    return _to_float(images[index]), [all_names[i] for i in index.tolist()]
