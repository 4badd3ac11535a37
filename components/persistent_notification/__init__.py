"""Messages for the operator that stay until dismissed, as entities
`persistent_notification.<id>` (state `notifying`, attributes title, message, created_at).

The engine reports a component that failed to start the same way, so `dismiss` works on
those too. Automations use `persistent_notification.create` to raise an alert."""

from __future__ import annotations

import os
import time
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge

DOMAIN = "persistent_notification"
CONFIG_SCHEMA = cv.empty_config_schema(DOMAIN)

CREATE_SCHEMA = vol.Schema(
    {
        vol.Required("message"): cv.string,
        vol.Optional("title"): cv.string,
        vol.Optional("notification_id"): cv.slug,
    }
)
DISMISS_SCHEMA = vol.Schema({vol.Required("notification_id"): cv.slug})


async def async_setup(orge: Orge, config: Any) -> bool:
    import yaml

    from orge.core import ServiceCall, callback, new_id

    @callback
    def create(call: ServiceCall) -> None:
        notification_id = call.data.get("notification_id") or new_id()
        attributes = {"message": call.data["message"], "created_at": time.time()}
        if "title" in call.data:
            attributes["title"] = attributes["friendly_name"] = call.data["title"]
        orge.states.async_set(
            f"{DOMAIN}.{notification_id}", "notifying", attributes, context=call.context
        )

    @callback
    def dismiss(call: ServiceCall) -> None:
        orge.states.async_remove(f"{DOMAIN}.{call.data['notification_id']}", call.context)

    @callback
    def dismiss_all(call: ServiceCall) -> None:
        for entity_id in orge.states.async_entity_ids(DOMAIN):
            orge.states.async_remove(entity_id, call.context)

    with open(os.path.join(os.path.dirname(__file__), "services.yaml"), encoding="utf-8") as f:
        descriptions = yaml.safe_load(f)
    for name, handler, schema in (
        ("create", create, CREATE_SCHEMA),
        ("dismiss", dismiss, DISMISS_SCHEMA),
        ("dismiss_all", dismiss_all, vol.Schema({})),
    ):
        orge.services.async_register(DOMAIN, name, handler, schema, description=descriptions[name])
    return True


def configured_entity_ids(config: Any) -> set[str]:
    """None from the configuration: notifications appear at run time (docs/components.md)."""
    return {f"{DOMAIN}.*"}
