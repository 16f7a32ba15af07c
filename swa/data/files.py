"""User data in a ``.pt`` or ``.npz`` file with ``x``, ``y`` and optionally ``x_test``, ``y_test``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from swa.data.registry import CLASSIFICATION, REGRESSION, DataSpec, TensorData
from swa.errors import DataError

__all__ = ["load_tensor_file"]


def _read(path: Path) -> dict:
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: np.array(f[k]) for k in f.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise DataError(f"cannot read {path} as .npz: {' '.join(str(exc).split()) or type(exc).__name__}") from None
        for k, a in arrays.items():
            if a.dtype.kind not in "biuf":
                raise DataError(f"{path}: {k!r} holds {a.dtype.name} values; data must be numbers (class labels as "
                                "integers 0..C-1)")
        return {k: torch.from_numpy(a) for k, a in arrays.items()}
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise DataError(f"cannot read {path} as a PyTorch file: {type(exc).__name__}: {exc}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path} must hold a dict with 'x' and 'y', found {type(obj).__name__}")
    out = {}
    for k, v in obj.items():
        try:
            out[k] = torch.as_tensor(v)
        except (TypeError, ValueError, RuntimeError):
            raise DataError(f"{path}: {k!r} is not numeric; data must be numbers (class labels as integers 0..C-1)") \
                from None
    return out


def _check_finite(path: Path, arrays: dict[str, torch.Tensor]) -> None:
    """NaN or ±inf in the inputs or targets would turn every loss into NaN: refuse, naming where."""
    for name, t in arrays.items():
        bad = int((~torch.isfinite(t.float())).sum())
        if bad:
            raise DataError(f"{path}: {name!r} holds {bad} non-finite value{'s' * (bad > 1)} (NaN or inf) of {t.numel()}")


def _check_shapes(path: Path, arrays: dict[str, torch.Tensor]) -> None:
    """One sample per row: x and y have a sample axis of the same length, and there are enough samples."""
    for xk, yk in (("x", "y"), ("x_test", "y_test")):
        if xk not in arrays:
            continue
        x, y = arrays[xk], arrays[yk]
        if x.dim() < 1 or y.dim() < 1:
            raise DataError(f"{path}: {xk!r} and {yk!r} need a sample axis, got shapes {tuple(x.shape)} and "
                            f"{tuple(y.shape)}")
        if x.shape[0] != y.shape[0]:
            raise DataError(f"{path}: {xk!r} has {x.shape[0]} samples but {yk!r} has {y.shape[0]}")
    # Two training samples at least (a batch of one cannot train BatchNorm) and one test sample;
    # without x_test the test samples are held out of x.
    need = {"x": 2, "x_test": 1} if "x_test" in arrays else {"x": 3}
    for key, least in need.items():
        if arrays[key].shape[0] < least:
            raise DataError(f"{path}: {key!r} holds {arrays[key].shape[0]} samples; at least {least} are needed")


def load_tensor_file(spec: DataSpec) -> TensorData:
    """Read ``x``, ``y`` (and ``x_test``, ``y_test``) from ``spec.name``.

    Integer ``y`` means classification with ``max(y) + 1`` classes; floating
    ``y`` means regression. Without a test split, a fraction ``test_fraction``
    (data option, default 0.2) is held out at random with the data seed.
    Inputs are used as they are (no normalization).
    """
    path = Path(spec.name)
    if not path.is_file():
        raise DataError(f"data file {spec.name!r} does not exist")
    arrays = _read(path)
    missing = {"x", "y"} - set(arrays)
    if missing:
        raise DataError(f"{path} lacks {sorted(missing)}; it holds {sorted(arrays)}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{path} must hold both 'x_test' and 'y_test' or neither")
    _check_shapes(path, arrays)
    x, y = arrays["x"], arrays["y"]
    if "x_test" in arrays:
        x_te, y_te = arrays["x_test"], arrays["y_test"]
    else:
        frac = float(spec.kwargs.get("test_fraction", 0.2))
        if not 0 < frac < 1:
            raise DataError(f"data option 'test_fraction' must be in (0, 1), got {frac}")
        gen = torch.Generator().manual_seed(spec.seed)
        perm = torch.randperm(x.shape[0], generator=gen)
        n_test = max(1, int(round(frac * x.shape[0])))
        x, y, x_te, y_te = x[perm[n_test:]], y[perm[n_test:]], x[perm[:n_test]], y[perm[:n_test]]
    if y.dtype.is_floating_point != y_te.dtype.is_floating_point:
        raise DataError(f"{path}: 'y' and 'y_test' must both be integer or both floating")
    x, x_te = x.float(), x_te.float()
    _check_finite(path, {"x": x, "x_test": x_te, **({"y": y, "y_test": y_te} if y.dtype.is_floating_point else {})})
    if y.dtype.is_floating_point:
        y = y.float().reshape(y.shape[0], -1)
        y_te = y_te.float().reshape(y_te.shape[0], -1)
        return TensorData(x, y, x_te, y_te, task=REGRESSION, num_outputs=y.shape[1], info={"source": str(path)})
    if y.dim() != 1 or y_te.dim() != 1:
        raise DataError(f"{path}: integer labels must be one-dimensional, got shape {tuple(y.shape)}")
    y, y_te = y.long(), y_te.long()
    if min(int(y.min()), int(y_te.min())) < 0:
        raise DataError(f"{path}: class labels must be >= 0")
    num_classes = int(max(int(y.max()), int(y_te.max()))) + 1
    return TensorData(x, y, x_te, y_te, task=CLASSIFICATION, num_outputs=num_classes, info={"source": str(path)})
