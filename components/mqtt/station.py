"""The mqtt component at run time: wires the link, the publishers, discovery and commands,
and shows the link's health as entities (`binary_sensor.mqtt_connected`,
`sensor.mqtt_rejected_commands`)."""

from __future__ import annotations

from typing import Any

import orge
from orge import redact
from orge.core import EVENT_ORGE_STOP, EVENT_STATE_CHANGED, Event, Orge, callback
from orge.entity import BinarySensorEntity, SensorEntity, async_add_entities
from orge.exceptions import OrgeError
from orge.helpers.entity_filter import EntityFilter

from .commands import Commands
from .const import DOMAIN
from .discovery import Discovery
from .link import Link
from .outbox import Outbox
from .states import EventPublisher, StatePublisher
from .topics import topic_level


class ConnectedSensor(BinarySensorEntity):
    _attr_name = "MQTT connected"
    _attr_object_id = "mqtt_connected"
    _attr_device_class = "connectivity"

    def __init__(self, broker: str) -> None:
        self._attr_is_on = False
        self._attr_extra_state_attributes = {"broker": broker, "connects": 0, "waiting": 0}

    def update(self, is_on: bool, connects: int, waiting: int, dropped: int) -> None:
        """`waiting`: items in the outbox; `dropped`: items its bounds pushed out."""
        self._attr_is_on = is_on
        self._attr_extra_state_attributes = {
            **(self._attr_extra_state_attributes or {}),
            "connects": connects,
            "waiting": waiting,
            "dropped": dropped,
        }
        self.async_write_state()


class RejectedSensor(SensorEntity):
    """Commands refused (malformed or not allowed); attributes count them per reason."""

    _attr_name = "MQTT rejected commands"
    _attr_object_id = "mqtt_rejected_commands"
    _attr_state_class = "total_increasing"

    def __init__(self) -> None:
        self._attr_state = 0
        self._attr_extra_state_attributes = {}

    def add(self, code: str) -> None:
        self._attr_state += 1
        reasons = self._attr_extra_state_attributes
        reasons[code] = reasons.get(code, 0) + 1
        self._attr_extra_state_attributes = dict(reasons)
        self.async_write_state()


def station_id_of(hub: Orge) -> str:
    """The station id (`orge: station_id`), checked to be one topic level."""
    station_id = hub.config.station_id
    if not station_id:
        raise OrgeError(
            "mqtt needs the station id: set `orge: station_id:` (for a fleet:"
            " `station_id: !env_var OCPP_STATION_NAME`)"
        )
    try:
        return topic_level(station_id)
    except Exception as err:
        raise OrgeError(f"mqtt: station id {station_id!r} cannot be a topic level: {err}") from None


async def async_setup_mqtt(hub: Orge, config: dict[str, Any]) -> bool:
    station_id = station_id_of(hub)
    redact.register_secret(config.get("password"))
    base = f"{config['base_topic']}/{station_id}"
    availability_topic = f"{base}/availability"
    allowed = frozenset(config["allowed_services"])
    buttons = config["buttons"]

    outbox = Outbox(config["max_pending"], config["event_buffer"])
    connected = ConnectedSensor(config["broker"])
    rejected = RejectedSensor()
    await async_add_entities(hub, DOMAIN, [connected, rejected])

    entity_filter = EntityFilter(config["include"], config["exclude"])
    states = StatePublisher(
        hub, outbox, base, entity_filter, config["min_interval"], config["entity_min_interval"]
    )
    events = EventPublisher(outbox, base)
    discovery = None
    if config["discovery"]:
        device = {
            "identifiers": [station_id],
            "name": hub.config.name or station_id,
            "model": config["model"],
            "manufacturer": config["manufacturer"],
            "sw_version": orge.__version__,
        }
        discovery = Discovery(
            config["discovery_prefix"], station_id, base, availability_topic, device, allowed,
            buttons, outbox, entity_filter,
        )  # fmt: skip

    @callback
    def on_state_changed(event: Event) -> None:
        if discovery is not None:
            new = event.data.get("new_state")
            old = event.data.get("old_state")
            if new is None:
                discovery.forget(event.data["entity_id"])
            elif old is None or old.attributes != new.attributes:
                discovery.announce(new.entity_id, new.attributes)
        states.state_changed(event)

    @callback
    def on_connect() -> None:
        if discovery is not None:
            discovery.announce_all(hub.states.async_all())
        states.publish_all()

    @callback
    def on_connected_changed(is_on: bool) -> None:
        connected.update(is_on, link.connects, len(outbox), outbox.dropped)

    def reply(payload: bytes) -> None:
        outbox.put_event(f"{base}/response", payload)

    commands = Commands(hub, base, allowed, buttons, reply, rejected.add)

    async def on_message(topic: str, payload: bytes) -> None:
        # A slow service must not hold up the next message.
        hub.async_create_task(commands.handle(topic, payload))

    link = Link(
        hub,
        config,
        config.get("client_id") or station_id,
        availability_topic,
        commands.subscriptions,
        outbox,
        on_connect,
        on_message,
        on_connected_changed,
    )
    hub.bus.async_listen(EVENT_STATE_CHANGED, on_state_changed)
    for event_type in config["event_types"]:
        hub.bus.async_listen(event_type, events.event)

    async def on_stop(_event: Event) -> None:
        states.stop()
        await link.async_say_offline()

    hub.bus.async_listen_once(EVENT_ORGE_STOP, on_stop)
    hub.async_create_background_task(link.run(), "mqtt link")
    return True
