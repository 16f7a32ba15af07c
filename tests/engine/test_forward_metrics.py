"""A ``forward_fn``'s extra metrics (issue 20, item 7): a 4th element ``{name: batch mean}`` is recorded per split as
the sample-weighted mean over batches, (1/N) Σ n_b·m_b, exactly like the loss, as ``train_<name>``/``test_<name>``
in memory, in the npz and sidecar, through resume, on planes, lines and rays; the validating reader accepts it,
figures and pages draw it, the report lists it; bad extras are one clear error naming forward_fn and the key."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call
from torch.utils.data import DataLoader, TensorDataset

import landscape
from landscape.results.read import read_result

from support import cli

EVAL = dict(progress=False, device="cpu", log=lambda _: None)  # no bar, no info lines


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.Tanh(), nn.Linear(12, 10))


def confidence_forward(model, batch):
    """Cross-entropy, correct count, and the mean max-softmax confidence as an extra metric."""
    x, y = batch
    out = model(x)
    return F.cross_entropy(out, y), (out.argmax(1) == y).sum(), len(y), {"conf": out.softmax(1).amax(1).mean()}


@pytest.fixture(scope="module")
def problem():
    from swa.data import DataSpec, load_data

    d = load_data(DataSpec("digits"))
    # Uneven batches (500, 500, 347 and 400, 50): an unweighted mean of batch means would differ.
    data = {"train": DataLoader(TensorDataset(d.x_train, d.y_train), batch_size=500),
            "test": DataLoader(TensorDataset(d.x_test, d.y_test), batch_size=400)}
    return _net(0), [_net(s).state_dict() for s in range(3)], data


# ------------------------------------------------------------------ the slow reference
def _flat(model, state):
    return torch.cat([state[n].double().reshape(-1) for n, _ in model.named_parameters()])


def _weights(model, flat):
    out, offset = {}, 0
    for name, p in model.named_parameters():
        out[name] = flat[offset:offset + p.numel()].reshape(p.shape).float()
        offset += p.numel()
    return out


def _slow(model, flat, loader) -> tuple[float, float]:
    """(loss, confidence) at the weights ``flat``: functional_call over the batches, weighted by batch size."""
    loss = conf = 0.0
    n = 0
    with torch.no_grad():
        for x, y in loader:
            out = functional_call(model, _weights(model, flat), (x,))
            loss += float(F.cross_entropy(out, y)) * len(y)
            conf += float(out.softmax(1).amax(1).mean()) * len(y)
            n += len(y)
    return loss / n, conf / n


def _check_point(res_values, model, flat, data):
    (train_loss, train_conf), (test_loss, test_conf) = (_slow(model, flat, data[s]) for s in ("train", "test"))
    np.testing.assert_allclose(res_values, [train_loss, train_conf, test_loss, test_conf], rtol=2e-6)


def test_plane_records_extra_metric_as_slow_loop(problem):
    model, states, data = problem
    res = landscape.plane(model, states, data, grid=3, loss=landscape.Loss(forward_fn=confidence_forward),
                          settings=landscape.Settings(**EVAL))
    assert res.keys() == ("train_loss", "train_acc", "test_loss", "test_acc", "train_conf", "test_conf")
    assert res.sidecar["extra_metrics"] == ["conf"] and res.sidecar["self_check"]["ok"]
    p0, p1, p2 = (_flat(model, s) for s in states)
    u = (p1 - p0) / (p1 - p0).norm()
    v = (p2 - p0) - torch.dot(p2 - p0, u) * u
    v = v / v.norm()
    for i, a in enumerate(res.alphas):
        for j, b in enumerate(res.betas):
            got = [res[m][i, j] for m in ("train_loss", "train_conf", "test_loss", "test_conf")]
            _check_point(got, model, p0 + float(a) * u + float(b) * v, data)
    # the sample-weighted mean is not the mean of batch means (the reference is not trivially equal)
    with torch.no_grad():
        batch_means = [float(confidence_forward(model, batch)[3]["conf"]) for batch in data["train"]]
    assert abs(np.mean(batch_means) - _slow(model, p0, data["train"])[1]) > 1e-6


def test_line_and_rays_record_extra_metric(problem):
    model, states, data = problem
    t = [-0.5, 0.0, 0.5, 1.0]
    line = landscape.interpolate(model, states[0], states[1], data, t=t,
                                 loss=landscape.Loss(forward_fn=confidence_forward),
                                 settings=landscape.Settings(**EVAL, self_check=False))
    a, b = _flat(model, states[0]), _flat(model, states[1])
    for k, tk in enumerate(t):
        _check_point([line[m][k] for m in ("train_loss", "train_conf", "test_loss", "test_conf")], model,
                     a + tk * (b - a), data)
    rays = landscape.rays(model, states[:2], data, rays=landscape.Rays(directions=2, steps=3),
                          loss=landscape.Loss(forward_fn=confidence_forward),
                          settings=landscape.Settings(**EVAL, self_check=False))
    assert rays["train_conf"].shape == rays["train_loss"].shape == (2, 2, 3)
    for k in range(2):  # distance 0 is the point itself, on every ray
        _check_point([rays[m][k, 0, 0] for m in ("train_loss", "train_conf", "test_loss", "test_conf")], model,
                     _flat(model, states[k]), data)
    assert np.all(rays["train_conf"][:, :, 0] == rays["train_conf"][:, :1, 0])


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_saved_reloaded_drawn_and_reported(problem, tmp_path, capsys, monkeypatch):
    import landscape.plot.draw as draw
    from landscape.plot.pages import line_page
    from landscape.report.sections import _extras_table, result_provenance

    model, states, data = problem
    kw_eval = dict(self_check=False, **EVAL)
    kw = dict(loss=landscape.Loss(forward_fn=confidence_forward))
    landscape.interpolate(model, states[0], states[1], data, t=[0, 0.5, 1], out=tmp_path / "line", **kw,
                          settings=landscape.Settings(**kw_eval))
    res = landscape.plane(model, states, data, grid=3, **kw, settings=landscape.Settings(**kw_eval))
    res.save(tmp_path / "plane")
    with np.load(tmp_path / "plane" / "plane.npz") as f:
        np.testing.assert_array_equal(f["test_conf"], res["test_conf"])
    kind, plane = read_result(tmp_path / "plane" / "plane.npz")  # the validating reader
    assert kind == "plane" and set(plane.values) >= {"train_conf", "test_conf"}
    np.testing.assert_array_equal(plane.values["train_conf"], res["train_conf"])
    _, line = read_result(tmp_path / "line" / "interp.npz")
    figures, save = {}, draw.save_figure
    monkeypatch.setattr(draw, "save_figure", lambda fig, stem, *a, **k: figures.setdefault(stem.name, fig)
                        and save(fig, stem, *a, **k))
    code, _, err = cli(capsys, "plot", str(tmp_path / "plane"), str(tmp_path / "line"), "--out", str(tmp_path / "fig"),
                       "--metric", "train_loss", "train_conf", "test_conf")
    assert code == 0, err
    assert [ax.get_title() for ax in figures["plane"].axes if ax.get_title()] == ["train loss (confidence_forward)",
                                                                                  "train conf", "test conf"]
    assert "train conf / test conf" in [ax.get_ylabel() for ax in figures["interp"].axes]
    page = line_page([line], metrics=["train_loss", "test_conf"])
    assert "start → end: test conf" in {tr.name for tr in page.data}
    assert page.layout.yaxis2.title.text == "test conf"
    table = _extras_table(line)
    assert [row[0] for row in table.rows] == ["train_conf", "test_conf"]
    assert float(table.rows[0][1]) == pytest.approx(np.nanmin(line.values["train_conf"]), rel=1e-3)
    assert dict(result_provenance(line.sidecar, line.path).facts)["extra metrics"] == "train_conf, test_conf"
    code, _, err = cli(capsys, "plot", str(tmp_path / "line"), "--out", str(tmp_path / "fig2"),
                       "--metric", "train_nope")
    assert code == 2 and err.count("\n") == 1 and "train_nope" in err


def test_resume_fills_extra_metrics_and_refuses_other_keys(problem, tmp_path):
    model, states, data = problem
    kw_eval = dict(self_check=False, **EVAL)
    kw = dict(t=[0, 0.5, 1], out=tmp_path, loss=landscape.Loss(forward_fn=confidence_forward))
    first = landscape.interpolate(model, states[0], states[1], data, **kw, settings=landscape.Settings(**kw_eval))
    npz = tmp_path / "interp.npz"
    with np.load(npz) as f:
        arrays = dict(f)
    arrays["done"][1:] = False  # as if interrupted after the first point
    for key in ("train_loss", "train_conf", "test_conf"):
        arrays[key][1:] = np.nan
    np.savez(npz, **arrays)
    again = landscape.interpolate(model, states[0], states[1], data, **kw, settings=landscape.Settings(**kw_eval))
    assert again.stats["skipped"] == 1 and again.stats["computed"] == 2
    for m in first.keys():
        np.testing.assert_allclose(again[m], first[m], rtol=1e-12)

    def entropy_forward(model, batch):  # named as confidence_forward below: the same resume key, other extras
        x, y = batch
        out = model(x)
        ent = -(out.softmax(1) * out.log_softmax(1)).sum(1).mean()
        return F.cross_entropy(out, y), None, len(y), {"entropy": ent}

    entropy_forward.__name__ = "confidence_forward"
    with pytest.raises(ValueError, match=r"extra metrics \(entropy\) but .* holds points computed with \(conf\)"):
        landscape.interpolate(model, states[0], states[1], data,
                              **{**kw, "loss": landscape.Loss(forward_fn=entropy_forward)},
                              settings=landscape.Settings(**kw_eval))


def _forward_returning(extras):
    """A forward_fn whose 4th element is ``extras(batch_size)``."""
    def forward(model, batch):
        x, y = batch
        out = model(x)
        return F.cross_entropy(out, y), None, len(y), extras(len(y))
    return forward


@pytest.mark.parametrize("extras,message", [
    (lambda n: {"a": torch.tensor(1.0)} if n == 500 else {"b": torch.tensor(1.0)},
     r"^forward_fn returned extra metrics \(b\) in one batch but \(a\) in another"),
    (lambda n: {"loss": torch.tensor(1.0)}, r"^forward_fn's extra metric 'loss': names must be Python identifiers"),
    (lambda n: {"my metric": 1.0}, r"^forward_fn's extra metric 'my metric': names must be"),
    (lambda n: {"ece": torch.ones(3)}, r"^forward_fn's extra metric 'ece' must be a scalar .* shape \(3,\)"),
    (lambda n: {"ece": "low"}, r"^forward_fn's extra metric 'ece' must be a scalar .* got str"),
    (lambda n: {"ece": float("nan")}, r"^forward_fn's extra metric 'ece' is nan over a split where the loss is finite"),
    (lambda n: [1.0], r"^forward_fn's 4th element must be a dict"),
])
def test_bad_extras_are_one_clear_error(problem, extras, message):
    model, states, data = problem
    with pytest.raises(ValueError, match=message) as info:
        landscape.interpolate(model, states[0], states[1], data, t=[0, 1],
                              loss=landscape.Loss(forward_fn=_forward_returning(extras)),
                              settings=landscape.Settings(**EVAL, self_check=False))
    assert "\n" not in str(info.value)


def test_non_finite_extra_at_a_diverged_point_is_kept(problem):
    model, states, data = problem

    def diverged(model, batch):
        x, y = batch
        return torch.tensor(float("inf")), None, len(y), {"conf": torch.tensor(float("nan"))}

    res = landscape.interpolate(model, states[0], states[1], data, t=[0, 1], loss=landscape.Loss(forward_fn=diverged),
                                settings=landscape.Settings(**EVAL, self_check=False))
    assert np.isinf(res["train_loss"]).all() and np.isnan(res["train_conf"]).all()


def test_reader_takes_extras_the_sidecar_lists_or_by_name(tmp_path):
    import json

    from landscape.results.metrics import METRICS as VALUE_KEYS
    from swa.errors import UserError

    t = np.linspace(0.0, 1.0, 3)
    arrays = {"t": t, **{k: np.full(3, 0.5) for k in VALUE_KEYS}, "train_ece": t / 10, "test_ece": t / 5,
              "train_other": np.ones(5)}  # another shape: not a metric of this line
    np.savez(tmp_path / "interp.npz", **arrays)
    _, line = read_result(tmp_path / "interp.npz")  # no sidecar: by name and shape
    assert set(line.values) == {*VALUE_KEYS, "train_ece", "test_ece"}
    np.testing.assert_array_equal(line.values["test_ece"], t / 5)
    side = tmp_path / "interp.json"
    side.write_text(json.dumps({"extra_metrics": ["ece", "mce"]}))
    with pytest.raises(UserError, match=r"lacks the arrays of the extra metrics its sidecar lists: train_mce, "
                                        r"test_mce"):
        read_result(tmp_path / "interp.npz")
    side.write_text(json.dumps({"extra_metrics": ["my ece"]}))
    with pytest.raises(UserError, match=r"extra_metrics\[0\] must be a name"):
        read_result(tmp_path / "interp.npz")
