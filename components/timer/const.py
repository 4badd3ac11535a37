"""Names shared by the timer component's modules (its package `__init__` and entity.py),
kept here so no submodule imports the package that imports it."""

DOMAIN = "timer"
IDLE, ACTIVE, PAUSED = "idle", "active", "paused"
# Home Assistant's event types (homeassistant/components/timer/__init__.py).
EVENT_TIMER_STARTED = "timer.started"
EVENT_TIMER_RESTARTED = "timer.restarted"
EVENT_TIMER_PAUSED = "timer.paused"
EVENT_TIMER_CANCELLED = "timer.cancelled"
EVENT_TIMER_FINISHED = "timer.finished"
