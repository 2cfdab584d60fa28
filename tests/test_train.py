"""train.py: exact kill-and-resume, atomic checkpoints, clear errors, clipping, EMA maths, a falling loss."""

from __future__ import annotations

import json
import math
import signal
import time

import pytest
import torch
from safetensors import safe_open
from torch import nn

from minidiff import checkpoint
from minidiff.checkpoint import History, load_checkpoint, save_checkpoint
from minidiff.train import EMA, TrainConfig, amp_dtype, train


class TinyFlow(nn.Module):
    """A velocity MLP on 2-D points; dropout so a resume must also restore the global RNG."""

    def __init__(self, hidden: int = 16, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(3, hidden), nn.SiLU(), nn.Dropout(0.1), nn.Linear(hidden, 2))

    def forward(self, xt, t):
        return self.net(torch.cat([xt, t[:, None]], dim=1))


def flow_loss(model, x):
    """Reference flow-matching loss (t = 0 noise, t = 1 data), written here so the test stands alone."""
    t = torch.rand(x.shape[0])
    noise = torch.randn_like(x)
    xt = t[:, None] * x + (1 - t[:, None]) * noise
    return ((model(xt, t) - (x - noise)) ** 2).mean(1), t


def moons(batch_size, generator):
    angle = torch.rand(batch_size, generator=generator) * math.pi
    return torch.stack([angle.cos(), angle.sin()], dim=1) + 0.05 * torch.randn(
        batch_size, 2, generator=generator
    )


def config(tmp_path, **changes):
    base = dict(steps=12, batch_size=16, lr=1e-2, warmup=5, ema_decay=0.9, log_every=3, progress=False,
                ckpt_path=str(tmp_path / "run.safetensors"), ckpt_every=4)  # fmt: skip
    return TrainConfig(**{**base, **changes})


def tensors(path):
    with safe_open(str(path), framework="pt") as f:
        return {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118


def metadata(path):
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["minidiff"])


def assert_same_run(path_a, path_b, model_a, model_b, history_a, history_b):
    a, b = tensors(path_a), tensors(path_b)
    meta_a, meta_b = metadata(path_a), metadata(path_b)
    for key in ("step", "ema_step", "optim", "scaler", "rng"):  # the JSON half of the state
        assert meta_a[key] == meta_b[key], key
    assert a.keys() == b.keys()
    assert any(k.startswith("optim.") for k in a) and any(k.startswith("ema.") for k in a)
    for key in a:  # weights, EMA, optimizer state, RNG states and history: bit for bit
        assert torch.equal(a[key], b[key]), key
    for (name, p), q in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(p, q), name
    for p, q in zip(history_a.ema.parameters(), history_b.ema.parameters()):
        assert torch.equal(p, q)
    assert (history_a.steps, history_a.losses, history_a.t) == (
        history_b.steps,
        history_b.losses,
        history_b.t,
    )


@pytest.mark.parametrize("amp", ["off", "fp16"])  # fp16 on CPU too: it brings in the GradScaler's state
def test_interrupt_and_resume_is_exact(tmp_path, amp):
    straight = TinyFlow()
    history = train(straight, flow_loss, moons, config(tmp_path / "a", amp=amp), device="cpu")
    assert history.steps == list(range(1, 13)) and len(history.t) == 12 * 16

    calls = {"n": 0}

    def interrupted(batch_size, generator):  # Ctrl-C halfway through step 7's data, after a checkpoint at 4
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return moons(batch_size, generator)

    cfg = config(tmp_path / "b", amp=amp)
    with pytest.raises(KeyboardInterrupt):
        train(TinyFlow(), flow_loss, interrupted, cfg, device="cpu")
    assert load_checkpoint(cfg.ckpt_path, TinyFlow())["step"] == 6
    resumed = TinyFlow(seed=1)  # a fresh model with other weights: everything must come from the file
    history_b = train(resumed, flow_loss, moons, cfg, device="cpu")
    assert_same_run(tmp_path / "a/run.safetensors", cfg.ckpt_path, straight, resumed, history, history_b)


