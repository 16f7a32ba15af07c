"""The data registry (swa/data/registry.py), the embedded sets (embedded.py) and user files (files.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from swa.data import CLASSIFICATION, REGRESSION, DataSpec, list_datasets, load_data, parse_data_kwargs
from swa.errors import DataError


def _standardized(t: torch.Tensor, dim=None) -> None:
    t = t.double()
    mean = t.mean() if dim is None else t.mean(dim)
    std = t.std(unbiased=False) if dim is None else t.std(dim, unbiased=False)
    np.testing.assert_allclose(np.asarray(mean), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(std), 1.0, atol=1e-5)


# ---------------------------------------------------------------- registry

def test_list_datasets_and_wildcards():
    names = list_datasets()
    assert {"digits", "toy2d", "friedman1", "friedman3"} <= set(names)
    assert list_datasets("friedman*") == ["friedman1", "friedman3"]


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(DataError, match=r"unknown data set 'nope'; choose one of .*digits.*friedman1.*toy2d"):
        load_data(DataSpec("nope"))


def test_spec_json_round_trip():
    spec = DataSpec("toy2d", root="/data", download=True, augment=True, seed=3, kwargs={"noise": 0.2})
    assert DataSpec.from_json(spec.to_json()) == spec


def test_parse_data_kwargs():
    assert parse_data_kwargs(None) == {} and parse_data_kwargs("") == {}
    assert parse_data_kwargs('{"n_train": 10}') == {"n_train": 10}
    with pytest.raises(DataError, match="`data_kwargs` is not valid JSON"):
        parse_data_kwargs("{n_train: 10}")
    with pytest.raises(DataError, match="`data_kwargs` must be a JSON object"):
        parse_data_kwargs("[1, 2]")


@pytest.mark.parametrize("name,kwargs,match", [
    ("digits", {"bogus": 1}, r"unknown option\(s\) \['bogus'\] for data set 'digits'; allowed: \['test_fraction'\]"),
    ("digits", {"test_fraction": 1.5}, r"'test_fraction' must be in \(0, 1\)"),
    ("toy2d", {"n_train": 1}, r"'n_train' of 'toy2d' must be an integer >= 2, got 1"),
    ("toy2d", {"noise": -1}, r"'noise' of 'toy2d' must be a number >= 0, got -1"),
    ("friedman1", {"n_samples": 5}, r"unknown option\(s\) \['n_samples'\]"),
    ("friedman3", {"n_features": 5}, r"unknown option\(s\) \['n_features'\]"),
])
def test_bad_options(name, kwargs, match):
    with pytest.raises(DataError, match=match):
        load_data(DataSpec(name, kwargs=kwargs))


# ---------------------------------------------------------------- digits

def test_digits_shapes_and_task():
    data = load_data(DataSpec("digits"))
    assert data.x_train.shape == (1347, 1, 8, 8) and data.x_test.shape == (450, 1, 8, 8)
    assert data.y_train.shape == (1347,) and data.y_test.shape == (450,)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.task == CLASSIFICATION and data.num_outputs == 10 and data.augment is None


def test_digits_split_is_stratified():
    data = load_data(DataSpec("digits"))
    y = torch.cat([data.y_train, data.y_test])
    for c in range(10):
        total = int((y == c).sum())
        assert abs(int((data.y_train == c).sum()) - total * 1347 / 1797) <= 1
        assert abs(int((data.y_test == c).sum()) - total * 450 / 1797) <= 1


def test_digits_standardized_on_train():
    data = load_data(DataSpec("digits"))
    _standardized(data.x_train)


def test_digits_split_follows_the_data_seed():
    a, b = load_data(DataSpec("digits", seed=0)), load_data(DataSpec("digits", seed=0))
    c = load_data(DataSpec("digits", seed=1))
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)


# ---------------------------------------------------------------- synthetic regression

def test_toy2d_targets_follow_the_formula():
    data = load_data(DataSpec("toy2d", kwargs={"n_train": 50, "n_test": 30, "noise": 0.0}))
    assert data.x_train.shape == (50, 2) and data.y_train.shape == (50, 1) and data.x_test.shape == (30, 2)
    assert data.task == REGRESSION and data.num_outputs == 1
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        a, b = x[:, 0].double(), x[:, 1].double()
        expected = (2 * torch.cos(torch.pi * a * b) - 0.5 * a + 0.08 * b
                    + torch.sin(torch.pi * a) - torch.sin(torch.pi * b))
        torch.testing.assert_close(y[:, 0].double(), expected, rtol=0, atol=1e-5)
        assert float(x.abs().max()) <= 1.0


def test_toy2d_noise_and_seed():
    clean = load_data(DataSpec("toy2d", kwargs={"n_train": 200, "noise": 0.0}))
    noisy = load_data(DataSpec("toy2d", kwargs={"n_train": 200, "noise": 0.5}))
    assert torch.equal(clean.x_train, noisy.x_train)
    resid = (noisy.y_train - clean.y_train).double()
    assert 0.4 < float(resid.std()) < 0.6
    assert not torch.equal(clean.x_train, load_data(DataSpec("toy2d", seed=1, kwargs={"n_train": 200})).x_train)


@pytest.mark.parametrize("name,features", [("friedman1", 10), ("friedman3", 4)])
def test_friedman_shapes_and_standardization(name, features):
    data = load_data(DataSpec(name, kwargs={"n_train": 300, "n_test": 100}))
    assert data.x_train.shape == (300, features) and data.x_test.shape == (100, features)
    assert data.y_train.shape == (300, 1) and data.y_test.shape == (100, 1)
    assert data.task == REGRESSION and data.num_outputs == 1
    _standardized(data.y_train)
    _standardized(data.x_train, dim=0)


def test_friedman1_n_features():
    data = load_data(DataSpec("friedman1", kwargs={"n_train": 20, "n_test": 10, "n_features": 12}))
    assert data.x_train.shape == (20, 12)


# ---------------------------------------------------------------- user files

def _save(path, arrays):
    if path.suffix == ".npz":
        np.savez(path, **{k: v.numpy() for k, v in arrays.items()})
    else:
        torch.save(arrays, path)


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_file_with_test_split_classification(suffix, tmp_path):
    g = torch.Generator().manual_seed(0)
    arrays = {"x": torch.randn(30, 4, generator=g), "y": torch.randint(0, 5, (30,), generator=g),
              "x_test": torch.randn(12, 4, generator=g), "y_test": torch.tensor([6] + [0] * 11)}
    path = tmp_path / f"d{suffix}"
    _save(path, arrays)
    data = load_data(DataSpec(str(path)))
    assert data.task == CLASSIFICATION and data.num_outputs == 7  # max label (6, in the test split) + 1
    assert torch.equal(data.x_train, arrays["x"]) and torch.equal(data.y_test, arrays["y_test"])
    assert data.y_train.dtype == torch.int64 and data.x_train.dtype == torch.float32


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_file_without_test_split_regression(suffix, tmp_path):
    g = torch.Generator().manual_seed(0)
    arrays = {"x": torch.randn(50, 3, generator=g), "y": torch.randn(50, generator=g)}
    path = tmp_path / f"d{suffix}"
    _save(path, arrays)
    data = load_data(DataSpec(str(path), seed=0))
    assert data.task == REGRESSION and data.num_outputs == 1
    assert data.x_train.shape == (40, 3) and data.x_test.shape == (10, 3) and data.y_train.shape == (40, 1)
    # the held-out rows are a permutation of the file's rows, fixed by the data seed
    rows = torch.cat([data.x_train, data.x_test])
    assert torch.equal(rows[rows[:, 0].argsort()], arrays["x"][arrays["x"][:, 0].argsort()])
    again = load_data(DataSpec(str(path), seed=0))
    other = load_data(DataSpec(str(path), seed=1))
    assert torch.equal(data.x_test, again.x_test) and not torch.equal(data.x_test, other.x_test)


def test_file_integer_labels_without_test_split(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((20, 2), np.float32), y=np.arange(20) % 3)
    data = load_data(DataSpec(str(path)))
    assert data.task == CLASSIFICATION and data.num_outputs == 3 and data.x_test.shape == (4, 2)


def test_file_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_data(DataSpec(str(tmp_path / "missing.pt")))
    path = tmp_path / "no_y.pt"
    torch.save({"x": torch.zeros(4, 2)}, path)
    with pytest.raises(DataError, match=r"lacks \['y'\]; it holds \['x'\]"):
        load_data(DataSpec(str(path)))
    path = tmp_path / "no_y.npz"
    np.savez(path, x=np.zeros((4, 2)))
    with pytest.raises(DataError, match=r"lacks \['y'\]"):
        load_data(DataSpec(str(path)))
    path = tmp_path / "half.pt"
    torch.save({"x": torch.zeros(4, 2), "y": torch.zeros(4), "x_test": torch.zeros(2, 2)}, path)
    with pytest.raises(DataError, match="both 'x_test' and 'y_test' or neither"):
        load_data(DataSpec(str(path)))
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="cannot read .* as a PyTorch file"):
        load_data(DataSpec(str(path)))
