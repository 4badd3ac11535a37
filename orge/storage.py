"""`<config>/.storage/`: a station's own state, readable only by the user ORGE runs as.

What ORGE keeps there holds secrets or leads to them: the web tokens' hashes
(`auth_tokens.json`), id tokens and every OCPP message (`ocpp16.db`, `ocpp201.db`), the
recorder's history, restored states, the last good configuration (with `secrets.yaml`).
Under systemd the unit's `UMask=` keeps them private; run by hand, a usual umask (022)
would leave them readable by every local user. So each is created with its final mode:
the folder 0700, files 0600. SQLite gives its `-wal`, `-shm` and `-journal` files the mode
of their database (unix VFS, `findCreateFileMode`), so creating the database file 0600
before SQLite opens it covers them too.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import tempfile
from typing import Any

_LOGGER = logging.getLogger(__name__)

STORAGE_DIR = ".storage"
DIR_MODE = 0o700
FILE_MODE = 0o600
# The files SQLite keeps beside a database (WAL mode, or a rollback journal).
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def storage_path(config_dir: str, *parts: str) -> str:
    """`<config_dir>/.storage/<parts...>`."""
    return os.path.join(config_dir, STORAGE_DIR, *parts)


def _tighten(path: str, mode: int) -> None:
    """Remove group and other bits from an existing file or folder that ORGE wrote before
    it created them private (or that a copy loosened). Not ours to change: logged only."""
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if current & 0o077:
        try:
            os.chmod(path, current & mode)
        except OSError as err:
            _LOGGER.warning("%s is readable by others and cannot be made private: %s", path, err)


def ensure_private_dir(path: str) -> str:
    """Create the folder `path` with mode 0700 (or take group and other bits off an
    existing one). Returns `path`. Raises `OSError` when it cannot be created."""
    os.makedirs(path, mode=DIR_MODE, exist_ok=True)
    _tighten(path, DIR_MODE)
    return path


def _ensure_parent(path: str) -> str:
    """The folder of `path`, created 0700 when missing. An existing `.storage` folder is
    made private too; any other existing folder (a recorder `db_url` elsewhere) is the
    operator's and left as it is."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.basename(directory) == STORAGE_DIR:
        return ensure_private_dir(directory)
    os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
    return directory


def ensure_private_file(path: str, sqlite: bool = False) -> str:
    """Create the file `path` empty with mode 0600 if it is missing (its folder 0700), or
    make an existing one 0600; with `sqlite`, its `-wal`/`-shm`/`-journal` files too.
    Call before `sqlite3.connect(path)`: SQLite opens an empty file as a new database.
    Returns `path`. Raises `OSError` when the file cannot be created."""
    _ensure_parent(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    os.close(fd)
    for name in (path, *(path + suffix for suffix in SQLITE_SIDE_FILES if sqlite)):
        _tighten(name, FILE_MODE)
    return path


# SQLite keeps up to 2 MiB of pages per connection by default (cache_size -2000), filled at
# once by a quick_check or a history query over a week of states, and never given back:
# on a 50 MiB station that is 4 % per connection. 512 KiB holds every page the station's
# own writes and look-ups touch; the kernel's page cache still holds the file.
SQLITE_CACHE_KIB = 512


def connect_sqlite(path: str, **kwargs: Any) -> sqlite3.Connection:
    """Open the station's SQLite database at `path` (created empty, mode 0600, with its
    side files: `ensure_private_file`): write-ahead log, `synchronous=FULL` (a commit
    survives a power cut), a page cache of at most `SQLITE_CACHE_KIB`. `kwargs` go to
    `sqlite3.connect`. Raises `OSError` (the file) or `sqlite3.Error` (the database)."""
    conn = sqlite3.connect(ensure_private_file(path, sqlite=True), **kwargs)
    try:
        conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def write_private_file(path: str, data: bytes) -> None:
    """Replace `path` with `data` atomically (a temporary file beside it, fsync, rename),
    mode 0600, its folder 0700: a power cut leaves the old file or the new one, never a
    part. Raises `OSError`."""
    directory = _ensure_parent(path)
    # mkstemp creates the file 0600 whatever the umask.
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
