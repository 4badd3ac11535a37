"""A DIN-rail energy meter on Modbus RTU (RS485) or Modbus TCP, read through pymodbus.

    modbus_meter:
      port: /dev/serial/by-id/usb-FTDI_...   # RTU; or host: + tcp_port: for a TCP gateway
      baudrate: 9600
      parity: E                              # N, E or O
      stopbits: 1
      slave: 1                               # the meter's unit id
      model: abb_b23                         # or eastron_sdm630, eastron_sdm120, or registers:
      name: meter                            # sensor.meter_energy, sensor.meter_power...
      scan_interval: 5                       # s between reads, down to 1
      max_failures: 3                        # failed reads in a row before `unavailable`
      max_power: 22080                       # W: 32 A x 3 x 230 V, the largest credible draw

Nothing heavy is imported here: pymodbus is loaded by async_setup.
"""

from __future__ import annotations

import re
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge
from orge.json_schema import choices

from .naming import ERRORS_KEY, entity_ids
from .registers import DATA_TYPES, INPUT_TYPES, MODELS, WORD_ORDERS, Register

DOMAIN = "modbus_meter"
DEFAULT_NAME = "meter"
PARITIES = {"N": "N", "E": "E", "O": "O", "NONE": "N", "EVEN": "E", "ODD": "O"}
BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
# 32 A x 3 phases x 230 V: the most an AC station of the fleet can draw (issue 11).
DEFAULT_MAX_POWER = 32 * 3 * 230
_KEY = re.compile(r"^[a-z0-9_]+$")


@cv.json_schema(choices(PARITIES, fold_case=True))
def _parity(value: Any) -> str:
    text = str(value).upper()
    if text not in PARITIES:
        raise vol.Invalid(f"parity must be N, E or O, got {value!r}")
    return PARITIES[text]


@cv.json_schema(choices(BAUDRATES))
def _baudrate(value: Any) -> int:
    try:
        rate = int(value)
    except (TypeError, ValueError):
        raise vol.Invalid(f"baudrate must be a number, got {value!r}") from None
    if isinstance(value, bool) or rate not in BAUDRATES:
        raise vol.Invalid(f"baudrate {value} is not one of {', '.join(map(str, BAUDRATES))}")
    return rate


@cv.json_schema({"type": "string", "pattern": _KEY.pattern})
def _key(value: Any) -> str:
    if not isinstance(value, str) or not _KEY.match(value):
        raise vol.Invalid(
            f"key must be lower-case letters, digits and _ (it ends the entity id), got {value!r}"
        )
    return value


REGISTER_SCHEMA = vol.Schema(
    {
        vol.Required(
            "key",
            description="Register name: lower-case letters, digits and _; the entity is sensor.<name>_<key> (energy, power, voltage_l1... have their units and classes).",
        ): _key,
        vol.Optional(
            "name", description="Friendly name after the prefix (default: the key with spaces)."
        ): cv.string,
        vol.Required(
            "address",
            description=cv.describe(
                "0-based protocol address (input register 30001 is 0).", example=20480
            ),
        ): vol.All(vol.Coerce(int), vol.Range(0, 0xFFFF)),
        vol.Optional(
            "input_type",
            default="holding",
            description="holding (function 03) or input (function 04).",
        ): vol.In(INPUT_TYPES),
        vol.Required(
            "data_type", description="int16, uint16, int32, uint32, int64, uint64 or float32."
        ): vol.In(list(DATA_TYPES)),
        vol.Optional(
            "count", description="Registers read; must match data_type (checked)."
        ): vol.All(vol.Coerce(int), vol.Range(1, 4)),
        vol.Optional(
            "word_order", default="big", description="big: most significant word first; or little."
        ): vol.In(WORD_ORDERS),
        vol.Optional(
            "scale", default=1.0, description="The raw value is multiplied by this."
        ): vol.Coerce(float),
        vol.Optional("precision", description="Decimals kept."): vol.All(
            vol.Coerce(int), vol.Range(0, 6)
        ),
        vol.Optional("unit_of_measurement", description="Unit of the entity, e.g. kWh."): cv.string,
        vol.Optional(
            "device_class",
            description="Home Assistant device class, e.g. energy (energy in Wh/kWh/MWh with total_increasing is checked against going backwards).",
        ): cv.string,
        vol.Optional("state_class", description="measurement, total or total_increasing."): vol.In(
            ["measurement", "total", "total_increasing"]
        ),
    }
)


def _register(value: Any) -> Register:
    """A validated `registers:` entry -> Register; `count` must agree with `data_type`."""
    config = REGISTER_SCHEMA(value)
    span = DATA_TYPES[config["data_type"]]
    if "count" in config and config["count"] != span:
        raise vol.Invalid(
            f"count {config['count']} does not fit data_type {config['data_type']} "
            f"({span} register{'s' if span > 1 else ''})",
            path=["count"],
        )
    if config["address"] + span - 1 > 0xFFFF:
        raise vol.Invalid("address + count runs past register 65535", path=["address"])
    return Register(
        key=config["key"],
        name=config.get("name", config["key"].replace("_", " ")),
        address=config["address"],
        input_type=config["input_type"],
        data_type=config["data_type"],
        word_order=config["word_order"],
        scale=config["scale"],
        precision=config.get("precision"),
        unit_of_measurement=config.get("unit_of_measurement"),
        device_class=config.get("device_class"),
        state_class=config.get("state_class"),
    )


