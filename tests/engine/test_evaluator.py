"""Every value of small plane, line and ray grids against a slow reference written the obvious way."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from landscape.geometry.directions import random_directions
from landscape.geometry.grid import Axis
from landscape.engine.inputs import load_checkpoints, load_context
from landscape.compute.line import compute_interp
from landscape.engine.settings import Settings
from landscape.compute.options import Grid
from landscape.compute.plane import compute_plane
from landscape.compute.options import Rays
from landscape.compute.rays import compute_rays
from landscape.engine.weights import ParamSpace

from support import one_batch_bn_reference


def _flat(model, state):
    return torch.cat([state[n].double().reshape(-1) for n, _ in model.named_parameters()])


def _float_buffers(model, state):
    return {n: state[n].double() for n, b in model.named_buffers() if b.is_floating_point()}


def _state_from(model, params, buffers, int_source):
    """A state dict with flat ``params`` (named_parameters order), float ``buffers`` and int buffers of int_source."""
    state, offset = {}, 0
    for name, p in model.named_parameters():
        state[name] = params[offset:offset + p.numel()].reshape(p.shape).float()
        offset += p.numel()
    for name, b in model.named_buffers():
        state[name] = buffers[name].float() if b.is_floating_point() else int_source[name]
    return state


def _slow_metrics(template, state, recompute, data, batch=100):
    model = copy.deepcopy(template)
    model.load_state_dict(state)
    if recompute:  # whole training set as one batch, momentum 1: running stats = its statistics
        model = one_batch_bn_reference(model, data.x_train)
    model.eval()
    out = []
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        loss, correct = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(x), batch):
                logits = model(x[i:i + batch])
                loss += F.cross_entropy(logits, y[i:i + batch], reduction="sum").item()
                correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
        out += [loss / len(x), correct / len(x)]
    return np.array(out)


def _compare(got, want, n_train=1347, n_test=450):
    np.testing.assert_allclose(got[..., [0, 2]], want[..., [0, 2]], rtol=1e-5)
    # Accuracies: equal up to a flipped near-tie.
    assert np.all(np.abs(got[..., 1] - want[..., 1]) <= 1.01 / n_train)
    assert np.all(np.abs(got[..., 3] - want[..., 3]) <= 1.01 / n_test)


@pytest.fixture(scope="module")
def setup(tiny_run):
    ctx = load_context(str(tiny_run.out), None, None)
    paths = [p["path"] for p in ctx.run.trajectory][:3]
    ckpts = load_checkpoints(paths, None, ctx.model)
    return ctx, ckpts


def _values(store):
    return np.stack([store.values[m] for m in ("train_loss", "train_acc", "test_loss", "test_acc")], axis=-1)


@pytest.mark.slow  # over 1 s: not in make test-fast
@pytest.mark.parametrize("bn", ["recompute", "interpolate", "fixed"])
def test_plane_matches_slow_reference(setup, tmp_path, bn):
    """Acceptance 1 (plane)."""
    ctx, (a, b, c) = setup
    template = copy.deepcopy(ctx.model)
    res = compute_plane(ctx, [a, b, c], tmp_path, Settings(bn=bn, device="cpu", progress=False, chunk=2),
                        grid=Grid(x=Axis(-0.3, 1.4, 3), y=Axis(-0.2, 0.9, 2)), log=lambda _: None)
    p0, p1, p2 = (_flat(template, k.state) for k in (a, b, c))
    u = (p1 - p0) / (p1 - p0).norm()
    v = (p2 - p0) - torch.dot(p2 - p0, u) * u
    v = v / v.norm()
    bufs = [_float_buffers(template, k.state) for k in (a, b, c)]
    want = np.zeros((3, 2, 4))
    for i, x in enumerate(np.linspace(-0.3, 1.4, 3)):
        for j, y in enumerate(np.linspace(-0.2, 0.9, 2)):
            p = p0 + x * u + y * v
            if bn == "interpolate":
                basis = torch.stack([p1 - p0, p2 - p0], dim=1).numpy()
                (alpha, beta), *_ = np.linalg.lstsq(basis, (p - p0).numpy(), rcond=None)
                buffers = {n: bufs[0][n] + alpha * (bufs[1][n] - bufs[0][n]) + beta * (bufs[2][n] - bufs[0][n])
                           for n in bufs[0]}
            else:
                buffers = bufs[0]
            want[i, j] = _slow_metrics(template, _state_from(template, p, buffers, a.state), bn == "recompute",
                                       ctx.data)
    _compare(_values(res.store), want)
    assert res.store.done.all()


@pytest.mark.slow  # over 1 s: not in make test-fast
@pytest.mark.parametrize("bn", ["recompute", "interpolate", "fixed"])
def test_line_matches_slow_reference(setup, tmp_path, bn):
    """Acceptance 1 (line) and 2 (t = 0 and t = 1 reproduce the endpoints)."""
    ctx, (a, b, _) = setup
    template = copy.deepcopy(ctx.model)
    res = compute_interp(ctx, a, b, tmp_path, Settings(bn=bn, device="cpu", progress=False),
                         t_axis=Axis(-0.5, 1.5, 5), log=lambda _: None)
    pa, pb = _flat(template, a.state), _flat(template, b.state)
    ba, bb = _float_buffers(template, a.state), _float_buffers(template, b.state)
    want = []
    for t in np.linspace(-0.5, 1.5, 5):
        buffers = {n: ba[n] + t * (bb[n] - ba[n]) for n in ba} if bn == "interpolate" else ba
        want.append(_slow_metrics(template, _state_from(template, pa + t * (pb - pa), buffers, a.state),
                                  bn == "recompute", ctx.data))
    _compare(_values(res.store), np.array(want))
    assert list(res.t) == [-0.5, 0.0, 0.5, 1.0, 1.5]
    if bn != "fixed":  # the endpoints' own losses (with their own or recomputed buffers)
        _compare(_values(res.store)[1], _slow_metrics(template, a.state, bn == "recompute", ctx.data))
        _compare(_values(res.store)[3], _slow_metrics(template, b.state, bn == "recompute", ctx.data))
    with np.load(tmp_path / "interp.npz") as f:
        np.testing.assert_allclose(f["distance"], f["t"] * float((pb - pa).norm()), rtol=1e-6)


@pytest.mark.slow  # over 1 s: not in make test-fast
@pytest.mark.parametrize("bn", ["recompute", "fixed"])
def test_rays_match_slow_reference(setup, tmp_path, bn):
    """Acceptance 1 (rays); `interpolate` equals `fixed` for rays (a random direction has no buffer part)."""
    ctx, (a, b, _) = setup
    template = copy.deepcopy(ctx.model)
    res = compute_rays(ctx, [a, b], tmp_path, Settings(bn=bn, device="cpu", progress=False, seed=3),
                       Rays(directions=2, max_distance=3.0, steps=3, delta=0.05), log=lambda _: None)
    space = ParamSpace.of(template)
    want = np.zeros((2, 2, 3, 4))
    for k, ckpt in enumerate((a, b)):
        base = _flat(template, ckpt.state)
        dirs = random_directions(space, base.float(), 2, normalization="unit", seed=3).double()
        assert torch.allclose(dirs.norm(dim=1), torch.ones(2, dtype=torch.float64), atol=1e-6)
        for j in range(2):
            for s, dist in enumerate(np.linspace(0, 3.0, 3)):
                state = _state_from(template, base + dist * dirs[j], _float_buffers(template, ckpt.state), a.state)
                want[k, j, s] = _slow_metrics(template, state, bn == "recompute", ctx.data)
    _compare(_values(res.store), want)


def test_overflow_far_away_is_stored_not_fatal(setup, tmp_path):
    """Far from the solution losses overflow: they are kept as inf/NaN and the run completes."""
    ctx, (a, b, _) = setup
    res = compute_interp(ctx, a, b, tmp_path, Settings(bn="fixed", device="cpu", progress=False),
                         t_axis=Axis(0.0, 1e30, 3), log=lambda _: None)
    loss = res.store.values["train_loss"]
    assert res.store.done.all()
    assert np.isfinite(loss[0]) and not np.isfinite(loss[-1])
    with np.load(tmp_path / "interp.npz") as f:
        assert not np.isfinite(f["train_loss"][-1])
    assert "train loss at t=0" in res.summary_line()


def test_ray_width_definition():
    from landscape.geometry.rays import ray_width, width_summary

    d = np.array([0.0, 1.0, 2.0, 3.0])
    losses = np.array([[1.0, 1.05, 1.3, 2.0],      # crosses 1.1 between 1 and 2: 1 + 0.05/0.25
                       [1.0, 1.0, 1.0, 1.05],      # never: censored
                       [0.5, np.nan, 0.5, 0.5]])   # NaN counts as above
    w = ray_width(d, losses, 0.1)
    np.testing.assert_allclose(w, [1.2, np.inf, 1.0])
    s = width_summary(w)
    assert s["censored"] == 1 and s["mean"] == pytest.approx(1.1) and s["std"] == pytest.approx(np.std([1.2, 1.0],
                                                                                                        ddof=1))


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_bn_samples_caps_the_data_used_for_recompute(setup, tmp_path):
    ctx, (a, b, _) = setup
    axis = Axis(0.0, 1.0, 3)
    run = lambda name, **kw: _values(compute_interp(  # noqa: E731  (a fixed batch size: fresh runs compared bitwise)
        ctx, a, b, tmp_path / name, Settings(bn="recompute", device="cpu", progress=False, batch_size=2048, **kw),
        t_axis=axis,
        log=lambda _: None).store)
    full = run("full")
    np.testing.assert_array_equal(run("all", bn_samples=5000), full)  # more than the set: all of it
    few = run("few", bn_samples=50)
    assert np.isfinite(few).all() and not np.allclose(few[:, 0], full[:, 0], rtol=1e-4)
    np.testing.assert_array_equal(run("few-again", bn_samples=50), few)  # a fixed subset (from the seed)
    assert not np.array_equal(run("few-other-seed", bn_samples=50, seed=1), few)
