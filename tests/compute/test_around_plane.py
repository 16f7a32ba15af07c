"""Planes around one checkpoint (issue 11): Li et al.'s random filter-normalized plane, the PCA plane of a
trajectory, the top Hessian eigenvectors; the directions file; the same through the API and the CLI.

References: norms taken filter by filter, scikit-learn's PCA on the flattened trajectory, the dense Hessian
by torch.autograd.functional.hessian, and a slow deepcopy-and-loop evaluation of the plane's points.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.decomposition import PCA

import landscape
from landscape.engine.inputs import load_context
from landscape.curvature.objective import ModelObjective
from landscape.compute.directions import hessian_plane, load_directions, pca_plane, random_plane
from landscape.engine.weights import ParamSpace

from support import cli, one_batch_bn_reference

EVAL = dict(progress=False, device="cpu", batch_size=2048, log=lambda _: None)  # no bar, no info lines
F64 = torch.float64


@pytest.fixture(scope="module")
def setup(tiny_run):
    ctx = load_context(str(tiny_run.out), None, None)
    states = [torch.load(p["path"], weights_only=True) for p in ctx.run.trajectory]
    d = ctx.data
    return ctx, states, (d.x_train, d.y_train), (d.x_test, d.y_test)


def _slow(template, state, train, test):
    """[train_loss, train_acc, test_loss, test_acc] at ``state``, BN recomputed on all of train in one batch."""
    model = copy.deepcopy(template)
    model.load_state_dict(state)
    model = one_batch_bn_reference(model, train[0]).eval()
    row = []
    with torch.no_grad():
        for x, y in (train, test):
            out = model(x)
            row += [float(F.cross_entropy(out, y)), float((out.argmax(1) == y).float().mean())]
    return np.array(row)


def _with(state, space, flat):
    out = dict(state)
    out.update({k: v.clone() for k, v in space.split(flat.float()).items()})
    return out


# ------------------------------------------------------------------ acceptance 1: random filter-normalized
def test_random_directions_have_the_filter_norms_of_the_center(setup):
    ctx, states, _, _ = setup
    space = ParamSpace.of(ctx.model)
    center = space.params_of(states[-1])
    dirs = random_plane(space, center, seed=3)
    for row in dirs.directions:
        parts, weights = space.split(row), space.split(center)
        for name, d in parts.items():
            w = weights[name]
            if w.dim() <= 1:  # biases and BatchNorm parameters: zero (Li et al.'s --xignore biasbn)
                assert torch.count_nonzero(d) == 0, name
                continue
            for i in range(w.shape[0]):  # filter by filter
                torch.testing.assert_close(d[i].double().norm(), w[i].double().norm(), rtol=1e-5, atol=1e-7)
    assert not torch.equal(dirs.directions[0], dirs.directions[1])
    torch.testing.assert_close(random_plane(space, center, seed=3).directions, dirs.directions, rtol=0, atol=0)
    assert not torch.equal(random_plane(space, center, seed=4).directions, dirs.directions)
    both = random_plane(space, center, seed=3, include_bn_and_bias=True).directions
    bias = [n for n, s in zip(space.param_names, space.param_shapes) if len(s) == 1][0]
    assert torch.count_nonzero(space.split(both[0])[bias]) > 0
    ortho = random_plane(space, center, seed=3, orthogonal=True).directions.double()
    assert abs(float(ortho[0] @ ortho[1])) < 1e-6 * float(ortho[0].norm() * ortho[1].norm())
    torch.testing.assert_close(ortho[1].norm(), dirs.directions[1].double().norm(), rtol=1e-6, atol=0)


def test_random_plane_equals_slow_loop_and_is_reproducible(setup, tmp_path):
    ctx, states, train, test = setup
    res = landscape.plane(ctx.model, data={"train": train, "test": test}, center=states[-1], directions="random",
                          grid=landscape.Grid(x=(-0.5, 0.5, 3), y=(-0.4, 0.4, 2)),
                          settings=landscape.Settings(**EVAL, seed=7, bn="recompute"))
    space = ParamSpace.of(ctx.model)
    center = space.params_of(states[-1]).double()
    d = res.directions.directions.double()
    want = np.array([[_slow(ctx.model, _with(states[-1], space, center + a * d[0] + b * d[1]), train, test)
                      for b in res.betas] for a in res.alphas])
    got = np.stack([res[m] for m in ("train_loss", "train_acc", "test_loss", "test_acc")], axis=-1)
    np.testing.assert_allclose(got[..., [0, 2]], want[..., [0, 2]], rtol=1e-5)
    assert np.all(np.abs(got[..., [1, 3]] - want[..., [1, 3]]) <= 1.01 / 450)
    again = landscape.plane(ctx.model, data={"train": train, "test": test}, center=states[-1], directions="random",
                            grid=landscape.Grid(x=(-0.5, 0.5, 3), y=(-0.4, 0.4, 2)),
                            settings=landscape.Settings(**EVAL, seed=7, bn="recompute"))
    np.testing.assert_array_equal(again["train_loss"], res["train_loss"])
    # The directions file: shaped like the parameters, weights_only-loadable, and it reproduces the plane.
    res.save(tmp_path / "a")
    doc = torch.load(tmp_path / "a" / "directions.pt", weights_only=True)
    assert set(doc) == {"x", "y"} and list(doc["x"]) == list(space.param_names)
    assert all(doc["x"][n].shape == s for n, s in zip(space.param_names, space.param_shapes))
    loaded = landscape.plane(ctx.model, data={"train": train, "test": test}, center=states[-1],
                             directions=tmp_path / "a" / "directions.pt",
                             grid=landscape.Grid(x=(-0.5, 0.5, 3), y=(-0.4, 0.4, 2)),
                             settings=landscape.Settings(**EVAL, bn="recompute"))
    np.testing.assert_array_equal(loaded["train_loss"], res["train_loss"])


# ------------------------------------------------------------------ acceptance 2: PCA against scikit-learn
@pytest.mark.parametrize("center", ["last", "mean"])
def test_pca_directions_coordinates_and_variance_match_sklearn(setup, center):
    ctx, states, _, _ = setup
    space = ParamSpace.of(ctx.model)
    points = [space.params_of(s) for s in states]
    dirs = pca_plane(points, center=center)
    X = torch.stack(points).double().numpy()
    ref = PCA(n_components=2, svd_solver="full").fit(X)
    for mine, theirs in zip(dirs.directions.double().numpy(), ref.components_):
        sign = np.sign(mine @ theirs)
        np.testing.assert_allclose(mine, sign * theirs, atol=1e-5)
    np.testing.assert_allclose(dirs.about["explained_variance_ratio"], ref.explained_variance_ratio_, rtol=1e-6)
    coords = ref.transform(X)
    if center == "last":
        coords = coords - coords[-1]
    signs = np.sign(np.sum(dirs.directions.double().numpy() * ref.components_, axis=1))
    np.testing.assert_allclose(dirs.trajectory[:, :2], coords * signs, atol=1e-5)
    # The distance from the plane is what the two components leave out.
    resid = X - (X.mean(0) if center == "mean" else X[-1]) - (coords * signs) @ dirs.directions.double().numpy()
    np.testing.assert_allclose(dirs.trajectory[:, 2], np.linalg.norm(resid, axis=1), rtol=1e-4, atol=1e-6)


def test_pca_needs_a_plane_of_points(setup):
    from swa.errors import UserError

    ctx, states, _, _ = setup
    space = ParamSpace.of(ctx.model)
    p = space.params_of(states[0])
    with pytest.raises(UserError, match="at least 3"):
        pca_plane([p, p + 1])
    with pytest.raises(UserError, match="less than a plane"):
        pca_plane([p, p + 1, p + 2])


# ------------------------------------------------------------------ acceptance 3: Hessian eigenvectors
def test_hessian_directions_are_the_dense_hessians_top_eigenvectors():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(80, 4, generator=g, dtype=F64), torch.randint(0, 3, (80,), generator=g)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    obj = ModelObjective(net, (x, y), net.state_dict(), dtype=F64, bn_recompute=False)
    shapes = [(5, 4), (5,), (3, 5), (3,)]

    def loss(w):
        W1, b1, W2, b2 = (p.view(s) for p, s in zip(w.split([20, 5, 15, 3]), shapes))
        return F.cross_entropy(torch.tanh(x @ W1.T + b1) @ W2.T + b2, y)

    lam, vecs = torch.linalg.eigh(torch.autograd.functional.hessian(loss, obj.point.clone()))
    dirs = hessian_plane(obj, tol=1e-10)
    np.testing.assert_allclose(dirs.about["eigenvalues"], lam.flip(0)[:2].numpy(), rtol=1e-8)
    for mine, theirs in zip(dirs.directions.double(), vecs.flip(1)[:, :2].T):
        sign = torch.sign(mine @ theirs)
        torch.testing.assert_close(mine, sign * theirs, atol=1e-4, rtol=0)


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_hessian_plane_through_the_api(setup):
    """End to end on the digits CNN (float32): the plane's axes are the Lanczos eigenvectors of the training
    loss at the center, recorded with their eigenvalues, and the center is the plane's lowest point of them."""
    ctx, states, train, test = setup
    res = landscape.plane(ctx.model, data={"train": train, "test": test}, center=states[-1], directions="hessian",
                          grid=5, settings=landscape.Settings(**EVAL, bn="fixed"))
    lam = res.directions.about["eigenvalues"]
    assert lam[0] >= lam[1] > 0
    d = res.directions.directions.double()
    torch.testing.assert_close(d @ d.T, torch.eye(2, dtype=F64), atol=1e-5, rtol=0)
    half = np.sqrt(2 / lam[0])
    np.testing.assert_allclose([res.alphas[0], res.alphas[-1]], [-half, half])
    mid = len(res.alphas) // 2
    obj = ModelObjective(ctx.model, {"train": train, "test": test}, states[-1], bn_recompute=False)
    np.testing.assert_allclose(res["train_loss"][mid, mid], obj.value(), rtol=1e-5)


