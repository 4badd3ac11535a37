"""The station on an existing MQTT broker: states and events out, commands in, and Home
Assistant MQTT discovery, so a fleet of stations shows up in one place (docs/mqtt.md).

Only the schema lives here (check-config imports it); aiomqtt is imported in `async_setup`.
Topics (base `orge`, station id `S`):

    orge/S/availability                 online / offline (last will), retained
    orge/S/<domain>/<object_id>/state    the state, retained
    orge/S/<domain>/<object_id>/attributes  the attributes as JSON, retained
    orge/S/event/<event_type>            {"event_type", "data", "time_fired"}
    orge/S/command  ->  orge/S/response  {"id", "domain", "service", "data"} ->
                                         {"id", "success", "result" | "error"}
    homeassistant/<component>/S/<object_id>/config   discovery, retained
"""

from __future__ import annotations

import re
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge
from orge.helpers.entity_filter import FILTER_SCHEMA

DOMAIN = "mqtt"

# Bus events an operator of a fleet cares about: controller faults and reboots, the
# charger's state (a session starts and ends with it), the OCPP link falling back,
# the tunnel's address and the Pi's power supply.
DEFAULT_EVENT_TYPES = [
    "esp32_info",
    "esp32_rebooted",
    "esp32_state_changed",
    "ocpp_primary_failed",
    "ocpp_primary_restored",
    "ocpp_reset",
    "ocpp_session_started",
    "ocpp_session_ended",
    "ngrok_tunnel_changed",
    "power_monitor_problem",
]

# A topic level that is safe everywhere: no MQTT wildcard or separator, and HA's
# discovery node_id/object_id alphabet ([a-zA-Z0-9_-]).
_TOPIC_LEVEL = re.compile(r"^[A-Za-z0-9_-]+$")


def topic_level(value: Any) -> str:
    """One MQTT topic level usable in a discovery topic too: letters, digits, `_`, `-`."""
    text = cv.strict_string(value)
    if not _TOPIC_LEVEL.match(text):
        raise vol.Invalid(f"only letters, digits, '_' and '-' are allowed, got {text!r}")
    return text


def base_topic(value: Any) -> str:
    """A topic prefix: levels separated by `/`, no wildcards, no empty level."""
    text = cv.strict_string(value)
    for level in text.split("/"):
        topic_level(level)
    return text


def _protocol(value: Any) -> str:
    text = str(value).strip()
    if text in ("3.1.1", "311", "4"):
        return "3.1.1"
    if text in ("5", "5.0"):
        return "5"
    raise vol.Invalid(f"protocol must be 3.1.1 or 5, got {value!r}")


BUTTON_SCHEMA = vol.Schema(
    {
        vol.Required("name"): cv.string,
        vol.Required("action"): cv.service,
        vol.Optional("data", default={}): dict,
        vol.Optional("icon"): cv.string,
    }
)


def _consistent(config: dict[str, Any]) -> dict[str, Any]:
    """Pairs one option alone cannot check."""
    if config.get("client_key") and not config.get("client_cert"):
        raise vol.Invalid("client_key is set without client_cert", path=["client_key"])
    if config["reconnect_min"] > config["reconnect_max"]:
        raise vol.Invalid("reconnect_min is larger than reconnect_max", path=["reconnect_min"])
    return config


CONFIG_SCHEMA = vol.All(
    {
        vol.Required("broker"): cv.string,
        vol.Optional("port"): cv.port,
        vol.Optional("username"): cv.string,
        vol.Optional("password"): cv.string,
        vol.Optional("client_id"): cv.string,
        vol.Optional("protocol", default="3.1.1"): _protocol,
        vol.Optional("keepalive", default=60): vol.All(vol.Coerce(int), vol.Range(min=5)),
        vol.Optional("certificate"): cv.string,
        vol.Optional("client_cert"): cv.string,
        vol.Optional("client_key"): cv.string,
        vol.Optional("tls_insecure", default=False): cv.boolean,
        vol.Optional("base_topic", default="orge"): base_topic,
        vol.Optional("reconnect_min", default=10.0): vol.All(
            cv.period_seconds(), vol.Range(min=0.01)
        ),
        vol.Optional("reconnect_max", default=120.0): vol.All(
            cv.period_seconds(), vol.Range(min=0.01)
        ),
        vol.Optional("min_interval", default=5.0): vol.All(cv.period_seconds(), vol.Range(min=0)),
        vol.Optional("entity_min_interval", default={}): {
            cv.entity_id: vol.All(cv.period_seconds(), vol.Range(min=0))
        },
        vol.Optional("include", default={}): FILTER_SCHEMA,
        vol.Optional("exclude", default={}): FILTER_SCHEMA,
        vol.Optional("event_types", default=DEFAULT_EVENT_TYPES): vol.All(
            cv.ensure_list, [cv.string]
        ),
        vol.Optional("event_buffer", default=100): vol.All(vol.Coerce(int), vol.Range(min=0)),
        vol.Optional("max_pending", default=5000): vol.All(vol.Coerce(int), vol.Range(min=10)),
        vol.Optional("allowed_services", default=[]): vol.All(cv.ensure_list, [cv.service]),
        vol.Optional("discovery", default=True): cv.boolean,
        vol.Optional("discovery_prefix", default="homeassistant"): base_topic,
        vol.Optional("model", default="ORGE AC charging station"): cv.string,
        vol.Optional("manufacturer", default="ORGE"): cv.string,
        vol.Optional("buttons", default={}): {topic_level: BUTTON_SCHEMA},
    },
    _consistent,
)


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    from .station import async_setup_mqtt

    return await async_setup_mqtt(orge, config)


def configured_entity_ids(config: dict[str, Any]) -> set[str]:
    """The link's own health: connected, and commands refused."""
    return {"binary_sensor.mqtt_connected", "sensor.mqtt_rejected_commands"}
