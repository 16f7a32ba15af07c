"""Atomic file writes (a temporary file in the same directory, then a rename over the target), and the
marker that tells the files this toolkit wrote from anyone else's.

Figures, pages, reports and exports carry a marker (:data:`CREATOR` in a PNG ``Software`` text chunk,
a PDF/SVG ``Creator``, an HTML ``<meta name="generator">``, a comment opening a report.md or a vtp, an
h5 attribute ``creator``, an mc-npz array ``creator``). :func:`check_replaceable` lets a writer replace
a file only when it is absent, carries the marker of the same kind, or ``--overwrite`` was given.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import torch

from swa.devices import on_cpu
from swa.errors import UserError

__all__ = ["atomic_path", "save_torch", "is_device_error", "write_json", "write_text", "write_jsonl",
           "CREATOR", "FIGURE_METADATA", "HTML_MARKER", "TEXT_MARKER", "our_kind", "check_replaceable", "remove_orphans"]

CREATOR = "swa-landscape"
# ``savefig(metadata=...)`` per static format: where each format keeps its creator.
FIGURE_METADATA = {"png": {"Software": CREATOR}, "pdf": {"Creator": CREATOR}, "svg": {"Creator": CREATOR}}
HTML_MARKER = f'<meta name="generator" content="{CREATOR}">'
TEXT_MARKER = f"<!-- written by {CREATOR} -->"  # opens a report.md; follows the XML declaration of a vtp

# ``atomic_path``'s temporary files: ``.NAME.`` + mkstemp's 8 characters + ``.tmp``.
_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
_SNIFF = 4096
_PDF_TAIL = 65536  # room for a cross-reference table of ~3,000 objects (20 bytes each)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path`` (atomic on POSIX).

    A crash at any point leaves either the old file or the new one, never a torn file. The file gets
    the permissions a plain ``open`` would give it (0666 less the umask), not ``mkstemp``'s 0600.
    """
    path = Path(path)
    tmp_path: Optional[Path] = None
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            tmp_path = Path(tmp)
            yield tmp_path
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, path)
        except OSError as exc:  # name the file the user asked for, not the temporary one or its folder
            message = exc.strerror or str(exc)
            if tmp_path is not None:
                message = message.replace(str(tmp_path), str(path))
            raise OSError(exc.errno, message, str(path)) from exc
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` atomically, with every tensor in ``obj`` saved as a CPU tensor (:func:`swa.devices.on_cpu`),
    so that a machine without a GPU loads the file as it is.

    Raises:
        OSError: a failed write (a full disk), naming ``path``.
        RuntimeError: a device error (a CUDA fault from an earlier asynchronous kernel, raised when the
            tensors are copied off the GPU or while saving), as PyTorch raised it: it is not a disk failure.
    """
    obj = on_cpu(obj)  # copying off the GPU synchronizes: a pending CUDA error surfaces here, as itself
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as exc:  # torch reports write failures as RuntimeError, without the path
            if is_device_error(exc, ignore=str(tmp)):
                raise
            raise OSError(errno.EIO, f"write failed ({str(exc).strip().splitlines()[0][:120]})", str(path)) from exc


# What names a device failure in PyTorch's messages (CUDA runtime, cuBLAS, cuDNN, ROCm), as opposed to a file's.
_DEVICE_ERROR = re.compile(r"CUDA|CUBLAS_STATUS|CUDNN_STATUS|cuDNN error|device-side assert|HIP error|NCCL")


def is_device_error(exc: BaseException, ignore: str = "") -> bool:
    """Whether ``exc`` reports a failure of an accelerator (``torch.AcceleratorError``, or a ``RuntimeError``
    naming CUDA, cuBLAS, cuDNN or HIP) rather than of a file; ``ignore`` (a file name) is not searched."""
    accelerator_error = getattr(torch, "AcceleratorError", None)
    if accelerator_error is not None and isinstance(exc, accelerator_error):
        return True
    text = str(exc).replace(ignore, "") if ignore else str(exc)
    return bool(_DEVICE_ERROR.search(text))


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_text(json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n", path)


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_jsonl(records: list[dict], path: str | os.PathLike) -> None:
    """Write ``records`` as the JSON-lines file ``path``, atomically (a crash never leaves half a line)."""
    write_text("".join(json.dumps(r, allow_nan=True) + "\n" for r in records), path)


def our_kind(path: str | os.PathLike) -> Optional[str]:
    """The kind of output of this toolkit ``path`` is, from the marker inside it: ``"png"``, ``"pdf"``,
    ``"svg"``, ``"html"``, ``"md"``, ``"vtp"``, ``"h5"`` or ``"mc-npz"``; ``None`` for any other file, a
    missing one or a symbolic link.

    Cheap: reads the first 4 KB (and the last 64 KB of a PDF, whose ``Creator`` is near the end); an h5 file's
    attribute is read with ``h5py``.
    """
    path = Path(path)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        with open(path, "rb") as f:
            head = f.read(_SNIFF)
            if head.startswith(b"%PDF"):  # the info dictionary comes last, before the cross-reference table
                f.seek(max(0, os.fstat(f.fileno()).st_size - _PDF_TAIL))
                return "pdf" if f"/Creator ({CREATOR})".encode() in f.read() else None
    except OSError:
        return None
    marker = CREATOR.encode()
    if head.startswith(b"\x89PNG\r\n\x1a\n"):  # text chunks come before the image data
        return "png" if b"tEXtSoftware\x00" + marker in head else None
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "h5" if _h5_creator(path) == CREATOR else None
    if head.startswith(b"PK\x03\x04"):  # np.savez stores uncompressed; ``creator`` is the first member
        return "mc-npz" if b"creator.npy" in head and marker in head else None
    if b"<svg" in head:
        return "svg" if f"<dc:title>{CREATOR}</dc:title>".encode() in head else None
    if b"<VTKFile" in head:
        return "vtp" if TEXT_MARKER.encode() in head else None
    if HTML_MARKER.encode() in head:
        return "html"
    return "md" if head.startswith(TEXT_MARKER.encode()) else None


def _h5_creator(path: Path) -> Optional[str]:
    try:
        import h5py

        with h5py.File(path, "r") as f:
            value = f.attrs.get("creator")
    except Exception:  # noqa: BLE001 - no h5py, or a damaged file: not recognisably ours
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value) if value is not None else None


def check_replaceable(path: str | os.PathLike, kind: str, overwrite: bool = False) -> None:
    """Refuse to write ``path`` over a file this toolkit did not write as ``kind`` (see :func:`our_kind`).

    Allowed: no file there, our own ``kind`` of file there, or ``overwrite``. A symbolic link is never followed: it is refused, or with
    ``overwrite`` replaced by the new file (the rename replaces the link, not its target).

    Raises:
        UserError: a foreign file or a link without ``overwrite``, or a directory at ``path``.
    """
    path = Path(path)
    if path.is_symlink():
        if not overwrite:
            raise UserError(f"{path} is a symbolic link, which swa-landscape does not write through; "
                            "pass `overwrite=True` to replace it (the link, not its target)")
        return
    if not path.exists():
        return
    if path.is_dir():
        raise UserError(f"{path} is a directory; it cannot be replaced by a {kind} file")
    if not overwrite and our_kind(path) != kind:
        raise UserError(f"{path} exists and was not written by swa-landscape as a {kind} file; "
                        "pass `overwrite=True` to replace it")


def remove_orphans(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporary files :func:`atomic_path` left in ``directory`` (a killed writer); return them.

    Only regular files named exactly as ``atomic_path`` names them (``.NAME.XXXXXXXX.tmp``), in
    ``directory`` itself. Call it only while holding the directory's lock (:func:`swa.lock.output_lock`):
    then no other writer of ours is active there, so no such file is in use.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        try:
            if _TEMPORARY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # gone already, or not ours to remove: leave it
            continue
    return removed
