"""The Python API (issue 9): the README example runs; API results equal the CLI's files and a slow
deepcopy-and-loop reference; dict batches, custom losses and parameter subsets; the caller's model is
never changed; in-memory checkpoints are keyed by their tensors, so stale results are refused."""

from __future__ import annotations

import copy
import operator
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import landscape
from landscape.geometry.directions import random_directions
from landscape.engine.inputs import load_context
from landscape.results.store import StaleResultsError
from landscape.engine.weights import ParamSpace

from support import ROOT, cli, one_batch_bn_reference

LAST = r"^classifier\."  # cnn_small's last layer
EVAL = dict(progress=False, device="cpu", log=lambda _: None)  # no bar, no info lines


# ------------------------------------------------------------------ the slow reference
def _flat(names, state):
    return torch.cat([state[n].double().reshape(-1) for n in names])


def _with(state, names, shapes, flat):
    """``state`` with the parameters ``names`` replaced by the flat vector ``flat``."""
    out, offset = dict(state), 0
    for name, shape in zip(names, shapes):
        n = shape.numel()
        out[name] = flat[offset:offset + n].reshape(shape).float()
        offset += n
    return out


def _slow(template, state, train, test, loss=lambda out, y: F.cross_entropy(out, y), recompute=True, batch=100):
    """[train_loss, train_acc, test_loss, test_acc] at ``state``: a deepcopy, a loop, the obvious way."""
    model = copy.deepcopy(template)
    model.load_state_dict(state)
    if recompute:
        model = one_batch_bn_reference(model, train[0])
    model.eval()
    row = []
    for x, y in (train, test):
        total, correct = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(x), batch):
                out = model(x[i:i + batch])
                total += float(loss(out, y[i:i + batch])) * len(out)
                correct += int((out.argmax(1) == y[i:i + batch]).sum())
        row += [total / len(x), correct / len(x)]
    return np.array(row)


def _values(res):
    return np.stack([res[m] for m in ("train_loss", "train_acc", "test_loss", "test_acc")], axis=-1)


def _close(got, want, n_train=1347, n_test=450):
    np.testing.assert_allclose(got[..., [0, 2]], want[..., [0, 2]], rtol=1e-5)
    assert np.all(np.abs(got[..., 1] - want[..., 1]) <= 1.01 / n_train)  # equal up to a flipped near-tie
    assert np.all(np.abs(got[..., 3] - want[..., 3]) <= 1.01 / n_test)


@pytest.fixture(scope="module")
def setup(tiny_run):
    ctx = load_context(str(tiny_run.out), None, None)
    paths = [p["path"] for p in ctx.run.trajectory][:3]
    states = [torch.load(p, weights_only=True) for p in paths]
    d = ctx.data
    return ctx, paths, states, (d.x_train, d.y_train), (d.x_test, d.y_test)


def _loaders(train, test, batch_size=300):
    return {"train": DataLoader(TensorDataset(*train), batch_size=batch_size),
            "test": DataLoader(TensorDataset(*test), batch_size=batch_size)}


def _plane_reference(template, states, names, shapes, xs, ys, train, test, recompute=True):
    p0, p1, p2 = (_flat(names, s) for s in states)
    u = (p1 - p0) / (p1 - p0).norm()
    v = (p2 - p0) - torch.dot(p2 - p0, u) * u
    v = v / v.norm()
    return np.array([[_slow(template, _with(states[0], names, shapes, p0 + a * u + b * v), train, test,
                            recompute=recompute) for b in ys] for a in xs])