class CtrlCAdamW(torch.optim.AdamW):
    """AdamW that receives a real SIGINT (Ctrl-C) in the middle of its update at step ``at``."""

    at, calls = None, 0

    def step(self, closure=None):
        CtrlCAdamW.calls += 1
        if CtrlCAdamW.calls == self.at:
            signal.raise_signal(signal.SIGINT)  # train() holds it until the update and EMA are whole
        return super().step(closure)


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler (KeyboardInterrupt), restored afterwards.

    A process started in the background (``pytest ... &``) inherits SIGINT *ignored*: a raised SIGINT then
    does nothing, and train() rightly leaves an ignored Ctrl-C ignored. The test needs a real Ctrl-C.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_the_update_finishes_the_step(tmp_path, ctrl_c_raises):
    def run(folder, at, seed=0):
        model = TinyFlow(seed=seed)
        CtrlCAdamW.at, CtrlCAdamW.calls = at, 0
        optimizer = CtrlCAdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.99))
        return model, train(model, flow_loss, moons, config(folder), device="cpu", optimizer=optimizer)

    straight, history = run(tmp_path / "a", None)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", 7)
    assert load_checkpoint(tmp_path / "b/run.safetensors", TinyFlow())["step"] == 7  # step 7 finished
    resumed, history_b = run(tmp_path / "b", None, seed=1)
    files = tmp_path / "a/run.safetensors", tmp_path / "b/run.safetensors"
    assert_same_run(*files, straight, resumed, history, history_b)


def test_crash_resumes_from_last_checkpoint_and_longer_run_continues(tmp_path):
    straight = TinyFlow()
    history = train(straight, flow_loss, moons, config(tmp_path / "a"), device="cpu")

    def crashing(batch_size, generator):  # a crash (not Ctrl-C) in step 11 saves nothing: resume from step 8
        crashing.n += 1
        if crashing.n == 11:
            raise RuntimeError("simulated crash")
        return moons(batch_size, generator)

    crashing.n = 0
    cfg = config(tmp_path / "b")
    with pytest.raises(RuntimeError):
        train(TinyFlow(), flow_loss, crashing, cfg, device="cpu")
    assert load_checkpoint(cfg.ckpt_path, TinyFlow())["step"] == 8
    resumed = TinyFlow(seed=2)
    history_b = train(resumed, flow_loss, moons, cfg, device="cpu")
    assert_same_run(tmp_path / "a/run.safetensors", cfg.ckpt_path, straight, resumed, history, history_b)

    # a run of 6 steps, then the same config asking for 12, equals the 12-step run
    cfg = config(tmp_path / "c", steps=6)
    train(TinyFlow(), flow_loss, moons, cfg, device="cpu")
    longer = TinyFlow(seed=3)
    history_c = train(longer, flow_loss, moons, config(tmp_path / "c"), device="cpu")
    assert_same_run(tmp_path / "a/run.safetensors", cfg.ckpt_path, straight, longer, history, history_c)


def test_resume_false_restarts_and_finished_run_returns_at_once(tmp_path):
    cfg = config(tmp_path, steps=3)
    first = train(TinyFlow(), flow_loss, moons, cfg, device="cpu")
    again = train(TinyFlow(seed=5), flow_loss, moons, cfg, device="cpu")  # already at 3 steps: nothing to do
    assert again.steps == first.steps and again.losses == first.losses
    fresh = train(TinyFlow(), flow_loss, moons, cfg, device="cpu", resume=False)
    assert fresh.losses == first.losses  # same seed, from scratch
    with pytest.warns(UserWarning, match=r"changed config \(lr 0.01 -> 0.5\)"):
        train(TinyFlow(), flow_loss, moons, config(tmp_path, steps=4, lr=0.5), device="cpu")
    assert metadata(cfg.ckpt_path)["optim"]["param_groups"][0]["lr"] == 0.5 * 4 / 5  # the new lr, warming up


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    model = TinyFlow()
    save_checkpoint(path, model, step=1)
    before = path.read_bytes()

    def failing_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, step=2)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.safetensors"]  # no temp file left behind
    assert load_checkpoint(path, TinyFlow())["step"] == 1


def test_bad_checkpoints_raise_clear_errors(tmp_path):
    model = TinyFlow()
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, model, step=3)
    data = good.read_bytes()

    with pytest.raises(ValueError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.safetensors", model)
    (tmp_path / "short.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt.*resume=False"):
        load_checkpoint(tmp_path / "short.safetensors", model)
    (tmp_path / "junk.safetensors").write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "junk.safetensors", model)
    checkpoint.save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a minidiff checkpoint"):
        load_checkpoint(tmp_path / "other.safetensors", model)
    with pytest.raises(ValueError, match=r"does not fit this model \(3 shapes differ.*delete it"):
        load_checkpoint(good, TinyFlow(hidden=8))


def test_grad_clip_bounds_the_update(tmp_path):
    def huge_loss(model, x):  # gradients far larger than the clip
        return (1e4 * model(x, torch.zeros(len(x)))).pow(2).mean(1)

    for clip in (0.5, None):
        model = TinyFlow()
        model.net[2].p = 0.0
        before = [p.detach().clone() for p in model.parameters()]
        cfg = TrainConfig(steps=1, batch_size=8, grad_clip=clip, ema_decay=None, progress=False)
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)  # SGD: the update is exactly -grad
        history = train(model, huge_loss, moons, cfg, device="cpu", optimizer=optimizer)
        step = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)]).norm()
        assert history.grad_norms[0] > 1e3
        if clip:
            assert step.item() == pytest.approx(clip, rel=1e-4)
        else:
            assert step.item() == pytest.approx(history.grad_norms[0], rel=1e-4)
    assert history.ema is None and history.t == []  # no EMA asked; loss_fn gave no t


