"""Nothing trained is thrown away, and no bad input turns into a plausible wrong number (issue 9).

Checkpoints know their model and their bytes and clean up after killed saves; every measure and judge
refuses images it cannot score honestly; the folder loader keeps 16-bit pixels and captions' text; a font
that draws no colour never replaces the emoji data. Tiny tensors and untrained judges: each test is fast.
"""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from minidiff import flow, metrics
from minidiff.checkpoint import load_checkpoint, save_checkpoint
from minidiff.data import emoji, folder, scenes, shapes
from minidiff.judges import emoji as emoji_judge
from minidiff.judges import scenes as scenes_judge
from minidiff.judges import shapes as shapes_judge
from minidiff.train import TrainConfig, train
from minidiff.unet import UNet, UNetConfig

TINY_UNET = dict(
    base_channels=8, channel_mults=(1, 2), blocks_per_level=1, attn_levels=(1,), heads=2, groups=8
)


def _seed(n: int) -> torch.Generator:
    return torch.Generator().manual_seed(n)


def _unet(**changes) -> UNet:
    torch.manual_seed(0)
    return UNet(UNetConfig(**{**TINY_UNET, **changes}))


def _image_loss(model, x):
    t = torch.rand(x.shape[0])
    noise = torch.randn_like(x)
    xt = t.view(-1, 1, 1, 1) * x + (1 - t.view(-1, 1, 1, 1)) * noise
    return (model(xt, t) - (x - noise)).square().flatten(1).mean(1), t


def _images(batch_size, generator):
    return torch.rand(batch_size, 3, 8, 8, generator=generator) * 2 - 1


def _cfg(path, **changes) -> TrainConfig:
    base = dict(steps=2, batch_size=2, ema_decay=None, amp="off", progress=False, log_every=1, ckpt_path=path)
    return TrainConfig(**{**base, **changes})


def _random_images(n: int = 4, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=_seed(seed)) * 2 - 1  # (n, 3, size, size) in [-1, 1]


# ---- 2. checkpoints: the right model, whole bytes, no leftovers, a clear word on a finished run ------


def test_resume_into_another_model_class_or_config_is_refused_naming_both(tmp_path):
    path = tmp_path / "run.safetensors"
    train(_unet(heads=2), _image_loss, _images, _cfg(str(path)), device="cpu")
    with pytest.raises(ValueError, match=r"'heads': 2.*'heads': 4.*heads 2 vs 4"):
        train(_unet(heads=4), _image_loss, _images, _cfg(str(path), steps=4), device="cpu")
    saved = _unet(groups=8)
    save_checkpoint(tmp_path / "groups.safetensors", saved, step=1)
    with pytest.raises(ValueError, match=r"groups 8 vs 4.*resume=False"):
        load_checkpoint(tmp_path / "groups.safetensors", _unet(groups=4))

    class Other(nn.Module):  # the same tensors under another class: loads today, means something else
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(2, 2)

    class Mine(Other):
        pass

    save_checkpoint(tmp_path / "class.safetensors", Mine(), step=1)
    with pytest.raises(ValueError, match="saved from Mine with config None, but this model is Other"):
        load_checkpoint(tmp_path / "class.safetensors", Other())


def test_one_flipped_byte_is_refused_as_corrupt(tmp_path):
    path = tmp_path / "run.safetensors"
    save_checkpoint(path, _unet(), step=3)
    assert load_checkpoint(path, _unet())["step"] == 3
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0x01  # one bit of one weight, deep in the data section
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"is corrupt.*delete it or pass resume=False"):
        load_checkpoint(path, _unet())


def _temp_name(path, pid: int) -> str:
    host = re.sub(r"\W", "_", socket.gethostname())
    return f".{path.name}.{host}-{pid}.abcd1234.tmp"


