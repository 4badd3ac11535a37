"""Re-render a template when what it read changes (template triggers, wait_template)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from orge.core import EVENT_STATE_CHANGED, Event, Orge, callback
from orge.helpers.event import async_track_time_interval
from orge.template import RenderInfo, Template, TemplateError

_LOGGER = logging.getLogger(__name__)
TIME_RERENDER_SECONDS = 60.0  # templates reading now() are re-rendered this often


class TemplateWatcher:
    """Calls `on_result(result, event)` after each re-render; errors are logged, not raised.

    Tracks exactly the entities (or domains, or all states) the last render read, so a
    template reading `sensor.x` costs nothing when `sensor.y` changes. A render that fails
    keeps tracking what it read before failing (Home Assistant's
    async_track_template_result does too): `states('sensor.late') | float > 5` fails while
    sensor.late does not exist, and renders again once it appears.

    With `on_error`, a failed render calls `on_error(error, event)` instead of logging it
    and calling `on_result(None, event)` (the template trigger logs it its own way).
    """

    def __init__(
        self,
        orge: Orge,
        template: Template,
        variables: dict[str, Any],
        on_result: Callable[[Any, Event | None], None],
        name: str,
        on_error: Callable[[TemplateError, Event | None], None] | None = None,
    ) -> None:
        self.orge = orge
        self.template = template
        self.variables = variables
        self.on_result = on_result
        self.on_error = on_error
        self.name = name
        self.last_error: TemplateError | None = None
        self.entities: frozenset[str] = frozenset()
        self.domains: frozenset[str] = frozenset()
        self.all_states = False
        self._remove_bus: Callable[[], None] | None = None
        self._remove_timer: Callable[[], None] | None = None
        self.last_result: Any = None

    def start(self) -> Any:
        """Render once, start tracking, return the first result (None on error)."""
        self.last_result = self._render()
        self._remove_bus = self.orge.bus.async_listen(
            EVENT_STATE_CHANGED, self._changed, self._filter
        )
        return self.last_result

    def stop(self) -> None:
        if self._remove_bus is not None:
            self._remove_bus()
            self._remove_bus = None
        if self._remove_timer is not None:
            self._remove_timer()
            self._remove_timer = None

    def _render(self) -> Any:
        try:
            result, info = self.template.async_render_with_info(self.variables)
        except TemplateError as err:
            self.last_error = err
            if self.on_error is None:
                _LOGGER.error("%s: %s", self.name, err)
            if err.render_info is not None:
                self._track(err.render_info)
            return None
        self.last_error = None
        self._track(info)
        return result

    def _track(self, info: RenderInfo) -> None:
        self.entities = frozenset(info.entities)
        self.domains = frozenset(info.domains)
        self.all_states = info.all_states
        if info.has_time and self._remove_timer is None:
            self._remove_timer = async_track_time_interval(
                self.orge, self._tick, TIME_RERENDER_SECONDS
            )

    @callback
    def _filter(self, data: Any) -> bool:
        entity_id = data["entity_id"]
        return (
            self.all_states
            or entity_id in self.entities
            or (bool(self.domains) and entity_id.partition(".")[0] in self.domains)
        )

    def _deliver(self, event: Event | None) -> None:
        self.last_result = self._render()
        if self.last_error is not None and self.on_error is not None:
            self.on_error(self.last_error, event)
        else:
            self.on_result(self.last_result, event)

    @callback
    def _changed(self, event: Event) -> None:
        self._deliver(event)

    @callback
    def _tick(self, _now: float) -> None:
        self._deliver(None)
