"""A named loss and API figure titles (issue 20, item 6): a custom loss is recorded by its name (``loss_name=``,
the function's ``__name__``, a partial's function, a callable object's class; a lambda is "custom loss" with one
hint), and figures, pages and the report say which loss they show; API results are titled like the CLI's."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import landscape
from landscape.engine.forward import CUSTOM_LOSS, Forward, callable_name
from landscape.results.read import read_result
from landscape.plot.style import choose_metrics, loss_name_of, title_of

from support import cli

EVAL = dict(progress=False, device="cpu", batch_size=2048, self_check=False)  # no probe, no self-check: seconds
QUIET = dict(log=lambda _: None)  # of the Settings: no info lines


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.Tanh(), nn.Linear(12, 10))


@pytest.fixture(scope="module")
def problem():
    from swa.data import DataSpec, load_data

    d = load_data(DataSpec("digits"))
    data = {"train": (d.x_train, d.y_train), "test": (d.x_test, d.y_test)}
    return _net(0), [_net(s).state_dict() for s in range(3)], data


def smoothed_ce(out, y):
    return F.cross_entropy(out, y, label_smoothing=0.1)


class _Scaled:
    def __call__(self, out, y):
        return 2 * F.cross_entropy(out, y)


@pytest.mark.parametrize("fn,name", [
    (smoothed_ce, "smoothed_ce"),
    (functools.partial(F.cross_entropy, label_smoothing=0.1), "cross_entropy"),
    (functools.partial(functools.partial(smoothed_ce)), "smoothed_ce"),
    (nn.CrossEntropyLoss(label_smoothing=0.1), "CrossEntropyLoss"),
    (_Scaled(), "_Scaled"),
    (lambda out, y: F.cross_entropy(out, y), None),
])
def test_callable_name(fn, name):
    assert callable_name(fn) == name
    forward = Forward("classification", loss_fn=fn)
    assert forward.name == (name or CUSTOM_LOSS) and forward.unnamed == (name is None)
    assert forward.describe() == {"task": "classification", "loss": name or CUSTOM_LOSS}


def test_default_and_forward_fn_names():
    assert Forward("classification").describe() == {"task": "classification", "loss": "default"}
    assert not Forward("classification").unnamed

    def my_forward(model, batch):
        return F.cross_entropy(model(batch[0]), batch[1]), None, len(batch[1])

    assert Forward(forward_fn=my_forward).describe() == {"forward_fn": "my_forward", "loss": "my_forward"}
    assert Forward(forward_fn=my_forward, name="nll").describe() == {"forward_fn": "my_forward", "loss": "nll"}
    assert Forward(forward_fn=lambda m, b: None).describe() == {"forward_fn": CUSTOM_LOSS, "loss": CUSTOM_LOSS}


@pytest.mark.parametrize("bad", ["", "  ", 3])
def test_bad_loss_name_is_one_error_naming_it(problem, bad):
    model, states, data = problem
    with pytest.raises(ValueError, match=r"^loss_name must be a non-empty string"):
        landscape.interpolate(model, states[0], states[1], data, t=[0, 1], loss=landscape.Loss(name=bad),
                              settings=landscape.Settings(**EVAL, **QUIET))


def test_lambda_gets_a_fallback_name_and_one_hint(problem):
    model, states, data = problem
    logs: list[str] = []
    res = landscape.interpolate(model, states[0], states[1], data, t=[0, 1], loss=lambda o, y: smoothed_ce(o, y),
                                settings=landscape.Settings(**EVAL, log=logs.append))
    assert res.sidecar["inputs"]["loss"] == {"task": "classification", "loss": CUSTOM_LOSS}
    hints = [line for line in logs if "Loss(..., name=" in line]
    assert len(hints) == 1 and "lambda" in hints[0]
    logs.clear()
    named = landscape.interpolate(model, states[0], states[1], data, t=[0, 1],
                                  loss=landscape.Loss(name="smoothed", fn=lambda o, y: smoothed_ce(o, y)),
                                  settings=landscape.Settings(**EVAL, log=logs.append))
    assert named.sidecar["inputs"]["loss"]["loss"] == "smoothed" and not any("Loss(..., name=" in m for m in logs)
    assert named["train_loss"] == pytest.approx(res["train_loss"], rel=1e-6)  # a label, not another loss


# ------------------------------------------------------------------ titles
CLI_SIDECAR = {"inputs": {"model": {"name": "cnn_small", "kwargs": {"width": 8}}, "data": {"name": "/d/digits.npz"},
                          "loss": {"task": "classification", "loss": "default"}},
               "bn_mode": "recompute", "settings": {"bn": None}}


def _api_sidecar(train, test, loss="default", bn="recompute"):
    return {"inputs": {"model": {"class": "my.pkg.models.ResNetish", "num_params": 309_000},
                       "data": {"train": train, "test": test, "task": "classification"},
                       "loss": {"task": "classification", "loss": loss}},
            "bn_mode": bn, "settings": {"bn": None}}


@pytest.mark.parametrize("side,title", [
    (CLI_SIDECAR, "cnn_small(width=8) · digits.npz · BN recompute"),
    ({**CLI_SIDECAR, "inputs": {**CLI_SIDECAR["inputs"], "loss": {"task": "classification", "loss": "focal"}}},
     "cnn_small(width=8) · digits.npz · BN recompute · loss focal"),
    (_api_sidecar({"samples": 1400, "input_shape": [3, 32, 32]}, {"samples": 450}),
     "ResNetish · 1,400 + 450 samples · BN recompute"),
    (_api_sidecar({"samples": 3000}, None, loss="smoothed_ce", bn="fixed"),
     "ResNetish · 3,000 samples · loss smoothed_ce"),
    (_api_sidecar({"batches_from": "DataLoader", "batches": 12}, {"batches_from": "DataLoader", "batches": 4}),
     "ResNetish · 12 + 4 batches · BN recompute"),
    (_api_sidecar({"samples": 1400}, {"batches_from": "DataLoader", "batches": 4}),
     "ResNetish · 1,400 samples + 4 batches · BN recompute"),
    ({"inputs": {"model": {"class": "Net"}, "loss": {"forward_fn": "step_fn"}}}, "Net · loss step_fn"),  # older file
])
def test_title_of_cli_and_api_sidecars(side, title):
    assert title_of(side) == title


def test_loss_labels_name_the_loss_only_when_not_default():
    values = {k: torch.rand(3, 3).numpy() for k in ("train_loss", "train_acc", "test_loss", "test_acc")}
    assert loss_name_of(CLI_SIDECAR) is None
    assert [m.label for m in choose_metrics(None, values)] == ["train loss", "test error (%)"]
    chosen = choose_metrics(["train_loss", "test_loss", "test_acc"], values, loss_name="smoothed_ce")
    assert [m.label for m in chosen] == ["train loss (smoothed_ce)", "test loss (smoothed_ce)", "test accuracy (%)"]


def _capture_figures(monkeypatch) -> dict:
    """Record every figure ``swa-landscape plot`` saves, by file stem (the figure objects, not their pixels)."""
    import landscape.plot.draw as draw

    figures, save = {}, draw.save_figure

    def recording(fig, stem, *args, **kwargs):
        figures[stem.name] = fig
        return save(fig, stem, *args, **kwargs)

    monkeypatch.setattr(draw, "save_figure", recording)  # where the figures of ``plot`` are saved
    return figures


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_api_figures_carry_title_and_loss_name(problem, tmp_path, capsys, monkeypatch):
    model, states, data = problem
    kw_eval = dict(**EVAL, **QUIET)
    kw = dict(loss=smoothed_ce)
    landscape.plane(model, states, data, grid=3, out=tmp_path / "plane", **kw, settings=landscape.Settings(**kw_eval))
    landscape.interpolate(model, states[0], states[1], data, t=[0, 0.5, 1], out=tmp_path / "line", **kw,
                          settings=landscape.Settings(**kw_eval))
    landscape.rays(model, states[:1], data, rays=landscape.Rays(directions=2, steps=3), out=tmp_path / "rays", **kw,
                   settings=landscape.Settings(**kw_eval))
    title = "Sequential · 1,347 + 450 samples · loss smoothed_ce"  # no BatchNorm: no BN mode to state
    figures = _capture_figures(monkeypatch)
    code, out, err = cli(capsys, "plot", str(tmp_path / "plane"), str(tmp_path / "line"), str(tmp_path / "rays"),
                         "--out", str(tmp_path / "fig"), "--metric", "train_loss", "test_loss", "test_err")
    assert code == 0, err
    assert set(figures) == {"plane", "interp", "rays"}
    for fig in figures.values():
        assert fig._suptitle.get_text() == title
    plane_titles = [ax.get_title() for ax in figures["plane"].axes]
    assert "train loss (smoothed_ce)" in plane_titles and "test loss (smoothed_ce)" in plane_titles
    line_labels = [ax.get_ylabel() for ax in figures["interp"].axes]
    assert "train loss (smoothed_ce) / test loss (smoothed_ce)" in line_labels and "test error (%)" in line_labels
    assert [ax.get_ylabel() for ax in figures["rays"].axes if ax.get_ylabel()][:2] == [
        "train loss (smoothed_ce)", "test loss (smoothed_ce)"]


def test_pages_and_report_name_the_loss(problem, tmp_path):
    from landscape.plot.pages import line_page
    from landscape.report.sections import result_provenance

    model, states, data = problem
    landscape.interpolate(model, states[0], states[1], data, t=[0, 1], loss=nn.CrossEntropyLoss(label_smoothing=.1),
                          out=tmp_path, settings=landscape.Settings(**EVAL, **QUIET))
    _, line = read_result(tmp_path / "interp.npz")
    fig = line_page([line])
    assert fig.layout.title.text.endswith("Sequential · 1,347 + 450 samples · loss CrossEntropyLoss")
    assert fig.layout.yaxis.title.text == "loss (CrossEntropyLoss)"
    assert {t.name for t in fig.data if t.showlegend is not False} >= {"start → end: train loss (CrossEntropyLoss)"}
    facts = dict(result_provenance(line.sidecar, line.path).facts)
    assert facts["loss"] == "CrossEntropyLoss" and "loss CrossEntropyLoss" in facts["what"]
