"""The `orge` command: run, check-config, status, update (orge/update.py), scaffold, schema, and
the commands components add (once, auth).

Exit codes of `orge run`: 0 stopped on request; 78 (EX_CONFIG) nothing to run (no config
dir, no `configuration.yaml`, unreadable), which the shipped systemd unit does not restart
on; 75 (EX_TEMPFAIL) another `orge run` holds this config dir; 1 an unexpected error.
A configuration with problems is never an exit: the station starts on the last good copy
or in recovery mode (docs/recovery.md).

A component adds commands by listing them under `cli:` in its manifest and providing
`cli.py` with `add_commands(subparsers)`; each added parser sets `func(args) -> int`.
The engine finds them through the loader and never imports a component by name.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import signal
import sys
import time
from typing import Any

from orge import __version__

_LOGGER = logging.getLogger(__name__)
EX_CONFIG = 78  # sysexits.h: a configuration error no restart can fix
EX_TEMPFAIL = 75  # sysexits.h: try again later (another station holds the config dir)
_RELEASE_AFTER_S = 5.0  # after READY=1: when start-up's garbage is given back (orge/memory.py)
STATUS_NOT_RUNNING = 3  # LSB: "program is not running"


def _add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        default="config",
        metavar="DIR",
        help="configuration directory (default: ./config)",
    )


def build_parser(wanted: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orge", description="ORGE: the software of an EV charging station."
    )
    parser.add_argument("--version", action="version", version=f"orge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the station until stopped (SIGTERM/SIGINT)")
    _add_config_arg(run)
    run.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser(
        "check-config", help="check the configuration; exits 1 if anything is wrong"
    )
    _add_config_arg(check)
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.add_argument(
        "--strict", action="store_true", help="exit 1 on warnings (unknown names) too"
    )
    check.set_defaults(func=cmd_check_config)

    status = sub.add_parser(
        "status",
        help="is a station running on this config dir? exits 0 (running, prints the pid) or 3",
    )
    _add_config_arg(status)
    status.set_defaults(func=cmd_status)

    upd = sub.add_parser(
        "update", help="install a release beside the live one, switch, restart, watch"
    )
    if wanted == "update":  # imported for its own command only: ~0.3 MiB in a station
        from orge import update

        update.add_arguments(upd)
        upd.set_defaults(func=update.run_command)

    scaffold = sub.add_parser("scaffold", help="create a new component that works as generated")
    scaffold_sub = scaffold.add_subparsers(dest="what", metavar="WHAT", required=True)
    component = scaffold_sub.add_parser(
        "component",
        help="components/NAME/ of the checkout, or DIR/custom_components/NAME/ with -c",
    )
    component.add_argument("name", metavar="NAME", help="the domain: [a-z][a-z0-9_]*")
    component.add_argument(
        "-c", "--config", metavar="DIR", default=None, help="a config dir: a custom component"
    )
    component.set_defaults(func=cmd_scaffold_component)

    schema = sub.add_parser(
        "schema", help="the configuration's schema: JSON Schema for editors, option docs"
    )
    schema_sub = schema.add_subparsers(dest="what", metavar="WHAT", required=True)
    export = schema_sub.add_parser(
        "export",
        help="JSON Schema (draft-07) of configuration.yaml for the YAML language server",
    )
    export.add_argument(
        "-c", "--config", metavar="DIR", default=None, help="also its custom components"
    )
    export.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    export.set_defaults(func=cmd_schema_export)
    docs = schema_sub.add_parser(
        "docs", help="docs/configuration.md: every option of every built-in component"
    )
    docs.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    docs.set_defaults(func=cmd_schema_docs)

    _add_component_commands(sub, wanted)
    return parser


def _add_component_commands(sub: Any, wanted: str | None) -> None:
    """Commands listed under `cli:` in manifests. Only the component whose command is run
    is imported (its module may pull in heavy libraries); others get a placeholder."""
    from orge.loader import ComponentIndex

    for component in ComponentIndex().cli_components():
        if wanted not in component.cli:
            for name in component.cli:
                sub.add_parser(name, help=f"(from the {component.domain} component)")
            continue
        try:
            module = importlib.import_module(f"{component.package}.cli")
            module.add_commands(sub)
        except Exception as err:
            print(f"orge: commands of {component.domain} unavailable: {err}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    wanted = next((arg for arg in argv if not arg.startswith("-")), None)
    parser = build_parser(wanted)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


# --- check-config --------------------------------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> int:
    from orge.check_names import find_unknown_names
    from orge.config import find_config_dir
    from orge.redact import redact
    from orge.setup import check_configuration

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    start = time.perf_counter()
    config_dir = find_config_dir(args.config)
    result = check_configuration(config_dir)
    warnings = [redact(line) for line in find_unknown_names(result)]
    elapsed_ms = (time.perf_counter() - start) * 1000
    problems = [redact(line) for line in result.problems]
    if args.json:
        print(
            json.dumps(
                {
                    "valid": not problems,
                    "config_dir": config_dir,
                    "components": [c.domain for c in result.order],
                    "errors": {d: [redact(p) for p in lines] for d, lines in result.errors.items()},
                    "warnings": warnings,
                    "elapsed_ms": round(elapsed_ms, 1),
                },
                indent=2,
            )
        )
    elif problems:
        print(f"Configuration in {config_dir} has {len(problems)} problem(s):")
        for line in problems:
            print(f"  {line}")
    else:
        print(
            f"Configuration in {config_dir} is valid "
            f"({len(result.order)} components, {elapsed_ms:.0f} ms)."
        )
    if warnings and not args.json:
        print(f"{len(warnings)} warning(s):")
        for line in warnings:
            print(f"  {line}")
    return 1 if problems or (args.strict and warnings) else 0


def _say_error(message: str) -> None:
    """One line on stderr before logging is set up; under journald with priority err, so
    `journalctl -u orge -p err` shows it."""
    journal = os.environ.get("JOURNAL_STREAM") and not sys.stderr.isatty()
    print(f"{'<3>' if journal else ''}orge: {message}", file=sys.stderr)


# --- scaffold ------------------------------------------------------------------------


def cmd_scaffold_component(args: argparse.Namespace) -> int:
    """`orge scaffold component NAME [-c DIR]` (orge/scaffold.py); 1 when refused."""
    from orge.scaffold import ScaffoldError, scaffold_component

    try:
        created = scaffold_component(args.name, args.config)
    except ScaffoldError as err:
        print(f"orge: {err}", file=sys.stderr)
        return 1
    print(f"Created component {args.name} in {created.folder}:")
    for path in created.files:
        print(f"  {path}")
    return 0


# --- schema --------------------------------------------------------------------------


def _write(text: str, output: str | None) -> None:
    if output:
        with open(output, "w", encoding="utf-8") as file:
            file.write(text)
    else:
        sys.stdout.write(text)


def cmd_schema_export(args: argparse.Namespace) -> int:
    """`orge schema export [-c DIR] [-o FILE]` (orge/schema_export.py)."""
    from orge.schema_export import dumps, export_schema

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    config_dir = os.path.abspath(args.config) if args.config else None
    if config_dir and not os.path.isdir(config_dir):
        print(f"orge: {config_dir}: no such configuration directory", file=sys.stderr)
        return 1
    _write(dumps(export_schema(config_dir)), args.output)
    return 0


def cmd_schema_docs(args: argparse.Namespace) -> int:
    """`orge schema docs [-o FILE]`: docs/configuration.md (orge/schema_docs.py)."""
    from orge.schema_docs import render

    _write(render(), args.output)
    return 0


# --- status --------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    """`orge status`: scripts/run asks it before it touches any token."""
    from orge.config import find_config_dir
    from orge.lock import running_pid

    config_dir = find_config_dir(args.config)
    try:
        pid = running_pid(config_dir)
    except OSError as err:
        print(f"orge: cannot read the lock of {config_dir}: {err}", file=sys.stderr)
        return 1
    if pid is None:
        print(f"ORGE is not running on {config_dir}")
        return STATUS_NOT_RUNNING
    print(f"ORGE is already running (pid {pid or 'unknown'}) on {config_dir}")
    return 0


# --- run -----------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from orge.config import config_dir_problem, find_config_dir
    from orge.lock import AlreadyRunning, InstanceLock
    from orge.log import setup_logging
    from orge.recovery import find_last_good

    config_dir = find_config_dir(args.config)
    # One line on stderr and no traceback: systemd puts it in the journal as it is.
    problem = config_dir_problem(config_dir, find_last_good(config_dir) is not None)
    if problem:
        _say_error(problem)
        return EX_CONFIG
    lock = InstanceLock(config_dir)
    try:
        lock.acquire()
    except AlreadyRunning as err:
        _say_error(
            f"already running (pid {err.pid or 'unknown'}) on {config_dir}; "
            "stop it first (systemctl stop orge)"
        )
        return EX_TEMPFAIL
    except OSError as err:
        _say_error(f"cannot lock {lock.path}: {err.strerror or err}")
        return EX_CONFIG
    try:
        setup_logging(logging.DEBUG if args.verbose else logging.INFO, sys.stdout)
        try:
            return asyncio.run(async_run(config_dir))
        except Exception as err:  # a bug, not a configuration problem: say so and exit
            _LOGGER.critical("ORGE stopped on an unexpected error: %r", err, exc_info=True)
            return 1
    finally:
        lock.release()


async def async_run(config_dir: str) -> int:
    """Run a station until SIGTERM/SIGINT or `orge.stop`; speaks systemd's notify protocol."""
    from orge import memory, systemd
    from orge.core import Orge
    from orge.setup import async_from_config_dir, async_keep_last_good

    orge = Orge(config_dir)
    loop = asyncio.get_running_loop()

    def request_stop(signame: str) -> None:
        _LOGGER.info("Received %s, stopping", signame)
        orge.async_create_background_task(orge.async_stop(), "stop")

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop, sig.name)

    async def stop_service(call: Any) -> None:
        orge.async_create_background_task(orge.async_stop(), "stop")

    orge.services.async_register("orge", "stop", stop_service)
    _LOGGER.info("Starting ORGE %s with %s", __version__, config_dir)
    await async_from_config_dir(orge, config_dir)
    await orge.async_start()
    await async_keep_last_good(orge)
    systemd.notify("READY=1")
    _LOGGER.info("ORGE started: %s", ", ".join(sorted(orge.config.components)) or "no components")
    # Once the first seconds' work is done (the CSMS link and its boot exchange, the first
    # statuses, the recorder's first commit), start-up's garbage is given back to the
    # kernel: ~2 MiB of the resident set per station (docs/operations.md, fleet figures).
    loop.call_later(_RELEASE_AFTER_S, memory.release_startup_memory)
    interval = systemd.watchdog_interval()
    if interval:
        from orge.core import callback
        from orge.helpers.event import async_track_time_interval

        # @callback: the ping proves the loop runs; as a plain function it would wait for
        # a free executor thread, and busy executor jobs could starve it into a restart.
        async_track_time_interval(
            orge, callback(lambda _now: systemd.notify("WATCHDOG=1")), interval
        )
    await orge.async_wait_stopped()
    systemd.notify("STOPPING=1")
    _LOGGER.info("ORGE stopped")
    return orge.exit_code
