"""The quick mode: ``samples=`` / ``--samples`` evaluates on a fixed random subset drawn from the seed (issue 20).

Against independent references: the subset rule written out (randperm of the seed, first N, sorted), the
values against a slow loop (one train-mode batch for BatchNorm, then plain eval-mode sums) over exactly
that subset, and resumption against the store's refusal of other inputs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import landscape
from landscape.engine.data import as_eval_data
from landscape.results.store import StaleResultsError
from support import cli, one_batch_bn_reference, small_bn_problem


def _rows(n_total: int, n: int, seed: int) -> torch.Tensor:
    """The documented rule, written out: the first n of randperm(n_total) under manual_seed(seed), sorted."""
    g = torch.Generator()
    g.manual_seed(seed)
    return torch.sort(torch.randperm(n_total, generator=g)[:n]).values


def _cat(source) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*list(source))
    return torch.cat(xs), torch.cat(ys)


def test_tensor_subset_is_the_seeds_rows_and_differs_between_seeds():
    _, _, data = small_bn_problem()
    (x, y), (xt, yt) = data["train"], data["test"]
    a = as_eval_data(data).sampled(50, seed=3)
    again = as_eval_data(data).sampled(50, seed=3)
    other = as_eval_data(data).sampled(50, seed=4)
    rows, test_rows = _rows(120, 50, 3), _rows(60, 50, 3)
    assert torch.equal(a.train.x, x[rows]) and torch.equal(a.train.y, y[rows])
    assert torch.equal(a.test.x, xt[test_rows]) and torch.equal(a.test.y, yt[test_rows])
    assert torch.equal(again.train.x, a.train.x) and torch.equal(again.test.x, a.test.x)
    assert not torch.equal(other.train.x, a.train.x)
    assert a.sample == {"samples": 50, "seed": 3, "train": [50, 120], "test": [50, 60]}
    assert a.sample_line() == "samples: a fixed random subset of 50 of 120 training and 50 of 60 test samples (seed 3)"
    # min(N, test size): a subset larger than the test split keeps all of it
    big = as_eval_data(data).sampled(100, seed=0)
    assert len(big.train) == 100 and torch.equal(big.test.x, xt) and big.sample["test"] == [60, 60]
    assert as_eval_data(data).sampled(None, 0).sample is None


def test_loader_and_list_subsets_are_the_tensor_subset():
    """A shuffled DataLoader over TensorDataset(x, y) gives the tensors' subset, at every call; a list of batches
    gives the samples at the drawn positions of one pass."""
    _, _, data = small_bn_problem()
    x, y = data["train"]
    rows = _rows(120, 40, 7)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    for _ in range(2):
        sub = as_eval_data(loader).sampled(40, seed=7)
        xs, ys = _cat(sub.train.source)
        assert torch.equal(xs, x[rows]) and torch.equal(ys, y[rows])
    batches = [(x[i:i + 25], y[i:i + 25]) for i in range(0, 120, 25)]
    xs, ys = _cat(as_eval_data(batches).sampled(40, seed=7).train.source)
    assert torch.equal(xs, x[rows]) and torch.equal(ys, y[rows])
    dicts = [{"x": x[i:i + 25], "y": y[i:i + 25]} for i in range(0, 120, 25)]
    cut = as_eval_data(dicts).sampled(40, seed=7).train.source
    assert torch.equal(torch.cat([b["x"] for b in cut]), x[rows])
    assert as_eval_data(loader).sampled(500, seed=7).train.source is loader  # not smaller: all of it


def test_batches_that_cannot_be_cut_are_refused():
    ragged = [(torch.zeros(4, 2), torch.zeros(3))]
    with pytest.raises(ValueError, match="along dim 0"):
        as_eval_data(ragged).sampled(2, seed=0)
    with pytest.raises(ValueError, match="positive"):
        as_eval_data((torch.zeros(4, 2), torch.zeros(4))).sampled(0, seed=0)


def _slow_line(net, states, t, x, y, xt, yt):
    """Loss/accuracy along the line by a plain loop: params interpolated, BN statistics of one train-mode batch of
    x (the subset), then eval-mode cross-entropy over x and xt."""
    names = {n for n, _ in net.named_parameters()}
    rows = []
    for ti in t:
        state = {k: (states[0][k] + ti * (states[1][k] - states[0][k])) if k in names else states[0][k]
                 for k in states[0]}
        net.load_state_dict(state)
        ref = one_batch_bn_reference(net, x).eval()
        with torch.no_grad():
            out, out_t = ref(x).double(), ref(xt).double()
        rows.append([F.cross_entropy(out, y).item(), (out.argmax(1) == y).double().mean().item(),
                     F.cross_entropy(out_t, yt).item(), (out_t.argmax(1) == yt).double().mean().item()])
    return np.array(rows)


@pytest.mark.parametrize("form", ["tensors", "loader"])
def test_values_equal_a_slow_loop_over_exactly_that_subset(form, tmp_path):
    net, states, data = small_bn_problem()
    (x, y), (xt, yt) = data["train"], data["test"]
    if form == "loader":
        data = {"train": DataLoader(TensorDataset(x, y), batch_size=200, shuffle=True),
                "test": DataLoader(TensorDataset(xt, yt), batch_size=200)}
    lines = []
    t = [0.0, 0.5, 1.0]
    res = landscape.interpolate(net, states[0], states[1], data, t=t,
                                settings=landscape.Settings(samples=48, seed=5, device="cpu", progress=False,
                                                            self_check=False, log=lines.append),
                                out=tmp_path)
    r, rt = _rows(120, 48, 5), _rows(60, 48, 5)
    ref = _slow_line(net, states, t, x[r], y[r], xt[rt], yt[rt])
    got = np.stack([res["train_loss"], res["train_acc"], res["test_loss"], res["test_acc"]], axis=1)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    full = _slow_line(net, states, t, x, y, xt, yt)
    assert np.abs(got[:, 0] - full[:, 0]).max() > 1e-4  # a subset, not all of the data
    assert "samples: a fixed random subset of 48 of 120 training and 48 of 60 test samples (seed 5)" in lines
    side = json.loads((tmp_path / "interp.json").read_text())
    assert side["inputs"]["sample"] == {"samples": 48, "seed": 5, "train": [48, 120], "test": [48, 60]}


def test_resume_needs_the_same_subset(tmp_path):
    net, states, data = small_bn_problem()
    kw_eval = dict(device="cpu", progress=False, self_check=False)
    kw = dict(t=[0.0, 1.0], out=tmp_path)
    first = landscape.interpolate(net, states[0], states[1], data, settings=landscape.Settings(**kw_eval, samples=30),
                                  **kw)
    lines = []
    again = landscape.interpolate(net, states[0], states[1], data,
                                  settings=landscape.Settings(**kw_eval, samples=30, log=lines.append), **kw)
    assert any(line.startswith("resuming") and "2 of 2 points already done" in line for line in lines)
    np.testing.assert_array_equal(again["train_loss"], first["train_loss"])
    for other in (dict(samples=31), dict(samples=None), dict(samples=30, seed=1)):
        with pytest.raises(StaleResultsError):
            landscape.interpolate(net, states[0], states[1], data, settings=landscape.Settings(**{**kw_eval, **other}),
                                  **kw)
    with pytest.raises(ValueError, match="samples"):
        landscape.plane(net, states, data, grid=2, settings=landscape.Settings(samples=0))


def _cli_files(tmp_path):
    from swa.models import ModelSpec, build_model

    _, _, data = small_bn_problem()
    (x, y), (xt, yt) = data["train"], data["test"]
    np.savez(tmp_path / "data.npz", x=x.numpy(), y=y.numpy(), x_test=xt.numpy(), y_test=yt.numpy())
    paths = []
    for i in range(3):
        torch.manual_seed(i)
        model = build_model(ModelSpec("mlp"), num_outputs=3, input_shape=(4,))
        torch.save(model.state_dict(), tmp_path / f"s{i}.pt")
        paths.append(str(tmp_path / f"s{i}.pt"))
    return str(tmp_path / "data.npz"), paths


def test_cli_samples_is_the_apis_subset(capsys, tmp_path):
    data, (a, b, _) = _cli_files(tmp_path)
    common = ["--model", "mlp", "--data", data, "--from", a, "--to", b, "--t", "0:1:3", "--device", "cpu",
              "--quiet", "--no-plot", "--no-self-check", "--seed", "2"]
    code, out, err = cli(capsys, "interp", *common, "--samples", "40", "--out", str(tmp_path / "q"))
    assert code == 0, err
    assert "samples: a fixed random subset of 40 of 120 training and 40 of 60 test samples (seed 2)" in out
    side = json.loads((tmp_path / "q" / "interp.json").read_text())
    assert side["inputs"]["sample"] == {"samples": 40, "seed": 2, "train": [40, 120], "test": [40, 60]}
    from swa.models import ModelSpec, build_model

    model = build_model(ModelSpec("mlp"), num_outputs=3, input_shape=(4,))
    with np.load(data) as f:
        tensors = {"train": (torch.from_numpy(f["x"]), torch.from_numpy(f["y"])),
                   "test": (torch.from_numpy(f["x_test"]), torch.from_numpy(f["y_test"]))}
    api = landscape.interpolate(model, torch.load(a), torch.load(b), tensors, t=[0, 0.5, 1],
                                settings=landscape.Settings(samples=40, seed=2, device="cpu", progress=False,
                                                            self_check=False, log=lambda _: None))
    with np.load(tmp_path / "q" / "interp.npz") as f:
        np.testing.assert_allclose(f["train_loss"], api["train_loss"], rtol=1e-6)
        np.testing.assert_allclose(f["test_loss"], api["test_loss"], rtol=1e-6)
    code, _, err = cli(capsys, "interp", *common, "--samples", "41", "--out", str(tmp_path / "q"))
    assert code != 0 and len(err.strip().splitlines()) == 1 and "--overwrite" in err
    code, _, err = cli(capsys, "interp", *common, "--samples", "0", "--out", str(tmp_path / "z"))
    assert code == 2 and err.strip().splitlines() == [err.strip()] and "--samples" in err


def test_plane_and_rays_take_samples_too(capsys, tmp_path):
    net, states, data = small_bn_problem()
    kw_eval = dict(samples=30, seed=1, device="cpu", progress=False, self_check=False, log=lambda _: None)
    want = {"samples": 30, "seed": 1, "train": [30, 120], "test": [30, 60]}
    plane = landscape.plane(net, states, data, grid=2, settings=landscape.Settings(**kw_eval))
    rays = landscape.rays(net, [states[0]], data, rays=landscape.Rays(directions=2, steps=3, max_distance=1.0),
                          settings=landscape.Settings(**kw_eval))
    assert plane.sidecar["inputs"]["sample"] == want and rays.sidecar["inputs"]["sample"] == want
    npz, points = _cli_files(tmp_path)
    code, out, err = cli(capsys, "plane", "--model", "mlp", "--data", npz, "--points", *points, "--grid", "2",
                         "--samples", "30", "--seed", "1", "--device", "cpu", "--quiet", "--no-plot",
                         "--no-self-check", "--out", str(tmp_path / "p"))
    assert code == 0, err
    assert "samples: a fixed random subset of 30 of 120 training and 30 of 60 test samples (seed 1)" in out
    assert json.loads((tmp_path / "p" / "plane.json").read_text())["inputs"]["sample"] == want


def test_numpy_integers_and_a_train_only_split():
    x, y = torch.randn(10, 2), torch.arange(10)
    sub = as_eval_data((x, y)).sampled(np.int64(4), seed=0)
    assert json.loads(json.dumps(sub.sample)) == {"samples": 4, "seed": 0, "train": [4, 10]}
    assert sub.sample_line() == "samples: a fixed random subset of 4 of 10 training samples (seed 0)"
    assert torch.equal(sub.train.x, x[_rows(10, 4, 0)])
