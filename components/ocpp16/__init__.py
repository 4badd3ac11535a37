"""ocpp16: the OCPP 1.6J link to the CSMS, built on the shared `ocpp_station` library.

It runs as the fallback of `ocpp201` (`fallback: true`: it connects only once the 2.0.1
link failed or was refused, and steps down when 2.0.1 is back; coordination over the bus,
see `ocpp_station.role`), or as the primary with `OCPP_PRIMARY=16`, or alone.

Modules: `link` (the 1.6 message handlers), `station` (the runtime:
boot, heartbeat, status, transactions; the loop is `ocpp_station.lifecycle`), `config_keys`
(GetConfiguration/ChangeConfiguration), `smart` (charging profiles),
`once` (`orge once`). None is imported before `async_setup`.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge

from ..ocpp_station.config import count, seconds, station_schema

DOMAIN = "ocpp16"


def _evse_action() -> Any:
    from ..ocpp_station.evse import ACTION_SCHEMA

    return ACTION_SCHEMA


@cv.json_schema(lambda convert: convert(_evse_action()))
def _action(value: Any) -> Any:
    from ..ocpp_station.evse import ACTION_SCHEMA

    return ACTION_SCHEMA(value)


# The shared options (link, identity, EVSEs, delivery, back-off) come from
# `ocpp_station.config`; these are 1.6's own.
CONFIG_SCHEMA = station_schema(
    {
        # 1.6 BootNotification.chargePointVendor is CiString20Type
        vol.Optional(
            "vendor",
            default="ORGE",
            description="BootNotification chargePointVendor (max 20 characters).",
        ): vol.All(cv.string, vol.Length(max=20)),
        vol.Optional(
            "meter_values_sample_interval",
            default=60,
            description=cv.describe(
                "MeterValues during a transaction (MeterValueSampleInterval, 0: off).", unit="s"
            ),
        ): seconds(0),
        vol.Optional(
            "clock_aligned_data_interval",
            default=0,
            description=cv.describe(
                "Meter values aligned on the clock (ClockAlignedDataInterval, 900 = every quarter hour, 0: off).",
                unit="s",
            ),
        ): seconds(0),
        vol.Optional(
            "transaction_message_attempts",
            default=3,
            description="Sends of a transaction message before it is moved aside (TransactionMessageAttempts).",
        ): count(1),
        vol.Optional(
            "transaction_message_retry_interval",
            default=60,
            description=cv.describe(
                "Wait between sends: this x attempts so far (TransactionMessageRetryInterval).",
                unit="s",
            ),
        ): seconds(0),
        vol.Optional(
            "local_id_tag",
            default="ORGE-LOCAL",
            description="idTag of a session started without one (1-20 characters).",
        ): vol.All(cv.string, vol.Length(min=1, max=20)),
        vol.Optional(
            "reset_action",
            default={"action": "orge.stop"},
            description="What a Reset does after stopping transactions ({action: domain.service}); systemd restarts ORGE after orge.stop.",
        ): _action,
    }
)


def validate_config(config_dir: str, config: dict[str, Any]) -> list[str]:
    """Problems a schema cannot see: the security options (`ocpp_station.security`)."""
    from ..ocpp_station.security import config_problems

    return config_problems(DOMAIN, config_dir, config)


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    from .station import async_setup_station

    return await async_setup_station(orge, config)


def configured_entity_ids(config: dict[str, Any]) -> set[str]:
    """The link sensors (sensor.<domain>_connection...) and the protocol both OCPP
    components share (docs/components.md), and the session entity of each EVSE."""
    from components.ocpp_station.entities import link_entity_ids
    from components.ocpp_station.session import session_entity_ids

    return link_entity_ids(DOMAIN) | session_entity_ids(DOMAIN, (config or {}).get("evse"))
