"""Image data sets read from ``--data-root`` in torchvision's layout: MNIST, Fashion-MNIST, CIFAR-10/100, SVHN.

Files are read from ``spec.root``; only ``spec.download`` fetches them, through
the torchvision data set class with ``download=True`` (which verifies md5 sums).
MNIST and Fashion-MNIST are then read with torchvision's own classes, which only
check that the files exist. torchvision's CIFAR and SVHN classes verify md5 sums
on every load, so their on-disk formats are read here instead: CIFAR's pickled
batches, through a restricted unpickler that runs no code (:mod:`swa.data.safe_pickle`) (``data``: ``(N, 3072)`` uint8 in R, G, B planes; ``labels`` or
``fine_labels``) and SVHN's MATLAB files (``X``: ``(32, 32, 3, N)`` uint8; ``y``
with 10 standing for the digit 0).

Images come back as float32 ``(N, C, H, W)``, normalized per channel as
``(pixel / 255 - mean) / std`` with the usual constants, labels as int64.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from swa.data.augment import RandomCropFlip
from swa.data.safe_pickle import load_data_pickle
from swa.data.registry import CLASSIFICATION, DataSpec, TensorData, check_options, register_dataset
from swa.errors import DataError

__all__ = ["normalize_images"]

Reader = Callable[["_ImageSet", Path, bool], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class _ImageSet:
    """What is needed to find, fetch and read one on-disk data set."""

    title: str                      # name in messages
    torchvision_class: str          # class in torchvision.datasets, used for downloads (and reading, for MNIST)
    splits: tuple[dict, dict]       # its constructor arguments for the train and the test split
    holds: str                      # what a --data-root directory holds, for messages
    train_files: tuple[str, ...]    # paths relative to the root
    test_files: tuple[str, ...]
    image_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    padding: int                    # random-crop padding: 4 for 32×32, 2 for 28×28
    flip: bool                      # random horizontal flips: natural images only, not digits
    read: Reader
    label_key: str = ""             # CIFAR: key of the labels in a batch


def normalize_images(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...],
                     chunk: int = 4096) -> torch.Tensor:
    """``(images / 255 - mean[c]) / std[c]`` for uint8 ``images`` of shape ``(N, C, H, W)``, as float32.

    Computed in float64 in chunks of ``chunk`` images and rounded once to float32.
    """
    m = torch.tensor(mean, dtype=torch.float64).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float64).view(1, -1, 1, 1)
    out = torch.empty(images.shape, dtype=torch.float32)
    for start in range(0, images.shape[0], chunk):
        block = images[start:start + chunk].to(torch.float64)
        out[start:start + chunk] = (block / 255.0 - m) / s
    return out


def _one_line(exc: BaseException) -> str:
    return re.sub(r"\s+", " ", f"{type(exc).__name__}: {exc}").strip()


def _read_mnist(s: _ImageSet, root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    import torchvision.datasets

    cls = getattr(torchvision.datasets, s.torchvision_class)
    try:
        ds = cls(str(root), download=False, **s.splits[0 if train else 1])
    except (AssertionError, ValueError, TypeError, RuntimeError, OSError) as exc:
        raise DataError(f"cannot read {s.title} from {root}: {_one_line(exc)}") from None
    return torch.as_tensor(ds.data).unsqueeze(1), torch.as_tensor(ds.targets).long()


def _read_cifar(s: _ImageSet, root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for name in s.train_files if train else s.test_files:
        path = root / name
        try:
            with open(path, "rb") as f:
                batch = load_data_pickle(f, encoding="latin1")
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError) as exc:
            raise DataError(f"cannot read {s.title} batch {path}: {_one_line(exc)}") from None
        if not isinstance(batch, dict):
            raise DataError(f"{s.title} batch {path} must hold a dict, found {type(batch).__name__}")
        batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
        if "data" not in batch or s.label_key not in batch:
            raise DataError(f"{s.title} batch {path} lacks 'data' or {s.label_key!r}; it holds {sorted(batch)}")
        data = np.asarray(batch["data"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != int(np.prod(s.image_shape)):
            raise DataError(f"{s.title} batch {path}: 'data' must be uint8 of shape (N, "
                            f"{int(np.prod(s.image_shape))}), got {data.dtype} {data.shape}")
        batch_labels = np.asarray(batch[s.label_key], dtype=np.int64).reshape(-1)
        if batch_labels.shape[0] != data.shape[0]:
            raise DataError(f"{s.title} batch {path} holds {data.shape[0]} images but {batch_labels.shape[0]} labels")
        images.append(torch.from_numpy(data.reshape(-1, *s.image_shape).copy()))
        labels.append(torch.from_numpy(batch_labels))
    return torch.cat(images), torch.cat(labels)


def _read_svhn(s: _ImageSet, root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    import scipy.io

    (name,) = s.train_files if train else s.test_files
    path = root / name
    try:
        mat = scipy.io.loadmat(path)
    except (OSError, ValueError, TypeError, NotImplementedError) as exc:
        raise DataError(f"cannot read {s.title} file {path}: {_one_line(exc)}") from None
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{s.title} file {path} lacks 'X' or 'y'; it holds {sorted(k for k in mat if k[0] != '_')}")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).astype(np.int64).reshape(-1)
    c, h, w = s.image_shape
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (h, w, c):
        raise DataError(f"{s.title} file {path}: 'X' must be uint8 of shape ({h}, {w}, {c}, N), "
                        f"got {x.dtype} {x.shape}")
    y = np.where(y == 10, 0, y)  # SVHN labels the digit 0 as class 10
    return torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1))), torch.from_numpy(y)


def _cifar_files(folder: str, train: tuple[str, ...], test: tuple[str, ...]) -> dict[str, Any]:
    return {"holds": f"{folder}/", "train_files": tuple(f"{folder}/{n}" for n in train),
            "test_files": tuple(f"{folder}/{n}" for n in test)}


def _mnist_files(folder: str) -> dict[str, Any]:
    raw = f"{folder}/raw"
    return {"holds": f"{raw}/", "train_files": (f"{raw}/train-images-idx3-ubyte", f"{raw}/train-labels-idx1-ubyte"),
            "test_files": (f"{raw}/t10k-images-idx3-ubyte", f"{raw}/t10k-labels-idx1-ubyte")}


_TRAIN_TEST = ({"train": True}, {"train": False})

_MNIST = _ImageSet(
    title="MNIST", torchvision_class="MNIST", splits=_TRAIN_TEST, **_mnist_files("MNIST"),
    image_shape=(1, 28, 28), num_classes=10, mean=(0.1307,), std=(0.3081,), padding=2, flip=False,
    read=_read_mnist)
_FASHION_MNIST = _ImageSet(
    title="Fashion-MNIST", torchvision_class="FashionMNIST", splits=_TRAIN_TEST, **_mnist_files("FashionMNIST"),
    image_shape=(1, 28, 28), num_classes=10, mean=(0.2860,), std=(0.3530,), padding=2, flip=False,
    read=_read_mnist)
_CIFAR10 = _ImageSet(
    title="CIFAR-10", torchvision_class="CIFAR10", splits=_TRAIN_TEST,
    **_cifar_files("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",)),
    image_shape=(3, 32, 32), num_classes=10, mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
    padding=4, flip=True, read=_read_cifar, label_key="labels")
_CIFAR100 = _ImageSet(
    title="CIFAR-100", torchvision_class="CIFAR100", splits=_TRAIN_TEST,
    **_cifar_files("cifar-100-python", ("train",), ("test",)),
    image_shape=(3, 32, 32), num_classes=100, mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
    padding=4, flip=True, read=_read_cifar, label_key="fine_labels")
_SVHN = _ImageSet(
    title="SVHN", torchvision_class="SVHN", splits=({"split": "train"}, {"split": "test"}),
    holds="train_32x32.mat and test_32x32.mat", train_files=("train_32x32.mat",), test_files=("test_32x32.mat",),
    image_shape=(3, 32, 32), num_classes=10, mean=(0.4377, 0.4438, 0.4728), std=(0.1980, 0.2010, 0.1970),
    padding=4, flip=False, read=_read_svhn)


def _root(spec: DataSpec, s: _ImageSet) -> Path:
    if spec.root is None:
        raise DataError(f"{s.title} is read from disk: pass `data_root=DIR` (a directory holding {s.holds}), "
                        f"and `download=True` to fetch it there")
    return Path(spec.root).expanduser()


def _how_to_get(s: _ImageSet, root: Path) -> str:
    return (f"pass `download=True` to fetch {s.title} into {root}, "
            f"or `data_root=DIR` pointing at a directory holding {s.holds}")


def _download(s: _ImageSet, root: Path) -> None:
    import torchvision.datasets

    cls = getattr(torchvision.datasets, s.torchvision_class)
    for split in s.splits:
        try:
            cls(str(root), download=True, **split)
        except (OSError, RuntimeError, ValueError) as exc:
            raise DataError(f"downloading {s.title} into {root} failed: {_one_line(exc)}") from None


def _check_files(s: _ImageSet, root: Path) -> None:
    if not root.is_dir():
        raise DataError(f"{s.title}: data root {root} is not a directory; {_how_to_get(s, root)}")
    missing = [name for name in s.train_files + s.test_files if not (root / name).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{s.title}: {missing[0]}{more} is missing in {root}; {_how_to_get(s, root)}")


def _checked(s: _ImageSet, root: Path, split: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    if images.dtype != torch.uint8 or tuple(images.shape[1:]) != s.image_shape:
        raise DataError(f"{s.title} {split} images in {root} must be uint8 of shape (N, "
                        f"{', '.join(map(str, s.image_shape))}), got {images.dtype} {tuple(images.shape)}")
    if labels.shape != (images.shape[0],):
        raise DataError(f"{s.title} {split} split in {root} has {images.shape[0]} images "
                        f"but labels of shape {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= s.num_classes):
        raise DataError(f"{s.title} {split} labels in {root} must lie in [0, {s.num_classes - 1}], "
                        f"found [{int(labels.min())}, {int(labels.max())}]")


def _load(spec: DataSpec, s: _ImageSet) -> TensorData:
    check_options(spec, set())
    root = _root(spec, s)
    if spec.download:
        _download(s, root)
    _check_files(s, root)
    x_train, y_train = s.read(s, root, True)
    x_test, y_test = s.read(s, root, False)
    _checked(s, root, "train", x_train, y_train)
    _checked(s, root, "test", x_test, y_test)
    augment = RandomCropFlip(s.padding, s.flip) if spec.augment else None
    info = {
        "source": f"{s.title} in torchvision's layout at {root}",
        "normalize": {"mean": list(s.mean), "std": list(s.std)},
        "augment": augment is not None,
        "augmentation": augment.to_json() if augment is not None else None,
    }
    return TensorData(normalize_images(x_train, s.mean, s.std), y_train,
                      normalize_images(x_test, s.mean, s.std), y_test,
                      task=CLASSIFICATION, num_outputs=s.num_classes, augment=augment, info=info)


@register_dataset("mnist")
def mnist(spec: DataSpec) -> TensorData:
    """MNIST handwritten digits (LeCun et al., 1998): 60,000/10,000 grey 28×28 images, 10 classes.

    Augmentation: random crop with padding 2, no flips.
    """
    return _load(spec, _MNIST)


@register_dataset("fashionmnist")
def fashionmnist(spec: DataSpec) -> TensorData:
    """Fashion-MNIST (Xiao et al., 2017): 60,000/10,000 grey 28×28 images of clothes, 10 classes.

    Augmentation: random crop with padding 2, no flips.
    """
    return _load(spec, _FASHION_MNIST)


@register_dataset("cifar10")
def cifar10(spec: DataSpec) -> TensorData:
    """CIFAR-10 (Krizhevsky, 2009): 50,000/10,000 colour 32×32 images, 10 classes.

    Augmentation: random crop with padding 4 and random horizontal flips.
    """
    return _load(spec, _CIFAR10)


@register_dataset("cifar100")
def cifar100(spec: DataSpec) -> TensorData:
    """CIFAR-100 (Krizhevsky, 2009): 50,000/10,000 colour 32×32 images, 100 fine classes.

    Augmentation: random crop with padding 4 and random horizontal flips.
    """
    return _load(spec, _CIFAR100)


@register_dataset("svhn")
def svhn(spec: DataSpec) -> TensorData:
    """SVHN house numbers (Netzer et al., 2011), cropped digits: 73,257/26,032 colour 32×32 images, 10 classes.

    The ``extra`` split is not used. Augmentation: random crop with padding 4, no flips (digits).
    """
    return _load(spec, _SVHN)
