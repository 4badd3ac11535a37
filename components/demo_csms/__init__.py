"""demo_csms: a local CSMS the default station talks to, so ORGE runs out of the box.

Not a production CSMS: it accepts every station and id tag (HTTP Basic auth is checked
only when `password` is set) and keeps what it saw in memory. What it saw is on the bus
(`sensor.demo_csms_last_message`, `sensor.demo_csms_transactions`,
`sensor.demo_csms_stations`); `demo_csms.request_start`, `demo_csms.request_stop` and
`demo_csms.call` send orders to a connected station.

The server itself lives in `server.py`, imported from `async_setup` (the `ocpp` and
`websockets` libraries are too heavy for check-config).
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge

from .const import DOMAIN

CONFIG_SCHEMA = vol.Schema(
    vol.All(
        lambda value: {} if value is None else value,
        {
            vol.Optional(
                "host",
                default="127.0.0.1",
                description="Address the demo CSMS listens on; keep it local.",
            ): cv.string,
            vol.Optional(
                "port",
                default=9000,
                description="TCP port of ws://<host>:<port>/ocpp/<station id>.",
            ): cv.port,
            vol.Optional(
                "heartbeat_interval",
                default=60,
                description=cv.describe(
                    "Heartbeat interval the demo CSMS gives stations at boot.", unit="s"
                ),
            ): vol.All(vol.Coerce(int), vol.Range(min=1, max=86400)),
            vol.Optional(
                "boot_status",
                default="Accepted",
                description="Answer to BootNotification: Accepted, Pending or Rejected (to try the station).",
            ): vol.In(["Accepted", "Pending", "Rejected"]),
            vol.Optional(
                "password",
                description="Check HTTP Basic auth with this password (user = station id).",
            ): cv.string,
        },
    )
)


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    from .server import async_setup_demo_csms

    return await async_setup_demo_csms(orge, config)


def configured_entity_ids(config: dict[str, Any]) -> set[str]:
    """The demo CSMS's sensors (sensor.demo_csms_last_message...; docs/components.md)."""
    from orge.check_names import entity_ids_of

    from .server import DemoCsms

    csms = DemoCsms(config)
    return entity_ids_of([csms.last_message, csms.transactions, csms.station_sensor], DOMAIN)