# ------------------------------------------------------------------ the command line
@pytest.mark.slow  # over 1 s: not in make test-fast
def test_cli_around_swa_random_and_pca(setup, tmp_path, capsys):
    ctx, states, _, _ = setup
    run = str(ctx.run.path)
    code, out, err = cli(capsys, "plane", "--run", run, "--around", "swa", "--out", str(tmp_path / "r"),
                         "--x", "-1:1:3", "--y", "-1:1:3", "--seed", "5", "--save-directions",
                         str(tmp_path / "copy.pt"), "--no-plot", "--quiet", "--device", "cpu")
    assert code == 0, err
    side = json.loads((tmp_path / "r" / "plane.json").read_text())
    assert side["directions"]["kind"] == "random" and side["directions"]["seed"] == 5
    assert side["anchors"][0]["label"] == "SWA" and side["axes"]["x"].startswith("direction 1")
    space = ParamSpace.of(ctx.model)
    torch.testing.assert_close(load_directions(tmp_path / "copy.pt", space),
                               load_directions(tmp_path / "r" / "directions.pt", space), rtol=0, atol=0)
    # Another checkpoint on the same directions.
    code, _, err = cli(capsys, "plane", "--run", run, "--around", "final", "--load-directions",
                       str(tmp_path / "copy.pt"), "--out", str(tmp_path / "f"), "--x", "-1:1:3", "--y", "-1:1:3",
                       "--no-plot", "--quiet", "--device", "cpu")
    assert code == 0, err
    torch.testing.assert_close(load_directions(tmp_path / "f" / "directions.pt", space),
                               load_directions(tmp_path / "copy.pt", space), rtol=0, atol=0)
    side = json.loads((tmp_path / "f" / "plane.json").read_text())  # a bare file: its name is all we know
    assert side["axes"] == {"x": "direction 1 (from copy.pt)", "y": "direction 2 (from copy.pt)"}
    assert side["directions"]["kind"] == "loaded" and side["directions"]["file"] == str(tmp_path / "copy.pt")
    # Read from the plane that drew them, the axes say what they are and where from.
    code, _, err = cli(capsys, "plane", "--run", run, "--around", "final", "--load-directions",
                       str(tmp_path / "r" / "directions.pt"), "--out", str(tmp_path / "g"), "--x", "-1:1:3", "--y",
                       "-1:1:3", "--no-plot", "--quiet", "--device", "cpu")
    assert code == 0, err
    side = json.loads((tmp_path / "g" / "plane.json").read_text())
    assert side["axes"] == {"x": "direction 1 (filter-normalized, from r)", "y": "direction 2 (filter-normalized, from r)"}
    assert side["directions"]["source_kind"] == "random"
    # PCA of the run's trajectory, drawn with the path.
    code, out, err = cli(capsys, "plane", "--run", run, "--directions", "pca", "--grid", "4", "--out",
                         str(tmp_path / "p"), "--quiet", "--device", "cpu")
    assert code == 0, err
    with np.load(tmp_path / "p" / "plane.npz") as f:
        assert f["trajectory"].shape[0] == len(states) + 2  # the path, then SGD final and SWA
        np.testing.assert_allclose(f["trajectory"][len(states) - 1], [0, 0], atol=1e-6)  # centred on the last
    side = json.loads((tmp_path / "p" / "plane.json").read_text())
    assert side["axes"]["x"].startswith("PC1 (") and len(side["directions"]["explained_variance_ratio"]) == 2
    assert (tmp_path / "p" / "plane.png").exists()


