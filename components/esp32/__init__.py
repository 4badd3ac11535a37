"""The ESP32 charge controller over its serial protocol (5-byte frames out, text lines in).

    esp32:
      port: /dev/serial/by-id/usb-Silicon_Labs_CP2102_...   # or `simulator`
      baudrate: 115200
      name: charger            # entity ids: sensor.charger_state, number.charger_max_current...
      status_interval: 10      # ask for a STAT when none came for this long (idle)
      session_status_interval: 2   # the same during a session (§7.3: poll 1-2 s)
      ack_timeout: 3           # §7.3: some answers take over 1 s
      retries: 1               # §9.3: retry once, and only where a retry is safe
      max_current: 16          # optional: applied at start and after each reboot (STATE 1)

Nothing heavy is imported here: the serial code lives in submodules loaded by async_setup.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge
from orge.json_schema import choices

from .const import DOMAIN, MAX_CURRENT, MIN_CURRENT, PORT_SIMULATOR

DEFAULT_NAME = "charger"
BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


@cv.json_schema(choices(BAUDRATES))
def _baudrate(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise vol.Invalid(f"baudrate must be a number, got {value!r}")
    try:
        rate = int(value)
    except ValueError:
        raise vol.Invalid(f"baudrate must be a number, got {value!r}") from None
    if rate not in BAUDRATES:
        raise vol.Invalid(
            f"baudrate {rate} is not supported (use one of "
            f"{', '.join(map(str, BAUDRATES))}; the controller runs at 115200)"
        )
    return rate


@cv.json_schema({"type": "string", "minLength": 1})
def _port(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid(
            f"port must be a device path such as /dev/serial/by-id/... or 'simulator', "
            f"got {type(value).__name__} {value!r}"
        )
    if not value.strip():
        raise vol.Invalid("port must not be empty")
    return value


@cv.json_schema(
    lambda convert: convert(vol.All(vol.Coerce(int), vol.Range(min=MIN_CURRENT, max=MAX_CURRENT)))
)
def _current(value: Any) -> int:
    if isinstance(value, bool):
        raise vol.Invalid("max_current must be a whole number of amperes")
    try:
        amps = int(value)
    except (TypeError, ValueError):
        raise vol.Invalid(f"max_current must be a whole number of amperes, got {value!r}") from None
    if float(value) != amps or not MIN_CURRENT <= amps <= MAX_CURRENT:
        raise vol.Invalid(
            f"max_current {value} A is outside {MIN_CURRENT}..{MAX_CURRENT} A "
            "(the range the controller accepts)"
        )
    return amps


SIMULATOR_SCHEMA = vol.Schema(
    {
        vol.Optional(
            "time_scale",
            default=1.0,
            description="Speed of the simulated firmware's clock; below 1 runs it faster.",
        ): vol.All(vol.Coerce(float), vol.Range(min=0.001)),
        vol.Optional(
            "stat_interval",
            default=7.5,
            description=cv.describe(
                "Time between the simulated controller's STAT lines.", unit="s"
            ),
        ): cv.period_seconds(0.01),
        vol.Optional(
            "cable_rating",
            default=20,
            description=cv.describe(
                "Rating of the cable the `plug_in` simulation plugs in.", unit="A"
            ),
        ): vol.In([6, 13, 20, 32, 63]),
        vol.Optional(
            "fault_report_interval",
            default=1.0,
            description=cv.describe(
                "Time between the simulated power board's fault reports.", unit="s"
            ),
        ): cv.period_seconds(0.001),
    }
)


@cv.json_schema(
    {
        "if": {"properties": {"port": {"not": {"const": PORT_SIMULATOR}}}},
        "then": {"not": {"required": ["simulator"]}},
    }
)
def _check(config: dict[str, Any]) -> dict[str, Any]:
    if "simulator" in config and config["port"] != PORT_SIMULATOR:
        raise vol.Invalid("simulator options need `port: simulator`", path=["simulator"])
    if config["port"] == PORT_SIMULATOR:
        config.setdefault("simulator", SIMULATOR_SCHEMA({}))
    return config


CONFIG_SCHEMA = vol.All(
    vol.Schema(
        {
            vol.Required(
                "port",
                description=cv.describe(
                    "Serial device of the controller (a /dev/serial/by-id/ path survives re-plugging), or `simulator` for a simulated controller on a pseudo-terminal.",
                    example="/dev/serial/by-id/usb-Silicon_Labs_CP2102_USB_to_UART_Bridge-if00-port0",
                ),
            ): _port,
            vol.Optional(
                "baudrate",
                default=115200,
                description=cv.describe("Serial speed; the firmware runs at 115200.", unit="baud"),
            ): _baudrate,
            vol.Optional(
                "name",
                default=DEFAULT_NAME,
                description="Prefix of every entity id (sensor.<name>_state).",
            ): cv.string,
            vol.Optional(
                "status_interval",
                default=timedelta(seconds=10),
                description=cv.describe(
                    "Time without a STAT line before asking for one (READSTAT) when idle; entities go unavailable after 3 intervals without one.",
                    unit="s",
                ),
            ): cv.period_seconds(0.05),
            vol.Optional(
                "session_status_interval",
                default=timedelta(seconds=2),
                description=cv.describe(
                    "The same during a session (the firmware's own STAT comes every ~7.5 s and skips short states).",
                    unit="s",
                ),
            ): cv.period_seconds(0.05),
            vol.Optional(
                "ack_timeout",
                default=timedelta(seconds=3),
                description=cv.describe(
                    "Time to wait for the controller's answer to a command; some take over 1 s.",
                    unit="s",
                ),
            ): cv.period_seconds(0.05),
            vol.Optional(
                "retries",
                default=1,
                description="Retries of a command without an answer, only where a retry is safe (never AUTH when idle, never LOCK/UNLOCK, SETMAXAMP only when idle).",
            ): vol.All(vol.Coerce(int), vol.Range(min=0, max=5)),
            vol.Optional(
                "max_current",
                description=cv.describe(
                    "Current limit applied when idle at start and after every controller reboot (the firmware restarts at 32 A).",
                    unit="A",
                ),
            ): _current,
            vol.Optional(
                "simulator",
                description="Options of the simulated controller; only with `port: simulator`.",
            ): SIMULATOR_SCHEMA,
        }
    ),
    _check,
)


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    from .runtime import async_setup_esp32

    return await async_setup_esp32(orge, config)


def configured_entity_ids(config: dict[str, Any]) -> set[str]:
    """`<domain>.<slug of name>_<suffix>`: the entities `entities.build_entities` makes,
    built over a stand-in charger that only carries the names (docs/components.md)."""
    from types import SimpleNamespace

    from orge.check_names import entity_ids_of

    from .entities import build_entities

    name = config["name"]
    charger = SimpleNamespace(settings=SimpleNamespace(name=cv.slugify(name), friendly=name))
    return entity_ids_of(build_entities(charger), DOMAIN)  # type: ignore[arg-type]