# ------------------------------------------------------------------ acceptance 1
@pytest.mark.slow
def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    section = (ROOT / "README.md").read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile("\n".join(blocks), "README.md", "exec"), ns)  # noqa: S102 - the README's own code
    shown = capsys.readouterr().out
    assert "(11,) (11,) (11, 11)" in shown
    assert ns["model"].training  # the caller's model kept its mode
    assert np.isfinite(ns["line"]["train_loss"]).all() and ns["rays"].widths.shape == (1, 4)
    assert ns["sharp"]["point 0"]["metrics"]["hessian_trace"]["value"] > 0
    assert torch.load(tmp_path / "out-random" / "directions.pt", weights_only=True).keys() == {"x", "y"}
    assert ns["around"]["train_loss"].shape == (5, 5) and sum(ns["pca"].directions.about["explained_variance_ratio"]) <= 1
    with np.load(tmp_path / "out" / "plane.npz") as f:
        assert f["train_loss"].shape == (11, 11) and f["done"].all()
    code, out, _ = cli(capsys, "plot", str(tmp_path / "out"), "--out", str(tmp_path / "fig"))
    assert code == 0 and "plane" in out


# ------------------------------------------------------------------ acceptance 2
@pytest.mark.slow  # over 1 s: not in make test-fast
def test_plane_with_dataloaders_equals_cli_file_and_slow_loop(setup, tmp_path, capsys):
    ctx, paths, states, train, test = setup
    res = landscape.plane(ctx.model, states, _loaders(train, test),  # whole-set statistics from 300-batches
                          grid=landscape.Grid(x=(-0.3, 1.4, 3), y=(-0.2, 0.9, 2)),
                          settings=landscape.Settings(**EVAL, bn="recompute", bn_pass="exact"))
    code, _, err = cli(capsys, "plane", "--run", str(ctx.run.path), "--points", *paths, "--x", "-0.3:1.4:3",
                       "--y", "-0.2:0.9:2", "--bn", "recompute", "--out", str(tmp_path / "cli"), "--no-plot",
                       "--quiet", "--device", "cpu")
    assert code == 0, err
    saved = res.save(tmp_path / "api")
    with np.load(tmp_path / "cli" / "plane.npz") as cli_file, np.load(saved) as api_file:
        assert set(cli_file.files) == set(api_file.files)
        for key in ("alphas", "betas", "anchors", "done"):
            np.testing.assert_array_equal(api_file[key], cli_file[key])
        for m in ("train_loss", "train_acc", "test_loss", "test_acc"):
            np.testing.assert_allclose(api_file[m], cli_file[m], rtol=1e-5)
    space = ParamSpace.of(ctx.model)
    want = _plane_reference(ctx.model, states, space.param_names, space.param_shapes, res.alphas, res.betas,
                            train, test)
    _close(_values(res), want)


def _forward_dict(model, batch):
    logits = model(batch["pixels"])
    return F.cross_entropy(logits, batch["label"]), (logits.argmax(1) == batch["label"]).sum(), len(logits)


