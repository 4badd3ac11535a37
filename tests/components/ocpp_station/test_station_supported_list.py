"""docs/ocpp.md lists what the station supports, one line each ("Supported messages,
configuration keys and device-model variables"); these tests hold the tables to the code
so that a handler, message, key or variable added without its line (or a line left for
one removed) fails, naming the line to add or drop.

Sources: the `@on` handlers of `ocpp201.charge_point.StationChargePoint` and
`ocpp16.link.Link`; the messages a component sends are the protocol's action names
(`ocpp.v201.call` / `ocpp.v16.call`) written as strings in its modules that are not its
handlers; `ocpp16.config_keys.KEYS`; the variables of `ocpp201.device_model.DeviceModel`
(with one EVSE's EVSE and Connector components).
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from components.ocpp16.config_keys import KEYS
from components.ocpp16.link import Link
from components.ocpp201 import CONFIG_SCHEMA as SCHEMA_201
from components.ocpp201.charge_point import StationChargePoint
from components.ocpp201.device_model import DeviceModel

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "ocpp.md"


def _table(name: str) -> list[list[str]]:
    """The rows (cells, backticks removed) of the table after `<!-- checked: name -->`."""
    lines = DOC.read_text().splitlines()
    marker = f"<!-- checked: {name} -->"
    assert marker in lines, f"docs/ocpp.md has no table marked {marker!r}"
    rows: list[list[str]] = []
    for line in lines[lines.index(marker) + 1 :]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        rows.append(cells)
    return rows[2:]  # header and separator


def _handlers(cls: type) -> set[str]:
    return {
        member._on_action
        for klass in cls.__mro__
        for member in vars(klass).values()
        if hasattr(member, "_on_action")
    }


def _actions(module: ModuleType) -> set[str]:
    return {
        name
        for name, obj in inspect.getmembers(module, inspect.isclass)
        if obj.__module__ == module.__name__
    }


def _sent(component: str, actions: set[str], handlers: set[str]) -> set[str]:
    found: set[str] = set()
    for path in sorted((REPO / "components" / component).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in actions:
                found.add(node.value)
    return found - handlers


def _compare(table: str, documented: set[Any], code: set[Any], line: str) -> None:
    missing = sorted(code - documented)
    stale = sorted(documented - code)
    problems = [
        f"docs/ocpp.md, table {table}: no line for {item}; add: {line.format(*_tuple(item))}"
        for item in missing
    ]
    problems += [
        f"docs/ocpp.md, table {table}: line for {item}, which the code does not have: drop it"
        for item in stale
    ]
    assert not problems, "\n".join(problems)


def _tuple(item: Any) -> tuple[Any, ...]:
    return item if isinstance(item, tuple) else (item,)


def test_ocpp201_actions_the_station_answers_are_listed() -> None:
    documented = {row[0] for row in _table("ocpp201-csms-actions")}
    _compare(
        "ocpp201-csms-actions",
        documented,
        _handlers(StationChargePoint),
        "| `{}` | <use case> | <what the station does> |",
    )


def test_ocpp201_messages_the_station_sends_are_listed() -> None:
    documented = {row[0] for row in _table("ocpp201-station-messages")}
    sent = _sent("ocpp201", _actions(call201), _handlers(StationChargePoint))
    assert {"BootNotification", "TransactionEvent", "ReservationStatusUpdate"} <= sent
    _compare("ocpp201-station-messages", documented, sent, "| `{}` | <use case> | <when> |")


def test_ocpp16_actions_the_station_answers_are_listed() -> None:
    documented = {row[0] for row in _table("ocpp16-csms-actions")}
    _compare(
        "ocpp16-csms-actions",
        documented,
        _handlers(Link),
        "| `{}` | <profile / section> | <what the station does> |",
    )


def test_ocpp16_messages_the_station_sends_are_listed() -> None:
    documented = {row[0] for row in _table("ocpp16-station-messages")}
    sent = _sent("ocpp16", _actions(call16), _handlers(Link))
    assert {"BootNotification", "StartTransaction", "StopTransaction"} <= sent
    _compare("ocpp16-station-messages", documented, sent, "| `{}` | <profile / section> | <when> |")


def test_ocpp16_configuration_keys_are_listed_with_their_access() -> None:
    documented = {(row[0], row[1]) for row in _table("ocpp16-keys")}
    code = {(name, "R" if key.readonly else "RW") for name, key in KEYS.items()}
    _compare("ocpp16-keys", documented, code, "| `{}` | {} | <meaning> |")


def test_ocpp201_device_model_variables_are_listed_with_their_mutability() -> None:
    config = SCHEMA_201({"url": "ws://csms.example/ocpp", "station_id": "DOC"})
    model = DeviceModel(config, "DOC", 1, lambda: "", None)
    model.add_connector(
        1,
        1,
        phases=3,
        connector_type="cType2",
        max_power=22080.0,
        availability=lambda: "Available",
        power=lambda: None,
    )
    code = {
        (var.component, var.name, var.instance or "", var.mutability)
        for var in model.variables.values()
    }
    rows = _table("ocpp201-variables")
    documented = {(row[0], row[1], row[2], row[3]) for row in rows}
    assert len(rows) == len(documented), "docs/ocpp.md, table ocpp201-variables: a line twice"
    _compare(
        "ocpp201-variables",
        documented,
        code,
        "| `{}` | `{}` | {} | {} | <meaning> |",
    )


def test_a_missing_line_is_named() -> None:
    """The failure message names the table and the line to add."""
    try:
        _compare("ocpp16-keys", set(), {("NewKey", "RW")}, "| `{}` | {} | <meaning> |")
    except AssertionError as err:
        message = str(err)
    else:
        raise AssertionError("a missing line passed")
    assert re.search(
        r"table ocpp16-keys: no line for \('NewKey', 'RW'\); add: \| `NewKey` \| RW \|",
        message,
    )
