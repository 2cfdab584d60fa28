"""minidiff.plot: conversions against hand computations, figures with the right axes, quiet fallbacks."""

from __future__ import annotations

import types
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from minidiff import live, plot  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _images(n=5, size=8, channels=3, seed=0):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---- conversions ---------------------------------------------------------------------------------


def test_to_uint8_ranges_and_rounding():
    values = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    x = values.view(1, 1, 1, -1).repeat(2, 3, 1, 1)  # (B=2, C=3, H=1, W=7)
    got = plot.to_uint8(x)
    want = np.round((np.clip(values.numpy(), -1, 1) + 1) * 127.5).astype(np.uint8)  # 0 0 64 128 191 255 255
    assert got.shape == (2, 1, 7, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got[0, 0, :, 1], want)
    red = plot.to_uint8(torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1))  # one image (C, H, W) -> (H, W, C)
    np.testing.assert_array_equal(red[0, 0], [255, 0, 0])
    with pytest.raises(ValueError, match="expected images"):
        plot.to_uint8(torch.zeros(2, 8, 8))


def test_make_grid_and_to_pil():
    x = _images(5)
    grid = plot.make_grid(x, nrow=4)  # 2 rows of 4 cells of 8 px with 2 px padding
    assert grid.shape == (3, 2 * 10 + 2, 4 * 10 + 2) and grid.min() >= -1 and grid.max() <= 1
    np.testing.assert_array_equal(plot.to_uint8(grid[:, 2:10, 2:10]), plot.to_uint8(x[0]))  # exact round trip
    assert plot.to_pil(x[0]).size == (8, 8) and plot.to_pil(x[0]).mode == "RGB"
    assert plot.to_pil(x, nrow=4).size == (42, 22)
    assert plot.to_pil(_images(1, channels=1)[0]).mode == "RGB"


# ---- image grids ---------------------------------------------------------------------------------


def test_show_images_with_captions_has_one_axes_per_image():
    captions = ["a red circle at the top left and a small blue square at the bottom right", "b", "", "d", "e"]
    fig = plot.show_images(_images(5), captions, nrow=3, title="shapes")
    assert isinstance(fig, Figure) and len(fig.axes) == 5
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts[0].count("\n") >= 2 and texts[1:] == ["b", "d", "e"]  # long caption wrapped, empty skipped
    with pytest.raises(ValueError, match="one caption per image"):
        plot.show_images(_images(5), captions[:2])


def test_show_images_accepts_lists_uint8_and_one_channel():
    as_list = plot.show_images(list(_images(3)))
    uint8 = plot.show_images([np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 255, np.uint8)], ["x", "y"])
    gray = plot.show_images(_images(4, channels=1), nrow=2)
    assert all(isinstance(f, Figure) for f in (as_list, uint8, gray))
    assert len(uint8.axes) == 2 and len(gray.axes) == 1  # no captions: one axes for the whole grid
    assert gray.axes[0].images[0].get_array().shape == (2 * 10 + 2, 2 * 10 + 2, 3)


def test_caption_glyph_missing_from_font_is_spelled_out_without_warnings():
    fig = plot.show_images(_images(1), ["\U0001f984 unicorn"])  # U+1F984 is not in DejaVu Sans
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.canvas.draw()
    assert "unicorn face" in fig.axes[0].texts[0].get_text()


def test_show_maps_colours_with_the_palette_and_adds_a_legend():
    labels = torch.arange(3).repeat_interleave(3)[:8].view(1, 1, 8).expand(2, 8, 8)  # (B, H, W)
    maps = torch.nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).float()  # (B, K, H, W)
    palette = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    np.testing.assert_array_equal(plot.color_maps(maps, palette)[0, 0, [0, 3, 6]], palette)
    fig = plot.show_maps(maps, _images(2), palette=palette, classes=["sky", "grass", "water"])
    assert len(fig.axes) == 4 and len(fig.legends) == 1
    with pytest.raises(ValueError, match="one RGB colour per class"):
        plot.color_maps(maps, palette[:2])


# ---- training curves -----------------------------------------------------------------------------