def test_dict_batches_through_forward_fn_equal_slow_loop(setup):
    ctx, _, states, train, test = setup
    dicts = lambda x, y: [{"pixels": x[i:i + 256], "label": y[i:i + 256]} for i in range(0, len(x), 256)]  # noqa
    t = np.array([-0.5, 0.0, 0.4, 1.0, 1.5])
    res = landscape.interpolate(ctx.model, states[0], states[2], {"train": dicts(*train), "test": dicts(*test)}, t=t,
                                loss=landscape.Loss(forward_fn=_forward_dict),
                                settings=landscape.Settings(**EVAL, bn="recompute", bn_pass="exact"))
    names = ParamSpace.of(ctx.model).param_names
    shapes = ParamSpace.of(ctx.model).param_shapes
    a, b = _flat(names, states[0]), _flat(names, states[2])
    want = np.array([_slow(ctx.model, _with(states[0], names, shapes, a + s * (b - a)), train, test) for s in t])
    _close(_values(res), want)
    np.testing.assert_array_equal(res.t, t)
    np.testing.assert_allclose(res.distance, t * float((b - a).norm()), rtol=1e-6)


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_custom_loss_fn_on_rays_equals_slow_loop(setup):
    ctx, _, states, train, test = setup
    smooth = lambda out, y: F.cross_entropy(out, y, label_smoothing=0.1)  # noqa: E731
    res = landscape.rays(ctx.model, [states[1]], (train[0], train[1]),
                         rays=landscape.Rays(directions=2, max_distance=2.0, steps=3), loss=smooth,
                         settings=landscape.Settings(**EVAL, bn="fixed", seed=4))
    space = ParamSpace.of(ctx.model)
    base = _flat(space.param_names, states[1])
    dirs = random_directions(space, base.float(), 2, normalization="unit", seed=4).double()
    want = np.zeros((1, 2, 3, 4))
    for j in range(2):
        for s, dist in enumerate(np.linspace(0, 2.0, 3)):
            state = _with(states[1], space.param_names, space.param_shapes, base + dist * dirs[j])
            want[0, j, s] = _slow(ctx.model, state, train, train, loss=smooth, recompute=False)
    got = _values(res)
    np.testing.assert_allclose(got[..., 0], want[..., 0], rtol=1e-5)
    assert np.all(np.abs(got[..., 1] - want[..., 1]) <= 1.01 / 1347)
    assert np.isnan(got[..., 2:]).all()  # no test split: NaN, not made up
    plain = landscape.rays(ctx.model, [states[1]], (train[0], train[1]),
                           rays=landscape.Rays(directions=2, max_distance=2.0, steps=3),
                           settings=landscape.Settings(**EVAL, bn="fixed", seed=4))
    assert np.all(plain["train_loss"] < res["train_loss"])  # label smoothing raises the loss of a confident net


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_params_subset_moves_only_the_last_layer(setup, tmp_path, capsys):
    ctx, paths, states, train, test = setup
    space = ParamSpace.of(ctx.model, LAST)
    assert space.param_names == ("classifier.weight", "classifier.bias")
    others = [n for n, _ in ctx.model.named_parameters() if n not in space.param_names]
    seen = []

    def recording(model, batch):  # every forward: the other parameters are p0's, bitwise
        seen.append(all(torch.equal(operator.attrgetter(n)(model), states[0][n]) for n in others))
        x, y = batch
        out = model(x)
        return F.cross_entropy(out, y), (out.argmax(1) == y).sum(), len(out)

    res = landscape.plane(ctx.model, states, {"train": train, "test": test},
                          grid=landscape.Grid(x=(-0.5, 1.5, 3), y=(-0.5, 1.0, 2)), params=LAST,
                          loss=landscape.Loss(forward_fn=recording),
                          settings=landscape.Settings(**EVAL, bn="recompute"))
    assert seen and all(seen)
    want = _plane_reference(ctx.model, states, space.param_names, space.param_shapes, res.alphas, res.betas,
                            train, test)
    _close(_values(res), want)
    assert res.sidecar["space"] == {"selection": repr(LAST), "tensors": 2, "num_params": space.num_params,
                                    "frozen_tensors": len(others)}
    code, _, err = cli(capsys, "plane", "--run", str(ctx.run.path), "--points", *paths, "--x", "-0.5:1.5:3",
                       "--y", "-0.5:1.0:2", "--params", LAST, "--out", str(tmp_path), "--no-plot", "--quiet",
                       "--device", "cpu")
    assert code == 0, err
    with np.load(tmp_path / "plane.npz") as f:
        np.testing.assert_allclose(f["train_loss"], res["train_loss"], rtol=1e-5)
    code, _, err = cli(capsys, "plane", "--run", str(ctx.run.path), "--points", *paths, "--params", "^nothing",
                       "--out", str(tmp_path / "none"))
    assert code == 2 and "selects no parameter" in err and "classifier.weight" in err


