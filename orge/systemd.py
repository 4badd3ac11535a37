"""The systemd notify protocol: READY=1, WATCHDOG=1 and STOPPING=1 over NOTIFY_SOCKET."""

from __future__ import annotations

import logging
import os
import socket

_LOGGER = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """Send one notification; False when not run by systemd (or the socket is gone)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError as err:
        _LOGGER.warning("Cannot notify systemd: %s", err)
        return False


def watchdog_interval() -> float | None:
    """Half of WATCHDOG_USEC in seconds, if systemd asked for a watchdog for this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None
