"""ngrok: every tunnel the station's agent publishes (HTTPS for the API and web view, TCP
for SSH), the agent's health, and starting and stopping tunnels through its API.

ORGE reads the agent's local API (`GET /api/tunnels` on 127.0.0.1:4040). With `agent:` it
also runs the agent itself and restarts it with back-off when it exits; the authtoken is
handed over in the environment (NGROK_AUTHTOKEN), never on the command line where `ps`
would show it. Entities, event and services: see `components/ngrok/tunnel.py`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge

from .const import DOMAIN as DOMAIN  # a component names its domain (docs/components.md)

AGENT_SCHEMA = vol.Schema(
    {
        vol.Optional(
            "command", default="ngrok", description="Path of the ngrok agent, or its name on PATH."
        ): cv.strict_string,
        vol.Required(
            "authtoken",
            description="The agent's authtoken, passed as NGROK_AUTHTOKEN (never on the command line); keep it in secrets.yaml.",
        ): cv.strict_string,
        vol.Optional(
            "domain",
            description=cv.describe(
                "A reserved domain for the HTTPS tunnel.", example="station-001.ngrok.app"
            ),
        ): cv.string,  # a reserved domain, e.g. station7.ngrok.app
        vol.Optional(
            "port", default=8000, description="Local port the tunnel forwards to (the HTTP API)."
        ): cv.port,
        # first wait before restarting an agent that exited; doubles up to 5 minutes
        vol.Optional(
            "restart_delay",
            default=timedelta(seconds=5),
            description=cv.describe(
                "First wait before restarting an agent that exited; doubles up to 5 minutes.",
                unit="s",
            ),
        ): vol.All(cv.time_period, vol.Range(min=timedelta(milliseconds=100))),
    }
)

CONFIG_SCHEMA = vol.Schema(
    {
        vol.Optional(
            "api_url", default="http://127.0.0.1:4040", description="The agent's local API."
        ): cv.url,
        vol.Optional(
            "scan_interval",
            default=timedelta(seconds=30),
            description=cv.describe("Time between checks of the tunnels.", unit="s"),
        ): vol.All(cv.time_period, vol.Range(min=timedelta(seconds=1))),
        # an agent slower than this counts as not answering
        vol.Optional(
            "timeout",
            default=timedelta(seconds=5),
            description=cv.describe("An agent slower than this counts as not answering.", unit="s"),
        ): vol.All(cv.time_period, vol.Range(min=timedelta(milliseconds=100))),
        # tunnel name -> where it must be: a public URL (tcp://host:port, https://...)
        # or only the address (host:port, a reserved domain)
        vol.Optional(
            "expected_tunnels",
            default=dict,
            description="Tunnel name -> where it must be: a public URL (tcp://host:port, https://...) or only its address.",
        ): {cv.strict_string: cv.strict_string},
        vol.Optional(
            "agent",
            description="ORGE runs the agent itself and restarts it; without it ORGE only watches an agent run by its own unit.",
        ): AGENT_SCHEMA,
    }
)


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    from components.ngrok.tunnel import async_setup_ngrok

    return await async_setup_ngrok(orge, config)


def configured_entity_ids(config: dict[str, Any]) -> set[str]:
    """The agent's sensor, the problem sensor with `expected_tunnels`, the expected tunnels'
    sensors; any other tunnel's `sensor.ngrok_<name>` appears at run time (docs/components.md)."""
    from .tunnel import tunnel_entity_ids

    return tunnel_entity_ids(config)
