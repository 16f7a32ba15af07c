"""Issue 20: ``sharpness`` keeps the top Hessian eigenvectors on request (``eigenvectors=True``, ``--eigenvectors``),
and saves them where ``plane --load-directions`` reads them.

The reference is independent of the toolkit: the dense float64 Hessian of the eval-mode loss of a small BatchNorm
net (``torch.autograd.functional.hessian``, conftest ``dense_eval_hessian``) and its eigenvectors by
``numpy.linalg.eigh``.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

import landscape
from landscape.curvature.eigenvectors import FILE, FORMAT, directions_file
from landscape.compute.directions import load_directions
from landscape.results.read import read_plane, read_sharpness
from landscape.engine.weights import ParamSpace

from support import ROOT, cli, dense_eval_hessian, small_bn_problem

EVAL = dict(progress=False, log=lambda _: None)  # no bar, no info lines
K = 3


@pytest.fixture(scope="module")
def problem():
    net, states, data = small_bn_problem()
    return net, states[:2], data


def _dense(net, state, data):
    """Eigenvalues (descending) and unit eigenvectors (rows) of the dense eval-mode Hessian at ``state``."""
    model = copy.deepcopy(net)
    model.load_state_dict(state)
    H = dense_eval_hessian(model, *data["train"])
    lam, U = np.linalg.eigh(H)
    return H, lam[::-1], U[:, ::-1].T


@pytest.fixture(scope="module")
def computed(problem, tmp_path_factory):
    net, states, data = problem
    out = tmp_path_factory.mktemp("eig")
    res = landscape.sharpness(net, states, data, metrics="hessian_top_eigenvalues", top_k=K, lanczos_tol=1e-10,
                              eigenvectors=True, out=out, settings=landscape.Settings(**EVAL))
    return res, out


def test_eigenvectors_are_the_dense_hessians(problem, computed):
    net, states, data = problem
    res, _ = computed
    names = [n for n, _ in net.named_parameters()]
    for i, state in enumerate(states):
        H, lam, U = _dense(net, state, data)
        assert lam[K - 1] - lam[K] > 1e-3 * abs(lam[0])  # the top K are separated: each vector is defined
        eig = res.eigenvectors(i)
        assert eig is res.eigenvectors(f"point {i}")
        assert list(eig.names) == names and eig.vectors.shape == (K, H.shape[0])
        np.testing.assert_allclose(eig.values, lam[:K], rtol=1e-5)
        assert eig.values == tuple(res.value("hessian_top_eigenvalues", point=i))
        V = eig.vectors.double().numpy()
        np.testing.assert_allclose(np.linalg.norm(V, axis=1), 1.0, atol=1e-6)
        cos = np.abs(np.sum(V * U[:K], axis=1))  # up to sign
        assert (cos > 0.999).all(), cos
        for v, lam_i in zip(V, eig.values):
            assert np.linalg.norm(H @ v - lam_i * v) <= 1e-3 * abs(lam[0])
            assert v[np.argmax(np.abs(v))] > 0  # the sign rule
        by_name = eig.by_name()
        assert list(by_name) == names
        for (name, p), j in zip(net.named_parameters(), range(len(names))):
            assert by_name[name].shape == (K, *p.shape)
        torch.testing.assert_close(torch.cat([t[1].reshape(-1) for t in by_name.values()]), eig.vectors[1])


def test_saved_files_load_as_plane_directions(problem, computed, tmp_path):
    net, states, data = problem
    res, out = computed
    doc = json.loads((out / "sharpness.json").read_text())
    assert doc["eigenvectors"] == {"file": FILE, "directions": {"point 0": directions_file(0),
                                                                "point 1": directions_file(1)}}
    read_sharpness(out / "sharpness.json")  # the validating reader takes it
    assert "hessian-directions-1.pt" in (out / "sharpness.md").read_text()
    saved = torch.load(out / FILE, weights_only=True)
    assert saved["format"] == FORMAT and saved["labels"] == ["point 0", "point 1"]
    space = ParamSpace.of(net)
    for i, label in enumerate(saved["labels"]):
        eig = res.eigenvectors(label)
        np.testing.assert_allclose(saved["points"][label]["eigenvalues"].numpy(), eig.values)
        torch.testing.assert_close(torch.cat([t.reshape(K, -1) for t in saved["points"][label]["vectors"].values()],
                                             dim=1), eig.vectors)
        rows = load_directions(out / directions_file(i), space)  # the reader of plane --load-directions
        torch.testing.assert_close(rows, eig.vectors[:2])
    # The plane around point 1 along its top two eigenvectors: from the file and from the in-memory dict.
    plane = landscape.plane(net, data=data, center=states[1], directions=out / directions_file(1),
                            grid=landscape.Grid(points=3, x=(-0.5, 0.5, 3), y=(-0.5, 0.5, 3)),
                            settings=landscape.Settings(**EVAL, bn="fixed"))
    torch.testing.assert_close(plane.directions.directions, res.eigenvectors(1).vectors[:2])
    same = landscape.plane(net, data=data, center=states[1], directions=res.eigenvectors(1).directions(0, 1),
                           grid=landscape.Grid(points=3, x=(-0.5, 0.5, 3), y=(-0.5, 0.5, 3)),
                           settings=landscape.Settings(**EVAL, bn="fixed"))
    np.testing.assert_allclose(same["train_loss"], plane["train_loss"], rtol=1e-6)
    # along v1 (λ1 > 0 largest) the loss rises faster than along v2 from the center
    loss = plane["train_loss"]
    assert loss[0, 1] + loss[2, 1] - 2 * loss[1, 1] > loss[1, 0] + loss[1, 2] - 2 * loss[1, 1]
    read_plane(plane.save(tmp_path / "plane"))


def test_without_the_option_nothing_extra(problem, computed, tmp_path):
    net, states, data = problem
    res_with, _ = computed
    res = landscape.sharpness(net, states, data, metrics="hessian_top_eigenvalues", top_k=K, lanczos_tol=1e-10,
                              out=tmp_path, settings=landscape.Settings(**EVAL))
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["sharpness.json",
                                                                                        "sharpness.md"]
    assert res.vectors == {} and "eigenvectors" not in res.doc
    with pytest.raises(KeyError, match="eigenvectors=True"):
        res.eigenvectors(0)
    for label in res:  # the same products and values: nothing extra is computed with the option either
        assert res[label]["hvps"] == res_with[label]["hvps"]
        assert res.value("hessian_top_eigenvalues", label) == res_with.value("hessian_top_eigenvalues", label)
    # Asked for later on the same folder: the metric is recomputed (the vectors were not kept) and the files appear.
    again = landscape.sharpness(net, states, data, metrics="hessian_top_eigenvalues", top_k=K, lanczos_tol=1e-10,
                                eigenvectors=True, out=tmp_path, settings=landscape.Settings(**EVAL))
    assert again.computed == 2 and (tmp_path / FILE).is_file() and (tmp_path / directions_file(1)).is_file()
    torch.testing.assert_close(again.eigenvectors(1).vectors, res_with.eigenvectors(1).vectors)


def test_refused_and_saved_from_memory(problem, tmp_path):
    net, states, data = problem
    with pytest.raises(ValueError, match="`eigenvectors` keeps the eigenvectors of the metric hessian_top_eigenvalues"):
        landscape.sharpness(net, states, data, metrics="hessian_trace", eigenvectors=True,
                            settings=landscape.Settings(**EVAL))
    with pytest.raises(ValueError, match="`eigenvectors` must be True or False"):
        landscape.sharpness(net, states, data, metrics="hessian_top_eigenvalues", eigenvectors="yes",
                            settings=landscape.Settings(**EVAL))
    res = landscape.sharpness(net, states[:1], data, metrics="hessian_top_eigenvalues", top_k=1, eigenvectors=True,
                              settings=landscape.Settings(**EVAL))
    with pytest.raises(ValueError, match="two different eigenvector indices in 0..0"):
        res.eigenvectors(0).directions(0, 1)
    with pytest.raises(KeyError, match="no point 3"):
        res.eigenvectors(3)
    res.save(tmp_path)  # computed in memory, then saved: k = 1 is no plane, so no directions file
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [FILE, "sharpness.json",
                                                                                        "sharpness.md"]
    assert json.loads((tmp_path / "sharpness.json").read_text())["eigenvectors"] == {"file": FILE, "directions": {}}


def test_cli_writes_directions_a_plane_loads(tmp_path, capsys):
    from swa.models import ModelSpec, build_model

    model = str(ROOT / "tests" / "tiny_mlp.py") + ":build"
    torch.manual_seed(0)
    ckpt = tmp_path / "m.pt"
    torch.save(build_model(ModelSpec(model), num_outputs=10, input_shape=(1, 8, 8)).state_dict(), ckpt)
    common = ("--model", model, "--data", "digits", "--device", "cpu", "--quiet", "--no-plot")
    code, out, err = cli(capsys, "sharpness", "--points", str(tmp_path / "missing.pt"), "--metrics", "hessian_trace",
                         "--eigenvectors", "--out", str(tmp_path / "s"), *common)  # refused before any work
    assert code == 2 and not out and err.count("\n") == 1
    assert "--eigenvectors keeps the eigenvectors of the metric hessian_top_eigenvalues; add it to --metrics" in err
    code, _, err = cli(capsys, "sharpness", "--points", str(ckpt), "--metrics", "hessian_top_eigenvalues",
                       "--top-k", "2", "--samples", "300", "--eigenvectors", "--out", str(tmp_path / "s"), *common)
    assert code == 0, err
    code, _, err = cli(capsys, "plane", "--around", str(ckpt), "--load-directions",
                       str(tmp_path / "s" / directions_file(0)), "--grid", "3", "--bn", "fixed", "--out", str(tmp_path / "p"), *common)
    assert code == 0, err
    lam = json.loads((tmp_path / "s" / "sharpness.json").read_text())["results"]["m"]["metrics"][
        "hessian_top_eigenvalues"]["value"]
    plane = read_plane(tmp_path / "p" / "plane.npz")  # axes named after the eigenvectors, through the reader
    assert (plane.x_label, plane.y_label) == (f"eigenvector 1 (λ = {lam[0]:.4g}, m, from s)",
                                              f"eigenvector 2 (λ = {lam[1]:.4g}, m, from s)")
    assert plane.sidecar["directions"]["point"] == "m" and plane.sidecar["directions"]["source_kind"] == "hessian"
    # Copied elsewhere, the file still loads; its axes then just name it.
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / directions_file(0)).write_bytes((tmp_path / "s" / directions_file(0)).read_bytes())
    code, _, err = cli(capsys, "plane", "--around", str(ckpt), "--load-directions",
                       str(tmp_path / "elsewhere" / directions_file(0)), "--grid", "3", "--bn", "fixed",
                       "--out", str(tmp_path / "p2"), *common)
    assert code == 0, err
    assert read_plane(tmp_path / "p2" / "plane.npz").x_label == f"direction 1 (from {directions_file(0)})"
