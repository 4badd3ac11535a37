"""ocpp201: the station's link to the CSMS over OCPP 2.0.1.

Nothing heavy here: `ocpp` and `aiohttp` are imported by `station` inside
`async_setup`. The EVSE model, journal and fallback coordination come from the shared
library `components.ocpp_station`.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from components.ocpp_station.evse import evse_list

DOMAIN = "ocpp201"


def _seconds(minimum: int = 0) -> Any:
    return vol.All(vol.Coerce(int), vol.Range(min=minimum))


def _append_id(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if str(value).lower() == "auto":
        return "auto"
    return cv.boolean(value)


CONFIG_SCHEMA = vol.Schema(
    {
        vol.Required("url"): cv.ws_url,
        # Default: `orge: station_id`, else the OCPP_STATION_NAME environment variable.
        vol.Optional("station_id"): vol.All(cv.string, vol.Length(min=1, max=48)),
        vol.Optional("password"): vol.Any(None, cv.string),
        vol.Optional("heartbeat_interval", default=60): _seconds(1),
        vol.Optional("vendor", default="ORGE"): vol.All(cv.string, vol.Length(max=50)),
        vol.Optional("model", default="AC-22"): vol.All(cv.string, vol.Length(max=20)),
        vol.Optional("serial_number"): vol.All(cv.string, vol.Length(max=25)),
        vol.Optional("firmware_version"): vol.All(cv.string, vol.Length(max=50)),
        vol.Optional("evse", default=None): evse_list,
        # The URL is used as given; `auto` appends /<station_id> if it does not end with it.
        vol.Optional("append_station_id", default="auto"): _append_id,
        vol.Optional("ca_file"): cv.string,
        vol.Optional("verify_tls", default=True): cv.boolean,
        vol.Optional("fallback", default=True): cv.boolean,
        vol.Optional("fallback_after", default=3): _seconds(1),
        # When the CSMS chose ocpp1.6 on a URL shared with ocpp16, retry 2.0.1 this often.
        vol.Optional("primary_retry_interval", default=300): vol.All(
            vol.Coerce(float), vol.Range(min=0.1)
        ),
        vol.Optional("response_timeout", default=30): vol.All(
            vol.Coerce(float), vol.Range(min=0.1)
        ),
        vol.Optional("ping_interval", default=30): vol.All(vol.Coerce(float), vol.Range(min=0)),
        vol.Optional("offline_threshold", default=60): _seconds(0),
        vol.Optional("message_attempts", default=3): _seconds(1),
        vol.Optional("message_attempt_interval", default=60): vol.All(
            vol.Coerce(float), vol.Range(min=0)
        ),
        vol.Optional("retry_backoff_wait_minimum", default=10): vol.All(
            vol.Coerce(float), vol.Range(min=0)
        ),
        vol.Optional("retry_backoff_random_range", default=10): vol.All(
            vol.Coerce(float), vol.Range(min=0)
        ),
        vol.Optional("retry_backoff_repeat_times", default=5): _seconds(0),
        vol.Optional("boot_retry_interval", default=30): vol.All(
            vol.Coerce(float), vol.Range(min=0.05)
        ),
        vol.Optional("sampled_interval", default=60): _seconds(0),
        vol.Optional("aligned_interval", default=900): _seconds(0),
        vol.Optional("ev_connection_timeout", default=120): _seconds(1),
        vol.Optional("ready_grace", default=10): vol.All(vol.Coerce(float), vol.Range(min=0)),
        vol.Optional("queue_size", default=1000): vol.All(vol.Coerce(int), vol.Range(min=10)),
        vol.Optional("organization_name", default="ORGE"): cv.string,
        vol.Optional("log_messages", default=False): cv.boolean,
    }
)


def station_id(config: dict[str, Any], core_station_id: str = "") -> str:
    """The configured id, else the core's, else OCPP_STATION_NAME."""
    import os

    return str(
        config.get("station_id") or core_station_id or os.environ.get("OCPP_STATION_NAME", "")
    )


async def async_setup(orge: Any, config: dict[str, Any]) -> bool:
    from orge.exceptions import OrgeError

    from .station import Station201

    config = dict(config)
    config["station_id"] = station_id(config, orge.config.station_id)
    if not config["station_id"]:
        raise OrgeError("ocpp201 needs a station_id (or orge: station_id / OCPP_STATION_NAME)")
    station = Station201(orge, config)
    orge.data[DOMAIN] = station
    await station.async_start()
    return True
