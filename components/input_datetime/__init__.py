"""input_datetime: `input_datetime: {name: {has_date, has_time, initial, name, icon}}`.

State is `YYYY-MM-DD HH:MM:SS`, `HH:MM:SS` or `YYYY-MM-DD`; the attributes (hour, minute,
second, year, month, day, timestamp) are what `time` triggers and conditions read.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge, ServiceCall

DOMAIN = "input_datetime"


def _parse(value: str, has_date: bool, has_time: bool) -> datetime:
    text = str(value).strip()
    if has_date and has_time:
        return datetime.fromisoformat(text.replace(" ", "T"))
    if has_date:
        return datetime.combine(date.fromisoformat(text), time())
    return datetime.combine(date.today(), cv.time_of_day(text))


def _valid(conf: dict[str, Any]) -> dict[str, Any]:
    if not conf["has_date"] and not conf["has_time"]:
        raise vol.Invalid("has_date and has_time cannot both be false")
    if "initial" in conf:
        try:
            _parse(conf["initial"], conf["has_date"], conf["has_time"])
        except (ValueError, vol.Invalid):
            raise vol.Invalid(f"invalid initial value {conf['initial']!r}") from None
    return conf


ITEM = vol.All(
    {
        vol.Optional("name", description="Friendly name."): cv.string,
        vol.Optional("has_date", default=False, description="The helper holds a date."): cv.boolean,
        vol.Optional(
            "has_time", default=False, description="The helper holds a time of day."
        ): cv.boolean,
        vol.Optional(
            "initial",
            description="Value at every start (YYYY-MM-DD, HH:MM:SS or both); without it the last value is restored.",
        ): cv.string,
        vol.Optional("icon", description="Icon, e.g. mdi:clock."): cv.string,
    },
    _valid,
)
CONFIG_SCHEMA = vol.Schema(vol.Any(None, {cv.slug: ITEM}))


async def async_setup(orge: Orge, config: dict[str, Any] | None) -> bool:
    from orge.entity import ENTITY_SERVICE_SCHEMA
    from orge.exceptions import ServiceValidationError
    from orge.restore_state import HelperEntity
    from orge.script.reload import async_replace_entities, register_reload
    from orge.template import time_zone

    tz = time_zone(orge)

    class InputDatetime(HelperEntity):
        domain = DOMAIN

        def __init__(self, key: str, conf: dict[str, Any]) -> None:
            super().__init__(key, conf)
            self.has_date, self.has_time = conf["has_date"], conf["has_time"]
            self.value: datetime | None = (
                _parse(conf["initial"], self.has_date, self.has_time) if "initial" in conf else None
            )
            if self.value is None and not self.has_date:
                self.value = datetime.combine(date.today(), time())

        @property
        def state(self) -> Any:
            if self.value is None:
                return None
            if self.has_date and self.has_time:
                return self.value.strftime("%Y-%m-%d %H:%M:%S")
            return self.value.strftime("%Y-%m-%d" if self.has_date else "%H:%M:%S")

        @property
        def extra_state_attributes(self) -> dict[str, Any]:
            attrs: dict[str, Any] = {
                "has_date": self.has_date,
                "has_time": self.has_time,
                "editable": False,
            }
            value = self.value
            if value is None:
                return attrs
            if self.has_date:
                attrs.update(year=value.year, month=value.month, day=value.day)
            if self.has_time:
                attrs.update(hour=value.hour, minute=value.minute, second=value.second)
            if self.has_date:
                attrs["timestamp"] = value.replace(tzinfo=tz).timestamp()
            else:
                attrs["timestamp"] = value.hour * 3600 + value.minute * 60 + value.second
            return attrs

        async def async_added_to_orge(self) -> None:
            await super().async_added_to_orge()
            if "initial" in self.conf:
                return
            last = await self.async_get_last_state()
            if last is None or last.state in ("unknown", "unavailable"):
                return
            try:
                self.value = _parse(last.state, self.has_date, self.has_time)
            except (ValueError, vol.Invalid):
                pass

        def set(self, data: dict[str, Any]) -> None:
            try:
                if "timestamp" in data:
                    moment = datetime.fromtimestamp(float(data["timestamp"]), tz).replace(
                        tzinfo=None
                    )
                elif "datetime" in data:
                    moment = datetime.fromisoformat(str(data["datetime"]).replace(" ", "T"))
                else:
                    current = self.value or datetime.combine(date.today(), time())
                    day = (
                        date.fromisoformat(str(data["date"])) if "date" in data else current.date()
                    )
                    moment_time = cv.time_of_day(data["time"]) if "time" in data else current.time()
                    moment = datetime.combine(day, moment_time)
            except (ValueError, vol.Invalid) as err:
                raise ServiceValidationError(
                    f"Invalid date/time for {self.entity_id}: {err}"
                ) from None
            if moment.tzinfo is not None:
                moment = moment.astimezone(tz).replace(tzinfo=None)
            if not self.has_date:
                moment = datetime.combine(date.today(), moment.time())
            if not self.has_time:
                moment = datetime.combine(moment.date(), time())
            self.value = moment

    def build(block: dict[str, Any] | None) -> list[Any]:
        return [InputDatetime(key, conf) for key, conf in (block or {}).items()]

    entities: dict[str, Any] = {}
    await async_replace_entities(orge, DOMAIN, entities, build(config))
    register_reload(orge, DOMAIN, CONFIG_SCHEMA, entities, build)

    async def set_datetime(call: ServiceCall) -> None:
        data = dict(call.data)
        if not any(key in data for key in ("date", "time", "datetime", "timestamp")):
            raise ServiceValidationError("set_datetime needs date, time, datetime or timestamp")
        wanted = data["entity_id"]
        for entity_id in list(entities) if wanted == "all" else wanted:
            entity = entities.get(entity_id)
            if entity is None:
                raise ServiceValidationError(f"{entity_id} is not an input_datetime")
            entity.set(data)
            entity.async_set_context(call.context)
            entity.async_write_state()

    schema = ENTITY_SERVICE_SCHEMA.extend(
        {
            vol.Optional("date"): cv.string,
            vol.Optional("time"): cv.string,
            vol.Optional("datetime"): cv.string,
            vol.Optional("timestamp"): vol.Coerce(float),
        }
    )
    orge.services.async_register(DOMAIN, "set_datetime", set_datetime, schema)
    return True


def configured_entity_ids(config: dict[str, Any] | None) -> set[str]:
    """`<domain>.<key>` for each helper declared in the block (docs/components.md)."""
    return {f"{DOMAIN}.{key}" for key in config or {}}
