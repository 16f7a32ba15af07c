"""Tiny image sets written in the real on-disk formats, for smoke runs and tests (nothing is downloaded).

Writes what :mod:`swa.data.vision` reads from ``--data-root``, in torchvision's layout:

* MNIST / Fashion-MNIST: IDX files ``<Folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
  (magic ``0x00 0x00 0x08 <ndim>``, big-endian uint32 sizes, then the bytes);
* CIFAR-10 / CIFAR-100: pickled batches (``data``: ``(N, 3072)`` uint8, the R, G and B 32×32 planes
  in turn; ``labels`` or ``fine_labels``/``coarse_labels``);
* SVHN: MATLAB files with ``X`` of shape ``(32, 32, 3, N)`` and ``y`` in 1..10 (10 stands for 0).

Pixels are uniform random bytes and labels uniform random classes: the data has the right shape and
format, no signal. :func:`write_set` returns the raw arrays so a test can compare what is read back.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np

__all__ = ["TINY_SETS", "write_set"]

TINY_SETS = ("mnist", "fashionmnist", "cifar10", "cifar100", "svhn")


def _images(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def _write_idx(path: Path, array: np.ndarray) -> None:
    """IDX: magic 0x00 0x00 <type 0x08 = ubyte> <ndim>, then big-endian uint32 sizes, then the bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_mnist(root: Path, folder: str, rng: np.random.Generator, n_train: int, n_test: int):
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    out = []
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = _images(rng, n, (28, 28))
        y = rng.integers(0, 10, size=n).astype(np.uint8)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)
        out += [x[:, None], y.astype(np.int64)]
    return tuple(out)


def _write_cifar(root: Path, cifar100: bool, rng: np.random.Generator, n_train: int, n_test: int):
    folder = root / ("cifar-100-python" if cifar100 else "cifar-10-batches-py")
    folder.mkdir(parents=True, exist_ok=True)
    classes = 100 if cifar100 else 10
    train_names = ["train"] if cifar100 else [f"data_batch_{i}" for i in range(1, 6)]
    out = []
    for names, n in ((train_names, n_train), (["test"] if cifar100 else ["test_batch"], n_test)):
        x = _images(rng, n, (3, 32, 32))
        y = rng.integers(0, classes, size=n)
        for name, xs, ys in zip(names, np.array_split(x, len(names)), np.array_split(y, len(names))):
            data = np.empty((len(xs), 3072), dtype=np.uint8)  # rows: the red, green and blue 32×32 planes in turn
            for i in range(len(xs)):
                for c in range(3):
                    data[i, c * 1024:(c + 1) * 1024] = xs[i, c].reshape(-1)
            batch = {b"batch_label": name.encode(), b"data": data, b"filenames": [b"x.png"] * len(xs)}
            if cifar100:
                batch[b"fine_labels"] = [int(v) for v in ys]
                batch[b"coarse_labels"] = [int(v) // 5 for v in ys]
            else:
                batch[b"labels"] = [int(v) for v in ys]
            with open(folder / name, "wb") as f:
                pickle.dump(batch, f, protocol=2)
        out += [x, y.astype(np.int64)]
    return tuple(out)


def _write_svhn(root: Path, rng: np.random.Generator, n_train: int, n_test: int):
    import scipy.io

    root.mkdir(parents=True, exist_ok=True)
    out = []
    for name, n in (("train_32x32.mat", n_train), ("test_32x32.mat", n_test)):
        x = _images(rng, n, (3, 32, 32))
        digit = rng.integers(0, 10, size=n)
        digit[:2] = 0  # the 10 -> 0 relabelling is always exercised
        big_x = np.ascontiguousarray(x.transpose(2, 3, 1, 0))  # X[h, w, c, n]
        y = np.where(digit == 0, 10, digit).astype(np.uint8).reshape(n, 1)
        scipy.io.savemat(root / name, {"X": big_x, "y": y})
        out += [x, digit.astype(np.int64)]
    return tuple(out)


def write_set(name: str, root: Path, seed: int = 0, n_train: int = 20, n_test: int = 10):
    """Write a tiny ``name`` (one of :data:`TINY_SETS`) into ``root``.

    Returns the raw ``(x_train, y_train, x_test, y_test)``, images as uint8 ``(N, C, H, W)``.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    if name == "mnist":
        return _write_mnist(root, "MNIST", rng, n_train, n_test)
    if name == "fashionmnist":
        return _write_mnist(root, "FashionMNIST", rng, n_train, n_test)
    if name in ("cifar10", "cifar100"):
        return _write_cifar(root, name == "cifar100", rng, n_train, n_test)
    if name == "svhn":
        return _write_svhn(root, rng, n_train, n_test)
    raise ValueError(f"no tiny writer for {name!r}; one of {', '.join(TINY_SETS)}")