# ------------------------------------------------------------------ acceptance 3
def _snapshot(model):
    return ({k: v.detach().clone() for k, v in model.state_dict().items()},
            {n: m.training for n, m in model.named_modules()},
            {n: p.requires_grad for n, p in model.named_parameters()})


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_callers_model_is_untouched(setup):
    ctx, _, states, train, test = setup
    model = copy.deepcopy(ctx.model)
    model.load_state_dict(states[1])
    model.train()
    model.features[0].weight.requires_grad_(False)  # a frozen layer stays frozen
    before = _snapshot(model)
    data = {"train": train, "test": test}
    landscape.plane(model, states, data, grid=2, settings=landscape.Settings(**EVAL, bn="recompute"))
    landscape.interpolate(model, states[0], states[2], data, t=[0.0, 0.5],
                          settings=landscape.Settings(**EVAL, bn="interpolate"))
    landscape.rays(model, [model], data, rays=landscape.Rays(directions=1, steps=2, max_distance=1.0),
                   params=landscape.Params(trainable_only=True), settings=landscape.Settings(**EVAL))
    landscape.sharpness(model, [states[2]], data, metrics=["hessian_trace"], trace_matvecs=3,
                        settings=landscape.Settings(**EVAL))
    after = _snapshot(model)
    assert before[1] == after[1] and before[2] == after[2]
    for name, value in before[0].items():
        assert torch.equal(value, after[0][name]), name


# ------------------------------------------------------------------ resume key and saving
def test_in_memory_points_are_keyed_by_their_tensors(setup, tmp_path):
    ctx, _, states, train, test = setup
    data = {"train": train, "test": test}
    first = landscape.interpolate(ctx.model, states[0], states[1], data, t=[0.0, 1.0], out=tmp_path,
                                  settings=landscape.Settings(**EVAL))
    assert first.stats["computed"] == 2 and (tmp_path / "interp.npz").exists()
    again = landscape.interpolate(ctx.model, states[0], states[1], data, t=[0.0, 1.0], out=tmp_path,
                                  settings=landscape.Settings(**EVAL))
    assert again.stats == {**again.stats, "computed": 0, "skipped": 2}
    np.testing.assert_array_equal(again["train_loss"], first["train_loss"])
    nudged = {k: v.clone() for k, v in states[1].items()}
    nudged["classifier.bias"][0] += 1e-6  # one value changed: other inputs, refused rather than reused
    with pytest.raises(StaleResultsError, match="differs in: to"):
        landscape.interpolate(ctx.model, states[0], nudged, data, t=[0.0, 1.0], out=tmp_path,
                              settings=landscape.Settings(**EVAL))
    other = landscape.interpolate(ctx.model, states[0], nudged, data, t=[0.0, 1.0],
                                  settings=landscape.Settings(**EVAL))
    with pytest.raises(StaleResultsError):
        other.save(tmp_path)
    other.save(tmp_path, overwrite=True)
    with np.load(tmp_path / "interp.npz") as f:
        np.testing.assert_array_equal(f["train_loss"], other["train_loss"])


