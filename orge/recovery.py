"""The last good configuration, and telling the operator when the station runs without
its own.

After a start in which the configuration loaded without a problem and every component set
up, ORGE keeps a copy of exactly the files that configuration was read from
(`configuration.yaml`, every included file, every `secrets.yaml` consulted; same relative
paths, same permission bits) in `<config>/.storage/last_good/`. When a later start finds a
problem, `orge.setup` runs the station on that copy ("last_good"), or, without a usable
copy, starts only what a remote operator needs to repair it ("recovery", Home Assistant's
recovery mode: `http` and `persistent_notification`).

Whatever the mode, the operator sees it in the same places: one persistent notification
per problem, `binary_sensor.configuration_problem` (state `on`/`off`; attributes `mode`,
`using_last_good`, `recovery_mode`, `problems`, `last_good_saved_at`), `GET /api/config`
and `GET /api/config/problems`, and a banner in the web view. See docs/recovery.md.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orge.core import Orge
from orge.redact import redact
from orge.storage import STORAGE_DIR, ensure_private_dir, storage_path, write_private_file

_LOGGER = logging.getLogger(__name__)

LAST_GOOD_DIR = "last_good"
# Inside the copy; a name no configuration would include (dot files are never included).
SAVED_FILE = ".saved.json"
DATA_RECOVERY = "recovery"
MODE_NORMAL = "normal"
MODE_LAST_GOOD = "last_good"
MODE_RECOVERY = "recovery"
PROBLEM_ENTITY = "binary_sensor.configuration_problem"
NOTIFICATION_PREFIX = "persistent_notification.config_problem_"


@dataclass
class RecoveryStatus:
    """How this start got its configuration.

    `mode`: "normal" (its own configuration), "last_good" (the saved copy) or "recovery"
    (only http and persistent_notification). `problems`: one line per problem, each naming
    file and line as `orge check-config` prints them. `last_good_saved_at`: epoch seconds
    of the copy in `.storage/last_good/`, or None. `files`: what the configuration was read
    from in this start, {absolute path: text or None}, kept to save the copy."""

    mode: str = MODE_NORMAL
    problems: list[str] = field(default_factory=list)
    last_good_saved_at: float | None = None
    files: dict[str, str | None] = field(default_factory=dict, repr=False)

    @property
    def using_last_good(self) -> bool:
        return self.mode == MODE_LAST_GOOD

    @property
    def recovery_mode(self) -> bool:
        return self.mode == MODE_RECOVERY

    def as_dict(self) -> dict[str, Any]:
        """The shape of `GET /api/config/problems` (problems with secrets masked)."""
        return {
            "mode": self.mode,
            "recovery_mode": self.recovery_mode,
            "using_last_good": self.using_last_good,
            "problems": [redact(line) for line in self.problems],
            "last_good_saved_at": iso_time(self.last_good_saved_at),
        }


def recovery_status(orge: Orge) -> RecoveryStatus:
    """This hub's status (a normal one with no problems if the engine set none)."""
    status = orge.data.get(DATA_RECOVERY)
    return status if isinstance(status, RecoveryStatus) else RecoveryStatus()


def iso_time(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


# --- the copy on disk -------------------------------------------------------------------


def last_good_dir(config_dir: str) -> str:
    return storage_path(config_dir, LAST_GOOD_DIR)


def _complete(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, SAVED_FILE))


def find_last_good(config_dir: str) -> str | None:
    """The directory of the last good copy, or None if none was saved.

    A copy is replaced by renames (new -> current, current -> old); after a power cut
    between the two, the old one is still complete and is used."""
    current = last_good_dir(config_dir)
    for candidate in (current, current + ".old"):
        if _complete(candidate):
            return candidate
    return None


