"""The station clock: a Raspberry Pi has no real-time clock.

Wall time comes from the CSMS's `currentTime` (BootNotification, Heartbeat), anchored to
the monotonic clock, so it keeps running correctly between heartbeats whatever the system
clock does. Intervals are always measured on the monotonic clock (`time.monotonic`).

A message created before the time was known carries its monotonic creation time (and the
boot it belongs to); `correct_payload` rewrites its timestamps once the time is known, so
no message goes out stamped with a clock known to be wrong.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

# systemd-timesyncd creates this file once NTP has set the clock.
TIMESYNC_FLAG = "/run/systemd/timesync/synchronized"
TIMESTAMP_KEYS = frozenset({"timestamp"})
# s: a CSMS time that moves the station's notion of time by more than this is reported
# (SecurityEventNotification SettingSystemTime); smaller corrections are a whole-second
# currentTime and the network's delay, not a change of the time
STEP_REPORTED = 2.0


def parse_time(text: str) -> datetime:
    """An OCPP dateTime ('2026-11-27T07:00:00Z', with or without fraction) -> aware UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """Aware datetime -> '2026-11-27T07:00:00.123Z' (millisecond precision, UTC)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class StationClock:
    """UTC wall time = CSMS time at the last sync + monotonic time elapsed since."""

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        system_synced: bool | None = None,
    ) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self._anchor_wall: float | None = None
        self._anchor_mono = 0.0
        if system_synced is None:
            system_synced = os.path.exists(TIMESYNC_FLAG)
        # An NTP-synchronised system clock is trusted until the CSMS says otherwise.
        self.system_synced = system_synced
        self.offset_seconds = 0.0  # CSMS time minus system time at the last sync
        # called with the step (s, signed) when a CSMS time moves the station's time by
        # more than STEP_REPORTED (the security event SettingSystemTime)
        self.on_step: Callable[[float], None] | None = None

    @property
    def synced(self) -> bool:
        return self._anchor_wall is not None or self.system_synced

    def monotonic(self) -> float:
        return self._monotonic()

    def set_from_csms(self, current_time: str | datetime) -> float:
        """Take the CSMS's time; returns the correction versus the system clock (s).
        The system clock itself is never set (ORGE does not run as root): only the
        station's time (`timestamp`, every message's timestamp) changes; `on_step` hears
        of a change larger than STEP_REPORTED."""
        value = parse_time(current_time) if isinstance(current_time, str) else current_time
        before = self.timestamp()  # the station's notion of time until now
        csms = value.timestamp()
        wall = self._wall()
        whole_seconds = isinstance(current_time, str) and "." not in current_time
        if whole_seconds and 0 <= wall - csms < 1:
            # The CSMS gives whole seconds and our clock is inside that second: keep our
            # sub-second part instead of falling up to 1 s behind.
            csms = wall
        self._anchor_wall = csms
        self._anchor_mono = self._monotonic()
        self.offset_seconds = csms - wall
        step = csms - before
        if abs(step) > STEP_REPORTED and self.on_step is not None:
            self.on_step(step)
        return self.offset_seconds

    def timestamp(self, mono: float | None = None) -> float:
        """POSIX time now (or at monotonic instant `mono` of this boot)."""
        mono = self._monotonic() if mono is None else mono
        if self._anchor_wall is not None:
            return self._anchor_wall + (mono - self._anchor_mono)
        return self._wall() - (self._monotonic() - mono)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def iso(self, mono: float | None = None) -> str:
        return format_time(datetime.fromtimestamp(self.timestamp(mono), UTC))

    def seconds_to_boundary(self, interval: float) -> float:
        """Seconds until the next multiple of `interval` since midnight UTC (aligned data)."""
        if interval <= 0:
            raise ValueError("interval must be positive")
        remaining = interval - (self.timestamp() % interval)
        return remaining if remaining > 1e-6 else interval

    def correct_payload(
        self, payload: Any, created_wall: float, created_mono: float, same_boot: bool
    ) -> Any:
        """Shift every `timestamp` in a payload made while the clock was unsynchronised.

        Within the same boot the monotonic clock tells exactly when the message was made;
        after a reboot only the system clock of that moment is left, so it is kept as is.
        """
        if not self.synced or not same_boot:
            return payload
        delta = timedelta(seconds=self.timestamp(created_mono) - created_wall)
        return _shift(payload, delta)


def _shift(value: Any, delta: timedelta) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in TIMESTAMP_KEYS and isinstance(item, str):
                try:
                    out[key] = format_time(parse_time(item) + delta)
                    continue
                except ValueError:
                    pass
            out[key] = _shift(item, delta)
        return out
    if isinstance(value, list):
        return [_shift(item, delta) for item in value]
    return value