def test_bin_means_match_a_hand_computation():
    t = torch.tensor([0.0, 0.05, 0.3, 0.35, 0.99, 1.0])
    losses = torch.tensor([1.0, 3.0, 5.0, 6.0, 7.0, 9.0])
    edges, means, counts = plot.bin_by_t(t, losses, bins=4)  # [0, .25) [.25, .5) [.5, .75) [.75, 1]
    np.testing.assert_allclose(edges, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(means, [2.0, 5.5, np.nan, 8.0])
    np.testing.assert_array_equal(counts, [2, 2, 0, 2])
    fig = plot.loss_by_t(t, losses, bins=4)
    np.testing.assert_allclose([bar.get_height() for bar in fig.axes[0].patches], [2.0, 5.5, 0.0, 8.0])


def test_ema_is_bias_corrected_and_curves_accept_history_or_list():
    np.testing.assert_allclose(plot.ema([2.0, 2.0, 2.0], 0.9), [2.0, 2.0, 2.0])  # no pull towards 0
    history = types.SimpleNamespace(steps=[10, 20, 30], losses=[1, 0.5, 0.25], t=[0.1, 0.9], t_losses=[2, 1])
    fig = plot.training_summary(history)
    assert len(fig.axes) == 2 and fig.axes[0].get_yscale() == "log"
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [10, 20, 30])
    assert len(plot.training_summary([1.0, 0.5]).axes) == 1  # a plain loss list: no loss-by-t panel
    assert len(plot.loss_curve(torch.tensor([1.0, -0.5])).axes) == 1  # negative losses: linear y
    assert len(plot.loss_by_t({"t": [0.5], "t_losses": [1.0]}).axes[0].patches) == 10


def test_live_plot_is_quiet_outside_a_kernel_and_with_minidiff_live_0(monkeypatch, capsys):
    monkeypatch.delenv("MINIDIFF_LIVE", raising=False)
    for kernel in (False, True):
        monkeypatch.setenv("MINIDIFF_LIVE", "1" if not kernel else "0")
        monkeypatch.setattr(live, "_in_kernel", lambda kernel=kernel: kernel)
        plotter = live.LivePlot(every=0)
        plotter.update({"losses": [1.0, 0.5]})
        plotter.close()
        assert plotter.quiet and plotter.fig is None
    assert capsys.readouterr() == ("", "")
    assert not plt.get_fignums()


def test_live_plot_draws_one_display_and_updates_it_in_a_kernel(monkeypatch):
    import IPython.display

    shown = []
    handle = types.SimpleNamespace(update=lambda fig: shown.append("update"))
    monkeypatch.setattr(IPython.display, "display", lambda fig, display_id: shown.append("display") or handle)
    monkeypatch.setattr(live, "_in_kernel", lambda: True)
    monkeypatch.delenv("MINIDIFF_LIVE", raising=False)
    plotter = live.LivePlot(every=0)
    plotter.update({"steps": [1], "losses": [1.0]})
    plotter.update({"steps": [1, 2], "losses": [1.0, 0.5]})
    plotter.close()
    assert shown == ["display", "update", "update"] and not plt.get_fignums()  # never a pyplot figure


def test_figure_shows_once_per_execution(monkeypatch):
    import IPython

    shell = types.SimpleNamespace(execution_count=7)
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    fig = plot.show_images(_images(1))
    with pytest.raises(NotImplementedError):  # "display me normally" the first time in a cell
        fig._ipython_display_()
    assert fig._ipython_display_() is None  # the second time in the same cell: skipped
    shell.execution_count = 8
    with pytest.raises(NotImplementedError):
        fig._ipython_display_()


# ---- 2-D flows and sliders -----------------------------------------------------------------------


def test_2d_plots_return_figures():
    data = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    ts = torch.linspace(0, 1, 6).view(-1, 1, 1)
    paths = ts * data + (1 - ts) * data.flip(0)  # (steps+1, B, 2)
    fig = plot.trajectories_2d(paths, data=data, n=20)
    assert isinstance(fig, Figure) and len(fig.axes[0].collections) == 4  # data, lines, starts, ends
    assert isinstance(plot.scatter_2d(data), Figure)
    fig = plot.vector_field(lambda x, t: -x * t[:, None], 0.5, grid=5)
    u = fig.axes[0].collections[0].U
    assert len(u) == 25 and np.isclose(u.max(), 0.5 * 3.0)

    class Velocity(torch.nn.Module):  # a model(xt, t) like the chapters' MLPs
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 2)

        def forward(self, xt, t):
            return self.linear(torch.cat([xt, t[:, None]], dim=1))

    assert isinstance(plot.vector_field(Velocity(), 0.1, grid=4), Figure)


def test_sliders_fall_back_to_a_static_figure_without_a_kernel():
    fig = live.slider(lambda t: plot.show_images(_images(2) * t, title=f"t = {t}"), value=0.5)
    assert isinstance(fig, Figure) and fig.texts[0].get_text() == "t = 0.5"
    assert live.slider(lambda t: plt.plot([0, t])) is None  # never a [<Line2D>] cell result
    fig = live.image_slider([_images(2), _images(2, seed=1), _images(2, seed=2)])
    assert fig.texts[0].get_text() == "step 2 / 2"