@pytest.mark.parametrize("args,message", [
    (["--directions", "pca", "--center", "mean", "--around", "swa"], "takes no --around"),
    (["--around", "swa", "--bn", "interpolate"], "three checkpoints"),
    (["--around", "swa", "--points", "a", "b", "c"], "one or the other"),
    (["--around", "nope.pt"], "nope.pt"),
])
def test_cli_around_bad_input_is_one_line(setup, tmp_path, capsys, args, message):
    ctx, _, _, _ = setup
    code, out, err = cli(capsys, "plane", "--run", str(ctx.run.path), *args, "--out", str(tmp_path / "x"),
                         "--no-plot", "--quiet", "--device", "cpu")
    assert code != 0 and message in err and "Traceback" not in err


def test_bad_directions_file_is_refused(setup, tmp_path, capsys):
    ctx, states, _, _ = setup
    bad = {"x": {k: v for k, v in states[0].items()}, "y": {"nothing": torch.zeros(1)}}
    torch.save(bad, tmp_path / "bad.pt")
    code, _, err = cli(capsys, "plane", "--run", str(ctx.run.path), "--around", "swa", "--load-directions",
                       str(tmp_path / "bad.pt"), "--out", str(tmp_path / "x"), "--no-plot", "--quiet")
    assert code != 0 and "lacks" in err and "Traceback" not in err


