"""Network connection profiles and their fallback (2.0.1 B09 SetNetworkProfile, B10
migrate to another CSMS, A05 upgrade the security profile; protocol-neutral).

Slot 1 holds the configured link (`url`, `security_profile` of the YAML) unless the CSMS
set another profile in it. The CSMS stores profiles in slots 1-4 (SetNetworkProfile) and
orders them (OCPPCommCtrlr.NetworkConfigurationPriority, e.g. "2,1"). The station dials
the first slot of that order; after NetworkProfileConnectionAttempts failed attempts in
a row it moves on to the next slot (and round again), so a new CSMS that cannot be
reached brings the station back to the previous one (B10). A profile whose security
profile is lower than the one the station has connected with is refused (A05: no
downgrade), as is a TLS profile on a ws:// URL or profile 3 without a client certificate.

Profiles and the highest security profile used are kept in the journal's settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .urls import safe_url, station_url

_LOGGER = logging.getLogger(__name__)
SLOTS = (1, 2, 3, 4)
_SLOT_KEY = "network/slot/"
_FLOOR_KEY = "network/security_profile_floor"


@dataclass(frozen=True)
class NetworkProfile:
    """One slot: the URL to dial (station id appended) and its security profile (1-3)."""

    slot: int
    url: str
    security_profile: int


def parse_priority(text: str) -> list[int]:
    """ "2,1" -> [2, 1]. Raises ValueError for an unknown or repeated slot."""
    slots = [int(part) for part in str(text).split(",") if part.strip()]
    if not slots or any(slot not in SLOTS for slot in slots) or len(set(slots)) != len(slots):
        raise ValueError(f"a list of distinct slots among {', '.join(map(str, SLOTS))}")
    return slots


class NetworkProfiles:
    """The slots, the priority and the fallback of one component's link.

    `configured` is slot 1's default (the YAML link); `has_client_certificate` tells
    whether a profile 3 connection could present a certificate.
    """

    def __init__(
        self,
        journal: Any,
        configured: NetworkProfile,
        station_id: str,
        has_client_certificate: Callable[[], bool],
    ) -> None:
        self.journal = journal
        self.station_id = station_id
        self._has_certificate = has_client_certificate
        self.slots: dict[int, NetworkProfile] = {1: configured}
        self.priority: list[int] = [1]
        self.attempts = 3
        self.floor = 0  # the highest security profile the station has connected with
        self._index = 0
        self._failures = 0

    async def load(self) -> None:
        stored: Mapping[str, Any] = await self.journal.settings(_SLOT_KEY)
        for key, value in stored.items():
            slot = int(key[len(_SLOT_KEY) :])
            self.slots[slot] = NetworkProfile(slot, value["url"], int(value["security_profile"]))
        self.floor = int(await self.journal.get_setting(_FLOOR_KEY, 0))

    def configure(self, priority: list[int], attempts: int) -> None:
        """NetworkConfigurationPriority / NetworkProfileConnectionAttempts (re-read before
        each dial); slots without a profile are skipped."""
        order = [slot for slot in priority if slot in self.slots] or [1]
        if order != self.priority:
            self.priority = order
            self._index = 0
            self._failures = 0
        self.attempts = max(1, attempts)

    def current(self) -> NetworkProfile:
        return self.slots[self.priority[self._index % len(self.priority)]]

    def check(self, url: str, security_profile: int) -> str | None:
        """Why a profile cannot be taken (None: it can)."""
        if security_profile < self.floor:
            return f"security profile {security_profile} is below {self.floor} (no downgrade)"
        if security_profile >= 2 and not url.startswith("wss://"):
            return f"security profile {security_profile} needs a wss:// URL"
        if security_profile == 1 and not url.startswith("ws://"):
            return "security profile 1 needs a ws:// URL"
        if security_profile == 3 and not self._has_certificate():
            return "security profile 3 needs a charging station certificate"
        return None

    async def set_slot(self, slot: int, url: str, security_profile: int) -> str | None:
        """SetNetworkProfile: store the profile; the reason it is refused, else None."""
        if slot not in SLOTS:
            return f"configurationSlot must be one of {', '.join(map(str, SLOTS))}"
        if slot == self.current().slot:
            return "the slot in use cannot be changed"
        reason = self.check(url, security_profile)
        if reason is not None:
            return reason
        profile = NetworkProfile(slot, station_url(url, self.station_id), security_profile)
        self.slots[slot] = profile
        await self.journal.set_setting(
            f"{_SLOT_KEY}{slot}", {"url": profile.url, "security_profile": security_profile}
        )
        return None

    def failed(self) -> NetworkProfile | None:
        """A dial of the current profile failed: the next profile once it failed
        `attempts` times in a row (None: stay)."""
        self._failures += 1
        if self._failures < self.attempts or len(self.priority) < 2:
            return None
        self._failures = 0
        self._index = (self._index + 1) % len(self.priority)
        profile = self.current()
        _LOGGER.warning(
            "No connection after %d attempts; trying network profile slot %d (%s)",
            self.attempts,
            profile.slot,
            safe_url(profile.url),
        )
        return profile

    async def connected(self) -> None:
        """The current profile connected: remember its security profile as the floor."""
        self._failures = 0
        profile = self.current().security_profile
        if profile > self.floor:
            self.floor = profile
            await self.journal.set_setting(_FLOOR_KEY, profile)
