"""Start-up benchmark: `orge run` of the shipped config/ from spawn to READY=1, and the
configuration work a start does (check, last good copy).

    python benchmarks/startup.py [--runs 5] [--repo DIR]

Prints:
- spawn -> READY=1 (systemd notify) of a real `orge run` on a copy of config/, with free
  ports and the demo CSMS: median and max over the runs; the first run of a fresh copy
  also keeps the last good configuration (docs/recovery.md), the others find it unchanged;
- in process: check_configuration shallow (what a start validates) and deep (what
  check-config and the last good copy require), and save_last_good of the tracked files.
`--repo` runs `orge run` from another checkout (to compare with a branch without recovery).
"""

from __future__ import annotations

import _repo_path  # first: puts the repo on sys.path, drops this folder

# isort: split

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = _repo_path.REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_start(config: str, repo: str) -> float:
    notify = os.path.join(tempfile.mkdtemp(), "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify)
    sock.settimeout(60)
    csms = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": repo,
        "NOTIFY_SOCKET": notify,
        "ORGE_HTTP_PORT": str(free_port()),
        "ORGE_DEMO_CSMS_PORT": str(csms),
        "OCPP_201_URL": f"ws://127.0.0.1:{csms}/ocpp",
        "OCPP_16_URL": f"ws://127.0.0.1:{csms}/ocpp",
    }
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orge", "run", "-c", config],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=repo,
    )
    try:
        while sock.recv(100) != b"READY=1":
            pass
        return time.perf_counter() - start
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        sock.close()


def in_process(config: str) -> None:
    os.environ.setdefault("ORGE_HTTP_PORT", "8000")
    from orge.recovery import save_last_good
    from orge.setup import check_configuration
    from orge.yaml import track_files

    def best(func: object, runs: int = 20) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            func()  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return min(times) * 1000

    check_configuration(config, True)  # imports
    print(f"check_configuration shallow: {best(lambda: check_configuration(config, False)):.2f} ms")
    print(f"check_configuration deep:    {best(lambda: check_configuration(config, True)):.2f} ms")
    with track_files() as files:
        check_configuration(config, False)
    shutil.rmtree(os.path.join(config, ".storage", "last_good"), ignore_errors=True)
    start = time.perf_counter()
    save_last_good(config, files)
    first = (time.perf_counter() - start) * 1000
    print(f"save_last_good ({len(files)} files): first {first:.2f} ms, ", end="")
    print(f"unchanged {best(lambda: save_last_good(config, files)):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repo", default=REPO, help="checkout whose `orge run` is timed")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="orge-startup-")
    config = os.path.join(work, "config")
    shutil.copytree(os.path.join(REPO, "config"), config, ignore=shutil.ignore_patterns(".storage"))
    try:
        times = [one_start(config, os.path.abspath(args.repo)) for _ in range(args.runs)]
        print(
            f"orge run -> READY=1 ({args.repo}): median {statistics.median(times) * 1000:.0f} ms, "
            f"max {max(times) * 1000:.0f} ms over {args.runs} runs"
        )
        in_process(config)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