def test_temp_files_of_killed_saves_are_removed_but_never_a_live_writers(tmp_path):
    path = tmp_path / "run.safetensors"
    killed = (  # a save killed (os._exit: no cleanup runs) after its bytes are out, before the rename
        "import os, sys, torch\n"
        "from minidiff import checkpoint\n"
        "real = checkpoint.save_file\n"
        "def save_then_die(tensors, name, metadata=None):\n"
        "    real(tensors, name, metadata=metadata)\n"
        "    os._exit(9)\n"
        "checkpoint.save_file = save_then_die\n"
        "checkpoint.save_checkpoint(sys.argv[1], torch.nn.Linear(4, 4), step=1)\n"
    )
    subprocess.run([sys.executable, "-c", killed, str(path)], check=False, timeout=120)
    assert len(list(tmp_path.glob(".*.tmp"))) == 1  # the killed save's temp file
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        writing = tmp_path / _temp_name(path, live.pid)  # another process still writing its save
        stale = [tmp_path / _temp_name(path, pid) for pid in (dead.pid, os.getpid())]  # gone; ours, idle
        for file in (writing, *stale):
            file.write_bytes(b"half a checkpoint")
        save_checkpoint(path, nn.Linear(4, 4), step=2)
        assert sorted(tmp_path.glob(".*.tmp")) == [writing]
        assert load_checkpoint(path, nn.Linear(4, 4))["step"] == 2
        assert writing.exists()
    finally:
        live.kill()
        live.wait()
    load_checkpoint(path, nn.Linear(4, 4))  # its writer is gone now: a load cleans it too
    assert list(tmp_path.glob(".*.tmp")) == []


def test_resuming_past_cfg_steps_says_so_with_both_numbers(tmp_path):
    path = str(tmp_path / "run.safetensors")
    train(_unet(), _image_loss, _images, _cfg(path, steps=4), device="cpu")
    with pytest.warns(
        UserWarning, match=r"already at step 4, past cfg\.steps=2.*cfg\.steps above 4.*resume=False"
    ):
        history = train(_unet(), _image_loss, _images, _cfg(path, steps=2), device="cpu")
    assert history.steps == [1, 2, 3, 4]  # the saved run, untouched


# ---- 3. numbers only from valid inputs --------------------------------------------------------------


def test_metrics_convert_uint8_explicitly_and_refuse_other_integer_types():
    a = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=_seed(0))
    b = a.flip(0)
    want = metrics.psnr(a.float() / 127.5 - 1, b.float() / 127.5 - 1)
    assert torch.allclose(metrics.psnr(a, b), want)
    assert torch.allclose(
        metrics.ssim_distance(a, b), metrics.ssim_distance(a.float() / 127.5 - 1, b.float() / 127.5 - 1)
    )
    for dtype in (torch.int64, torch.bool):
        with pytest.raises(ValueError, match=f"dtype {dtype} is not an image type.*x / 127.5 - 1"):
            metrics.psnr(a.to(dtype), b.to(dtype))


def test_metrics_refuse_0_1_images_0_255_floats_nan_and_empty_batches():
    x = _random_images(2, 32)
    zero_one = (x + 1) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # LPIPS without its backbone says so once
        lpips = metrics.LPIPS()
    for measure in (metrics.psnr, metrics.ssim_distance, metrics.lpips_distance, lpips):
        with pytest.raises(
            ValueError, match=r"look like \[0, 1\] images.*\[-1, 1\]: convert with x \* 2 - 1"
        ):
            measure(zero_one, zero_one.flip(0))
        with pytest.raises(ValueError, match=r"values from .* to 25\d.*x / 127\.5 - 1"):
            measure(x, (x + 1) * 127.5)
        nan = x.clone()
        nan[1, 2, 3, 4] = math.nan
        with pytest.raises(ValueError, match=r"b: 1 of 6144 values are NaN or infinite"):
            measure(x, nan)
        with pytest.raises(ValueError, match="the batch is empty"):
            measure(x[:0], x[:0])
    assert (metrics.psnr(x, x.clamp(-0.9, 0.9)) > 0).all()  # [-1, 1] images still pass


def _tiny_emoji_judge() -> emoji_judge.Classifier:
    torch.manual_seed(0)
    return emoji_judge.Classifier(classes=5, width=2, features=8).eval()


