"""The tests' stand-in for `systemctl restart orge`: stop the station this pid file names
(SIGTERM, as systemd's KillSignal), then start `<prefix>/current/bin/orge run -c CONFIG` in
its own session, as ExecStart does, and record its pid.

    python restart_station.py PREFIX CONFIG PIDFILE LOGFILE
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def stop(pidfile: str) -> None:
    try:
        with open(pidfile, encoding="utf-8") as handle:
            pid = int(handle.read())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + 10  # TimeoutStopSec=10
    while time.monotonic() < end:
        if not _alive(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running (a zombie whose parent has not reaped it yet has stopped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def main(prefix: str, config: str, pidfile: str, logfile: str) -> int:
    stop(pidfile)
    with open(logfile, "ab") as log:
        proc = subprocess.Popen(
            [os.path.join(prefix, "current", "bin", "orge"), "run", "-c", config],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=config,
            start_new_session=True,
        )
    with open(pidfile, "w", encoding="utf-8") as handle:
        handle.write(str(proc.pid))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
