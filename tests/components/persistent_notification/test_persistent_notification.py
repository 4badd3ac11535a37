"""Notifications: created by a service, updated, dismissed; setup failures dismissable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orge.exceptions import ServiceValidationError

BROKEN = {
    "custom_components/broken/manifest.yaml": "domain: broken\nname: Broken\n",
    "custom_components/broken/__init__.py": "async def async_setup(orge, config):\n    return False\n",
}


async def test_create_update_dismiss(
    config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    orge, _ = await start_station(config_dir("persistent_notification:\nbroken:\n", files=BROKEN))
    assert orge.states.get("persistent_notification.setup_failed_broken").state == "notifying"
    call = orge.services.async_call
    await call(
        "persistent_notification",
        "create",
        {"message": "Earth fault", "title": "Charger", "notification_id": "fault"},
        blocking=True,
    )
    state = orge.states.get("persistent_notification.fault")
    assert state.attributes["message"] == "Earth fault" and state.attributes["title"] == "Charger"
    await call(
        "persistent_notification",
        "create",
        {"message": "Earth fault again", "notification_id": "fault"},
        blocking=True,
    )
    assert (
        orge.states.get("persistent_notification.fault").attributes["message"]
        == "Earth fault again"
    )
    await call("persistent_notification", "create", {"message": "no id"}, blocking=True)
    assert len(orge.states.async_entity_ids("persistent_notification")) == 3
    await call(
        "persistent_notification",
        "dismiss",
        {"notification_id": "setup_failed_broken"},
        blocking=True,
    )
    assert orge.states.get("persistent_notification.setup_failed_broken") is None
    await call("persistent_notification", "dismiss_all", {}, blocking=True)
    assert orge.states.async_entity_ids("persistent_notification") == []
    with pytest.raises(ServiceValidationError, match="message"):
        await call("persistent_notification", "create", {"title": "no message"}, blocking=True)
