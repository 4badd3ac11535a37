"""The configuration both OCPP components share, and who the station is.

`BASE_OPTIONS` is the part of the `ocpp201:` / `ocpp16:` schema with the same meaning in
both (the CSMS link, the station's identity, the EVSEs, delivery and back-off); each
component builds its schema as `station_schema({...its own options...})`, where its own
options may narrow a shared one (e.g. 1.6's 20-character chargePointVendor). Voluptuous
only: cheap enough for `CONFIG_SCHEMA`.

`resolve_station()` is the one way to find the station id, password and URL, at run time
and in `orge once`: id = the block's `station_id`, else `orge: station_id`, else the
OCPP_STATION_NAME environment variable (fleet env files); password = the block's
`password`, else one given in the URL (`ws://id:password@host/...`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import voluptuous as vol

import orge.validation as cv

from .evse import evse_list

ENV_STATION_NAME = "OCPP_STATION_NAME"


def seconds(minimum: float = 0) -> Any:
    """A duration in seconds (float), at least `minimum`."""
    return vol.All(vol.Coerce(float), vol.Range(min=minimum))


def count(minimum: int = 0) -> Any:
    return vol.All(vol.Coerce(int), vol.Range(min=minimum))


@cv.json_schema({"type": ["string", "number"], "pattern": r"^\s*[^/\s][^/]{0,47}$"})
def station_id(value: Any) -> str:
    """OCPP-J: the station id is the last URL path segment (1.6 CiString, 2.0.1
    identifierString, at most 48 characters), so no '/'."""
    text = cv.string(value).strip()
    if not text or "/" in text or len(text) > 48:
        raise vol.Invalid("station_id must be 1-48 characters without '/'")
    return text


@cv.json_schema(
    lambda convert: {
        "anyOf": [convert(cv.boolean), {"type": "string", "pattern": "^\\s*[aA][uU][tT][oO]\\s*$"}]
    }
)
def append_station_id(value: Any) -> Any:
    """`auto` (append /<station_id> unless the URL ends with it), true or false."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    return cv.boolean(value)


BASE_OPTIONS: dict[Any, Any] = {
    vol.Required(
        "url",
        description=cv.describe(
            "WebSocket URL of the CSMS (ws:// or wss://); credentials in it are taken as the password.",
            example="wss://csms.example/ocpp/ORGE_AC_001",
        ),
    ): cv.ws_url,
    # Default: `orge: station_id`, else the OCPP_STATION_NAME environment variable.
    vol.Optional(
        "station_id",
        description="The station's id at the CSMS (last URL segment, 1-48 characters); default: orge: station_id, else OCPP_STATION_NAME.",
    ): station_id,
    vol.Optional(
        "password",
        description="HTTP Basic password (user = station id, security profile 1/2); omit for no auth. Never logged.",
    ): vol.Any(None, cv.string),
    vol.Optional(
        "append_station_id",
        default="auto",
        description="auto: add /<station_id> to the URL unless it ends with it; true or false.",
    ): append_station_id,
    vol.Optional(
        "ca_file",
        description="Extra trusted CA file for wss:// (the certificate is always verified).",
    ): cv.string,
    vol.Optional(
        "verify_tls",
        default=True,
        description="false only for a lab CSMS with a self-made certificate.",
    ): cv.boolean,
    vol.Optional(
        "security_profile",
        description="OCPP security profile: 1 Basic auth over ws://, 2 TLS + Basic auth, "
        "3 TLS with the station's client certificate (default: 3 with client_certificate "
        "on wss://, 2 on wss://, 1 on ws://)",
    ): vol.All(vol.Coerce(int), vol.In([1, 2, 3])),
    vol.Optional(
        "client_certificate",
        description="PEM file of the station certificate (chain) presented under security "
        "profile 3 until the CSMS installs one through CertificateSigned",
    ): cv.string,
    vol.Optional(
        "client_key",
        description="PEM file of the private key of client_certificate (keep it mode 0600)",
    ): cv.string,
    vol.Optional(
        "certificate_renew_days",
        default=30,
        description="renew the station certificate (SignCertificate) this many days before "
        "it expires",
    ): count(1),
    vol.Optional(
        "fallback",
        default=True,
        description="As the fallback protocol, take over when the primary fails; false never takes over.",
    ): cv.boolean,
    vol.Optional(
        "fallback_after",
        default=3,
        description="Failed connection attempts in a row before handing over to the other protocol.",
    ): count(1),
    vol.Optional(
        "heartbeat_interval",
        default=60,
        description=cv.describe("Heartbeat interval until the CSMS gives one at boot.", unit="s"),
    ): seconds(1),
    vol.Optional(
        "boot_retry_interval",
        default=30,
        description=cv.describe(
            "Time between BootNotifications when the CSMS gives no interval.", unit="s"
        ),
    ): seconds(0.05),
    vol.Optional(
        "response_timeout",
        default=30,
        description=cv.describe("Time to wait for each answer of the CSMS.", unit="s"),
    ): seconds(0.1),
    vol.Optional(
        "ping_interval",
        default=30,
        description=cv.describe(
            "Time between WebSocket pings (0: off); a dead link is found by them.", unit="s"
        ),
    ): seconds(0),
    vol.Optional(
        "offline_threshold",
        default=60,
        description=cv.describe(
            "Offline time after which every connector's status is sent again.", unit="s"
        ),
    ): seconds(0),
    vol.Optional(
        "retry_backoff_wait_minimum",
        default=10,
        description=cv.describe(
            "Reconnect wait: minimum x 2^n + random(0, range), n capped at repeat_times (OCPP 2.0.1 Part 4 section 5.3).",
            unit="s",
        ),
    ): seconds(0),
    vol.Optional(
        "retry_backoff_random_range",
        default=10,
        description=cv.describe(
            "Random part of the reconnect wait, so a fleet does not reconnect at once.", unit="s"
        ),
    ): seconds(0),
    vol.Optional(
        "retry_backoff_repeat_times", default=5, description="Doublings of the reconnect wait."
    ): count(0),
    vol.Optional("vendor", default="ORGE", description="BootNotification vendor name."): vol.All(
        cv.string, vol.Length(max=50)
    ),
    vol.Optional(
        "model", default="AC-22", description="BootNotification model (max 20 characters)."
    ): vol.All(cv.string, vol.Length(max=20)),
    vol.Optional(
        "serial_number", description="BootNotification serial number (max 25 characters)."
    ): vol.All(cv.string, vol.Length(max=25)),
    vol.Optional(
        "firmware_version",
        description="BootNotification firmware version; default: ORGE <version>.",
    ): vol.All(cv.string, vol.Length(max=50)),
    vol.Optional(
        "queue_size",
        default=1000,
        description="Journaled messages kept for the CSMS; meter values are dropped first.",
    ): count(10),
    vol.Optional(
        "ready_grace",
        default=10,
        description=cv.describe("Time in READY before the EV counts as SuspendedEV.", unit="s"),
    ): seconds(0),
    vol.Optional(
        "log_messages", default=False, description="Log every OCPP frame (debugging)."
    ): cv.boolean,
    vol.Optional(
        "evse",
        default=None,
        description="The EVSEs and their entities; default: one EVSE bound to the esp32 entities and no meter.",
    ): evse_list,
    # nominal phase voltage (V): converts charging schedules in W to the controller's A
    vol.Optional(
        "nominal_voltage",
        default=230,
        description=cv.describe(
            "Nominal phase voltage: converts charging schedules in W to the controller's A.",
            unit="V",
        ),
    ): vol.All(vol.Coerce(float), vol.Range(min=100, max=480)),
}


