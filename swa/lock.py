"""One writer per output directory: an exclusive ``fcntl.flock`` on ``DIR/.swa-landscape.lock``.

The lock is held by an open file, so the kernel releases it when the process exits
for any reason (SIGKILL included): a lock file left behind by a killed process
blocks nobody. The file holds the holder's PID, which a refused writer reports.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from swa.errors import UserError

__all__ = ["LOCK_NAME", "output_lock", "BusyError"]

LOCK_NAME = ".swa-landscape.lock"


class BusyError(UserError):
    """Another process is writing into the same output directory."""


@contextlib.contextmanager
def output_lock(directory: str | os.PathLike) -> Iterator[Path]:
    """Hold the exclusive lock of ``directory`` (created if missing) for the duration of the block.

    A directory created here that holds nothing but the lock file at the end (the command
    failed before writing) is removed again.

    Raises:
        BusyError: another process holds it (the message names its PID).
    """
    import fcntl

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"--out {directory} is a file; give a directory")
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise BusyError(f"{directory} is being written by another process (PID {holder}); wait for it to finish "
                            "or use another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
        if created and [p.name for p in directory.iterdir()] == [LOCK_NAME]:
            path.unlink()
            directory.rmdir()
