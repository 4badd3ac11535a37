"""Local authorization and customer information for OCPP 2.0.1 (blocks C, D and N09/N10):
the 2.0.1 payloads mapped onto the protocol-neutral `ocpp_station.local_auth`.

- Every authorization of the station (`ocpp201.authorize`, the group check of a local
  stop, automations and readers calling that service) goes through `authorize()`.
- IdTokenInfo in any CSMS answer (Authorize, TransactionEvent) updates the cache; a
  TransactionEvent answered with a status other than Accepted de-authorizes the running
  transaction (E05: TxCtrlr.StopTxOnInvalidId true -> stopped, triggerReason
  Deauthorized, stoppedReason DeAuthorized; false -> with TxCtrlr.MaxEnergyOnInvalidId
  above 0, at most that many Wh more, then stopped the same way: the controller cannot
  suspend the energy, only end the session).
- SendLocalList (D01), GetLocalListVersion (D02), ClearCache (C11), CustomerInformation
  (N09 report / N10 clear) with NotifyCustomerInformation queued in the journal.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.v201 import call_result

from components.ocpp_station.journal import KIND_OTHER
from components.ocpp_station.local_auth import (
    LIST_ITEMS_PER_MESSAGE,
    AuthPolicy,
    Decision,
    LocalAuth,
    NotAsked,
    token_key,
)
from components.ocpp_station.sender import CallRejected, LinkDown, NoAnswer

if TYPE_CHECKING:
    from components.ocpp_station.journal import Entry

    from .state import AuthorizationState

_LOGGER = logging.getLogger(__name__)
DATA_CHUNK = 512  # NotifyCustomerInformationRequest.data: string[0..512]


def key_of(id_token: dict[str, Any]) -> str:
    """The cache / list key of an IdTokenType (camelCase): type and idToken."""
    return token_key(str(id_token.get("idToken", "")), str(id_token.get("type", "")))


def allowed_evses(info: dict[str, Any]) -> set[int] | None:
    """The EVSEs an IdTokenInfo (camelCase) lets its token charge on: its `evseId`
    ("only used when the IdToken is only valid for one or more specific EVSEs, not for
    the entire Charging Station", Part 2 IdTokenInfoType), as the CSMS's
    AuthorizeResponse (C01), a local list entry (D01) or a cache entry (C10) gives it;
    None when it has none (valid on every EVSE)."""
    evses = info.get("evseId")
    if not evses:
        return None
    return {int(evse) for evse in evses}


def _info(reason: str, additional: str | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"reason_code": reason}
    if additional:
        info["additional_info"] = additional[:512]
    return info


class Authorization201:
    """The authorization cache, the local list and customer information of one
    `Station201`."""

    def __init__(self, station: AuthorizationState) -> None:
        self.station = station
        self.local = LocalAuth(station.journal, self.policy, "cacheExpiryDateTime")
        self.energy_cap: dict[str, float] = {}  # transactionId -> Wh register to stop at

    async def load(self) -> None:
        """Open the tables; the device model's counters read them from now on."""
        await self.local.async_start()
        variables = self.station.model.variables
        variables["LocalAuthListCtrlr/Entries"].dynamic = lambda: len(self.local.local_list)
        variables["LocalAuthListCtrlr/Storage"].dynamic = self.local.list_storage_used
        variables["AuthCacheCtrlr/Storage"].dynamic = self.local.cache_storage_used

    def policy(self) -> AuthPolicy:
        value = self.station.model.value
        return AuthPolicy(
            cache_enabled=bool(value("AuthCacheCtrlr", "Enabled")),
            cache_lifetime=float(value("AuthCacheCtrlr", "LifeTime") or 0),
            cache_post_authorize=not value("AuthCacheCtrlr", "DisablePostAuthorize"),
            list_enabled=bool(value("LocalAuthListCtrlr", "Enabled")),
            list_post_authorize=not value("LocalAuthListCtrlr", "DisablePostAuthorize"),
            authorize_offline=bool(value("AuthCtrlr", "LocalAuthorizeOffline")),
            pre_authorize=bool(value("AuthCtrlr", "LocalPreAuthorize")),
            offline_unknown=bool(value("AuthCtrlr", "OfflineTxForUnknownIdEnabled")),
        )

    # --- the decision ------------------------------------------------------------------

    async def authorize(self, id_token: dict[str, Any]) -> Decision:
        """Authorize an IdTokenType (camelCase) through the local rules; Authorize (C01)
        is sent when the station is registered and connected."""
        station = self.station
        link = station.link
        ask = None
        if link is not None and link.is_open and station.boot_accepted:

            async def ask_csms() -> dict[str, Any]:
                try:
                    answer = await link.call("Authorize", {"idToken": id_token})
                except (NoAnswer, LinkDown, CallRejected) as err:
                    _LOGGER.warning("Authorize not answered (%s): deciding offline", err)
                    raise NotAsked from None
                return dict(answer.get("idTokenInfo") or {})

            ask = ask_csms
        return await self.local.authorize(key_of(id_token), id_token, ask)

    async def answered(self, entry: Entry, response: dict[str, Any]) -> None:
        """A TransactionEvent was answered: its idTokenInfo goes into the cache, and a
        status other than Accepted de-authorizes the transaction (E05)."""
        info = response.get("idTokenInfo")
        token = entry.payload.get("idToken")
        if not info or not token or entry.action != "TransactionEvent":
            return
        await self.local.remember(key_of(token), token, dict(info))
        if info.get("status") == "Accepted" or entry.payload.get("eventType") == "Ended":
            return
        station = self.station
        for tx in list(station.transactions.values()):
            if tx.tx_id != entry.tx_id or tx.id_token is None:
                continue
            if key_of(tx.id_token) != key_of(token):
                continue  # answered about the token that stopped it, not the starting one
            if station.model.value("TxCtrlr", "StopTxOnInvalidId"):
                _LOGGER.warning(
                    "CSMS answered %s for the token of transaction %s: stopping it",
                    info.get("status"),
                    tx.tx_id,
                )
                await self._deauthorize(tx.evse_id)
                return
            # 0 (the default) sets no cap: the controller cannot suspend the energy, only
            # end the session, so 0 is read as "not configured" (OCA TC_C_26_CS keeps
            # the transaction running with MaxEnergyOnInvalidId 0)
            cap = int(station.model.value("TxCtrlr", "MaxEnergyOnInvalidId") or 0)
            register = station.evses[tx.evse_id].energy_wh()
            if cap > 0 and register is not None:
                self.energy_cap[tx.tx_id] = register + cap
                _LOGGER.warning(
                    "CSMS answered %s for the token of transaction %s: at most %d Wh more",
                    info.get("status"),
                    tx.tx_id,
                    cap,
                )
                self._watch_energy(tx.evse_id, tx.tx_id)

    def _watch_energy(self, evse_id: int, tx_id: str) -> None:
        """Follow the EVSE's energy register until the cap is reached or the
        transaction is over."""
        from orge.helpers.event import async_track_state_change_event

        station = self.station
        entity = station.evses[evse_id].config.get("energy_entity")
        if not entity:
            return
        unsub: list[Any] = []

        def changed(_event: Any) -> None:
            if self.check_energy(evse_id, tx_id):
                for stop in unsub:
                    stop()

        unsub.append(async_track_state_change_event(station.orge, [entity], changed))
        if self.check_energy(evse_id, tx_id):
            unsub.pop()()

    def check_energy(self, evse_id: int, tx_id: str) -> bool:
        """MaxEnergyOnInvalidId reached on the de-authorized transaction: stop it.
        True when there is nothing left to watch."""
        station = self.station
        tx = station.transactions.get(evse_id)
        if tx is None or tx.tx_id != tx_id or tx_id not in self.energy_cap:
            self.energy_cap.pop(tx_id, None)
            return True
        register = station.evses[evse_id].energy_wh()
        if register is not None and register >= self.energy_cap[tx_id]:
            del self.energy_cap[tx_id]
            station.orge.async_create_task(self._deauthorize(evse_id))
            return True
        return False

    async def _deauthorize(self, evse_id: int) -> None:
        try:
            await self.station.evses[evse_id].async_stop("DeAuthorized")
        except Exception as err:
            self.station.sensors.set_error(f"stop of a de-authorized transaction failed: {err}")

    # --- SendLocalList, GetLocalListVersion, ClearCache --------------------------------

    async def send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None,
    ) -> Any:
        """SendLocalList (D01): Accepted; VersionMismatch for a Differential update whose
        version is not above the installed one (D01.FR.19); Failed, with a statusInfo
        naming why, when the list is disabled, holds more than ItemsPerMessage entries,
        or `LocalAuth.update_list` refuses it (versionNumber not above 0, D01.FR.18; a
        token twice, D01.FR.06; a Full entry without idTokenInfo; Entries' maximum)."""
        items = [snake_to_camel_case(item) for item in local_authorization_list or []]
        if not self.station.model.value("LocalAuthListCtrlr", "Enabled"):
            return call_result.SendLocalList(
                status="Failed", status_info=_info("Disabled", "LocalAuthListCtrlr.Enabled")
            )
        if len(items) > LIST_ITEMS_PER_MESSAGE:
            return call_result.SendLocalList(status="Failed", status_info=_info("TooManyElements"))
        entries = [
            (key_of(item["idToken"]), item["idToken"], item.get("idTokenInfo")) for item in items
        ]
        update = await self.local.update_list(version_number, update_type == "Full", entries)
        if update.reason is None:
            return call_result.SendLocalList(status=update.status)
        return call_result.SendLocalList(
            status=update.status, status_info=_info(update.reason, update.detail)
        )

    def get_local_list_version(self) -> Any:
        """GetLocalListVersion (D02): the installed version; 0 when no list is installed
        (D02) or the list is disabled."""
        if not self.station.model.value("LocalAuthListCtrlr", "Enabled"):
            return call_result.GetLocalListVersion(version_number=0)
        return call_result.GetLocalListVersion(version_number=self.local.version)

    async def clear_cache(self) -> Any:
        """ClearCache (C11): Accepted and the cache emptied; Rejected when
        AuthCacheCtrlr.Enabled is false (C11.FR.04)."""
        if not self.station.model.value("AuthCacheCtrlr", "Enabled"):
            return call_result.ClearCache(status="Rejected")
        await self.local.clear_cache()
        return call_result.ClearCache(status="Accepted")

    # --- CustomerInformation (N09 report, N10 clear) ---------------------------------------

    def customer_information(
        self,
        request_id: int,
        report: bool,
        clear: bool,
        customer_identifier: str | None,
        id_token: dict[str, Any] | None,
        customer_certificate: dict[str, Any] | None,
    ) -> Any:
        """The answer: Invalid unless exactly one customer reference is given (N09.FR.04:
        idToken, customerCertificate or customerIdentifier) and report or clear asked;
        else Accepted (N09.FR.02 / N10.FR.01: the station can always answer). ORGE keeps
        customer data per id token only: a customerIdentifier or a customer certificate
        is Accepted too, and the NotifyCustomerInformation says no data is held
        (N09.FR.06 / N10.FR.04)."""
        references = [r for r in (customer_identifier, id_token, customer_certificate) if r]
        if len(references) != 1 or not (report or clear):
            return call_result.CustomerInformation(
                status="Invalid",
                status_info=_info(
                    "InvalidValue", "one of idToken, customerCertificate, customerIdentifier"
                ),
            )
        return call_result.CustomerInformation(status="Accepted")

    async def after_customer_information(
        self,
        request_id: int,
        report: bool,
        clear: bool,
        id_token: dict[str, Any] | None,
        customer_identifier: str | None = None,
        customer_certificate: dict[str, Any] | None = None,
    ) -> None:
        """After an Accepted answer. Report (N09.FR.05/06): what is held about the
        customer, taken before a clear, or that no data is held. Clear: the token's cache
        entry and the token in the session log (not the local list entry: only the CSMS
        changes the list, N10.FR.02/03); without report one message says what was
        cleared (N10.FR.06). NotifyCustomerInformation in 512-character chunks, seqNo
        from 0, tbc until the last, journaled. A customerIdentifier or a customer
        certificate refers to nothing ORGE keeps (no customer accounts, no ISO 15118
        contract certificates): no data."""
        station = self.station
        held: list[dict[str, Any]] = []
        key = value = None  # the id token's cache key and value
        if id_token is not None:
            token = snake_to_camel_case(id_token)
            key, value = key_of(token), str(token.get("idToken", ""))
            name = f"idToken {value}"
            held = self.local.held_about(key)
            for session in await station.sessions.sessions_of(value):
                held.append({"source": "session", **session})
        elif customer_identifier:
            name = f"customerIdentifier {customer_identifier}"
        else:
            serial = snake_to_camel_case(customer_certificate or {}).get("serialNumber")
            name = f"customerCertificate {serial}"
        if report:
            text = json.dumps(held, separators=(",", ":")) if held else f"No data held about {name}"
            await self._notify_customer(request_id, text)
        elif clear:
            cleared = sorted({h["source"] for h in held if h["source"] != "localList"})
            text = (
                f"Cleared the data held about {name}: {', '.join(cleared)}"
                if cleared
                else f"No data held about {name}"
            )
            await self._notify_customer(request_id, text)
        if clear and key is not None and value is not None:
            await self.local.forget(key)
            await station.sessions.forget_token(value)

    async def _notify_customer(self, request_id: int, text: str) -> None:
        """`text` as NotifyCustomerInformation messages (512-character chunks) queued."""
        station = self.station
        chunks = [text[i : i + DATA_CHUNK] for i in range(0, len(text), DATA_CHUNK)]
        generated = station.clock.iso()
        for seq, chunk in enumerate(chunks):
            payload = {
                "data": chunk,
                "tbc": seq < len(chunks) - 1,
                "seqNo": seq,
                "generatedAt": generated,
                "requestId": request_id,
            }
            await station.journal.append(
                "NotifyCustomerInformation", payload, KIND_OTHER, time_synced=station.clock.synced
            )
        station.sender.wake()
