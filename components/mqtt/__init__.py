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

from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge
from orge.helpers.entity_filter import FILTER_SCHEMA
from orge.json_schema import choices

from .const import DOMAIN as DOMAIN  # a component names its domain (docs/components.md)
from .topics import base_topic, topic_level

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


@cv.json_schema(choices(["3.1.1", 311, 4, 5, "5.0"]))
def _protocol(value: Any) -> str:
    text = str(value).strip()
    if text in ("3.1.1", "311", "4"):
        return "3.1.1"
    if text in ("5", "5.0"):
        return "5"
    raise vol.Invalid(f"protocol must be 3.1.1 or 5, got {value!r}")


BUTTON_SCHEMA = vol.Schema(
    {
        vol.Required("name", description="Button name in Home Assistant."): cv.string,
        vol.Required(
            "action", description="Service the button calls (domain.service)."
        ): cv.service,
        vol.Optional("data", default={}, description="Service data of the call."): dict,
        vol.Optional("icon", description="Icon, e.g. mdi:ev-station."): cv.string,
    }
)


@cv.json_schema(
    {
        "if": {"required": ["client_key"], "properties": {"client_key": {"minLength": 1}}},
        "then": {"required": ["client_cert"]},
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
        vol.Required(
            "broker",
            description=cv.describe(
                "Host name or address of the broker.", example="mqtt.fleet.example.com"
            ),
        ): cv.string,
        vol.Optional(
            "port", description="Broker port; default 1883 without TLS, 8883 with."
        ): cv.port,
        vol.Optional(
            "username", description="User name at the broker (one per station in a fleet)."
        ): cv.string,
        vol.Optional(
            "password",
            description="Password at the broker; keep it in secrets.yaml (masked in every log).",
        ): cv.string,
        vol.Optional(
            "client_id", description="MQTT client id; default: the station id."
        ): cv.string,
        vol.Optional(
            "protocol", default="3.1.1", description="MQTT protocol version: 3.1.1 or 5."
        ): _protocol,
        vol.Optional(
            "keepalive",
            default=60,
            description=cv.describe(
                "Keep-alive interval; the last will fires after 1.5 times this without a word.",
                unit="s",
            ),
        ): vol.All(vol.Coerce(int), vol.Range(min=5)),
        vol.Optional(
            "certificate",
            description=cv.describe(
                "CA file of the broker; setting it turns TLS on.", example="/etc/orge/mqtt-ca.pem"
            ),
        ): cv.string,
        vol.Optional(
            "client_cert", description="Client certificate file for TLS client authentication."
        ): cv.string,
        vol.Optional("client_key", description="Key file of client_cert."): cv.string,
        vol.Optional(
            "tls_insecure",
            default=False,
            description="Skip the broker's host name check (never in a fleet).",
        ): cv.boolean,
        vol.Optional(
            "base_topic",
            default="orge",
            description="First topic levels: <base_topic>/<station_id>/...",
        ): base_topic,
        vol.Optional(
            "reconnect_min",
            default=10.0,
            description=cv.describe(
                "First reconnect wait: retries wait a random 0..min x 2^n.", unit="s"
            ),
        ): vol.All(cv.period_seconds(), vol.Range(min=0.01)),
        vol.Optional(
            "reconnect_max",
            default=120.0,
            description=cv.describe("Longest reconnect wait.", unit="s"),
        ): vol.All(cv.period_seconds(), vol.Range(min=0.01)),
        vol.Optional(
            "min_interval",
            default=5.0,
            description=cv.describe(
                "Least time between two publications of one entity; the latest value goes out when it ends.",
                unit="s",
            ),
        ): vol.All(cv.period_seconds(), vol.Range(min=0)),
        vol.Optional(
            "entity_min_interval",
            default={},
            description="min_interval per entity: entity id -> seconds.",
        ): {cv.entity_id: vol.All(cv.period_seconds(), vol.Range(min=0))},
        vol.Optional(
            "include",
            default={},
            description="Entities published (as the recorder's include); default: all.",
        ): FILTER_SCHEMA,
        vol.Optional(
            "exclude", default={}, description="Entities not published (as the recorder's exclude)."
        ): FILTER_SCHEMA,
        vol.Optional(
            "event_types",
            default=DEFAULT_EVENT_TYPES,
            description="Bus events published on <base>/<station>/event/<type>.",
        ): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(
            "event_buffer",
            default=100,
            description="Events kept while the broker is away (the oldest go).",
        ): vol.All(vol.Coerce(int), vol.Range(min=0)),
        vol.Optional(
            "max_pending",
            default=5000,
            description="Retained topics kept while the broker is away (the latest value of each).",
        ): vol.All(vol.Coerce(int), vol.Range(min=10)),
        vol.Optional(
            "allowed_services",
            default=[],
            description="The only services <base>/<station>/command may call (default: none).",
        ): vol.All(cv.ensure_list, [cv.service]),
        vol.Optional(
            "discovery",
            default=True,
            description="Publish Home Assistant MQTT discovery, so a central Home Assistant shows each station as a device.",
        ): cv.boolean,
        vol.Optional(
            "discovery_prefix",
            default="homeassistant",
            description="Discovery prefix of Home Assistant.",
        ): base_topic,
        vol.Optional(
            "model",
            default="ORGE AC charging station",
            description="Device model shown in Home Assistant.",
        ): cv.string,
        vol.Optional(
            "manufacturer",
            default="ORGE",
            description="Device manufacturer shown in Home Assistant.",
        ): cv.string,
        vol.Optional(
            "buttons",
            default={},
            description="Home Assistant buttons mapped to services: button id -> {name, action, data, icon}.",
        ): {topic_level: BUTTON_SCHEMA},
    },
    _consistent,
)


# The options naming files (relative paths are read from the configuration folder).
TLS_FILES = ("certificate", "client_cert", "client_key")


def validate_config(config_dir: str, config: dict[str, Any]) -> list[str]:
    """Problems a schema cannot see: TLS files that are not there."""
    from orge.config import missing_files

    return missing_files(DOMAIN, config_dir, config, TLS_FILES)


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    from .station import async_setup_mqtt

    return await async_setup_mqtt(orge, config)


def configured_entity_ids(config: dict[str, Any]) -> set[str]:
    """The link's own health: connected, and commands refused."""
    return {"binary_sensor.mqtt_connected", "sensor.mqtt_rejected_commands"}
