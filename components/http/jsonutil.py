"""JSON for answers: what states, events and service responses may hold besides plain
values (datetimes, sets, value objects) is turned into JSON rather than failing the request.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any


def default(value: Any) -> Any:
    if hasattr(value, "as_dict"):  # State, Event, Context
        return value.as_dict()
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, default=default)


MAX_DEPTH = 64  # far beyond any real state or service call; bounds later recursion


def loads(text: str | bytes) -> Any:
    """Parse JSON from a client: ValueError for bad JSON, and for JSON nested so deeply
    that parsing it (RecursionError) or echoing it back in an event would fail."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)
    return value