# ------------------------------------------------------------------ 1D: interp --around
@pytest.mark.slow  # over 1 s: not in make test-fast
def test_interp_around_random_direction_equals_slow_loop(setup, tmp_path, capsys):
    from landscape.geometry.directions import random_directions

    ctx, states, train, test = setup
    code, _, err = cli(capsys, "interp", "--run", str(ctx.run.path), "--around", "swa", "--t", "-1:1:5", "--seed",
                       "2", "--out", str(tmp_path / "l"), "--batch-size", "2048", "--quiet", "--device", "cpu")
    assert code == 0, err
    swa = torch.load(ctx.run.checkpoint("swa"), weights_only=True)
    space = ParamSpace.of(ctx.model)
    center = space.params_of(swa)
    d = random_directions(space, center, 1, normalization="filter", seed=2)[0]
    with np.load(tmp_path / "l" / "interp.npz") as f:
        np.testing.assert_array_equal(f["t"], np.linspace(-1, 1, 5))
        got = np.stack([f["train_loss"], f["test_loss"]], axis=-1)
    want = np.array([_slow(ctx.model, _with(swa, space, center.double() + t * d.double()), train, test)[[0, 2]]
                     for t in np.linspace(-1, 1, 5)])
    np.testing.assert_allclose(got, want, rtol=1e-5)
    side = json.loads((tmp_path / "l" / "interp.json").read_text())
    assert side["direction"]["kind"] == "random" and side["direction"]["seed"] == 2
    assert (tmp_path / "l" / "interp.png").exists()


