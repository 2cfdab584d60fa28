"""Your own images: every jpg/png/webp in a folder (and its subfolders), center-cropped and resized.

An optional caption sits beside each image in a text file of the same name (``cat.png`` + ``cat.txt``),
so a folder of pictures becomes a text-to-image dataset: ``images, captions = folder.load("my_pics", 32)``.
"""

from __future__ import annotations

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


def _read(file: Path, size: int) -> np.ndarray:
    """One image as (size, size, 3) uint8: upright (EXIF), transparency on white, center crop, resize."""
    try:
        with Image.open(file) as image:
            image = ImageOps.exif_transpose(image)
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
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"cannot read image {file}: {err}; delete it or save it again as png/jpg") from err


def _caption(file: Path) -> str | None:
    text = file.with_suffix(".txt")
    if not text.is_file():
        return None
    caption = text.read_text(encoding="utf-8", errors="replace").strip()
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