def test_ema_matches_the_formula():
    model = nn.Linear(2, 1, bias=False)
    ema = EMA(model, decay=0.9, warmup=False)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)
    ema.update(model)
    want = 0.9**2 * start + (1 - 0.9**2) * torch.ones_like(start)  # two steps towards a constant weight
    assert torch.allclose(ema.model.weight, want)
    assert not ema.model.weight.requires_grad and not ema.model.training

    warm = EMA(model, decay=0.999)
    assert [warm.current_decay() for _ in range(1)] == [pytest.approx(0.1)]  # (1 + 0) / (10 + 0)
    warm.step = 10_000
    assert warm.current_decay() == 0.999
    state = ema.state_dict()
    other = EMA(nn.Linear(2, 1, bias=False), decay=0.9)
    other.load_state_dict(state)
    assert other.step == 2 and torch.equal(other.model.weight, ema.model.weight)


def test_warmup_ramps_the_lr():
    model = TinyFlow()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []

    def data(batch_size, generator):
        seen.append(optimizer.param_groups[0]["lr"])
        return moons(batch_size, generator)

    cfg = TrainConfig(steps=6, batch_size=4, warmup=4, progress=False)
    train(model, flow_loss, data, cfg, device="cpu", optimizer=optimizer)
    assert seen == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])


def test_amp_dtype_and_config_checks():
    assert amp_dtype("cpu") is None and amp_dtype(torch.device("mps")) is None
    with pytest.raises(ValueError, match="amp='fp32'"):
        TrainConfig(steps=1, batch_size=1, amp="fp32")


def test_loss_decreases_and_live_hook_is_called():
    class Live:
        updates, closed = 0, False

        def update(self, history):
            assert isinstance(history, History)
            self.updates += 1

        def close(self):
            self.closed = True

    live = Live()
    cfg = TrainConfig(steps=60, batch_size=64, lr=1e-2, log_every=20, progress=False)
    point = lambda batch_size, generator: torch.tensor([[1.0, -1.0]]).expand(batch_size, 2)  # one data point
    history = train(TinyFlow(hidden=32), flow_loss, point, cfg, device="cpu", live=live)
    first, last = sum(history.losses[:10]) / 10, sum(history.losses[-10:]) / 10
    assert last < 0.3 * first, (first, last)
    assert (live.updates, live.closed) == (3, True)
    assert not history.ema.training


def test_tied_weights_and_ema_weights_load(tmp_path):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2, bias=False)
            self.b = nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight  # one tensor under two names: safetensors refuses shared memory

    model = Tied()
    ema = EMA(model, decay=0.5, warmup=False)
    with torch.no_grad():
        model.a.weight.fill_(1.0)
    start = ema.model.a.weight.clone()
    ema.update(model)
    assert torch.allclose(ema.model.b.weight, 0.5 * start + 0.5)  # averaged once, not twice
    path = tmp_path / "tied.safetensors"
    save_checkpoint(path, model, ema=ema)
    loaded = Tied()
    load_checkpoint(path, loaded, weights="ema")
    assert torch.equal(loaded.a.weight, ema.model.a.weight) and loaded.b.weight is loaded.a.weight


def test_grad_accum_equals_the_big_batch():
    # SGD, not Adam: Adam's update barely changes when every gradient is scaled, SGD's is exactly -lr * grad
    # (so a missing `/ grad_accum` doubles it). Fixed data and a loss without randomness: the 16 rows of each
    # step are the same whether they come as one batch of 16 or as two of 8.
    generator = torch.Generator().manual_seed(0)
    rows = torch.randn(48, 5, generator=generator)  # (xt, t, v) per row, 16 rows per optimizer step

    def run(batch_size, grad_accum):
        model = TinyFlow()
        model.net[2].p = 0.0  # no dropout: nothing random left
        served = {"n": 0}

        def data(batch_size, generator):
            start = served["n"]
            served["n"] += batch_size
            return rows[start : start + batch_size]

        def loss_fn(model, batch):
            xt, t, v = batch[:, :2], batch[:, 2].sigmoid(), batch[:, 3:]
            return ((model(xt, t) - v) ** 2).mean(1), t

        cfg = TrainConfig(steps=3, batch_size=batch_size, grad_accum=grad_accum, grad_clip=None,
                          ema_decay=None, log_every=1, progress=False)  # fmt: skip
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        history = train(model, loss_fn, data, cfg, device="cpu", optimizer=optimizer)
        assert served["n"] == 48
        return model, history

    big, history_big = run(16, 1)
    accumulated, history_accumulated = run(8, 2)
    start = TinyFlow()
    moved = max((p - q).abs().max().item() for p, q in zip(big.parameters(), start.parameters()))
    assert moved > 1e-2  # the steps are large enough for a factor 2 to show
    for p, q in zip(big.parameters(), accumulated.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-6, atol=1e-6)
    assert history_accumulated.losses == pytest.approx(history_big.losses, rel=1e-6)
    assert history_accumulated.grad_norms == pytest.approx(history_big.grad_norms, rel=1e-5)
    assert len(history_accumulated.t) == len(history_big.t) == 48


