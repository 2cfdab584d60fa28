"""data.folder: the learner's own images and captions, read from a temporary folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from minidiff.data import folder


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDIFF_HOME", str(tmp_path / "home"))


def _solid(width, height, rgb, mode="RGB"):
    return Image.new(mode, (width, height), rgb)


@pytest.fixture
def pictures(tmp_path):
    root = tmp_path / "pics"
    (root / "more").mkdir(parents=True)
    # 60×40 landscape: blue side bands around a red centre square; the center crop keeps only red
    wide = np.zeros((40, 60, 3), np.uint8)
    wide[:, :, 2] = 255
    wide[:, 10:50] = (255, 0, 0)
    Image.fromarray(wide).save(root / "a_wide.png")
    (root / "a_wide.txt").write_text("  a red square  \n")
    _solid(20, 30, (0, 255, 0)).save(root / "b_tall.JPG", quality=95)
    _solid(16, 16, (0, 0, 0, 0), mode="RGBA").save(root / "c_clear.png")  # transparent -> white
    _solid(50, 50, (255, 255, 0)).save(root / "more" / "d.webp", lossless=True)
    (root / "more" / "d.txt").write_text("yellow")
    (root / "notes.txt").write_text("not an image")
    (root / ".ipynb_checkpoints").mkdir()
    _solid(8, 8, (1, 2, 3)).save(root / ".ipynb_checkpoints" / "hidden.png")
    return root


def test_load_reads_crops_resizes_and_captions(pictures):
    images, captions = folder.load(pictures, size=8)
    assert images.shape == (4, 3, 8, 8) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1
    assert captions == ["a red square", None, None, "yellow"]  # sorted paths; blank space stripped
    red, green, white, yellow = (torch.tensor(c, dtype=torch.float32) / 127.5 - 1 for c in
                                 [(255, 0, 0), (0, 255, 0), (255, 255, 255), (255, 255, 0)])  # fmt: skip
    for image, colour in zip(images, (red, green, white, yellow)):
        assert torch.allclose(image, colour.view(3, 1, 1).expand_as(image), atol=0.05)


def test_load_any_size(pictures):
    for size in (1, 32, 64):
        images, _ = folder.load(str(pictures), size=size)
        assert images.shape == (4, 3, size, size)


def test_errors_say_what_to_do(tmp_path, pictures):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        folder.load(tmp_path / "missing")
    with pytest.raises(ValueError, match="not a folder"):
        folder.load(pictures / "notes.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("hi")
    with pytest.raises(ValueError, match=r"no images found.*\.jpg, \.jpeg, \.png, \.webp"):
        folder.load(empty)
    (pictures / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="broken.png"):
        folder.load(pictures)
    with pytest.raises(ValueError, match="size"):
        folder.load(empty, size=0)
