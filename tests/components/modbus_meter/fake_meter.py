"""A meter played by pymodbus's own server (Modbus TCP on loopback, or RTU on one end of a
socat pseudo-terminal pair), serving the registers of a real model with known values.

The register tables here are written from the manufacturers' documents independently of
components/modbus_meter/registers.py, so a wrong address or type there fails the tests.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import struct
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice


def float32(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [high, low]


def uint(value: int, words: int) -> list[int]:
    return [(value >> (16 * (words - 1 - i))) & 0xFFFF for i in range(words)]


def int32(value: int) -> list[int]:
    return uint(value & 0xFFFFFFFF, 2)


# What the meter shows on its display, in the published units.
READING = {
    "energy": 1234.56,  # kWh
    "energy_export": 7.89,  # kWh
    "power": 7360.5,  # W
    "voltage_l1": 230.1,
    "voltage_l2": 229.8,
    "voltage_l3": 231.2,
    "current_l1": 10.51,
    "current_l2": 10.42,
    "current_l3": 10.33,
    "frequency": 49.98,
}


def eastron_words(reading: dict[str, float], phases: int) -> dict[int, list[int]]:
    """SDM630 / SDM120 input registers (function 04): float32, high word first."""
    words = {
        0x0048: float32(reading["energy"]),  # 30073 total import kWh
        0x004A: float32(reading["energy_export"]),  # 30075 total export kWh
        0x0046: float32(reading["frequency"]),  # 30071 frequency Hz
    }
    # 30053 total system power (SDM630); 30013 active power (SDM120, phase 1 power).
    words[0x0034 if phases == 3 else 0x000C] = float32(reading["power"])
    for phase in range(1, phases + 1):
        words[2 * (phase - 1)] = float32(reading[f"voltage_l{phase}"])  # 30001/03/05
        words[0x0006 + 2 * (phase - 1)] = float32(reading[f"current_l{phase}"])  # 30007/09/11
    return words


def abb_words(reading: dict[str, float]) -> dict[int, list[int]]:
    """ABB B23 holding registers (function 03), big-endian words."""
    words = {
        0x5000: uint(round(reading["energy"] * 100), 4),  # uint64, 0.01 kWh
        0x5004: uint(round(reading["energy_export"] * 100), 4),
        0x5B14: int32(round(reading["power"] * 100)),  # int32, 0.01 W
        0x5B2C: uint(round(reading["frequency"] * 100), 1),  # uint16, 0.01 Hz
    }
    for phase in (1, 2, 3):
        words[0x5B00 + 2 * (phase - 1)] = uint(round(reading[f"voltage_l{phase}"] * 10), 2)
        words[0x5B0C + 2 * (phase - 1)] = uint(round(reading[f"current_l{phase}"] * 100), 2)
    return words


class FakeMeter:
    """`reading` can be changed at any time; `silent`, `garble` and `exception` make the
    next answers go missing, arrive with a broken CRC, or carry a Modbus exception code."""

    def __init__(self, model: str, slave: int = 1, reading: dict[str, float] | None = None):
        self.model = model
        self.slave = slave
        self.reading = dict(READING if reading is None else reading)
        self.silent = False
        self.garble = False
        self.exception: ExcCodes | None = None
        self.requests = 0
        self.server: ModbusTcpServer | ModbusSerialServer | None = None

    def words(self) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
        """(holding, input) register words for the current reading."""
        if self.model == "abb_b23":
            return abb_words(self.reading), {}
        phases = 3 if self.model == "eastron_sdm630" else 1
        return {}, eastron_words(self.reading, phases)

    def device(self) -> SimDevice:
        holding, inputs = self.words()
        return SimDevice(
            id=self.slave,
            simdata=(
                [SimData(0, values=False, datatype=DataType.BITS)],
                [SimData(0, values=False, datatype=DataType.BITS)],
                self._blocks(holding),
                self._blocks(inputs),
            ),
            action=self._action,
        )

    @staticmethod
    def _blocks(words: dict[int, list[int]]) -> list[SimData]:
        if not words:
            return [SimData(0, values=0, datatype=DataType.REGISTERS)]
        return [
            SimData(address, values=list(value), datatype=DataType.REGISTERS)
            for address, value in sorted(words.items())
        ]

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        _values: Any,
    ) -> ExcCodes | None:
        self.requests += 1
        if self.exception is not None:
            return self.exception
        holding, inputs = self.words()
        for first, value in (holding if function_code == 3 else inputs).items():
            for i, word in enumerate(value):
                if 0 <= first + i - start_address < len(registers):
                    registers[first + i - start_address] = word
        return None

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            return data
        if self.silent:
            return b""
        if self.garble and data:
            return data[:-1] + bytes([data[-1] ^ 0xFF])  # last CRC byte wrong
        return data

    async def serve_tcp(self, port: int) -> None:
        self.server = ModbusTcpServer(
            self.device(), address=("127.0.0.1", port), trace_packet=self._trace
        )
        await self.server.serve_forever(background=True)

    async def serve_rtu(self, port: str, baudrate: int = 19200) -> None:
        self.server = ModbusSerialServer(
            self.device(), port=port, baudrate=baudrate, trace_packet=self._trace
        )
        await self.server.serve_forever(background=True)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def pty_pair(folder: Path) -> AsyncIterator[tuple[str, str]]:
    """Two linked pseudo-terminals (meter side, station side) made by socat: what one writes
    the other reads, as on an RS485 line."""
    if shutil.which("socat") is None:
        raise RuntimeError("socat is needed for the RTU tests (apt-get install socat)")
    meter, station = folder / "meter-tty", folder / "station-tty"
    process = subprocess.Popen(
        [
            "socat",
            f"pty,raw,echo=0,link={meter}",
            f"pty,raw,echo=0,link={station}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            if meter.exists() and station.exists():
                break
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("socat made no pseudo-terminals")
        yield str(meter), str(station)
    finally:
        process.terminate()
        process.wait(5)