def test_emoji_judge_refuses_bad_images_and_converts_uint8():
    judge, reference = _tiny_emoji_judge(), torch.randn(50, 8, generator=_seed(1))
    x = _random_images(6, 32)
    nan = x.clone()
    nan[0, 0, 0, 0] = math.nan
    for fn in (
        emoji_judge.identify,
        emoji_judge.features,
        lambda y, model: emoji_judge.score(y, model, reference),
    ):
        with pytest.raises(ValueError, match="the batch is empty"):
            fn(x[:0], model=judge)
        with pytest.raises(ValueError, match="1 of 18432 values are NaN"):
            fn(nan, model=judge)
        with pytest.raises(ValueError, match=r"x \* 2 - 1"):
            fn((x + 1) / 2, model=judge)
    pixels = ((x + 1) * 127.5).round().to(torch.uint8)
    as_float = pixels.float() / 127.5 - 1
    assert torch.equal(emoji_judge.features(pixels, judge), emoji_judge.features(as_float, judge))
    assert emoji_judge.score(pixels, judge, reference) == emoji_judge.score(as_float, judge, reference)


def test_scenes_judge_refuses_bad_images_and_maps():
    torch.manual_seed(0)
    judge = scenes_judge.Segmenter(channels=4).eval()
    images, maps = scenes.sample(2, 8, generator=_seed(0))
    assert set(scenes_judge.score(images, maps, model=judge)) == {"pixel_accuracy", "mean_iou"}
    with pytest.raises(ValueError, match="384 of 384 values are NaN"):
        scenes_judge.score(torch.full_like(images, math.nan), maps, model=judge)
    classes = len(scenes.CLASSES)
    with pytest.raises(ValueError, match=rf"expected \(B, {classes}, 8, 8\).*got \(2, 1, 8, 8\)"):
        scenes_judge.score(images, torch.ones(2, 1, 8, 8), model=judge)
    with pytest.raises(ValueError, match="maps are not one-hot"):
        scenes_judge.score(images, maps * 0.5 + 0.5 / classes, model=judge)
    with pytest.raises(ValueError, match="2 images but 1 maps"):
        scenes_judge.score(images, maps[:1], model=judge)
    with pytest.raises(ValueError, match="the batch is empty"):
        scenes_judge.score(images[:0], maps[:0], model=judge)


def test_shapes_judge_refuses_0_1_images_and_converts_uint8():
    images, _, labels = shapes.sample(4, 32, generator=_seed(0))
    zero_one = (images + 1) / 2
    for call in (shapes_judge.read, shapes_judge.quality, lambda x: shapes_judge.score(x, labels)):
        with pytest.raises(ValueError, match=r"\[0, 1\] images.*x \* 2 - 1"):
            call(zero_one)
        with pytest.raises(ValueError, match=r"x / 127\.5 - 1"):
            call(zero_one * 255)
    pixels = ((images + 1) * 127.5).round().to(torch.uint8)
    assert shapes_judge.score(pixels, labels) == shapes_judge.score(pixels.float() / 127.5 - 1, labels)
    assert shapes_judge.score(pixels, labels)["all"] == 1.0


def test_samplers_refuse_fewer_than_one_step():
    noise = torch.randn(2, 3, 4, 4, generator=_seed(0))
    for sampler in (flow.euler, flow.heun):
        for steps in (0, -1, 2.5):
            with pytest.raises(ValueError, match=rf"steps={steps}.*>= 1"):
                sampler(lambda xt, t: torch.zeros_like(xt), noise, steps)
        assert sampler(lambda xt, t: torch.zeros_like(xt), noise, np.int64(1)).shape == noise.shape


@pytest.mark.parametrize("field, value", [("grad_clip", -1.0), ("warmup", -5), ("lr", 0.0), ("lr", math.nan),
                                          ("ema_decay", 1.5), ("ema_decay", -0.1), ("weight_decay", -0.1),
                                          ("betas", (0.9, 1.0))])  # fmt: skip
def test_train_config_refuses_nonsense(field, value):
    with pytest.raises(ValueError, match=rf"TrainConfig: {field}="):
        TrainConfig(steps=1, batch_size=1, **{field: value})


