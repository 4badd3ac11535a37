"""Local authorization for OCPP 1.6 (§3.5 Local Authorization List and Authorization Cache,
the Local Auth List Management profile): the 1.6 payloads mapped onto the
protocol-neutral `ocpp_station.local_auth`.

- Every authorization of the station (`ocpp16.authorize`, the parentIdTag check of a
  local stop, AuthorizeRemoteTxRequests) goes through `authorize()`: the CSMS when
  connected, else the local list, the cache and AllowOfflineTxForUnknownId.
- The IdTagInfo of Authorize, StartTransaction and StopTransaction answers updates the
  cache (§3.5.2); a StartTransaction answered with another status than Accepted stops the
  transaction with StopTransactionOnInvalidId (station.py, reason DeAuthorized).
- SendLocalList (§5.15), GetLocalListVersion (§5.9), ClearCache (§5.4).

Configuration keys (config_keys.py): LocalAuthListEnabled, LocalAuthListMaxLength,
SendLocalListMaxLength, LocalAuthorizeOffline, LocalPreAuthorize,
AuthorizationCacheEnabled, AllowOfflineTxForUnknownId.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..ocpp_station.local_auth import (
    LIST_ITEMS_PER_MESSAGE,
    UNKNOWN,
    AuthPolicy,
    Decision,
    LocalAuth,
    NotAsked,
    token_key,
)
from ..ocpp_station.sender import CallRejected, LinkDown, NoAnswer

if TYPE_CHECKING:
    from .state import AuthorizationState

_LOGGER = logging.getLogger(__name__)


class Authorization16:
    """The authorization cache and the local list of one `Ocpp16Station`."""

    def __init__(self, station: AuthorizationState) -> None:
        self.station = station
        self.local = LocalAuth(station.journal, self.policy, "expiryDate")

    async def load(self) -> None:
        await self.local.async_start()

    def policy(self) -> AuthPolicy:
        flag = self.station.keys.flag
        return AuthPolicy(
            cache_enabled=flag("AuthorizationCacheEnabled"),
            cache_lifetime=0.0,  # 1.6 has no cache lifetime key; expiryDate applies
            cache_post_authorize=True,
            list_enabled=flag("LocalAuthListEnabled"),
            list_post_authorize=True,
            authorize_offline=flag("LocalAuthorizeOffline"),
            pre_authorize=flag("LocalPreAuthorize"),
            offline_unknown=flag("AllowOfflineTxForUnknownId"),
        )

    async def authorize(self, id_tag: str) -> tuple[str, str | None, Decision]:
        """(IdTagInfo status, parentIdTag or None, the decision) of an id tag; a tag
        unknown offline is `Invalid` (1.6 AuthorizationStatus has no Unknown)."""
        station = self.station
        link = station.link
        ask = None
        if link is not None and station.accepted:

            async def ask_csms() -> dict[str, Any]:
                try:
                    answer = await link.send_call("Authorize", {"idTag": id_tag})
                except (NoAnswer, CallRejected, LinkDown) as err:
                    station.sensors.set_error(f"Authorize: {err}", time=station.clock.iso())
                    raise NotAsked from None
                return dict(answer.get("idTagInfo") or {})

            ask = ask_csms
        decision = await self.local.authorize(token_key(id_tag), id_tag, ask)
        status = "Invalid" if decision.status == UNKNOWN else decision.status
        return status, decision.info.get("parentIdTag"), decision

    async def answered(self, id_tag: str | None, info: dict[str, Any] | None) -> None:
        """An IdTagInfo in a Start/StopTransaction answer: into the cache (§3.5.2)."""
        if id_tag and info:
            await self.local.remember(token_key(id_tag), id_tag, dict(info))

    async def send_local_list(
        self, list_version: int, update_type: str, entries: list[dict[str, Any]] | None
    ) -> str:
        """SendLocalList (§5.15): Accepted; VersionMismatch for a Differential update
        whose version is not above the installed one; Failed when LocalAuthListEnabled
        is false, more than SendLocalListMaxLength entries are sent, or
        `LocalAuth.update_list` refuses it (listVersion below 0, or 0 except for a Full
        update that empties the list; an idTag twice; a Full entry without
        idTagInfo)."""
        if not self.station.keys.flag("LocalAuthListEnabled"):
            return "Failed"
        items = entries or []
        if len(items) > LIST_ITEMS_PER_MESSAGE:
            return "Failed"
        update = [
            (
                token_key(item["id_tag"]),
                item["id_tag"],
                _camel_info(item.get("id_tag_info")),
            )
            for item in items
        ]
        outcome = await self.local.update_list(
            list_version, update_type == "Full", update, clear_at_zero=True
        )
        if outcome.reason is not None:
            _LOGGER.warning("SendLocalList %s: %s", outcome.status, outcome.detail)
        return outcome.status

    def get_local_list_version(self) -> int:
        """GetLocalListVersion (§5.9): the installed version, 0 when the list is empty."""
        return self.local.version

    async def clear_cache(self) -> str:
        """ClearCache (§5.4): Accepted once the cache is empty; Rejected while
        AuthorizationCacheEnabled is false (nothing is cached to clear)."""
        if not self.station.keys.flag("AuthorizationCacheEnabled"):
            return "Rejected"
        await self.local.clear_cache()
        return "Accepted"


def _camel_info(info: dict[str, Any] | None) -> dict[str, Any] | None:
    """The IdTagInfo as the wire has it (camelCase), as Authorize answers are stored."""
    if info is None:
        return None
    names = {"expiry_date": "expiryDate", "parent_id_tag": "parentIdTag"}
    return {names.get(key, key): value for key, value in info.items() if value is not None}