@pytest.mark.slow
def test_sharpness_api_equals_cli(setup, tmp_path, capsys):
    ctx, paths, states, train, test = setup
    code, _, err = cli(capsys, "sharpness", "--run", str(ctx.run.path), "--points", paths[2], "--labels", "end",
                       "--metrics", "hessian_top_eigenvalues", "--top-k", "2", "--out", str(tmp_path), "--no-plot",
                       "--quiet", "--device", "cpu")
    assert code == 0, err
    import json

    cli_value = json.loads((tmp_path / "sharpness.json").read_text())["results"]["end"]["metrics"]
    dicts = [{"pixels": train[0][i:i + 500], "label": train[1][i:i + 500]} for i in range(0, len(train[0]), 500)]
    for data, kwargs in (({"train": train, "test": test}, {}),
                         ({"train": dicts}, {"loss": landscape.Loss(forward_fn=_forward_dict)})):
        res = landscape.sharpness(ctx.model, {"end": paths[2]}, data, metrics=["hessian_top_eigenvalues"], top_k=2,
                                  **kwargs, settings=landscape.Settings(**EVAL))
        np.testing.assert_allclose(res["end"]["metrics"]["hessian_top_eigenvalues"]["value"],
                                   cli_value["hessian_top_eigenvalues"]["value"], rtol=1e-4)
    assert res["end"]["test_loss"] is None and res.json_path is None
    assert res.save(tmp_path / "api").name == "sharpness.json"


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("data,kwargs,exc,match", [
    (lambda tr: (b for b in [tr]), {}, TypeError, "one-shot iterator"),
    (lambda tr: [{"pixels": tr[0], "label": tr[1]}], {}, ValueError, "pass forward_fn"),
    (lambda tr: (tr[0], tr[1][:10]), {}, ValueError, "differ in length"),
    (lambda tr: {"train": tr, "valid": tr}, {}, ValueError, "key 'train'"),
    (lambda tr: tr, {"params": "^nothing"}, ValueError, "selects no parameter"),
    (lambda tr: tr, {"params": "(["}, ValueError, "not a regular expression"),
    (lambda tr: tr, {"loss": landscape.Loss(fn=F.mse_loss, forward_fn=_forward_dict)}, ValueError, "not both"),
    (lambda tr: tr, {"bn": "fixed"}, TypeError,  # a keyword of the former API: its new form, in one error
     r"^interpolate\(\) no longer takes bn=: pass settings=landscape.Settings\(bn='fixed'\)$"),
    (lambda tr: tr, {"loss_fn": F.mse_loss, "seed": 1}, TypeError,
     r"no longer takes loss_fn=, seed=: pass loss=landscape.Loss\(fn=...\), settings=landscape.Settings\(seed=1\)$"),
])
def test_bad_input_is_one_clear_error(setup, data, kwargs, exc, match):
    ctx, _, states, train, _ = setup
    with pytest.raises(exc, match=match):
        landscape.interpolate(ctx.model, states[0], states[1], data(train), t=[0.0, 1.0], **kwargs,
                              settings=landscape.Settings(**EVAL))


def test_bn_choices_come_from_the_registry(capsys):
    from landscape.engine.bn import BN_STRATEGIES

    code, _, err = cli(capsys, "plane", "--bn", "bogus", "--out", "x")
    assert code == 2 and all(repr(name) in err for name in BN_STRATEGIES)
    assert tuple(BN_STRATEGIES) == ("recompute", "interpolate", "fixed")


# ------------------------------------------------------------------ loaders: read once, or at every pass
class _Noisy(torch.utils.data.Dataset):
    """A data set with random augmentation: every read of an item draws new noise."""

    def __init__(self, x, y):
        self.x, self.y, self.reads = x, y, 0

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        self.reads += 1
        return self.x[i] + 0.05 * torch.randn_like(self.x[i]), self.y[i]


def test_loader_is_read_once_and_cached_when_it_fits(setup, monkeypatch):
    ctx, _, states, train, _ = setup
    noisy = _Noisy(*train)
    loader = DataLoader(noisy, batch_size=400)
    res = landscape.interpolate(ctx.model, states[0], states[1], loader, t=[0.5, 0.5, 0.5],
                                settings=landscape.Settings(**EVAL, bn="recompute"))
    # one fixed loss function: the same point gives the same value, however the augmentation draws
    assert len(set(res["train_loss"].tolist())) == 1
    assert noisy.reads == 400 + len(train[0])  # its first batch to find the task, then once into the cache
    import landscape.engine.data as data_module

    monkeypatch.setattr(data_module, "CACHE_FRACTION", 0.0)  # nothing fits: read at every pass
    noisy.reads = 0
    streamed = landscape.interpolate(ctx.model, states[0], states[1], loader, t=[0.5, 0.5],
                                     settings=landscape.Settings(**EVAL, bn="fixed"))
    assert noisy.reads >= 2 * len(train[0]) and streamed["train_loss"][0] != streamed["train_loss"][1]