def last_good_saved_at(config_dir: str) -> float | None:
    """Epoch seconds at which the last good copy was saved, or None."""
    directory = find_last_good(config_dir)
    if directory is None:
        return None
    try:
        with open(os.path.join(directory, SAVED_FILE), encoding="utf-8") as handle:
            return float(json.load(handle)["saved_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _relative(config_dir: str, path: str) -> str | None:
    """`path` relative to the config dir, or None if it is outside it or in `.storage/`."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(config_dir))
    if rel.startswith("..") or os.path.isabs(rel) or rel.split(os.sep)[0] == STORAGE_DIR:
        return None
    return rel


def _contents(files: dict[str, str | None]) -> dict[str, bytes | None]:
    """{path: bytes to copy}; None for a folder (a key ending in os.sep)."""
    out: dict[str, bytes | None] = {}
    for path, text in files.items():
        if path.endswith(os.sep):
            out[path] = None
        elif text is None:
            with open(path, "rb") as handle:
                out[path] = handle.read()
        else:
            out[path] = text.encode("utf-8")
    return out


def _same_as_saved(directory: str, contents: dict[str, bytes | None], config_dir: str) -> bool:
    try:
        with open(os.path.join(directory, SAVED_FILE), encoding="utf-8") as handle:
            saved = set(json.load(handle)["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    wanted = {_relative(config_dir, p): data for p, data in contents.items()}
    if set(wanted) != saved:
        return False
    for rel, data in wanted.items():
        if data is None:
            if not os.path.isdir(os.path.join(directory, str(rel))):
                return False
            continue
        try:
            with open(os.path.join(directory, str(rel)), "rb") as handle:
                if handle.read() != data:
                    return False
        except OSError:
            return False
    return True


def save_last_good(config_dir: str, files: dict[str, str | None]) -> float | None:
    """Store `files` (as returned by `orge.yaml.track_files`) as the last good copy.

    Returns the time the copy was saved (the earlier time if the same files were saved
    before), or None when no copy can be made: a file outside the config dir (its place
    relative to the copy cannot be kept) or no `configuration.yaml` among them. Each
    file keeps its permission bits (a 0600 `secrets.yaml` stays 0600); `OSError` is
    raised when `.storage/` cannot be written."""
    top = os.path.abspath(config_dir)
    if os.path.join(top, "configuration.yaml") not in files:
        return None
    outside = [p for p in files if _relative(top, p) is None]
    if outside:
        _LOGGER.warning(
            "No last good copy of the configuration kept: %s is outside %s",
            ", ".join(sorted(outside)),
            top,
        )
        return None
    contents = _contents(files)
    current = last_good_dir(top)
    if _same_as_saved(current, contents, top):
        return last_good_saved_at(top)
    new, old = current + ".new", current + ".old"
    shutil.rmtree(new, ignore_errors=True)
    ensure_private_dir(os.path.dirname(new))
    os.makedirs(new, mode=0o700)
    for path, data in contents.items():
        rel = str(_relative(top, path))
        target = os.path.join(new, rel)
        if data is None:
            os.makedirs(target, mode=0o700, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        # Created with its final mode, so a secrets file is never readable by others.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(target, mode)
    saved_at = time.time()
    saved = {"saved_at": saved_at, "files": sorted(str(_relative(top, p)) for p in contents)}
    write_private_file(os.path.join(new, SAVED_FILE), json.dumps(saved).encode("utf-8"))
    shutil.rmtree(old, ignore_errors=True)
    if os.path.isdir(current):
        os.rename(current, old)
    os.rename(new, current)
    shutil.rmtree(old, ignore_errors=True)
    return saved_at


def is_good_start(orge: Orge) -> bool:
    """The hub started on its own configuration, which loaded without a problem, and every
    component set up."""
    status = recovery_status(orge)
    return (
        status.mode == MODE_NORMAL
        and not status.problems
        and not orge.config.setup_errors
        and bool(status.files)
    )


async def async_save_last_good(orge: Orge) -> float | None:
    """Keep the files this start read as the last good copy, if it was a good start
    (`orge.setup.async_keep_last_good` checks the rest). Returns the copy's save time."""
    status = recovery_status(orge)
    config_dir = orge.config.config_dir
    if config_dir is None or not is_good_start(orge):
        return None
    try:
        saved_at = await orge.async_add_executor_job(save_last_good, config_dir, status.files)
    except OSError as err:
        _LOGGER.warning("Cannot keep the last good configuration: %s", err)
        return None
    if saved_at is not None:
        status.last_good_saved_at = saved_at
        async_publish(orge, status)
        _LOGGER.info("Configuration kept as the last good one (%s)", iso_time(saved_at))
    return saved_at


# --- telling the operator ---------------------------------------------------------------


def _mode_sentence(status: RecoveryStatus) -> str:
    if status.using_last_good:
        return (
            "ORGE runs on the last good configuration, saved "
            f"{iso_time(status.last_good_saved_at)}, until this is fixed and ORGE restarted."
        )
    if status.recovery_mode:
        return (
            "ORGE runs in recovery mode (only the API and web view) until this is fixed "
            "and ORGE restarted."
        )
    return "Fix it and restart ORGE."


def async_publish(orge: Orge, status: RecoveryStatus) -> None:
    """Store `status` on the hub and show it: the binary sensor, one notification per
    problem, and a warning in the log when the station is not on its own configuration."""
    orge.data[DATA_RECOVERY] = status
    problems = [redact(line) for line in status.problems]
    orge.states.async_set(
        PROBLEM_ENTITY,
        "on" if problems or status.mode != MODE_NORMAL else "off",
        {
            "friendly_name": "Configuration problem",
            "device_class": "problem",
            "mode": status.mode,
            "using_last_good": status.using_last_good,
            "recovery_mode": status.recovery_mode,
            "problems": problems,
            "last_good_saved_at": iso_time(status.last_good_saved_at),
        },
    )
    sentence = _mode_sentence(status)
    for number, line in enumerate(problems, 1):
        orge.states.async_set(
            f"{NOTIFICATION_PREFIX}{number}",
            "notifying",
            {
                "title": "Configuration problem",
                "friendly_name": "Configuration problem",
                "message": f"{line}\n{sentence}",
                "created_at": time.time(),
            },
        )
