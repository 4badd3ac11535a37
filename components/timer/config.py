"""The timer block's schema: `timer: {name: {duration, restore, name, icon}}`."""

from __future__ import annotations

from datetime import timedelta

import voluptuous as vol

import orge.validation as cv

ITEM = vol.Schema(
    {
        vol.Optional("name", description="Friendly name."): cv.string,
        vol.Optional(
            "duration",
            default=timedelta(0),
            description=cv.describe("Duration of a start without a duration of its own.", unit="s"),
        ): cv.positive_time_period,
        vol.Optional(
            "restore",
            default=True,
            description="An active or paused timer continues after a restart.",
        ): cv.boolean,
        vol.Optional("icon", description="Icon, e.g. mdi:timer."): cv.string,
    }
)
CONFIG_SCHEMA = vol.Schema(vol.Any(None, {cv.slug: vol.Any(None, ITEM)}))
