"""Primary and fallback: which OCPP component talks to the CSMS, decided over the bus.

The two OCPP components never import each other. They coordinate with two events and a
state:

- `ocpp_primary_failed` {domain, protocol, reason}: fired by the primary when its URL
  refused it (boot rejected, HTTP 401/403/404, subprotocol not agreed) or failed
  `failures_before_fallback` times in a row. The fallback component starts connecting.
- `ocpp_primary_restored` {domain, protocol}: fired by the primary when it is connected
  again (it keeps retrying with its back-off). The fallback disconnects.
- `sensor.ocpp_active_protocol`: the protocol of the link in use (`ocpp2.0.1`,
  `ocpp1.6`) or `none`, written by whichever component is connected, primary first.

`OCPP_PRIMARY` (`201` or `16`) picks the primary; default `201`. If the primary domain is
not set up at all, the other component is active from the start.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from orge.core import EVENT_ORGE_STARTED, Orge, callback

_LOGGER = logging.getLogger(__name__)

EVENT_PRIMARY_FAILED = "ocpp_primary_failed"
EVENT_PRIMARY_RESTORED = "ocpp_primary_restored"
ACTIVE_PROTOCOL_ENTITY = "sensor.ocpp_active_protocol"
DOMAINS = ("ocpp201", "ocpp16")
_PRIMARY_NAMES = {
    "201": "ocpp201",
    "2.0.1": "ocpp201",
    "ocpp2.0.1": "ocpp201",
    "ocpp201": "ocpp201",
    "2": "ocpp201",
    "16": "ocpp16",
    "1.6": "ocpp16",
    "ocpp1.6": "ocpp16",
    "ocpp16": "ocpp16",
}
_DATA_KEY = "ocpp_station_links"
_FAILED_KEY = "ocpp_station_failed"  # domain -> reason, while a primary has handed over
_HANDOVER_KEY = "ocpp_station_handover"  # url -> an open connection for the other domain
# A connection handed over and not taken within this time is closed (no fallback took it).
HANDOVER_TIMEOUT = 15.0


def primary_domain(env: Mapping[str, str] | None = None) -> str:
    """The primary OCPP domain from `OCPP_PRIMARY` (`201` default, or `16`)."""
    env = os.environ if env is None else env
    value = str(env.get("OCPP_PRIMARY", "") or "").strip().lower()
    if not value:
        return "ocpp201"
    domain = _PRIMARY_NAMES.get(value)
    if domain is None:
        _LOGGER.warning("OCPP_PRIMARY=%r is neither 201 nor 16; using 201", value)
        return "ocpp201"
    return domain


def other_domain(domain: str) -> str:
    return "ocpp16" if domain == "ocpp201" else "ocpp201"


def domain_order(configured: Mapping[str, Any], env: Mapping[str, str] | None = None) -> list[str]:
    """Configured OCPP domains, primary first, then the fallback (if it may fall back)."""
    primary = primary_domain(env)
    order = [d for d in (primary, other_domain(primary)) if d in configured]
    if len(order) == 2 and order[1] == "ocpp16" and primary == "ocpp201":
        block = configured.get("ocpp16") or {}
        if isinstance(block, Mapping) and block.get("fallback") is False:
            order.pop()
    return order


class LinkRole:
    """One component's role. The primary reports failures; the fallback waits for them."""

    def __init__(
        self,
        orge: Orge,
        domain: str,
        *,
        fallback_enabled: bool = True,
        failures_before_fallback: int = 3,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.orge = orge
        self.domain = domain
        self.primary = primary_domain(env)
        self.is_primary = domain == self.primary
        self.fallback_enabled = fallback_enabled
        self.failures_before_fallback = max(1, failures_before_fallback)
        self.failures = 0
        self.announced_failure = False
        self._active = asyncio.Event()
        self.on_deactivate: Callable[[], None] | None = None
        self._unsubs: list[Callable[[], None]] = []
        if self.is_primary:
            self._active.set()

    @property
    def active(self) -> bool:
        return self._active.is_set()

    async def wait_active(self) -> None:
        await self._active.wait()

    def start(self) -> None:
        if self.is_primary:
            return
        bus = self.orge.bus
        self._unsubs.append(bus.async_listen(EVENT_PRIMARY_FAILED, self._primary_failed))
        self._unsubs.append(bus.async_listen(EVENT_PRIMARY_RESTORED, self._primary_restored))
        if self.orge.is_running and self.orge.state.value == "RUNNING":
            self._check_primary_present()
        elif self.orge.data.get(_FAILED_KEY, {}).get(self.primary) is not None:
            self._check_primary_present()
        else:
            self._unsubs.append(
                # @callback: runs on the loop (a plain lambda would go to the executor)
                bus.async_listen_once(
                    EVENT_ORGE_STARTED, callback(lambda _e: self._check_primary_present())
                )
            )

    def stop(self) -> None:
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()

    @callback
    def _check_primary_present(self) -> None:
        failed = self.orge.data.get(_FAILED_KEY, {}).get(self.primary)
        if failed is not None and self.fallback_enabled and not self._active.is_set():
            # The primary gave up before this component was listening.
            _LOGGER.warning("%s takes over: %s", self.domain, failed)
            self._active.set()
            return
        if self.primary not in self.orge.config.components:
            _LOGGER.info(
                "%s: primary %s is not running; %s is active",
                self.domain,
                self.primary,
                self.domain,
            )
            self._active.set()

    @callback
    def _primary_failed(self, event: Any) -> None:
        if not self.fallback_enabled or event.data.get("domain") != self.primary:
            return
        if not self._active.is_set():
            _LOGGER.warning("%s takes over: %s", self.domain, event.data.get("reason"))
            self._active.set()

    @callback
    def _primary_restored(self, event: Any) -> None:
        if event.data.get("domain") != self.primary or not self._active.is_set():
            return
        _LOGGER.info("%s is back; %s steps down", self.primary, self.domain)
        self._active.clear()
        if self.on_deactivate is not None:
            self.on_deactivate()

    # primary side -------------------------------------------------------------------

    def report_failure(self, reason: str, refused: bool = False) -> None:
        """The primary could not connect (or was refused): maybe hand over."""
        if not self.is_primary:
            return
        self.failures += 1
        if self.announced_failure:
            return
        if refused or self.failures >= self.failures_before_fallback:
            self.announced_failure = True
            self.orge.data.setdefault(_FAILED_KEY, {})[self.domain] = reason
            self.orge.bus.async_fire(
                EVENT_PRIMARY_FAILED,
                {"domain": self.domain, "reason": reason, "failures": self.failures},
            )

    def report_connected(self, protocol: str) -> None:
        self.failures = 0
        if self.is_primary and self.announced_failure:
            self.announced_failure = False
            self.orge.data.get(_FAILED_KEY, {}).pop(self.domain, None)
            self.orge.bus.async_fire(EVENT_PRIMARY_RESTORED, {"domain": self.domain})
        self.set_link(protocol)

    def fallback_link_up(self) -> bool:
        """True while the other component holds the CSMS link (the primary should then
        retry at its slower `primary_retry_interval`, not compete every few seconds)."""
        links: dict[str, str | None] = self.orge.data.get(_DATA_KEY, {})
        return any(p for d, p in links.items() if d != self.domain)

    def hand_over(self, url: str, connection: Any) -> None:
        """The CSMS agreed on the other protocol on this (shared) URL: leave the open
        socket for the other component instead of closing it and dialling again, so the
        CSMS never sees two sockets for one station. Call before `report_failure`.
        Closed if nobody takes it within HANDOVER_TIMEOUT seconds."""
        slots: dict[str, Any] = self.orge.data.setdefault(_HANDOVER_KEY, {})
        old = slots.pop(url, None)
        if old is not None and old is not connection:
            self.orge.async_create_task(old.close())
        slots[url] = connection

        def expire() -> None:
            if url in slots and slots[url] is connection:
                del slots[url]
                self.orge.async_create_task(connection.close())

        asyncio.get_running_loop().call_later(HANDOVER_TIMEOUT, expire)

    def take_handover(self, url: str, subprotocol: str) -> Any:
        """An open connection left for this component on `url` with `subprotocol`, or None."""
        slots: dict[str, Any] = self.orge.data.get(_HANDOVER_KEY, {})
        connection = slots.get(url)
        if connection is None or connection.subprotocol != subprotocol:
            return None
        del slots[url]
        return connection if connection.is_open else None

    def report_disconnected(self) -> None:
        self.set_link(None)

    def set_link(self, protocol: str | None) -> None:
        links: dict[str, str | None] = self.orge.data.setdefault(_DATA_KEY, {})
        links[self.domain] = protocol
        order = [self.primary, other_domain(self.primary)]
        active = next((links[d] for d in order if links.get(d)), None)
        self.orge.states.async_set(
            ACTIVE_PROTOCOL_ENTITY,
            active or "none",
            {"friendly_name": "OCPP active protocol", "icon": "mdi:swap-horizontal"},
        )