def station_schema(own: Mapping[Any, Any]) -> vol.Schema:
    """The shared options plus a component's own (which win over a shared one of the
    same name)."""
    options = {key: value for key, value in BASE_OPTIONS.items() if key not in own}
    return vol.Schema({**options, **own})


@dataclass(frozen=True)
class StationIdentity:
    """Who the station is at the CSMS: `station_id`, `password` (None: no Basic auth),
    `url` (credentials removed, station id appended as configured)."""

    station_id: str
    password: str | None
    url: str


def resolve_station(
    config: Mapping[str, Any], core_station_id: str = "", env: Mapping[str, str] | None = None
) -> StationIdentity:
    """The station's identity from a validated `ocpp201:` / `ocpp16:` block.

    Raises ValueError naming the three places a station id can come from when none has one.
    The password is registered as a secret (never logged).
    """
    from .urls import station_url, url_password

    env = os.environ if env is None else env
    name = str(
        config.get("station_id") or core_station_id or env.get(ENV_STATION_NAME, "") or ""
    ).strip()
    if not name:
        raise ValueError(f"no station id: set station_id, orge: station_id or {ENV_STATION_NAME}")
    password = config.get("password") or url_password(config["url"])
    if password:
        from orge.redact import register_secret

        register_secret(password)
    url = station_url(config["url"], name, config.get("append_station_id", "auto"))
    return StationIdentity(name, password or None, url)


def core_station_id(config_dir: str) -> str:
    """`orge: station_id` of a config dir, validated the way the engine does ("" when
    absent or broken: the engine reports config problems itself). For `orge once`, which
    runs without a hub."""
    from orge.config import CORE_SCHEMA, load_configuration

    try:
        core = load_configuration(config_dir).get("orge") or {}
        return str(CORE_SCHEMA(core).get("station_id") or "")
    except Exception:  # the engine has already reported config problems
        return ""


def firmware_version(config: dict[str, Any]) -> str:
    """The firmware version both protocols' BootNotification report: the configured
    `firmware_version`, else the ORGE version (`ORGE x.y.z`; 1.6 CiString50, 2.0.1
    string[50])."""
    from orge import __version__

    return str(config.get("firmware_version") or f"ORGE {__version__}")