def test_interp_around_hessian_direction_has_the_top_curvature(tmp_path):
    """The second difference of the loss along the direction, (L(h) + L(−h) − 2L(0)) / h², is the recorded
    eigenvalue, and no other unit direction curves more (a smooth tanh network: on ReLU networks the
    finite-difference curvature also counts the units that switch on or off, which autograd's Hessian
    does not — 90 against 69 on the digits CNN)."""
    from landscape.compute.around_line import evaluate_around_line
    from landscape.engine.data import as_eval_data
    from landscape.engine.forward import Forward
    from landscape.engine.inputs import as_checkpoints
    from landscape.engine.settings import Settings
    from landscape.engine.task import Job

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 6, generator=g), torch.randint(0, 3, (300,), generator=g)
    net = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    data = as_eval_data((x, y))
    center = as_checkpoints([net.state_dict()], None, net, ["w"])[0]
    settings = Settings(device="cpu", progress=False, batch_size=300)
    h = 0.02
    job = Job(net, data, Forward(task=data.task), settings, {}, log=lambda _: None)
    res = evaluate_around_line(job, center, direction="hessian", t=[-h, 0.0, h])
    lam = res.sidecar["direction"]["eigenvalue"]
    lo, mid, hi = res["train_loss"]
    np.testing.assert_allclose((lo + hi - 2 * mid) / h ** 2, lam, rtol=2e-2)
    assert res.length == pytest.approx(1.0, abs=1e-5)  # a unit eigenvector: t is a Euclidean distance
    obj = ModelObjective(net, (x, y), net.state_dict(), bn_recompute=False, dtype=F64)
    for seed in range(3):  # the Rayleigh quotient of random unit directions stays below it
        v = torch.randn(obj.num_params, generator=torch.Generator().manual_seed(seed), dtype=F64)
        v = v / v.norm()
        assert float(v @ obj.hvp(v)) < lam


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_hessian_line_keeps_bn_fixed_unless_told(setup, tmp_path, capsys):
    ctx, _, _, _ = setup
    for extra, mode in (([], "fixed"), (["--bn", "recompute"], "recompute")):
        out = tmp_path / mode
        code, _, err = cli(capsys, "interp", "--run", str(ctx.run.path), "--around", "swa", "--direction", "hessian",
                           "--t", "-0.01:0.01:3", *extra, "--out", str(out), "--no-plot", "--quiet", "--device", "cpu")
        assert code == 0, err
        assert json.loads((out / "interp.json").read_text())["bn_mode"] == mode


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_plot_draws_all_three_plane_kinds(setup, tmp_path, capsys):
    """`plot` on planes around a point: the axes say what the directions are; the PCA plane draws the path."""
    from landscape.plot.plane import plane_figure
    from landscape.results.read import read_plane

    ctx, states, train, test = setup
    data = {"train": train, "test": test}
    for kind, extra in (("random", {"center": states[-1]}), ("pca", {"trajectory": states}),
                        ("hessian", {"center": states[-1]})):
        res = landscape.plane(ctx.model, data=data, directions=kind, grid=3, **extra,
                              settings=landscape.Settings(**EVAL))
        res.save(tmp_path / kind)
        code, out, err = cli(capsys, "plot", str(tmp_path / kind), "--out", str(tmp_path / kind / "fig"), "--html")
        assert code == 0, err
        assert (tmp_path / kind / "fig" / "plane.png").exists() and (tmp_path / kind / "fig" / "plane.html").exists()
        plane = read_plane(tmp_path / kind / "plane.npz")
        fig = plane_figure(plane)
        ax = fig.axes[0]
        assert ax.get_xlabel() == res.directions.labels[0] and ax.get_ylabel().startswith(res.directions.labels[1])
        path = [line for line in ax.lines if len(line.get_xdata()) == len(states)]
        assert bool(path) == (kind == "pca")
        if path:
            np.testing.assert_allclose(path[0].get_xdata(), res.directions.trajectory[:, 0])
