"""Data sets that need no download: scikit-learn's ``digits``, the seed study's ``toy2d``, Friedman #1 and #3."""

from __future__ import annotations

import math

import numpy as np
import torch

from swa.data.registry import CLASSIFICATION, REGRESSION, DataSpec, TensorData, check_options, register_dataset
from swa.errors import DataError

__all__ = ["toy2d_target"]


def _positive_int(spec: DataSpec, key: str, default: int) -> int:
    value = spec.kwargs.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 2:
        raise DataError(f"data option {key!r} of {spec.name!r} must be an integer >= 2, got {value!r}")
    return value


def _nonneg_float(spec: DataSpec, key: str, default: float) -> float:
    value = spec.kwargs.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or not math.isfinite(value):
        raise DataError(f"data option {key!r} of {spec.name!r} must be a number >= 0, got {value!r}")
    return float(value)


def _standardize(train: np.ndarray, test: np.ndarray, axis) -> tuple[np.ndarray, np.ndarray, dict]:
    mean = train.mean(axis=axis, keepdims=True)
    std = train.std(axis=axis, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    stats = {"mean": np.squeeze(mean).tolist(), "std": np.squeeze(std).tolist()}
    return (train - mean) / std, (test - mean) / std, stats


def _regression(x_train, y_train, x_test, y_test, info) -> TensorData:
    f32 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    y_train = np.asarray(y_train).reshape(len(y_train), -1)
    y_test = np.asarray(y_test).reshape(len(y_test), -1)
    return TensorData(f32(x_train), f32(y_train), f32(x_test), f32(y_test),
                      task=REGRESSION, num_outputs=y_train.shape[1], info=info)


@register_dataset("digits")
def digits(spec: DataSpec) -> TensorData:
    """scikit-learn's 1,797 handwritten 8×8 digits, 10 classes, shaped ``(1, 8, 8)``.

    A stratified split (``test_fraction``, default 0.25) fixed by the data seed;
    pixels standardized with the training set's scalar mean and standard deviation.
    """
    check_options(spec, {"test_fraction"})
    frac = _nonneg_float(spec, "test_fraction", 0.25)
    if not 0 < frac < 1:
        raise DataError(f"data option 'test_fraction' must be in (0, 1), got {frac}")
    from sklearn.datasets import load_digits  # scikit-learn imported on use (slow to import)
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = bunch.data.astype(np.float64)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=frac, stratify=y, random_state=spec.seed)
    x_tr, x_te, stats = _standardize(x_tr, x_te, axis=None)
    shape = (-1, 1, 8, 8)
    return TensorData(
        torch.as_tensor(x_tr.reshape(shape), dtype=torch.float32), torch.as_tensor(y_tr),
        torch.as_tensor(x_te.reshape(shape), dtype=torch.float32), torch.as_tensor(y_te),
        task=CLASSIFICATION, num_outputs=10,
        info={"source": "sklearn.datasets.load_digits", "standardize": stats, "test_fraction": frac},
    )


def toy2d_target(x: np.ndarray) -> np.ndarray:
    """f(x, y) = 2cos(πxy) − 0.5x + 0.08y + sin(πx) − sin(πy), the seed study's target."""
    a, b = x[:, 0], x[:, 1]
    return 2 * np.cos(np.pi * a * b) - 0.5 * a + 0.08 * b + np.sin(np.pi * a) - np.sin(np.pi * b)


@register_dataset("toy2d")
def toy2d(spec: DataSpec) -> TensorData:
    """Inputs uniform on [-1, 1]², target :func:`toy2d_target` plus Gaussian noise (``noise``, default 0.1)."""
    check_options(spec, {"n_train", "n_test", "noise"})
    n_train = _positive_int(spec, "n_train", 1000)
    n_test = _positive_int(spec, "n_test", 1000)
    noise = _nonneg_float(spec, "noise", 0.1)
    rng = np.random.default_rng(spec.seed)
    x = rng.uniform(-1.0, 1.0, size=(n_train + n_test, 2))
    y = toy2d_target(x) + noise * rng.standard_normal(n_train + n_test)
    return _regression(x[:n_train], y[:n_train], x[n_train:], y[n_train:],
                       info={"source": "toy2d", "noise": noise})


def _friedman(spec: DataSpec, make, default_noise: float, extra: dict) -> TensorData:
    check_options(spec, {"n_train", "n_test", "noise", *extra})
    n_train = _positive_int(spec, "n_train", 1000)
    n_test = _positive_int(spec, "n_test", 1000)
    noise = _nonneg_float(spec, "noise", default_noise)
    kw = {k: spec.kwargs.get(k, v) for k, v in extra.items()}
    x, y = make(n_samples=n_train + n_test, noise=noise, random_state=spec.seed, **kw)
    x_tr, x_te, x_stats = _standardize(x[:n_train], x[n_train:], axis=0)
    y_tr, y_te, y_stats = _standardize(y[:n_train], y[n_train:], axis=0)
    return _regression(x_tr, y_tr, x_te, y_te, info={
        "source": f"sklearn.datasets.{make.__name__}", "noise": noise, **kw,
        "standardize_x": x_stats, "standardize_y": y_stats})


@register_dataset("friedman1")
def friedman1(spec: DataSpec) -> TensorData:
    """Friedman #1 (scikit-learn), ``n_features`` (default 10) inputs; x and y standardized on the training set."""
    from sklearn.datasets import make_friedman1

    return _friedman(spec, make_friedman1, 1.0, {"n_features": 10})


@register_dataset("friedman3")
def friedman3(spec: DataSpec) -> TensorData:
    """Friedman #3 (scikit-learn), 4 inputs; x and y standardized on the training set."""
    from sklearn.datasets import make_friedman3

    return _friedman(spec, make_friedman3, 0.1, {})
