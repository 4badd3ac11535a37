"""ocpp16: the OCPP 1.6J link to the CSMS, built on the shared `ocpp_station` library.

It runs as the fallback of `ocpp201` (`fallback: true`: it connects only once the 2.0.1
link failed or was refused, and steps down when 2.0.1 is back; coordination over the bus,
see `ocpp_station.role`), or as the primary with `OCPP_PRIMARY=16`, or alone.

Modules: `link` (WebSocket + the 1.6 message handlers), `station` (the runtime:
connection loop, boot, heartbeat, status, transactions), `config_keys`
(GetConfiguration/ChangeConfiguration), `smart` (charging profiles), `entities`,
`once` (`orge once`). None is imported before `async_setup`.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge

DOMAIN = "ocpp16"


def _evse_list(value: Any) -> Any:
    # the library's validator, imported lazily (it stays cheap: voluptuous only)
    from ..ocpp_station.evse import evse_list

    return evse_list(value)


def _action(value: Any) -> Any:
    from ..ocpp_station.evse import ACTION_SCHEMA

    return ACTION_SCHEMA(value)


def _append_id(value: Any) -> Any:
    if isinstance(value, str) and value.lower() == "auto":
        return "auto"
    return cv.boolean(value)


def _seconds(minimum: float = 0) -> Any:
    return vol.All(vol.Coerce(float), vol.Range(min=minimum))


def _station_id(value: Any) -> str:
    text = cv.string(value).strip()
    if not text or "/" in text or len(text) > 48:
        raise vol.Invalid("station_id must be 1-48 characters without '/'")
    return text


CONFIG_SCHEMA = vol.Schema(
    {
        vol.Required("url"): cv.ws_url,
        vol.Optional("station_id"): _station_id,
        vol.Optional("password"): cv.string,
        vol.Optional("ca_file"): cv.string,
        vol.Optional("verify_tls", default=True): cv.boolean,
        vol.Optional("fallback", default=True): cv.boolean,
        vol.Optional("append_station_id", default="auto"): _append_id,
        vol.Optional("fallback_after", default=3): vol.All(vol.Coerce(int), vol.Range(min=1)),
        vol.Optional("heartbeat_interval", default=60): _seconds(1),
        vol.Optional("boot_retry_interval", default=30): _seconds(0.1),
        vol.Optional("response_timeout", default=30): _seconds(0.1),
        vol.Optional("ping_interval", default=30): _seconds(0),
        vol.Optional("vendor", default="ORGE"): vol.All(cv.string, vol.Length(max=20)),
        vol.Optional("model", default="AC-22"): vol.All(cv.string, vol.Length(max=20)),
        vol.Optional("serial_number"): vol.All(cv.string, vol.Length(max=25)),
        vol.Optional("firmware_version"): vol.All(cv.string, vol.Length(max=50)),
        vol.Optional("meter_values_sample_interval", default=60): _seconds(0),
        vol.Optional("clock_aligned_data_interval", default=0): _seconds(0),
        vol.Optional("transaction_message_attempts", default=3): vol.All(
            vol.Coerce(int), vol.Range(min=1)
        ),
        vol.Optional("transaction_message_retry_interval", default=60): _seconds(0),
        vol.Optional("retry_backoff_wait_minimum", default=10): _seconds(0),
        vol.Optional("retry_backoff_random_range", default=10): _seconds(0),
        vol.Optional("retry_backoff_repeat_times", default=5): vol.All(
            vol.Coerce(int), vol.Range(min=0)
        ),
        vol.Optional("offline_threshold", default=60): _seconds(0),
        vol.Optional("queue_size", default=1000): vol.All(vol.Coerce(int), vol.Range(min=10)),
        vol.Optional("local_id_tag", default="ORGE-LOCAL"): vol.All(
            cv.string, vol.Length(min=1, max=20)
        ),
        vol.Optional("reset_action", default={"action": "orge.stop"}): _action,
        vol.Optional("ready_grace", default=10): _seconds(0),
        vol.Optional("log_messages", default=False): cv.boolean,
        vol.Optional("evse", default=None): _evse_list,
    }
)


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    from .station import async_setup_station

    return await async_setup_station(orge, config)
