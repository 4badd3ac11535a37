"""One station per configuration directory: an exclusive `flock` on `.storage/orge.lock`.

Two processes on one config dir would revoke each other's web tokens, dial the CSMS with
the same identity and write into the same database. `orge run` (and `orge once`) hold the
lock for their whole life; the file holds the holder's pid so the refusal can name it.
The kernel drops a `flock` when its process dies, however it dies, so a crash or a power
cut never leaves a stale lock behind; the file itself stays (removing it would race with
a process that has it open).
"""

from __future__ import annotations

import errno
import fcntl
import os

from orge.exceptions import OrgeError
from orge.storage import FILE_MODE, ensure_private_dir, storage_path

LOCK_FILE = "orge.lock"


class AlreadyRunning(OrgeError):
    """Another process holds the lock of this config dir; `pid` is its pid (0 if unknown)."""

    def __init__(self, config_dir: str, pid: int) -> None:
        shown = f"pid {pid}" if pid else "pid unknown"
        super().__init__(f"ORGE is already running on {config_dir} ({shown})")
        self.config_dir = config_dir
        self.pid = pid


def lock_path(config_dir: str) -> str:
    return storage_path(config_dir, LOCK_FILE)


def _read_pid(fd: int) -> int:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0


class InstanceLock:
    """The lock of one config dir, held from `acquire()` until `release()` or exit.

    Raises `AlreadyRunning` when another process holds it and `OSError` when `.storage/`
    cannot be created or the lock file cannot be opened."""

    def __init__(self, config_dir: str) -> None:
        self.config_dir = config_dir
        self.path = lock_path(config_dir)
        self._fd: int | None = None

    def acquire(self) -> None:
        ensure_private_dir(os.path.dirname(self.path))
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            pid = _read_pid(fd)
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise AlreadyRunning(self.config_dir, pid) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def running_pid(config_dir: str) -> int | None:
    """The pid of the process that holds the lock of `config_dir`, or None if none does
    (0 when one does but its pid cannot be read). Takes no lock and creates nothing."""
    try:
        fd = os.open(lock_path(config_dir), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return _read_pid(fd)
            raise
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
