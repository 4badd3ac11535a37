"""The simulated meter: power from the charger's state and current, energy integrated on
the monotonic clock (a wall-clock jump must not add or remove energy)."""

from __future__ import annotations

import json
import logging
from typing import Any

from orge.core import EVENT_ORGE_FINAL_WRITE, Orge, callback
from orge.entity import SensorEntity, async_add_entities
from orge.helpers.event import async_track_time_interval
from orge.storage import storage_path, write_private_file

_LOGGER = logging.getLogger(__name__)
STORE = "demo_meter.json"


def _number(orge: Orge, entity_id: str) -> float | None:
    state = orge.states.get(entity_id)
    try:
        return float(state.state) if state is not None else None
    except ValueError:
        return None


class MeterSensor(SensorEntity):
    def __init__(
        self, meter: DemoMeter, key: str, name: str, unit: str, device_class: str, state_class: str
    ) -> None:
        self._meter = meter
        self._key = key
        self._attr_name = name
        self._attr_unit_of_measurement = unit
        self._attr_device_class = device_class
        self._attr_state_class = state_class

    @property
    def native_value(self) -> float:
        value = getattr(self._meter, self._key)
        return round(value, 3 if self._key == "energy_kwh" else 1)


class DemoMeter:
    def __init__(self, orge: Orge, config: dict[str, Any]) -> None:
        self.orge = orge
        self.config = config
        self.power_w = 0.0
        self.energy_kwh = self._load()
        self._last = orge.loop.time()
        self._entities: list[MeterSensor] = []

    def _path(self) -> str:
        return storage_path(self.orge.config.path(), STORE)

    def _load(self) -> float:
        try:
            with open(self._path(), encoding="utf-8") as handle:
                return float(json.load(handle)["energy_kwh"])
        except FileNotFoundError:
            return 0.0
        except (OSError, ValueError, KeyError, TypeError) as err:
            _LOGGER.error("Demo meter reading %s unreadable (%s); starting at 0", self._path(), err)
            return 0.0

    def _save(self) -> None:
        write_private_file(self._path(), json.dumps({"energy_kwh": self.energy_kwh}).encode())

    async def async_start(self) -> None:
        self._entities = [
            MeterSensor(self, "power_w", "Meter power", "W", "power", "measurement"),
            MeterSensor(self, "energy_kwh", "Meter energy", "kWh", "energy", "total_increasing"),
        ]
        await async_add_entities(self.orge, "demo", self._entities)
        cancel = async_track_time_interval(self.orge, self._tick, self.config["update_interval"])

        async def stop(_event: Any) -> None:
            cancel()
            self._tick(0)
            await self.orge.async_add_executor_job(self._save)

        self.orge.bus.async_listen_once(EVENT_ORGE_FINAL_WRITE, stop)

    def current_power(self) -> float:
        state = self.orge.states.get(self.config["state_entity"])
        if state is None or state.state not in self.config["charging_states"]:
            return 0.0
        offered = [
            value
            for value in (
                _number(self.orge, self.config["current_entity"]),
                _number(self.orge, self.config["limit_entity"]),
            )
            if value
        ]
        amps = min(offered) if offered else 0.0
        return float(self.config["voltage"] * amps * self.config["phases"])

    @callback
    def _tick(self, _now: float) -> None:
        now = self.orge.loop.time()
        self.energy_kwh += self.power_w * (now - self._last) / 3_600_000
        self._last = now
        self.power_w = self.current_power()
        for entity in self._entities:
            entity.async_write_state()
