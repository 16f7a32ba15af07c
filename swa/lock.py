"""One writer per output directory: an exclusive ``fcntl.flock`` on ``DIR/.swa-landscape.lock``.

The lock is held by an open file, so the kernel releases it when the process exits
for any reason (SIGKILL included): a lock file left behind by a killed process
blocks nobody. The file holds the holder's PID, which a refused writer reports.

Holding the lock means no other writer of ours is active in the directory, so taking it removes the
temporary files a killed writer left there (:func:`swa.io.remove_orphans`), and leaving it removes the
lock file (see :func:`output_lock` for why that is safe).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from swa.errors import UserError
from swa.io import remove_orphans

__all__ = ["LOCK_NAME", "output_lock", "BusyError"]

LOCK_NAME = ".swa-landscape.lock"


class BusyError(UserError):
    """Another process is writing into the same output directory."""


@contextlib.contextmanager
def output_lock(directory: str | os.PathLike) -> Iterator[Path]:
    """Hold the exclusive lock of ``directory`` (created if missing) for the duration of the block.

    On entry, orphaned temporary files of :func:`swa.io.atomic_path` in ``directory`` are removed. On
    exit the lock file is removed, and a directory created here that is then empty (the command failed
    before writing) is removed again.

    Raises:
        BusyError: another process holds it (the message names its PID).
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"`out={str(directory)!r}` is a file; give a directory")
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    fd = _acquire(path, directory)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        remove_orphans(directory)
        yield path
    finally:
        # Unlink while still holding the lock, and only the file we locked. A writer that opened the
        # path before the unlink waits on (or is refused by) our lock on that inode; once it gets it,
        # _acquire sees that the path no longer names that inode and starts over on a fresh file. So two
        # writers never both hold "the" lock. If someone replaced the path meanwhile (by hand), the inode
        # differs and their file stays.
        try:
            if _same_file(fd, path):
                path.unlink()
        except OSError:
            pass
        os.close(fd)  # releases the lock
        if created:
            try:
                directory.rmdir()  # only if empty: the command failed before writing anything
            except OSError:
                pass


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _acquire(path: Path, directory: Path) -> int:
    """Open ``path`` and hold its exclusive lock; return the descriptor.

    Retries when the file it locked was unlinked by the previous holder in the meantime (a lock on a
    file nobody else can open any more would exclude nobody).
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise BusyError(f"{directory} is being written by another process (PID {holder}); wait for it to finish "
                            "or use another `out`") from None
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, path):
            return fd
        os.close(fd)
