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