def test_a_nan_loss_names_the_data_as_a_cause():
    def with_a_nan(batch_size, generator):
        x = _images(batch_size, generator)
        x[0, 0, 0, 0] = math.nan
        return x

    cfg = _cfg(None, steps=3, log_every=3)  # the losses are fetched at step 3; the first NaN is step 1's
    with pytest.raises(ValueError, match=r"the loss became nan at step 1: the data may hold NaN.*cfg\.lr"):
        train(_unet(), _image_loss, with_a_nan, cfg, device="cpu")


# ---- 4. the folder loader and the emoji font keep what the learner gave ---------------------------


def _png16(path, pixels: np.ndarray, colour_type: int) -> None:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB): pixels (H, W, C) uint16."""
    height, width = pixels.shape[:2]
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([16, colour_type, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))  # fmt: skip


def test_folder_scales_16_bit_images_to_8_bits(tmp_path):
    Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16)).save(tmp_path / "a_grey.png")  # mode I;16
    rgb = np.zeros((8, 8, 3), np.uint16)
    rgb[..., 0], rgb[..., 1] = 65535, 32768
    _png16(tmp_path / "b_rgb.png", rgb, colour_type=2)
    rgba = np.concatenate([rgb, np.full((8, 8, 1), 65535, np.uint16)], axis=2)
    _png16(tmp_path / "c_rgba.png", rgba, colour_type=6)
    images, _ = folder.load(tmp_path, 4)
    mid = 128 / 127.5 - 1  # 32768 / 65535 of the way up: the 8-bit value 128
    assert torch.allclose(images[0], torch.full((3, 4, 4), mid), atol=1e-6)  # not white
    for image in images[1:]:
        assert torch.allclose(image, torch.tensor([1.0, mid, -1.0]).view(3, 1, 1).expand(3, 4, 4), atol=1e-6)


def test_folder_decodes_captions_as_editors_save_them(tmp_path):
    texts = {
        "a": "a red cat".encode("utf-8-sig"),  # Notepad's "UTF-8 with BOM"
        "b": "a red cat".encode("utf-16"),  # Notepad's "Unicode": a BOM, then two bytes a character
        "c": "a café crème".encode("cp1252"),  # Windows' ANSI
        "d": "a café crème".encode(),
        "e": "a red cat".encode("utf-16-le"),  # UTF-16 without a BOM
        "f": "a red cat".encode("utf-32"),
    }
    for name, raw in texts.items():
        Image.new("RGB", (4, 4)).save(tmp_path / f"{name}.png")
        (tmp_path / f"{name}.txt").write_bytes(raw)
    _, captions = folder.load(tmp_path, 4)
    assert captions == ["a red cat", "a red cat", "a café crème", "a café crème", "a red cat", "a red cat"]


def test_folder_names_the_file_and_the_limit_of_a_decompression_bomb(tmp_path, monkeypatch):
    Image.new("RGB", (20, 20)).save(tmp_path / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses images over twice this
    with pytest.raises(
        ValueError, match=r"huge\.png.*MAX_IMAGE_PIXELS = 100\b.*Image\.MAX_IMAGE_PIXELS = None"
    ):
        folder.load(tmp_path, 4)


def test_a_font_without_colour_is_refused_before_rendering_and_the_cache_kept(tmp_path, monkeypatch):
    text_font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    if not os.path.isfile(text_font):
        pytest.skip("DejaVu Sans is not installed")
    monkeypatch.setenv("MINIDIFF_HOME", str(tmp_path))
    monkeypatch.setattr(emoji, "_MEMO", {})
    cache = emoji.cache_path(32)
    images = torch.full((2, 3, 32, 32), 200, dtype=torch.uint8)
    emoji._write_cache(cache, images, [0x1F600, 0x1F601], ["grinning face", "beaming face"], "a colour font")
    before = cache.read_bytes()
    monkeypatch.setenv("MINIDIFF_EMOJI_FONT", text_font)
    with pytest.raises(
        FileNotFoundError, match=r"DejaVuSans\.ttf is not a colour emoji font.*MINIDIFF_EMOJI_FONT"
    ):
        emoji.load(32)
    assert cache.read_bytes() == before
    assert not (tmp_path / "data" / "emoji-v1-64px.safetensors").exists()  # nothing rendered
