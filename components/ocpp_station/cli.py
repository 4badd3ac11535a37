"""`orge once -c DIR`: the fleet's smoke test of the OCPP link.

Tries the configured primary (`OCPP_PRIMARY`, default 2.0.1), then the fallback; prints
exactly one JSON object on stdout and exits 0 only when BootNotification was Accepted and
StatusNotification and Heartbeat were answered. Logs go to stderr; no secret is printed.

It refuses while a station runs on the same config dir (it would connect with the same
identity and tell the CSMS the connector is unavailable), and holds the station's lock
while it runs so that `orge run` cannot start beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
import time
from typing import Any


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "once", help="connect to the CSMS once (boot, status, heartbeat) and print JSON"
    )
    parser.add_argument(
        "-c",
        "--config",
        default="config",
        metavar="DIR",
        help="configuration directory (default: ./config)",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds allowed per protocol (default 30)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    parser.set_defaults(func=cmd_once)


def cmd_once(args: argparse.Namespace) -> int:
    from orge.config import find_config_dir
    from orge.lock import AlreadyRunning, InstanceLock
    from orge.log import setup_logging

    setup_logging(logging.DEBUG if args.verbose else logging.WARNING, sys.stderr)
    config_dir = find_config_dir(args.config)
    lock = InstanceLock(config_dir)
    try:
        lock.acquire()
    except AlreadyRunning as err:
        message = (
            f"ORGE is already running (pid {err.pid or 'unknown'}) on {config_dir}: it holds "
            "the CSMS link with this station's identity. Stop the service first "
            "(sudo systemctl stop orge), run orge once, then start it (sudo systemctl start orge)."
        )
        print(f"orge once: {message}", file=sys.stderr)
        answer: dict[str, Any] = {"ok": False, "protocol": None, "station_id": None, "url": None}
        answer.update({"messages": [], "elapsed_ms": 0.0, "error": message})
        sys.stdout.write(json.dumps(answer) + "\n")
        return 1
    except OSError:
        pass  # no writable .storage/: nothing can be running from it either
    try:
        result = asyncio.run(async_once(args.config, args.timeout))
    finally:
        lock.release()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result.get("ok") else 1


async def async_once(config_path: str, timeout: float) -> dict[str, Any]:
    from orge.config import find_config_dir
    from orge.redact import redact_value
    from orge.setup import check_configuration

    from .role import domain_order

    start = time.monotonic()
    config_dir = find_config_dir(config_path)
    check = await asyncio.get_running_loop().run_in_executor(
        None, check_configuration, config_dir, False
    )
    blocks: dict[str, Any] = {
        d: check.blocks[d] for d in ("ocpp201", "ocpp16") if d in check.blocks
    }
    problems = [p for d in ("ocpp201", "ocpp16", "configuration") for p in check.errors.get(d, [])]
    order = domain_order(blocks)
    if not order:
        refused: dict[str, Any] = redact_value(
            {
                "ok": False,
                "protocol": None,
                "station_id": None,
                "url": None,
                "messages": [],
                "elapsed_ms": round((time.monotonic() - start) * 1000, 1),
                "error": "; ".join(problems) or "no ocpp201 or ocpp16 configured in " + config_dir,
            }
        )
        return refused
    tried: list[dict[str, Any]] = []
    result: dict[str, Any] = {}
    for domain in order:
        component = check.index.get(domain) if check.index else None
        try:
            module = importlib.import_module(f"{component.package}.once")  # type: ignore[union-attr]
            outcome = await asyncio.wait_for(
                module.async_once(blocks[domain], config_dir, timeout), timeout + 5
            )
            result = outcome.as_dict()
        except Exception as err:  # a smoke test reports, it does not crash
            result = {
                "ok": False,
                "protocol": domain,
                "messages": [],
                "error": f"{type(err).__name__}: {err}",
            }
        if result.get("ok"):
            break
        tried.append({k: result.get(k) for k in ("protocol", "url", "error")})
    if tried:
        result["tried"] = tried  # what failed before the answer shown (or all of it)
    result["elapsed_ms"] = round((time.monotonic() - start) * 1000, 1)
    redacted: dict[str, Any] = redact_value(result)
    return redacted
