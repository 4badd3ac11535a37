"""ocpp201: the station's link to the CSMS over OCPP 2.0.1.

Nothing heavy here: `ocpp` and `websockets` are imported by `station` inside
`async_setup`. The EVSE model, journal and fallback coordination come from the shared
library `components.ocpp_station`.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from components.ocpp_station.config import count, seconds, station_schema
from orge.core import Orge

DOMAIN = "ocpp201"


# The shared options (link, identity, EVSEs, delivery, back-off) come from
# `ocpp_station.config`; these are 2.0.1's own.
CONFIG_SCHEMA = station_schema(
    {
        # When the CSMS chose ocpp1.6 on a URL shared with ocpp16, retry 2.0.1 this often.
        vol.Optional(
            "primary_retry_interval",
            default=300,
            description=cv.describe(
                "How often 2.0.1 is tried again when the CSMS chose 1.6 on a URL shared with ocpp16.",
                unit="s",
            ),
        ): seconds(0.1),
        vol.Optional(
            "message_attempts",
            default=3,
            description="Sends of a TransactionEvent before it is moved aside (OCPP 2.0.1 MessageAttempts).",
        ): count(1),
        vol.Optional(
            "message_attempt_interval",
            default=60,
            description=cv.describe("Wait between sends: this x failed attempts so far.", unit="s"),
        ): seconds(0),
        vol.Optional(
            "sampled_interval",
            default=60,
            description=cv.describe(
                "Meter values during a transaction (SampledDataCtrlr.TxUpdatedInterval, 0: off).",
                unit="s",
            ),
        ): count(0),
        vol.Optional(
            "aligned_interval",
            default=900,
            description=cv.describe(
                "Clock-aligned meter values (AlignedDataCtrlr.Interval, 0: off).", unit="s"
            ),
        ): count(0),
        vol.Optional(
            "ev_connection_timeout",
            default=120,
            description=cv.describe("Time a remote start waits for the EV to connect.", unit="s"),
        ): count(1),
        vol.Optional(
            "organization_name", default="ORGE", description="SecurityCtrlr.OrganizationName."
        ): cv.string,
    }
)


def validate_config(config_dir: str, config: dict[str, Any]) -> list[str]:
    """Problems a schema cannot see: the security options (`ocpp_station.security`)."""
    from components.ocpp_station.security import config_problems

    return config_problems(DOMAIN, config_dir, config)


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    from components.ocpp_station.config import resolve_station
    from components.ocpp_station.security import configured_profile
    from orge.exceptions import OrgeError

    from .station import Station201

    try:
        identity = resolve_station(config, orge.config.station_id)
        configured_profile(config)  # profiles 2 and 3 need a wss:// URL
    except ValueError as err:
        raise OrgeError(f"ocpp201: {err}") from None
    station = Station201(orge, config, identity)
    orge.data[DOMAIN] = station
    await station.async_start()
    return True


def configured_entity_ids(config: dict[str, Any]) -> set[str]:
    """The link sensors (sensor.<domain>_connection...) and the protocol both OCPP
    components share (docs/components.md), and the session entity of each EVSE."""
    from components.ocpp_station.entities import link_entity_ids
    from components.ocpp_station.session import session_entity_ids

    return link_entity_ids(DOMAIN) | session_entity_ids(DOMAIN, (config or {}).get("evse"))
