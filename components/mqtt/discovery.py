"""Home Assistant MQTT discovery: the station as one device, its entities as HA entities.

Topic `<prefix>/<component>/<station_id>/<object_id>/config` (retained), payload as HA
documents it (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery): `name`,
`unique_id`, `object_id`, `state_topic`, `json_attributes_topic`, `availability_topic`,
`device` (`identifiers`, `name`, `model`, `manufacturer`, `sw_version`), and per
component `device_class`, `state_class`, `unit_of_measurement`, `payload_on/off`,
`command_topic`, `min`/`max`/`step`/`mode`. Everything is read from the state machine
(attributes `friendly_name`, `device_class`, `unit_of_measurement`, `state_class`, `min`,
`max`, `step`, `mode`): no component is imported. A control (number, button, switch) gets
a `command_topic` only when the service it maps to is allowed; otherwise it is not
announced. Device classes HA does not know are left out (HA would refuse the whole config).
"""

from __future__ import annotations

from typing import Any

from orge.helpers.entity_filter import EntityFilter

from .outbox import Outbox
from .states import entity_topic, to_json

# HA 2024.3's SensorDeviceClass / BinarySensorDeviceClass / NumberDeviceClass values.
SENSOR_DEVICE_CLASSES = frozenset(
    "apparent_power aqi atmospheric_pressure battery carbon_monoxide carbon_dioxide current "
    "data_rate data_size date distance duration energy energy_storage enum frequency gas "
    "humidity illuminance irradiance moisture monetary nitrogen_dioxide nitrogen_monoxide "
    "nitrous_oxide ozone ph pm1 pm10 pm25 power_factor power precipitation "
    "precipitation_intensity pressure reactive_power signal_strength sound_pressure speed "
    "sulphur_dioxide temperature timestamp volatile_organic_compounds "
    "volatile_organic_compounds_parts voltage volume volume_storage volume_flow_rate water "
    "weight wind_speed".split()
)
NUMBER_DEVICE_CLASSES = SENSOR_DEVICE_CLASSES - {"date", "enum", "timestamp"}
BINARY_SENSOR_DEVICE_CLASSES = frozenset(
    "battery battery_charging carbon_monoxide cold connectivity door garage_door gas heat "
    "light lock moisture motion moving occupancy opening plug power presence problem running "
    "safety smoke sound tamper update vibration window".split()
)
STATE_CLASSES = frozenset({"measurement", "total", "total_increasing"})
NUMBER_MODES = frozenset({"auto", "box", "slider"})

# ORGE's `unknown`/`unavailable` become HA's "no value" (the payload `None`).
VALUE_TEMPLATE = "{{ 'None' if value in ('unknown', 'unavailable') else value }}"

# The service each controllable domain's command maps to.
ENTITY_SERVICES = {
    "number": ("number.set_value",),
    "button": ("button.press",),
    "switch": ("switch.turn_on", "switch.turn_off"),
}


def command_topic(base: str, entity_id: str) -> str:
    return f"{entity_topic(base, entity_id)}/set"


def action_topic(base: str, key: str) -> str:
    return f"{base}/action/{key}"


