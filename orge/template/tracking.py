"""Render tracking and state access: what one render read, and how templates see states.

While rendering, every entity a template reads is recorded in the `RenderInfo` on top of
the stack (entities, whole domains, all states, the clock), so a watcher re-renders only
when one of those changes (Home Assistant's RenderInfo, helpers/template.py). `states`,
`states.sensor` and `states.sensor.x` are the read-only views below (TemplateState).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orge.core import Orge, State

_UNKNOWN = "unknown"


class RenderInfo:
    """What one render read: entity ids, whole domains, all states, the clock."""

    __slots__ = (
        "all_states",
        "allocated",
        "deadline",
        "domains",
        "entities",
        "has_time",
        "iterations",
        "orge",
        "seconds",
        "text",
    )

    def __init__(self, text: str = "") -> None:
        self.text = text  # the template being rendered (named in undefined-variable warnings)
        self.orge: Orge | None = None  # whose time zone the time filters use
        self.entities: set[str] = set()
        self.domains: set[str] = set()
        self.all_states = False
        self.has_time = False
        self.iterations = 0
        self.allocated = 0  # characters/items built so far (see MAX_ALLOCATED)
        self.deadline = math.inf  # time.monotonic() by which the render must end
        self.seconds = math.inf  # the time budget that deadline came from


_INFO_STACK: list[RenderInfo] = []  # renders are synchronous on the loop: a stack suffices


def _track_entity(entity_id: str) -> None:
    if _INFO_STACK:
        _INFO_STACK[-1].entities.add(entity_id)


def _track_domain(domain: str) -> None:
    if _INFO_STACK:
        _INFO_STACK[-1].domains.add(domain)


def _track_time() -> None:
    if _INFO_STACK:
        _INFO_STACK[-1].has_time = True


def _current() -> RenderInfo | None:
    return _INFO_STACK[-1] if _INFO_STACK else None


# --- state access ------------------------------------------------------------------


class _DomainStates:
    """`states.sensor`: attribute access gives a State (or None), iteration the domain."""

    __slots__ = ("_domain", "_orge")

    def __init__(self, orge: Orge, domain: str) -> None:
        self._orge = orge
        self._domain = domain

    def __getattr__(self, name: str) -> TemplateState | None:
        if name.startswith("_"):
            raise AttributeError(name)
        entity_id = f"{self._domain}.{name}"
        _track_entity(entity_id)
        state = self._orge.states.get(entity_id)
        return None if state is None else TemplateState(state)

    def __iter__(self) -> Iterator[TemplateState]:
        _track_domain(self._domain)
        states = sorted(self._orge.states.async_all(self._domain), key=lambda s: s.entity_id)
        return map(TemplateState, states)

    def __len__(self) -> int:
        _track_domain(self._domain)
        return len(self._orge.states.async_entity_ids(self._domain))


class _AllStates:
    """`states('sensor.x')`, `states.sensor.x`, `states | list`."""

    __slots__ = ("_orge",)

    def __init__(self, orge: Orge) -> None:
        self._orge = orge

    def __call__(self, entity_id: str, rounded: bool = False, with_unit: bool = False) -> str:
        state = _get_state(self._orge, entity_id)
        if state is None:
            return _UNKNOWN
        return _with_unit(state) if with_unit else state.state

    def __len__(self) -> int:
        if _INFO_STACK:
            _INFO_STACK[-1].all_states = True
        return len(self._orge.states.async_entity_ids())

    def __getattr__(self, name: str) -> _DomainStates:
        # jinja2's sandbox probes callables for these two flags; they are not domains.
        if name.startswith("_") or name in ("alters_data", "unsafe_callable"):
            raise AttributeError(name)
        return _DomainStates(self._orge, name)

    def __iter__(self) -> Iterator[TemplateState]:
        if _INFO_STACK:
            _INFO_STACK[-1].all_states = True
        return map(TemplateState, sorted(self._orge.states.async_all(), key=lambda s: s.entity_id))


def _with_unit(state: State) -> str:
    """'7200 W': the state and its unit_of_measurement (HA's state_with_unit)."""
    unit = state.attributes.get("unit_of_measurement")
    return f"{state.state} {unit}" if unit else state.state


class TemplateState:
    """A state as `states.sensor.x` gives it in a template: the State's attributes plus
    `state_with_unit` (Home Assistant's TemplateState). Equal to the State it wraps."""

    __slots__ = ("_state",)

    def __init__(self, state: State) -> None:
        self._state = state

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._state, name)

    @property
    def state_with_unit(self) -> str:
        return _with_unit(self._state)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TemplateState):
            other = other._state
        return self._state == other

    __hash__ = None  # type: ignore[assignment]  # as State: mutable attributes

    def __repr__(self) -> str:
        return repr(self._state)


def _get_state(orge: Orge, entity_id: Any) -> State | None:
    entity_id = str(entity_id).lower()
    _track_entity(entity_id)
    return orge.states.get(entity_id)
