"""The ngrok tunnel that publishes the station's port 8000 to operators.

ORGE reads the agent's local API (`GET /api/tunnels` on 127.0.0.1:4040) to show whether the
tunnel is up and its public URL. With `agent:` it also runs the agent itself and restarts
it with back-off when it exits; the authtoken is handed over in the environment
(NGROK_AUTHTOKEN), never on the command line where `ps` would show it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import voluptuous as vol

import orge.validation as cv

DOMAIN = "ngrok"

AGENT_SCHEMA = vol.Schema(
    {
        vol.Optional("command", default="ngrok"): cv.strict_string,
        vol.Required("authtoken"): cv.strict_string,
        vol.Optional("domain"): cv.string,  # a reserved domain, e.g. station7.ngrok.app
        vol.Optional("port", default=8000): cv.port,
        # first wait before restarting an agent that exited; doubles up to 5 minutes
        vol.Optional("restart_delay", default=timedelta(seconds=5)): vol.All(
            cv.time_period, vol.Range(min=timedelta(milliseconds=100))
        ),
    }
)

CONFIG_SCHEMA = vol.Schema(
    {
        vol.Optional("api_url", default="http://127.0.0.1:4040"): cv.url,
        vol.Optional("scan_interval", default=timedelta(seconds=30)): vol.All(
            cv.time_period, vol.Range(min=timedelta(seconds=1))
        ),
        vol.Optional("agent"): AGENT_SCHEMA,
    }
)


async def async_setup(orge: Any, config: dict[str, Any]) -> bool:
    from components.ngrok.tunnel import TunnelWatcher

    watcher = TunnelWatcher(orge, config)
    orge.data[DOMAIN] = watcher
    await watcher.async_start()
    return True


def configured_entity_ids(config: dict[str, Any]) -> set[str]:
    """binary_sensor.ngrok_tunnel and sensor.ngrok_public_url (docs/components.md)."""
    from .tunnel import PublicUrl, TunnelUp

    return {f"{cls.domain}.{cls._attr_object_id}" for cls in (TunnelUp, PublicUrl)}