def test_a_nan_loss_stops_training_with_a_clear_error():
    def loss_fn(model, x):
        loss, t = flow_loss(model, x)
        loss_fn.calls += 1
        return (loss * math.nan if loss_fn.calls == 3 else loss), t

    loss_fn.calls = 0
    cfg = TrainConfig(steps=10, batch_size=8, ema_decay=None, log_every=1, progress=False)
    with pytest.raises(ValueError) as excinfo:
        train(TinyFlow(), loss_fn, moons, cfg, device="cpu")
    assert excinfo.match("loss became nan") and excinfo.match("step")
    assert loss_fn.calls == 3  # stopped at the step that went wrong, not at the end of the run


@pytest.mark.parametrize("warmup", [False, True])
def test_ema_tracks_the_analytic_average(warmup):
    # the documented recursion, in float64 here: avg_n = d_n * avg_{n-1} + (1 - d_n) * w_n with
    # d_n = min(decay, (1 + n) / (10 + n)) with warm-up (n = updates before this one), else d_n = decay
    decay, updates = 0.999, 3000
    model = nn.Linear(3, 2).double()
    ema = EMA(model, decay=decay, warmup=warmup)
    generator = torch.Generator().manual_seed(0)
    steps = 0.1 * torch.randn(updates, 8, generator=generator, dtype=torch.float64)
    weights = steps.cumsum(0)  # a random walk of the 8 parameters
    avg = torch.cat([model.weight.detach().flatten(), model.bias.detach()]).clone()
    for n in range(updates):
        with torch.no_grad():
            model.weight.copy_(weights[n, :6].reshape(2, 3))
            model.bias.copy_(weights[n, 6:])
        ema.update(model)
        d = min(decay, (1 + n) / (10 + n)) if warmup else decay
        avg = d * avg + (1 - d) * weights[n]
        if n % 250 == 249 or n < 20:
            got = torch.cat([ema.model.weight.flatten(), ema.model.bias])
            torch.testing.assert_close(got, avg, rtol=1e-9, atol=1e-9, msg=f"after {n + 1} updates")
    assert ema.step == updates
    assert (avg - weights[-1]).abs().max() > 0.1  # the average lags the walk: a copy of w would fail


def test_time_limit_stops_early_logs_the_last_step_and_a_resume_adds_nothing(tmp_path):
    class Live:
        last = None

        def update(self, history):
            self.last = history.steps[-1]

        def close(self):
            pass

    def slow_loss(model, x):
        time.sleep(0.02)
        return flow_loss(model, x)

    live = Live()
    cfg = config(tmp_path, steps=10_000, time_limit=0.25, log_every=1_000, ckpt_every=0)
    history = train(TinyFlow(), slow_loss, moons, cfg, device="cpu", live=live)
    done = history.steps[-1]
    assert 3 <= done < 100 and history.wall_time >= 0.25, (done, history.wall_time)
    assert live.last == done  # the stop is logged although it is not a multiple of log_every
    assert metadata(tmp_path / "run.safetensors")["step"] == done  # and checkpointed
    again = train(TinyFlow(), slow_loss, moons, cfg, device="cpu")  # resumed: its time is already spent
    assert again.steps[-1] == done
    for bad in (0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="time_limit"):
            TrainConfig(steps=1, batch_size=1, time_limit=bad)


def test_training_works_inside_no_grad():
    """A zoo model trained on demand can be asked for from evaluation code running under torch.no_grad()
    (a fresh machine's `minidiff generate --train` trained the emoji judge that way, and crashed)."""
    cfg = TrainConfig(steps=3, batch_size=8, progress=False)
    with torch.no_grad():
        history = train(TinyFlow(), flow_loss, moons, cfg, device="cpu")
        assert not torch.is_grad_enabled()  # the caller's mode is restored
    assert len(history.losses) == 3 and all(math.isfinite(x) for x in history.losses)
