"""On-disk image sets (swa/data/vision.py) and batched augmentation (swa/data/augment.py).

Every test writes tiny files in the real on-disk formats into ``tmp_path``;
nothing is downloaded.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torchvision.datasets

from swa.data import DataSpec, list_datasets, load_data
from swa.data.augment import RandomCropFlip
from swa.data.tiny_files import write_set
from swa.errors import DataError

N_TRAIN, N_TEST = 20, 10

# name -> (image shape, classes, mean, std, crop padding, flips), written out independently of the code under test
CASES = {
    "mnist": ((1, 28, 28), 10, (0.1307,), (0.3081,), 2, False),
    "fashionmnist": ((1, 28, 28), 10, (0.2860,), (0.3530,), 2, False),
    "cifar10": ((3, 32, 32), 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 4, True),
    "cifar100": ((3, 32, 32), 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 4, True),
    "svhn": ((3, 32, 32), 10, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970), 4, False),
}
FIRST_FILE = {
    "mnist": "train-images-idx3-ubyte", "fashionmnist": "train-images-idx3-ubyte",
    "cifar10": "data_batch_1", "cifar100": "cifar-100-python/train", "svhn": "train_32x32.mat",
}


# The writers of the real formats live in swa.data.tiny_files (the reproduction scripts' --smoke
# uses them too); the byte-level checks of what they write are here, independent of the readers.

def test_writers_write_the_real_magic_and_layout(tmp_path):
    write_set("mnist", tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    assert (raw / "train-images-idx3-ubyte").read_bytes()[:4] == b"\x00\x00\x08\x03"  # 2051, the real magic
    assert (raw / "train-labels-idx1-ubyte").read_bytes()[:4] == b"\x00\x00\x08\x01"  # 2049
    x, _, _, _ = write_set("cifar100", tmp_path / "c")
    with open(tmp_path / "c" / "cifar-100-python" / "train", "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    assert batch[b"data"].shape == (N_TRAIN, 3072)
    assert np.array_equal(batch[b"data"][3, 1024:2048], x[3, 1].reshape(-1))  # green plane of image 3
    x, digit, _, _ = write_set("svhn", tmp_path / "s")
    mat = scipy.io.loadmat(tmp_path / "s" / "train_32x32.mat")
    assert mat["X"].shape == (32, 32, 3, N_TRAIN) and np.array_equal(mat["X"][:, :, 2, 5], x[5, 2])
    assert set(mat["y"].ravel()) <= set(range(1, 11)) and 10 in mat["y"] and 0 in digit


def _normalized(x: np.ndarray, mean, std) -> np.ndarray:
    out = np.empty(x.shape, dtype=np.float64)
    for c in range(x.shape[1]):
        out[:, c] = (x[:, c].astype(np.float64) / 255.0 - mean[c]) / std[c]
    return out


# ---------------------------------------------------------------- reading

def test_all_registered():
    assert set(CASES) <= set(list_datasets())


@pytest.mark.parametrize("name", sorted(CASES))
def test_reads_real_format(name, tmp_path):
    shape, classes, mean, std, _, _ = CASES[name]
    x_tr, y_tr, x_te, y_te = write_set(name, tmp_path)
    data = load_data(DataSpec(name, root=str(tmp_path)))
    assert data.x_train.shape == (N_TRAIN, *shape) and data.x_test.shape == (N_TEST, *shape)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.is_classification and data.num_outputs == classes
    assert torch.equal(data.y_train, torch.from_numpy(y_tr)) and torch.equal(data.y_test, torch.from_numpy(y_te))
    np.testing.assert_allclose(data.x_train.double().numpy(), _normalized(x_tr, mean, std), rtol=0, atol=1e-6)
    np.testing.assert_allclose(data.x_test.double().numpy(), _normalized(x_te, mean, std), rtol=0, atol=1e-6)
    assert data.augment is None
    assert data.info["augment"] is False
    assert data.info["normalize"] == {"mean": list(mean), "std": list(std)}
    assert str(tmp_path) in data.info["source"]


def test_svhn_ten_means_zero(tmp_path):
    _, y_tr, _, _ = write_set("svhn", tmp_path)
    stored = scipy.io.loadmat(tmp_path / "train_32x32.mat")["y"].reshape(-1)
    data = load_data(DataSpec("svhn", root=str(tmp_path)))
    assert (stored == 10).any() and not (stored == 0).any()
    assert torch.equal(data.y_train[torch.from_numpy(stored == 10)], torch.zeros(int((stored == 10).sum()),
                                                                                   dtype=torch.int64))
    assert int(data.y_train.max()) <= 9


@pytest.mark.parametrize("name", sorted(CASES))
def test_missing_files_say_how_to_get_them(name, tmp_path):
    with pytest.raises(DataError, match="`download=True`") as err:
        load_data(DataSpec(name, root=str(tmp_path)))
    message = str(err.value)
    assert "\n" not in message and str(tmp_path) in message and FIRST_FILE[name] in message


def test_one_missing_cifar_batch_is_named(tmp_path):
    write_set("cifar10", tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match=r"data_batch_3 is missing .*`download=True`.*cifar-10-batches-py/"):
        load_data(DataSpec("cifar10", root=str(tmp_path)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_root_none_or_absent(name, tmp_path):
    with pytest.raises(DataError, match="`data_root=DIR`"):
        load_data(DataSpec(name))
    absent = tmp_path / "nowhere"
    with pytest.raises(DataError, match=f"{re.escape(str(absent))}.*`download=True`"):
        load_data(DataSpec(name, root=str(absent)))


def test_unknown_option(tmp_path):
    write_set("cifar10", tmp_path)
    with pytest.raises(DataError, match=r"unknown option\(s\) \['n_train'\]"):
        load_data(DataSpec("cifar10", root=str(tmp_path), kwargs={"n_train": 5}))


def test_malformed_files(tmp_path):
    write_set("cifar10", tmp_path / "c")
    path = tmp_path / "c" / "cifar-10-batches-py" / "test_batch"
    with open(path, "rb") as f:
        batch = pickle.load(f)
    del batch[b"labels"]
    with open(path, "wb") as f:
        pickle.dump(batch, f)
    with pytest.raises(DataError, match="lacks 'data' or 'labels'"):
        load_data(DataSpec("cifar10", root=str(tmp_path / "c")))
    path.write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="cannot read CIFAR-10 batch"):
        load_data(DataSpec("cifar10", root=str(tmp_path / "c")))

    write_set("svhn", tmp_path / "s")
    scipy.io.savemat(tmp_path / "s" / "test_32x32.mat", {"X": np.zeros((28, 28, 1, 3), np.uint8),
                                                         "y": np.ones((3, 1), np.uint8)})
    with pytest.raises(DataError, match=r"'X' must be uint8 of shape \(32, 32, 3, N\)"):
        load_data(DataSpec("svhn", root=str(tmp_path / "s")))

    write_set("mnist", tmp_path / "m")
    (tmp_path / "m" / "MNIST" / "raw" / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x00\x00garbage")
    with pytest.raises(DataError, match="cannot read MNIST"):
        load_data(DataSpec("mnist", root=str(tmp_path / "m")))


def test_labels_out_of_range(tmp_path):
    write_set("cifar10", tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    with open(path, "rb") as f:
        batch = pickle.load(f)
    batch[b"labels"][0] = 10
    with open(path, "wb") as f:
        pickle.dump(batch, f)
    with pytest.raises(DataError, match=r"labels .* must lie in \[0, 9\]"):
        load_data(DataSpec("cifar10", root=str(tmp_path)))


# ---------------------------------------------------------------- downloading (the torchvision class is faked)

class _FakeTorchvision:
    """Stands in for a torchvision data set class: records calls and, with download=True, writes tiny files."""

    calls: list = []
    name = ""
    fail = False

    def __init__(self, root, download=False, **split):
        type(self).calls.append((root, download, split))
        if type(self).fail:
            raise RuntimeError("File not found or corrupted.\nretry")
        if download and not any(Path(root).iterdir() if Path(root).is_dir() else ()):
            write_set(type(self).name, Path(root))


@pytest.mark.parametrize("name,cls,splits", [
    ("cifar10", "CIFAR10", [{"train": True}, {"train": False}]),
    ("svhn", "SVHN", [{"split": "train"}, {"split": "test"}]),
])
def test_download_calls_torchvision(name, cls, splits, tmp_path, monkeypatch):
    fake = type("Fake", (_FakeTorchvision,), {"calls": [], "name": name})
    monkeypatch.setattr(torchvision.datasets, cls, fake)
    root = tmp_path / "data"
    data = load_data(DataSpec(name, root=str(root), download=True))
    assert fake.calls == [(str(root), True, s) for s in splits]
    assert data.x_train.shape[0] == N_TRAIN

    fake.calls.clear()
    load_data(DataSpec(name, root=str(root)))
    assert fake.calls == []  # reading CIFAR/SVHN never goes through torchvision (it would check md5 sums)

    fake.fail = True
    expected = f"downloading .* into {re.escape(str(root))} failed: RuntimeError: File not found or corrupted. retry"
    with pytest.raises(DataError, match=expected) as err:
        load_data(DataSpec(name, root=str(root), download=True))
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- augmentation

def _slow_match(out: np.ndarray, img: np.ndarray, p: int):
    """The (row offset, column offset, flipped) whose crop of the zero-padded ``img`` equals ``out``, else None."""
    c, h, w = img.shape
    padded = np.zeros((c, h + 2 * p, w + 2 * p), dtype=img.dtype)
    padded[:, p:p + h, p:p + w] = img
    for i in range(2 * p + 1):
        for j in range(2 * p + 1):
            crop = padded[:, i:i + h, j:j + w]
            for flipped in (False, True):
                candidate = crop[:, :, ::-1] if flipped else crop
                if np.array_equal(candidate, out):
                    return i, j, flipped
    return None


def _check_against_slow(aug: RandomCropFlip, x: torch.Tensor, out: torch.Tensor) -> list:
    matches = [_slow_match(o, xi, aug.padding) for o, xi in zip(out.cpu().numpy(), x.cpu().numpy())]
    assert all(m is not None for m in matches)
    return matches


@pytest.mark.parametrize("name", sorted(CASES))
def test_augment_of_each_set(name, tmp_path):
    shape, _, _, _, padding, flips = CASES[name]
    write_set(name, tmp_path)
    data = load_data(DataSpec(name, root=str(tmp_path), augment=True))
    aug = data.augment
    assert isinstance(aug, RandomCropFlip) and aug.padding == padding and aug.flip == flips
    assert data.info["augment"] is True
    assert data.info["augmentation"] == {"random_crop_padding": padding, "horizontal_flip": flips}

    x = torch.cat([data.x_train, torch.randn(44, *shape, generator=torch.Generator().manual_seed(1))])
    out = aug(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    matches = _check_against_slow(aug, x, out)
    flipped = {m[2] for m in matches}
    assert flipped == ({False, True} if flips else {False})
    offsets = {m[0] for m in matches} | {m[1] for m in matches}
    assert offsets <= set(range(2 * padding + 1)) and len(offsets) > 1


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_augment_device_dtype_and_reproducibility(device, dtype):
    x = torch.randn(32, 3, 12, 10, generator=torch.Generator().manual_seed(0), dtype=dtype).to(device)
    aug = RandomCropFlip(3, flip=True)
    out = aug(x, torch.Generator().manual_seed(7))
    assert out.device == x.device and out.dtype == dtype and out.shape == x.shape
    _check_against_slow(aug, x, out)
    assert torch.equal(out, aug(x, torch.Generator().manual_seed(7)))
    assert not torch.equal(out, aug(x, torch.Generator().manual_seed(8)))
    assert torch.equal(out.cpu(), aug(x.cpu(), torch.Generator().manual_seed(7)))  # same on every device

    gen = torch.Generator().manual_seed(3)
    aug(x, gen)  # advance the stream
    state = gen.get_state()
    first = aug(x, gen)
    gen.set_state(state)
    assert torch.equal(first, aug(x, gen))


def test_augment_without_padding_or_flip_is_identity():
    x = torch.randn(5, 2, 6, 6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(RandomCropFlip(0, flip=False)(x, torch.Generator().manual_seed(0)), x)


def test_augment_rejects_bad_input():
    with pytest.raises(ValueError, match="padding must be an integer >= 0, got -1"):
        RandomCropFlip(-1, flip=True)
    with pytest.raises(ValueError, match="padding must be an integer >= 0, got 2.0"):
        RandomCropFlip(2.0, flip=True)
    with pytest.raises(ValueError, match=r"shape \(B, C, H, W\), got shape \(3, 8, 8\)"):
        RandomCropFlip(2, flip=True)(torch.zeros(3, 8, 8), torch.Generator())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_augment_rejects_cuda_generator():
    with pytest.raises(ValueError, match="CPU generator"):
        RandomCropFlip(2, flip=True)(torch.zeros(2, 1, 8, 8, device="cuda"), torch.Generator(device="cuda"))


class _Payload:
    """Pickles as a call to os.system: what a planted data file would hold."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_planted_cifar_pickle_runs_no_code(tmp_path, capsys):
    """A CIFAR batch that names os.system is refused before anything is called: by the loader, `train` and `plane`."""
    from support import cli

    root = tmp_path / "data"
    write_set("cifar10", root)
    marker = tmp_path / "PWNED"
    with open(root / "cifar-10-batches-py" / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Payload(marker), b"labels": [0]}, f, protocol=2)
    with pytest.raises(DataError, match=r"data_batch_1: UnpicklingError: refusing to load posix\.system"):
        load_data(DataSpec("cifar10", root=str(root)))
    for argv in (["train", "--epochs", "1", "--out", str(tmp_path / "run")],
                 ["plane", "--points", "a.pt", "b.pt", "c.pt", "--model", "preresnet20", "--out", str(tmp_path / "p")]):
        code, _, err = cli(capsys, *argv, "--data", "cifar10", "--data-root", str(root), "--device", "cpu", "--quiet")
        assert code == 2 and "refusing to load posix.system" in err and len(err.strip().splitlines()) == 1, err
    assert not marker.exists()