@cv.json_schema(
    lambda convert: {
        "type": "array",
        "minItems": 1,
        "items": {
            "allOf": [
                convert(REGISTER_SCHEMA),
                {"properties": {"key": {"not": {"const": ERRORS_KEY}}}},
            ]
        },
    }
)
def _registers(value: Any) -> tuple[Register, ...]:
    if not isinstance(value, list) or not value:
        raise vol.Invalid("registers must be a non-empty list of register entries")
    registers: list[Register] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        try:
            register = _register(item)
        except vol.MultipleInvalid as err:
            raise vol.MultipleInvalid(
                [vol.Invalid(e.msg, path=[index, *e.path]) for e in err.errors]
            ) from None
        except vol.Invalid as err:
            raise vol.Invalid(err.msg, path=[index, *err.path]) from None
        if register.key == ERRORS_KEY:
            raise vol.Invalid(
                f"key {ERRORS_KEY!r} is taken by sensor.<name>_{ERRORS_KEY}", path=[index, "key"]
            )
        if register.key in seen:
            raise vol.Invalid(f"key {register.key!r} is used twice", path=[index, "key"])
        seen.add(register.key)
        registers.append(register)
    return tuple(registers)


_SERIAL_OPTIONS = ("baudrate", "parity", "stopbits", "bytesize")


@cv.json_schema(
    {
        "allOf": [
            {"oneOf": [{"required": ["port"]}, {"required": ["host"]}]},
            {
                "if": {"required": ["host"]},
                "then": {"not": {"anyOf": [{"required": [o]} for o in _SERIAL_OPTIONS]}},
            },
            {"if": {"required": ["port"]}, "then": {"not": {"required": ["tcp_port"]}}},
            {"oneOf": [{"required": ["model"]}, {"required": ["registers"]}]},
        ]
    }
)
def _check(config: dict[str, Any]) -> dict[str, Any]:
    if ("port" in config) == ("host" in config):
        raise vol.Invalid("give either port (Modbus RTU) or host (Modbus TCP), not both or neither")
    if "host" in config:
        for option in _SERIAL_OPTIONS:
            if option in config:
                raise vol.Invalid(f"{option} is a serial option; it needs port:", path=[option])
        config.setdefault("tcp_port", 502)
    else:
        if "tcp_port" in config:
            raise vol.Invalid("tcp_port needs host:", path=["tcp_port"])
        config.setdefault("baudrate", 9600)
        config.setdefault("parity", "N")
        config.setdefault("stopbits", 1)
        config.setdefault("bytesize", 8)
    if ("model" in config) == ("registers" in config):
        raise vol.Invalid(
            f"give either model ({', '.join(MODELS)}) or registers:, not both or neither"
        )
    if "model" in config:
        config["registers"] = MODELS[config["model"]]
    return config


CONFIG_SCHEMA = vol.All(
    vol.Schema(
        {
            vol.Optional(
                "port",
                description=cv.describe(
                    "Serial device of the RS485 adapter (Modbus RTU); or host: instead.",
                    example="/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0",
                ),
            ): cv.string,
            vol.Optional(
                "baudrate",
                description=cv.describe(
                    "Serial speed as set on the meter (default 9600).", unit="baud"
                ),
            ): _baudrate,
            vol.Optional(
                "parity", description="N, E or O, as set on the meter (default N)."
            ): _parity,
            vol.Optional("stopbits", description="1 or 2 (default 1)."): vol.In([1, 2]),
            vol.Optional("bytesize", description="7 or 8 data bits (default 8)."): vol.In([7, 8]),
            vol.Optional(
                "host",
                description=cv.describe(
                    "Address of a Modbus TCP gateway; or port: instead.", example="192.0.2.20"
                ),
            ): cv.string,
            vol.Optional("tcp_port", description="TCP port of the gateway (default 502)."): vol.All(
                vol.Coerce(int), vol.Range(1, 65535)
            ),
            vol.Optional(
                "slave", default=1, description="The meter's Modbus address (unit id), 0..247."
            ): vol.All(vol.Coerce(int), vol.Range(0, 247)),
            vol.Optional(
                "model",
                description="Built-in register map: abb_b23 (ABB B21/B23/B24), eastron_sdm630 or eastron_sdm120; or registers: instead.",
            ): vol.In(list(MODELS)),
            vol.Optional(
                "registers", description="A register map of your own, instead of model:."
            ): _registers,
            vol.Optional(
                "name",
                default=DEFAULT_NAME,
                description="Prefix of the entity ids (sensor.<name>_energy); lower-case letters, digits and _.",
            ): _key,
            vol.Optional(
                "scan_interval", default=5, description=cv.describe("Time between reads.", unit="s")
            ): cv.period_seconds(1),
            vol.Optional(
                "timeout",
                default=1,
                description=cv.describe("Time to wait for each answer.", unit="s"),
            ): cv.period_seconds(0.05),
            vol.Optional(
                "max_failures",
                default=3,
                description="Failed reads in a row before the values are unavailable.",
            ): vol.All(vol.Coerce(int), vol.Range(1, 100)),
            vol.Optional(
                "max_backoff",
                default=60,
                description=cv.describe(
                    "Longest wait between reads after failures; the wait doubles from scan_interval.",
                    unit="s",
                ),
            ): cv.period_seconds(1),
            vol.Optional(
                "max_power",
                default=DEFAULT_MAX_POWER,
                description=cv.describe(
                    "The most the station can draw: an energy reading that rose by more than this could deliver since the last one is refused.",
                    unit="W",
                ),
            ): vol.All(vol.Coerce(float), vol.Range(min=1)),
        }
    ),
    _check,
)


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    from .runtime import async_setup_meter

    return await async_setup_meter(orge, config)


def configured_entity_ids(config: dict[str, Any]) -> set[str]:
    """The ids this block creates (docs/components.md): `sensor.<name>_<key>` per register,
    `binary_sensor.<name>_link`, `sensor.<name>_errors`."""
    return entity_ids(config["name"], config["registers"])
