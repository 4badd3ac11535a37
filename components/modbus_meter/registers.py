"""Register maps: what to read from a meter and how to turn the words into a value.

Nothing here talks to a meter or imports pymodbus: the schema and `orge check-config` use
these tables, so they stay light.

Built-in maps, from the manufacturers' published register tables:

- `abb_b23`: ABB B-series (B21, B23, B24), "B21/B23/B24 User manual", chapter "Communication
  with Modbus", register mapping (document 2CMC485003M0201). Holding registers (function 03),
  big-endian words. Active import/export energy total at 0x5000/0x5004, uint64, 0.01 kWh;
  voltage L1-N..L3-N at 0x5B00/02/04, uint32, 0.1 V; current L1..L3 at 0x5B0C/0E/10, uint32,
  0.01 A; total active power at 0x5B14, int32, 0.01 W; frequency at 0x5B2C, uint16, 0.01 Hz.
  Addresses, types and resolutions of energy, power, frequency and current were checked
  against independent open-source readers of the same table; those of voltage are as the
  manual's table gives them (not cross-checked).
- `eastron_sdm630`: Eastron "SDM630 Modbus Protocol" v1.x (SDM630-Modbus V2): input registers
  (function 04), every value an IEEE 754 float32, high word first. 30001/03/05 phase 1..3
  line-to-neutral volts (0x0000/02/04), 30007/09/11 phase currents (0x0006/08/0A), 30053
  total system power W (0x0034), 30071 frequency Hz (0x0046), 30073 total import kWh
  (0x0048), 30075 total export kWh (0x004A). Checked against independent readers.
- `eastron_sdm120`: Eastron "SDM120 Modbus Protocol": the same layout for one phase: 30001
  voltage (0x0000), 30007 current (0x0006), 30013 active power W (0x000C), 30071 frequency
  (0x0046), 30073 import kWh (0x0048), 30075 export kWh (0x004A).
"""

from __future__ import annotations

from dataclasses import dataclass

# Data type -> number of 16-bit registers it spans.
DATA_TYPES: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "int64": 4,
    "uint64": 4,
    "float32": 2,
}
INPUT_TYPES = ("input", "holding")
WORD_ORDERS = ("big", "little")
# Energy units a plausibility check understands, in kWh (HA's UnitOfEnergy).
ENERGY_UNITS_KWH: dict[str, float] = {"Wh": 0.001, "kWh": 1.0, "MWh": 1000.0}


@dataclass(frozen=True, slots=True)
class Register:
    """One value of the meter.

    key: the entity's id suffix (`sensor.<name>_<key>`); address: 0-based register address
    (the protocol address, not the 3xxxx/4xxxx "register number"); input_type: "input"
    (function 04) or "holding" (function 03); data_type: one of DATA_TYPES; word_order:
    "big" = most significant word first; scale: multiplies the raw number; precision:
    decimals published (None: as read).
    """

    key: str
    name: str
    address: int
    input_type: str
    data_type: str
    word_order: str = "big"
    scale: float = 1.0
    precision: int | None = None
    unit_of_measurement: str | None = None
    device_class: str | None = None
    state_class: str | None = None

    @property
    def count(self) -> int:
        return DATA_TYPES[self.data_type]

    @property
    def is_energy_counter(self) -> bool:
        """A counter that may only rise, checked against the physical maximum."""
        return (
            self.device_class == "energy"
            and self.state_class == "total_increasing"
            and self.unit_of_measurement in ENERGY_UNITS_KWH
        )


def _energy(
    key: str, name: str, address: int, input_type: str, data_type: str, scale: float
) -> Register:
    return Register(
        key,
        name,
        address,
        input_type,
        data_type,
        "big",
        scale,
        3,
        "kWh",
        "energy",
        "total_increasing",
    )


def _measure(
    key: str,
    name: str,
    address: int,
    input_type: str,
    data_type: str,
    scale: float,
    precision: int,
    unit: str,
    device_class: str,
) -> Register:
    return Register(
        key,
        name,
        address,
        input_type,
        data_type,
        "big",
        scale,
        precision,
        unit,
        device_class,
        "measurement",
    )


def _eastron(phases: int) -> tuple[Register, ...]:
    float_ = ("input", "float32", 1.0)
    registers = [
        _energy("energy", "energy", 0x0048, *float_),
        _energy("energy_export", "energy export", 0x004A, *float_),
        _measure("frequency", "frequency", 0x0046, *float_, 2, "Hz", "frequency"),
    ]
    if phases == 3:
        registers.append(_measure("power", "power", 0x0034, *float_, 1, "W", "power"))
    else:
        registers.append(_measure("power", "power", 0x000C, *float_, 1, "W", "power"))
    for phase in range(1, phases + 1):
        offset = 2 * (phase - 1)
        registers.append(
            _measure(
                f"voltage_l{phase}",
                f"voltage L{phase}",
                0x0000 + offset,
                *float_,
                1,
                "V",
                "voltage",
            )
        )
        registers.append(
            _measure(
                f"current_l{phase}",
                f"current L{phase}",
                0x0006 + offset,
                *float_,
                2,
                "A",
                "current",
            )
        )
    return tuple(registers)


def _abb_b23() -> tuple[Register, ...]:
    registers = [
        _energy("energy", "energy", 0x5000, "holding", "uint64", 0.01),
        _energy("energy_export", "energy export", 0x5004, "holding", "uint64", 0.01),
        _measure("power", "power", 0x5B14, "holding", "int32", 0.01, 1, "W", "power"),
        _measure("frequency", "frequency", 0x5B2C, "holding", "uint16", 0.01, 2, "Hz", "frequency"),
    ]
    for phase in (1, 2, 3):
        offset = 2 * (phase - 1)
        registers.append(
            _measure(
                f"voltage_l{phase}",
                f"voltage L{phase}",
                0x5B00 + offset,
                "holding",
                "uint32",
                0.1,
                1,
                "V",
                "voltage",
            )
        )
        registers.append(
            _measure(
                f"current_l{phase}",
                f"current L{phase}",
                0x5B0C + offset,
                "holding",
                "uint32",
                0.01,
                2,
                "A",
                "current",
            )
        )
    return tuple(registers)


MODELS: dict[str, tuple[Register, ...]] = {
    "abb_b23": _abb_b23(),
    "eastron_sdm630": _eastron(3),
    "eastron_sdm120": _eastron(1),
}


@dataclass(frozen=True, slots=True)
class Block:
    """Registers read with one request: `count` words from `address`."""

    input_type: str
    address: int
    count: int
    registers: tuple[Register, ...]


# A Modbus read returns at most 125 registers (Modbus Application Protocol v1.1b3, 6.3/6.4).
MAX_READ = 125


def plan_reads(registers: tuple[Register, ...]) -> tuple[Block, ...]:
    """Group registers into as few reads as possible, merging only adjacent or overlapping
    ranges: a gap may hold addresses the meter answers with an exception (ABB does)."""
    blocks: list[Block] = []
    ordered = sorted(registers, key=lambda r: (r.input_type, r.address))
    for register in ordered:
        last = blocks[-1] if blocks else None
        end = register.address + register.count
        if (
            last is not None
            and last.input_type == register.input_type
            and register.address <= last.address + last.count
            and max(end, last.address + last.count) - last.address <= MAX_READ
        ):
            blocks[-1] = Block(
                last.input_type,
                last.address,
                max(end, last.address + last.count) - last.address,
                (*last.registers, register),
            )
        else:
            blocks.append(Block(register.input_type, register.address, register.count, (register,)))
    return tuple(blocks)
