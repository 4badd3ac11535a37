"""Setup of modbus_meter: the reader, its entities, and the polling task."""

from __future__ import annotations

import logging
from typing import Any

import voluptuous as vol

from orge.core import Orge, ServiceCall
from orge.entity import Entity, async_add_entities

from . import metrics
from .entities import build_entities
from .reader import MeterReader

DOMAIN = "modbus_meter"


async def async_setup_meter(orge: Orge, config: dict[str, Any]) -> bool:
    """Start polling in the background; an absent meter is not a setup failure (its
    entities stay unavailable until it answers)."""
    pymodbus_logger = logging.getLogger("pymodbus")
    if pymodbus_logger.level == logging.NOTSET:
        # pymodbus logs every unanswered request at ERROR; the reader counts them and logs
        # once when the meter goes away and once when it is back.
        pymodbus_logger.setLevel(logging.CRITICAL)
    entities: list[Entity] = []

    def write_states() -> None:
        for entity in entities:
            entity.async_write_state()

    reader = MeterReader(config, write_states)
    entities.extend(build_entities(reader, config["name"]))
    orge.data[DOMAIN] = reader
    metrics.register(orge, reader, config["name"])
    await async_add_entities(orge, DOMAIN, entities)

    async def accept_reading(_call: ServiceCall) -> None:
        reader.accept_next_reading()

    orge.services.async_register(DOMAIN, "accept_reading", accept_reading, vol.Schema({}))
    orge.async_create_background_task(reader.run(), f"modbus_meter {reader.where}")
    return True