class Discovery:
    def __init__(
        self,
        prefix: str,
        station_id: str,
        base: str,
        availability_topic: str,
        device: dict[str, Any],
        allowed: frozenset[str],
        buttons: dict[str, dict[str, Any]],
        outbox: Outbox,
        entity_filter: EntityFilter,
    ) -> None:
        self._outbox = outbox
        self._filter = entity_filter
        # entity id -> (discovery topic, payload) last handed to the outbox
        self._announced: dict[str, tuple[str, bytes]] = {}
        self._prefix = prefix
        self._station_id = station_id
        self._base = base
        self._availability = availability_topic
        self._device = device
        self._allowed = allowed
        self._buttons = buttons

    def topic(self, component: str, object_id: str) -> str:
        return f"{self._prefix}/{component}/{self._station_id}/{object_id}/config"

    def _common(self, name: str, unique: str) -> dict[str, Any]:
        return {
            "name": name,
            "unique_id": f"{self._station_id}_{unique}",
            "object_id": f"{self._station_id}_{unique}".lower(),
            "availability_topic": self._availability,
            "device": self._device,
        }

    def entity_config(self, entity_id: str, attributes: dict[str, Any]) -> tuple[str, dict] | None:
        """(topic, payload) announcing `entity_id`, or None when HA has no place for it."""
        domain, _, object_id = entity_id.partition(".")
        if domain in ENTITY_SERVICES and not all(
            s in self._allowed for s in ENTITY_SERVICES[domain]
        ):
            return None
        if domain not in ("sensor", "binary_sensor", *ENTITY_SERVICES):
            return None
        topic = entity_topic(self._base, entity_id)
        payload = self._common(str(attributes.get("friendly_name") or object_id), object_id)
        payload["json_attributes_topic"] = f"{topic}/attributes"
        if domain != "button":
            payload["state_topic"] = f"{topic}/state"
        if attributes.get("icon"):
            payload["icon"] = attributes["icon"]
        device_class = attributes.get("device_class")
        unit = attributes.get("unit_of_measurement")
        if domain == "sensor":
            payload["value_template"] = VALUE_TEMPLATE
            if device_class in SENSOR_DEVICE_CLASSES:
                payload["device_class"] = device_class
            if attributes.get("state_class") in STATE_CLASSES:
                payload["state_class"] = attributes["state_class"]
            if unit:
                payload["unit_of_measurement"] = str(unit)
        elif domain in ("binary_sensor", "switch"):
            payload["value_template"] = VALUE_TEMPLATE
            payload["payload_on"] = "on"
            payload["payload_off"] = "off"
            if domain == "switch":
                payload["state_on"] = "on"
                payload["state_off"] = "off"
                payload["payload_on"] = "ON"
                payload["payload_off"] = "OFF"
                payload["command_topic"] = command_topic(self._base, entity_id)
            elif device_class in BINARY_SENSOR_DEVICE_CLASSES:
                payload["device_class"] = device_class
        elif domain == "number":
            payload["value_template"] = VALUE_TEMPLATE
            payload["command_topic"] = command_topic(self._base, entity_id)
            for key in ("min", "max", "step"):
                if isinstance(attributes.get(key), int | float):
                    payload[key] = attributes[key]
            if attributes.get("mode") in NUMBER_MODES:
                payload["mode"] = attributes["mode"]
            if device_class in NUMBER_DEVICE_CLASSES:
                payload["device_class"] = device_class
            if unit:
                payload["unit_of_measurement"] = str(unit)
        elif domain == "button":
            payload["command_topic"] = command_topic(self._base, entity_id)
        return self.topic(domain, object_id), payload

    def button_configs(self) -> list[tuple[str, dict[str, Any]]]:
        """The configured action buttons (start/stop charging...) whose service is allowed."""
        found = []
        for key, button in self._buttons.items():
            if button["action"] not in self._allowed:
                continue
            payload = self._common(button["name"], f"action_{key}")
            payload["command_topic"] = action_topic(self._base, key)
            if button.get("icon"):
                payload["icon"] = button["icon"]
            found.append((self.topic("button", f"action_{key}"), payload))
        return found

    def announce(self, entity_id: str, attributes: Any) -> None:
        """Publish the entity's config if it is new or changed (retained)."""
        if not self._filter.entity(entity_id):
            return
        found = self.entity_config(entity_id, dict(attributes))
        if found is None:
            return
        topic, payload = found[0], to_json(found[1])
        if self._announced.get(entity_id) != (topic, payload):
            self._announced[entity_id] = (topic, payload)
            self._outbox.put_latest(topic, payload)

    def forget(self, entity_id: str) -> None:
        """The entity is gone: an empty retained config removes it from Home Assistant."""
        gone = self._announced.pop(entity_id, None)
        if gone is not None:
            self._outbox.put_latest(gone[0], b"")

    def announce_all(self, states: list[Any]) -> None:
        """Everything again (on each connect: the broker may have forgotten)."""
        self._announced.clear()
        for topic, payload in self.button_configs():
            self._outbox.put_latest(topic, to_json(payload))
        for state in states:
            self.announce(state.entity_id, state.attributes)
