"""deploy/orge.service read as systemd reads the lines the tests hold: its settings, its
`Environment=` and the command line of `ExecStart=`."""

from __future__ import annotations

import shlex

from tests.conftest import REPO

DEPLOY = REPO / "deploy"


def unit_settings(name: str = "orge.service") -> dict[str, list[str]]:
    """Every `Key=value` line of the unit, values in order (a key may repeat)."""
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def unit_environment(name: str = "orge.service") -> dict[str, str]:
    """The unit's `Environment=` variables."""
    return dict(value.split("=", 1) for value in unit_settings(name).get("Environment", []))


def station_command(python: str, config_dir: str) -> list[str]:
    """The unit's `ExecStart=` with this `python` for the release's and `config_dir` for
    /etc/orge/config: the station as systemd starts it (interpreter options included)."""
    words = shlex.split(unit_settings()["ExecStart"][0])
    assert words[0] == "/opt/orge/current/bin/python", words
    return [python, *(config_dir if word == "/etc/orge/config" else word for word in words[1:])]
