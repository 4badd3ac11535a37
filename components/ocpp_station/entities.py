"""The link's entities, the same for both protocols: sensor.<domain>_connection (state
and, as attributes, the URL and the next retry), _protocol (the agreed subprotocol or
`none`), _last_error (with the time it happened) and _queue (journal length, messages)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orge.core import Orge
from orge.entity import SensorEntity, async_add_entities


class LinkSensor(SensorEntity):
    """A sensor the station writes; `update()` writes only on a change."""

    def __init__(self, domain: str, key: str, name: str, icon: str, initial: Any) -> None:
        self._attr_object_id = f"{domain}_{key}"
        self._attr_name = name
        self._attr_icon = icon
        self._attr_state = initial
        self._attr_extra_state_attributes = {}

    def update(self, value: Any, **attributes: Any) -> None:
        if value == self._attr_state and attributes == self._attr_extra_state_attributes:
            return
        self._attr_state = value
        self._attr_extra_state_attributes = attributes
        if self.orge is not None and self.entity_id is not None:
            self.async_write_state()


class LinkSensors:
    """The four link sensors of one OCPP component (`label`: "OCPP 2.0.1", "OCPP 1.6");
    `orge` None: only to name them (`link_entity_ids`, check-config has no hub). `url`
    gives the URL the station dials now (credentials already removed: `urls.station_url`;
    a network profile may change it), shown as the connection's `url` attribute."""

    def __init__(
        self,
        orge: Orge | None,
        domain: str,
        label: str,
        url: Callable[[], str] | None = None,
    ) -> None:
        self.orge = orge
        self.domain = domain
        self.url = url
        self.connection = LinkSensor(
            domain, "connection", f"{label} connection", "mdi:lan-connect", "disconnected"
        )
        self.protocol = LinkSensor(
            domain, "protocol", f"{label} protocol", "mdi:swap-horizontal", "none"
        )
        self.error = LinkSensor(
            domain, "last_error", f"{label} last error", "mdi:alert-circle-outline", "none"
        )
        self.queue = LinkSensor(domain, "queue", f"{label} queue length", "mdi:tray-full", 0)
        self.queue._attr_unit_of_measurement = "messages"
        self.queue._attr_state_class = "measurement"

    @property
    def entities(self) -> list[LinkSensor]:
        return [self.connection, self.protocol, self.error, self.queue]

    async def async_add(self) -> None:
        assert self.orge is not None, "link sensors made without a hub only name entities"
        await async_add_entities(self.orge, self.domain, self.entities)

    def set_connection(self, value: str, **attributes: Any) -> None:
        """The connection's state; its attributes are `attributes` and, in every state, the
        `url` (the web page's Network view shows it)."""
        if self.url is not None:
            attributes = {"url": self.url(), **attributes}
        self.connection.update(value, **attributes)

    def set_protocol(self, value: str) -> None:
        self.protocol.update(value)

    def set_error(self, value: str, **attributes: Any) -> None:
        """At most 250 characters (a state); `none` once the link is fine again."""
        self.error.update(value[:250], **attributes)

    def set_queue(self, value: int) -> None:
        self.queue.update(value)


def link_entity_ids(domain: str) -> set[str]:
    """The ids `configured_entity_ids` of an OCPP component names: its four link sensors
    (`sensor.<domain>_connection`, ...), `sensor.<domain>_pending_current_limit` and the
    active protocol both components share."""
    from orge.check_names import entity_ids_of

    from .role import ACTIVE_PROTOCOL_ENTITY

    # and the charging-profile limit that waits for the controller (charging_limits)
    return entity_ids_of(LinkSensors(None, domain, "").entities, domain) | {
        ACTIVE_PROTOCOL_ENTITY,
        f"sensor.{domain}_pending_current_limit",
    }
