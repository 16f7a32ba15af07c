"""User data in a ``.pt`` or ``.npz`` file with ``x``, ``y`` and optionally ``x_test``, ``y_test``."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

from swa.data.registry import CLASSIFICATION, REGRESSION, DataSpec, TensorData, check_options, register_file_format
from swa.errors import DataError

__all__ = ["load_tensor_file", "FILE_OPTIONS"]

#: Data options (``--data-kwargs``) of a ``.pt``/``.npz`` file.
FILE_OPTIONS = {"test_fraction", "layout", "scale", "targets"}

# Carve-out notes already printed in this process: a command may load the same file more than once.
_NOTED: set = set()


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


def _is_channel_last(x: torch.Tensor) -> bool:
    """A 4-D image array stored as (N, H, W, C): last dim 1, 3 or 4 and dim 1 not."""
    return x.dim() == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4)


def _fix_layout(path: Path, spec: DataSpec, arrays: dict[str, torch.Tensor]) -> None:
    """Refuse channel-last images unless ``layout: "nhwc"`` says to move the channels to dim 1."""
    layout = spec.kwargs.get("layout", "nchw")
    if layout not in ("nchw", "nhwc"):
        raise DataError(f"data option 'layout' must be \"nchw\" or \"nhwc\", got {layout!r}")
    for key in ("x", "x_test"):
        if key not in arrays:
            continue
        x = arrays[key]
        if layout == "nhwc":
            if x.dim() != 4:
                raise DataError(f"{path}: data option 'layout': \"nhwc\" needs 4-D images in {key!r}, got shape "
                                f"{tuple(x.shape)}")
            arrays[key] = x.permute(0, 3, 1, 2).contiguous()
        elif _is_channel_last(x):
            raise DataError(f"{path}: {key!r} has shape {tuple(x.shape)}, channel-last (N, H, W, C) images; models "
                            f"take (N, C, H, W): pass `data_kwargs={{'layout': 'nhwc'}}` to convert, or store "
                            f"x.transpose(0, 3, 1, 2)")


def _fix_scale(path: Path, spec: DataSpec, arrays: dict[str, torch.Tensor]) -> None:
    """Refuse integer images (raw 0..255 bytes) unless ``scale`` says what to divide them by."""
    scale = spec.kwargs.get("scale")
    if scale is not None:
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not float(scale) > 0 \
                or scale == float("inf"):
            raise DataError(f"data option 'scale' must be a positive number (inputs are divided by it), got {scale!r}")
    for key in ("x", "x_test"):
        if key not in arrays:
            continue
        x = arrays[key]
        if scale is not None:
            arrays[key] = x.double().div(float(scale)).float() if not x.dtype.is_floating_point else x / float(scale)
            continue
        integer = not x.dtype.is_floating_point and x.dtype != torch.bool
        if integer and (x.dtype == torch.uint8 or x.dim() >= 3) and x.numel():
            raise DataError(f"{path}: {key!r} holds {str(x.dtype).replace('torch.', '')} values "
                            f"{int(x.min())}..{int(x.max())}, which would be used as they are: pass "
                            f"`data_kwargs={{'scale': 255}}` to divide them by 255 (or `data_kwargs={{'scale': 1}}` "
                            "to keep them)")


def _is_one_hot(y: torch.Tensor) -> bool:
    if y.dim() != 2 or y.shape[1] < 2 or y.shape[0] == 0:
        return False
    ones, zeros = y == 1, y == 0
    return bool((ones | zeros).all()) and bool((ones.sum(dim=1) == 1).all())


def _fix_targets(path: Path, spec: DataSpec, arrays: dict[str, torch.Tensor]) -> None:
    """One-hot ``y`` would silently be C-output regression: refuse, or convert it with ``targets: "onehot"``."""
    targets = spec.kwargs.get("targets")
    if targets not in (None, "onehot", "regression"):
        raise DataError(f"data option 'targets' must be \"onehot\" (one-hot rows to class indices) or "
                        f"\"regression\" (float targets as they are), got {targets!r}")
    for key in ("y", "y_test"):
        if key not in arrays:
            continue
        y = arrays[key]
        if targets == "onehot":
            if not _is_one_hot(y):
                raise DataError(f"{path}: data option 'targets': \"onehot\" needs {key!r} of shape (N, C) with one 1 "
                                f"and zeros in every row, got shape {tuple(y.shape)}")
            arrays[key] = y.argmax(dim=1)
        elif targets is None and y.dtype.is_floating_point and _is_one_hot(y):
            raise DataError(f"{path}: {key!r} is one-hot, shape {tuple(y.shape)}, and float y means regression: store "
                            f"class indices (integers 0..C-1) or pass `data_kwargs={{'targets': 'onehot'}}` to "
                            f"convert (or `data_kwargs={{'targets': 'regression'}}` to keep it)")


def _note_carve_out(path: Path, spec: DataSpec, carved) -> None:
    """Say once per process (a command may load the file twice) that the test set was held out of ``x``."""
    if carved is None:
        return
    frac, n_train, n_test = carved
    key = (str(path.resolve()), path.stat().st_mtime_ns, spec.seed, frac)
    if key in _NOTED:
        return
    _NOTED.add(key)
    print(f"note: {path} has no x_test/y_test: holding out {n_test} of {n_train + n_test} samples as the test set "
          f"({n_train} train / {n_test} test, test_fraction {frac:g}, data seed {spec.seed})", file=sys.stderr,
          flush=True)


def load_tensor_file(spec: DataSpec) -> TensorData:
    """Read ``x``, ``y`` (and ``x_test``, ``y_test``) from ``spec.name``.

    Integer ``y`` means classification with ``max(y) + 1`` classes; floating
    ``y`` means regression. Without a test split, a fraction ``test_fraction``
    (data option, default 0.2) is held out at random with the data seed (a note on
    stderr says so, once per process). Inputs are used as they are (no normalization).

    Data options: ``layout`` (``"nhwc"`` moves channel-last images to (N, C, H, W);
    channel-last images are refused without it), ``scale`` (inputs are divided by it;
    integer images are refused without it), ``targets`` (``"onehot"``: one-hot rows
    become class indices; ``"regression"``: keep float targets; one-hot float ``y`` is
    refused without it).
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
    check_options(spec, FILE_OPTIONS)
    _check_shapes(path, arrays)
    _fix_layout(path, spec, arrays)
    _fix_scale(path, spec, arrays)
    _fix_targets(path, spec, arrays)
    x, y = arrays["x"], arrays["y"]
    carved = None
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
        carved = (frac, x.shape[0], n_test)
    if y.dtype.is_floating_point != y_te.dtype.is_floating_point:
        raise DataError(f"{path}: 'y' and 'y_test' must both be integer or both floating")
    x, x_te = x.float(), x_te.float()
    _check_finite(path, {"x": x, "x_test": x_te, **({"y": y, "y_test": y_te} if y.dtype.is_floating_point else {})})
    if y.dtype.is_floating_point:
        y = y.float().reshape(y.shape[0], -1)
        y_te = y_te.float().reshape(y_te.shape[0], -1)
        data = TensorData(x, y, x_te, y_te, task=REGRESSION, num_outputs=y.shape[1], info={"source": str(path)})
        _note_carve_out(path, spec, carved)
        return data
    if y.dim() != 1 or y_te.dim() != 1:
        raise DataError(f"{path}: integer labels must be one-dimensional, got shape {tuple(y.shape)}")
    y, y_te = y.long(), y_te.long()
    if min(int(y.min()), int(y_te.min())) < 0:
        raise DataError(f"{path}: class labels must be >= 0")
    num_classes = int(max(int(y.max()), int(y_te.max()))) + 1
    data = TensorData(x, y, x_te, y_te, task=CLASSIFICATION, num_outputs=num_classes, info={"source": str(path)})
    _note_carve_out(path, spec, carved)
    return data


for _suffix in (".pt", ".npz"):
    register_file_format(_suffix, load_tensor_file)
