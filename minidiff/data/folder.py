"""Your own images: every jpg/png/webp in a folder (and its subfolders), center-cropped and resized.

An optional caption sits beside each image in a text file of the same name (``cat.png`` + ``cat.txt``),
so a folder of pictures becomes a text-to-image dataset: ``images, captions = folder.load("my_pics", 32)``.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm

DATA_VERSION = "1"
EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")


def _files(folder: Path) -> list[Path]:
    """Image files under folder, sorted, skipping hidden files and folders (.ipynb_checkpoints, ...)."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _to_8_bits(image: Image.Image) -> Image.Image:
    """16-bit grey (modes I;16*, and I as Pillow opens some 16-bit PNGs) scaled to 8-bit L: 65535 -> 255.

    Pillow's convert("RGB") would clip every value above 255 to white instead. (16-bit RGB(A) PNGs Pillow
    already opens as 8-bit RGB(A), scaled right.)
    """
    if not (image.mode.startswith("I;16") or image.mode == "I"):
        return image
    values = np.asarray(image, dtype=np.float64)
    return Image.fromarray(np.round(values.clip(0, 65535) * (255 / 65535)).astype(np.uint8), mode="L")


def _read(file: Path, size: int) -> np.ndarray:
    """One image as (size, size, 3) uint8: upright (EXIF), 16 bits scaled to 8, transparency on white,
    center crop, resize."""
    try:
        with Image.open(file) as image:
            image = _to_8_bits(ImageOps.exif_transpose(image))
            if image.mode in ("RGBA", "LA", "P"):
                image = image.convert("RGBA")
                white = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(white, image)
            image = image.convert("RGB")
            # crop the largest centred square first (so no pixel outside it bleeds in), then resize it
            width, height = image.size
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            image = image.crop((left, top, left + side, top + side))
            image = image.resize((size, size), Image.Resampling.LANCZOS)
            return np.asarray(image, dtype=np.uint8)
    except Image.DecompressionBombError as err:
        limit = f"PIL.Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS:,}"
        raise ValueError(
            f"cannot read image {file}: it has more pixels than Pillow opens by default "
            f"({limit}; {err}). If you trust the file, raise the limit before loading (from "
            "PIL import Image; Image.MAX_IMAGE_PIXELS = None), or save a smaller copy"
        ) from err
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"cannot read image {file}: {err}; delete it or save it again as png/jpg") from err


# byte-order marks and their codecs; UTF-32's first, since UTF-32 LE's starts with UTF-16 LE's
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode(raw: bytes) -> str:
    """Text as editors save it: UTF-8, with or without a BOM; UTF-16/32 (Windows' "Unicode") with a BOM, or
    UTF-16 without one (every other byte 0); else Windows' cp1252."""
    for bom, codec in BOMS:
        if raw.startswith(bom):
            return raw.decode(codec, errors="replace")
    if raw.count(0) >= len(raw) // 3 > 0:  # mostly ASCII in UTF-16: its high bytes are 0
        return raw.decode("utf-16-le" if raw[1::2].count(0) > raw[::2].count(0) else "utf-16-be", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _caption(file: Path) -> str | None:
    text = file.with_suffix(".txt")
    if not text.is_file():
        return None
    caption = _decode(text.read_bytes()).strip()
    return caption or None


def _load(path, size: int, limit: int | None = None) -> tuple[torch.Tensor, list[str | None]]:
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"folder {folder} does not exist: check the path (on Colab, upload or mount "
                                "your pictures first)")  # fmt: skip
    if not folder.is_dir():
        raise ValueError(f"{folder} is a file, not a folder: pass the folder that holds your images")
    if size < 1:
        raise ValueError(f"size={size}: use a positive image size, e.g. 32 or 64")
    files = _files(folder)[:limit]
    if not files:
        raise ValueError(f"no images found in {folder}: put {', '.join(EXTENSIONS)} files there "
                         "(optionally with a caption in name.txt beside name.png)")  # fmt: skip
    pixels = np.stack([_read(f, size) for f in tqdm(files, desc="images", disable=len(files) < 500)])
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1  # (N, 3, H, W)
    return images, [_caption(f) for f in files]


def load(path, size: int = 32) -> tuple[torch.Tensor, list[str | None]]:
    """All images under path as (N, 3, size, size) in [-1, 1], and their captions (None where no .txt)."""
    return _load(path, size)
