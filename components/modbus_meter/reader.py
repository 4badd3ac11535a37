"""Reads the meter through pymodbus's async client: one poll every `scan_interval`, errors
counted per kind, back-off while the meter is away, and energy counters checked against
what the installation can physically draw before anything is published."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from .registers import DATA_TYPES, ENERGY_UNITS_KWH, Block, Register, plan_reads

_LOGGER = logging.getLogger(__name__)

# Error kinds, the attribute names of sensor.<name>_errors.
TIMEOUTS = "timeouts"  # no answer within `timeout`
CRC_ERRORS = "crc_errors"  # bytes came back but no valid frame (RTU: CRC mismatch, garbage)
EXCEPTION_ANSWERS = "exception_answers"  # the meter answered with a Modbus exception code
CONNECTION_ERRORS = "connection_errors"  # the serial port or TCP gateway could not be opened
INVALID_ANSWERS = "invalid_answers"  # a well-formed answer of the wrong size or kind
REFUSED_READINGS = "refused_readings"  # an energy reading that went backwards or jumped
ERROR_KINDS = (
    TIMEOUTS,
    CRC_ERRORS,
    EXCEPTION_ANSWERS,
    CONNECTION_ERRORS,
    INVALID_ANSWERS,
    REFUSED_READINGS,
)

# Modbus Application Protocol Specification v1.1b3, section 7 (exception codes).
EXCEPTION_NAMES = {
    1: "illegal_function",
    2: "illegal_data_address",
    3: "illegal_data_value",
    4: "server_device_failure",
    5: "acknowledge",
    6: "server_device_busy",
    8: "memory_parity_error",
    10: "gateway_path_unavailable",
    11: "gateway_target_failed_to_respond",
}

# A counter's last digit may tick over between two reads at the limit: allow at least one
# count of 0.01 kWh (the resolution of the ABB and Eastron registers) above the maximum.
MIN_ENERGY_TOLERANCE_KWH = 0.01


class PollFailed(Exception):
    """One read of the meter failed; `kind` is one of ERROR_KINDS."""

    def __init__(self, kind: str, message: str, exception_code: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.exception_code = exception_code


def decode(register: Register, words: list[int]) -> float | int:
    """The register's value from its words (pymodbus's converter), scaled and rounded to
    `precision`; an integer register with a whole scale stays an exact int.

    Raises ValueError when the words are not a number (a float32 NaN or infinity)."""
    data_type = AsyncModbusTcpClient.DATATYPE[register.data_type.upper()]
    raw = AsyncModbusTcpClient.convert_from_registers(
        words,
        data_type,
        word_order=register.word_order,  # type: ignore[arg-type]
    )
    if isinstance(raw, int) and float(register.scale).is_integer():
        return raw * int(register.scale)
    value = float(raw) * register.scale  # type: ignore[arg-type]
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{register.key} is not a number ({raw})")
    if register.precision is not None:
        value = round(value, register.precision)
        if register.precision == 0:
            return int(value)
    return value


class MeterReader:
    """The meter's link and its latest accepted values.

    `values` maps register key -> value in the register's unit; `available` is False after
    `max_failures` failed polls in a row (and before the first good one); `errors` counts
    each kind since start. `on_update()` is called after every poll.
    """

    def __init__(self, config: dict[str, Any], on_update: Callable[[], None]) -> None:
        self.config = config
        self.registers: tuple[Register, ...] = tuple(config["registers"])
        self.blocks: tuple[Block, ...] = plan_reads(self.registers)
        self.on_update = on_update
        self.values: dict[str, float | int] = {}
        self.available = False
        self.failures = 0
        self.errors: dict[str, int] = dict.fromkeys(ERROR_KINDS, 0)
        self.exception_codes: dict[str, int] = {}
        self.last_error: str | None = None
        self.last_refused: dict[str, Any] | None = None
        self.last_read: float | None = None  # time.time() of the last good poll
        self.polls = 0
        self.requests = 0  # register read requests sent (metrics.py)
        self.reads = 0  # polls the meter answered in full (metrics.py)
        # key -> (reading in kWh, monotonic time) of the last accepted energy reading
        self._accepted: dict[str, tuple[float, float]] = {}
        self._received = False
        self.client = self._make_client()

    @property
    def where(self) -> str:
        config = self.config
        if "host" in config:
            return f"{config['host']}:{config['tcp_port']}"
        return config["port"]

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        # Tells a CRC error (bytes came, no valid frame) from silence, which pymodbus
        # reports alike, as "no response".
        if sending:
            self._received = False
        elif data:
            self._received = True
        return data

    def _make_client(self) -> AsyncModbusSerialClient | AsyncModbusTcpClient:
        config = self.config
        # retries=0 and reconnect_delay=0: this reader retries, backs off and reconnects
        # itself, so each failure is seen and counted once.
        common: dict[str, Any] = {
            "timeout": config["timeout"],
            "retries": 0,
            "reconnect_delay": 0,
            "trace_packet": self._trace_packet,
        }
        if "host" in config:
            return AsyncModbusTcpClient(config["host"], port=config["tcp_port"], **common)
        return AsyncModbusSerialClient(
            config["port"],
            framer=FramerType.RTU,
            baudrate=config["baudrate"],
            bytesize=config["bytesize"],
            parity=config["parity"],
            stopbits=config["stopbits"],
            **common,
        )

    def accept_next_reading(self) -> None:
        """Forget the energy baselines: the next readings are accepted as they are (a meter
        swapped or reset on purpose)."""
        _LOGGER.warning(
            "Meter on %s: energy baselines cleared; the next reading is accepted as it is",
            self.where,
        )
        self._accepted.clear()

    def next_delay(self) -> float:
        """Seconds until the next poll: scan_interval, doubling (up to max_backoff) for
        each failed poll beyond max_failures."""
        interval = self.config["scan_interval"]
        beyond = self.failures - self.config["max_failures"]
        if beyond < 0:
            return interval
        return min(interval * 2 ** (beyond + 1), max(self.config["max_backoff"], interval))

    async def run(self) -> None:
        """Poll until cancelled, on a fixed schedule (a slow answer does not shift it)."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        try:
            while True:
                try:
                    await self.poll()
                except Exception as err:  # a bug must not stop the readings
                    _LOGGER.exception("Meter on %s: unexpected error while reading", self.where)
                    self._failed(PollFailed(INVALID_ANSWERS, f"unexpected error: {err!r}"))
                next_at = max(next_at + self.next_delay(), loop.time())
                await asyncio.sleep(next_at - loop.time())
        finally:
            self.client.close()

    async def poll(self) -> bool:
        """Read every block once; publish on success. True if the meter answered."""
        self.polls += 1
        try:
            words = await self._read_all()
            values = {
                register.key: decode(register, words[register.key]) for register in self.registers
            }
        except PollFailed as err:
            self._failed(err)
            return False
        except ValueError as err:
            self._failed(PollFailed(INVALID_ANSWERS, str(err)))
            return False
        self.reads += 1
        self._accept(values)
        return True

    async def _read_all(self) -> dict[str, list[int]]:
        client = self.client
        if not client.connected:
            try:
                connected = await client.connect()
            except (OSError, ModbusException) as err:
                raise PollFailed(CONNECTION_ERRORS, f"cannot open {self.where}: {err}") from None
            if not connected:
                raise PollFailed(CONNECTION_ERRORS, f"cannot open {self.where}")
        words: dict[str, list[int]] = {}
        for block in self.blocks:
            answer = await self._read_block(block)
            for register in block.registers:
                start = register.address - block.address
                words[register.key] = answer[start : start + DATA_TYPES[register.data_type]]
        return words

    async def _read_block(self, block: Block) -> list[int]:
        client = self.client
        read = (
            client.read_input_registers
            if block.input_type == "input"
            else client.read_holding_registers
        )
        what = f"{block.input_type} registers {block.address:#06x}+{block.count}"
        self._received = False
        self.requests += 1
        try:
            answer = await read(block.address, count=block.count, device_id=self.config["slave"])
        except ModbusIOException:
            if self._received:
                raise PollFailed(CRC_ERRORS, f"{what}: no valid frame in the answer") from None
            raise PollFailed(
                TIMEOUTS, f"{what}: no answer within {self.config['timeout']} s"
            ) from None
        except ConnectionException as err:
            self.client.close()
            raise PollFailed(CONNECTION_ERRORS, f"{what}: {err}") from None
        except ModbusException as err:
            raise PollFailed(INVALID_ANSWERS, f"{what}: {err}") from None
        if answer.isError():
            code = getattr(answer, "exception_code", 0)
            name = EXCEPTION_NAMES.get(code, f"code_{code}")
            raise PollFailed(EXCEPTION_ANSWERS, f"{what}: exception {code} ({name})", code)
        registers = list(getattr(answer, "registers", []) or [])
        if len(registers) != block.count:
            raise PollFailed(INVALID_ANSWERS, f"{what}: {len(registers)} registers in the answer")
        return registers

    def _failed(self, err: PollFailed) -> None:
        self.errors[err.kind] += 1
        if err.exception_code is not None:
            name = EXCEPTION_NAMES.get(err.exception_code, f"code_{err.exception_code}")
            self.exception_codes[name] = self.exception_codes.get(name, 0) + 1
        self.last_error = str(err)
        self.failures += 1
        if self.failures == self.config["max_failures"]:
            _LOGGER.warning(
                "Meter on %s unavailable after %d failed reads (last: %s); retrying with "
                "back-off up to %g s",
                self.where,
                self.failures,
                err,
                self.config["max_backoff"],
            )
            self.available = False
        else:
            _LOGGER.debug("Meter on %s: read failed (%s)", self.where, err)
        self.on_update()

    def _accept(self, values: dict[str, float | int]) -> None:
        now = time.monotonic()
        for register in self.registers:
            if register.is_energy_counter and not self._plausible(register, values, now):
                values[register.key] = self.values.get(register.key)  # type: ignore[assignment]
        if self.failures >= self.config["max_failures"]:
            _LOGGER.info(
                "Meter on %s answers again after %d failed reads", self.where, self.failures
            )
        self.failures = 0
        self.available = True
        self.last_read = time.time()
        self.values = {key: value for key, value in values.items() if value is not None}
        self.on_update()

    def _plausible(self, register: Register, values: dict[str, float | int], now: float) -> bool:
        """False (and logged, counted) for a reading below the last accepted one or above it
        by more than max_power over the time since: a swapped or reset meter, or a corrupt
        answer, must not reach the CSMS as a negative or impossible session."""
        factor = ENERGY_UNITS_KWH[register.unit_of_measurement or "kWh"]
        kwh = values[register.key] * factor
        last = self._accepted.get(register.key)
        if last is not None:
            last_kwh, last_time = last
            elapsed = now - last_time
            step = register.scale * factor if register.data_type != "float32" else 0.0
            allowed = self.config["max_power"] * elapsed / 3_600_000 + max(
                step, MIN_ENERGY_TOLERANCE_KWH
            )
            reason = None
            if kwh < last_kwh:
                reason = f"went backwards from {last_kwh:g} to {kwh:g} kWh"
            elif kwh - last_kwh > allowed:
                reason = (
                    f"rose by {kwh - last_kwh:g} kWh in {elapsed:.1f} s, more than "
                    f"{self.config['max_power']:g} W can deliver ({allowed:g} kWh)"
                )
            if reason is not None:
                self.errors[REFUSED_READINGS] += 1
                self.last_refused = {
                    "key": register.key,
                    "value": values[register.key],
                    "accepted": self.values.get(register.key),
                    "reason": reason,
                }
                _LOGGER.warning(
                    "Meter on %s: %s reading %s %s refused: %s; keeping %s",
                    self.where,
                    register.key,
                    values[register.key],
                    register.unit_of_measurement,
                    reason,
                    self.values.get(register.key),
                )
                return False
        self._accepted[register.key] = (kwh, now)
        return True
