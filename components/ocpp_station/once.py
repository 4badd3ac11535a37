"""The protocol-neutral part of `orge once`: the result shape and the run order.

A protocol component plugs in by providing a submodule `once.py` with

    async def async_once(config: dict, config_dir: str, timeout: float) -> OnceResult

which connects with its validated config block, sends BootNotification, one
StatusNotification per connector and one Heartbeat, disconnects and returns the result.
The command (`components/ocpp_station/cli.py`) finds it through the loader (the engine's
component index), never by a static import, and tries the primary, then the fallback.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from orge.redact import redact_value, register_secret

from .config import StationIdentity, core_station_id, resolve_station
from .journal import read_setting
from .urls import safe_url

REQUIRED_ACTIONS = ("BootNotification", "StatusNotification", "Heartbeat")


def _summary(payload: Any, limit: int = 400) -> Any:
    """A payload as it goes into the output: itself if small, else a cut JSON text."""
    text = json.dumps(payload, separators=(",", ":"), default=str)
    return payload if len(text) <= limit else text[:limit] + "..."


@dataclass
class OnceResult:
    """What one smoke test found; `as_dict` is the JSON printed by `orge once`."""

    protocol: str
    station_id: str
    url: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    boot_status: str | None = None
    started: float = field(default_factory=time.monotonic)
    elapsed_ms: float | None = None

    def record(self, action: str, request: dict[str, Any], response: Any) -> None:
        self.messages.append(
            {"action": action, "request": _summary(request), "response": _summary(response)}
        )

    def finish(self) -> None:
        self.elapsed_ms = round((time.monotonic() - self.started) * 1000, 1)

    @property
    def ok(self) -> bool:
        if self.error or self.boot_status != "Accepted":
            return False
        answered = {m["action"] for m in self.messages if m.get("response") is not None}
        return all(action in answered for action in REQUIRED_ACTIONS)

    def as_dict(self) -> dict[str, Any]:
        if self.elapsed_ms is None:
            self.finish()
        data: dict[str, Any] = {
            "ok": self.ok,
            "protocol": self.protocol,
            "station_id": self.station_id,
            "url": safe_url(self.url),
            "messages": self.messages,
            "elapsed_ms": self.elapsed_ms,
        }
        if not self.ok:
            data["error"] = self.error or (
                f"boot {self.boot_status}" if self.boot_status != "Accepted" else "unanswered"
            )
        redacted: dict[str, Any] = redact_value(data)
        return redacted


def resolve_for_once(
    config: Mapping[str, Any],
    config_dir: str,
    protocol: str,
    stored_password: tuple[str, str] | None = None,
) -> tuple[StationIdentity | None, OnceResult]:
    """The shared preamble of both protocols' `async_once`: the station's identity as
    `orge run` resolves it and the result to fill. `stored_password` = (journal file name
    in `<config_dir>/.storage`, setting key): a password the CSMS set there (2.0.1
    SecurityCtrlr.BasicAuthPassword) wins over the configured one, as in `orge run`.
    Returns (None, a finished result with the error) when the identity cannot be
    resolved (ValueError of `resolve_station`)."""
    try:
        identity = resolve_station(config, core_station_id(config_dir))
    except ValueError as err:
        result = OnceResult(protocol, "", str(config["url"]))
        result.error = str(err)
        result.finish()
        return None, result
    if stored_password is not None:
        file_name, key = stored_password
        stored = read_setting(os.path.join(config_dir, ".storage", file_name), key)
        if stored:
            register_secret(str(stored))  # before anything could print it
            identity = replace(identity, password=str(stored))
    return identity, OnceResult(protocol, identity.station_id, identity.url)
