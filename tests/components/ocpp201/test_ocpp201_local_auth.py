"""Local authorization (2.0.1 blocks C and D) and CustomerInformation (N09/N10) against
the test CSMS over a real WebSocket, with the journal's SQLite file on disk: the
authorization cache, the local list (SendLocalList / GetLocalListVersion), ClearCache,
the offline rules, a token the CSMS rejects after the start (E05), a restart, and the
customer data report / clear. Named by OCA test case (OCPP 2.0.1 Part 6) where one
applies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_until

from tests.ocpp_csms import OcppCsms

TOKEN_TYPE = "ISO14443"


def _token(value: str) -> dict[str, Any]:
    return {"idToken": value, "type": TOKEN_TYPE}


def _entry(value: str, status: str = "Accepted") -> dict[str, Any]:
    return {"idToken": _token(value), "idTokenInfo": {"status": status}}


async def _linked(csms: OcppCsms, path: Any, start_station: Any) -> tuple[Any, FakeController]:
    hub, _ = await start_station(path)
    controller = FakeController(hub)
    controller.state("idle", cp=0)
    await csms.wait_for("StatusNotification")
    return hub, controller


async def _present(hub: Any, id_token: str) -> dict[str, Any]:
    return await hub.services.async_call(
        "ocpp201",
        "authorize",
        {"id_token": id_token, "type": TOKEN_TYPE},
        blocking=True,
        return_response=True,
    )


async def _variables(csms: OcppCsms, *pairs: tuple[str, str]) -> dict[str, str | None]:
    answer = await csms.get_variables(STATION, *pairs)
    return {
        f"{r['component']['name']}.{r['variable']['name']}": r.get("attributeValue")
        for r in answer["getVariableResult"]
    }


async def _set(csms: OcppCsms, *triples: tuple[str, str, str]) -> None:
    answer = await csms.set_variables(STATION, *triples)
    assert [r["attributeStatus"] for r in answer["setVariableResult"]] == ["Accepted"] * len(
        triples
    )


async def _send_list(csms: OcppCsms, version: int, kind: str, entries: list[dict]) -> str:
    payload: dict[str, Any] = {"versionNumber": version, "updateType": kind}
    if entries:
        payload["localAuthorizationList"] = entries
    return (await csms.call(STATION, "SendLocalList", payload))["status"]


async def _version(csms: OcppCsms) -> int:
    return (await csms.call(STATION, "GetLocalListVersion", {}))["versionNumber"]


async def _offline(csms: OcppCsms, hub: Any) -> None:
    await csms.stop()
    await wait_until(lambda: hub.data["ocpp201"].link is None, what="link down")


async def _charging(hub: Any) -> None:
    await wait_until(
        lambda: hub.states.get("sensor.charger_state").state == "charging", what="charging"
    )


def _events(csms: OcppCsms, event_type: str) -> list[dict[str, Any]]:
    return [p for p in csms.payloads("TransactionEvent") if p["eventType"] == event_type]


async def test_d01_full_and_differential_d02_version(config_dir, start_station) -> None:
    """D01/D02: a Full list replaces the list; a Differential one adds (with
    idTokenInfo) and removes (without) entries and must carry a higher version, else
    VersionMismatch and nothing changes; GetLocalListVersion gives the
    installed version, 0 with no list (D02); LocalAuthListCtrlr.Entries counts the
    entries; a disabled list answers Failed."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        assert await _version(csms) == 0
        assert await _send_list(csms, 1, "Full", [_entry("A"), _entry("B", "Blocked")]) == (
            "Accepted"
        )
        assert await _version(csms) == 1
        entries = ("LocalAuthListCtrlr", "Entries")
        assert (await _variables(csms, entries))["LocalAuthListCtrlr.Entries"] == "2"
        # a Differential update not above the installed version: VersionMismatch
        assert await _send_list(csms, 1, "Differential", [_entry("C")]) == "VersionMismatch"
        assert await _version(csms) == 1
        assert (await _variables(csms, entries))["LocalAuthListCtrlr.Entries"] == "2"
        removal = {"idToken": _token("A")}
        assert await _send_list(csms, 2, "Differential", [_entry("C"), removal]) == "Accepted"
        assert await _version(csms) == 2
        assert (await _variables(csms, entries))["LocalAuthListCtrlr.Entries"] == "2"
        # a Full list without entries empties it: version 0 again
        assert await _send_list(csms, 3, "Full", []) == "Accepted"
        assert await _version(csms) == 0
        assert (await _variables(csms, entries))["LocalAuthListCtrlr.Entries"] == "0"
        await _set(csms, ("LocalAuthListCtrlr", "Enabled", "false"))
        assert await _send_list(csms, 4, "Full", [_entry("A")]) == "Failed"
        assert not csms.errors_sent()


async def test_tc_c_37_clear_cache_accepted_tc_c_38_rejected_when_disabled(
    config_dir, start_station
) -> None:
    """C10/C11: the IdTokenInfo of an Authorize answer is cached (AuthCacheCtrlr.Storage
    grows); ClearCache empties it (Accepted, TC_C_37_CS), so the next presentation is
    asked of the CSMS again; with AuthCacheCtrlr.Enabled false ClearCache is Rejected
    (C11.FR.04, TC_C_38_CS)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        local = hub.data["ocpp201"].authorization.local
        assert (await _present(hub, "CARD-1"))["status"] == "Accepted"
        assert csms.payloads("Authorize") == [{"idToken": _token("CARD-1")}]
        assert local.cache[f"{TOKEN_TYPE}:card-1"][1] == {"status": "Accepted"}
        storage = await _variables(csms, ("AuthCacheCtrlr", "Storage"))
        assert int(storage["AuthCacheCtrlr.Storage"] or 0) > 0
        assert await csms.call(STATION, "ClearCache", {}) == {"status": "Accepted"}
        assert local.cache == {}
        assert (await _variables(csms, ("AuthCacheCtrlr", "Storage")))[
            "AuthCacheCtrlr.Storage"
        ] == "0"
        await _set(csms, ("AuthCacheCtrlr", "Enabled", "false"))
        assert await csms.call(STATION, "ClearCache", {}) == {"status": "Rejected"}
        assert not csms.errors_sent()


async def test_local_pre_authorize_from_the_list(config_dir, start_station) -> None:
    """LocalPreAuthorize true (block C, the local list): a listed Accepted token starts
    at once, no Authorize is sent; a listed Blocked token is asked of the CSMS, or not
    with LocalAuthListCtrlr.DisablePostAuthorize true (then Blocked at once)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        await _set(csms, ("AuthCtrlr", "LocalPreAuthorize", "true"))
        assert await _send_list(csms, 1, "Full", [_entry("LISTED"), _entry("BAD", "Blocked")]) == (
            "Accepted"
        )
        assert await _present(hub, "listed") == {"status": "Accepted", "evse_id": 1}
        assert csms.payloads("Authorize") == []
        controller.state("ev_connected", cp=1)
        started = (await csms.wait_for("TransactionEvent"))[0].payload
        assert started["idToken"] == _token("listed")
        assert "offline" not in started
        await _charging(hub)  # the fake controller's authorize ends in charging
        controller.state("stopped", cp=0)
        controller.state("idle", cp=0)
        await wait_until(lambda: not hub.data["ocpp201"].transactions, what="ended")
        csms.id_tags["BAD"] = "Blocked"
        assert (await _present(hub, "BAD"))["status"] == "Blocked"
        assert csms.payloads("Authorize") == [{"idToken": _token("BAD")}]
        await _set(csms, ("LocalAuthListCtrlr", "DisablePostAuthorize", "true"))
        assert (await _present(hub, "BAD"))["status"] == "Blocked"
        assert len(csms.payloads("Authorize")) == 1  # not asked this time


async def test_tc_c_13_cached_token_pre_authorized_before_the_cable(
    config_dir, start_station
) -> None:
    """TC_C_13_CS (C12): AuthCacheCtrlr.Enabled and LocalPreAuthorize true, the token
    Accepted in the cache (from an earlier Authorize): presented again it is Accepted at
    once, no AuthorizeRequest; the transaction starts with it once the cable is in."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        station = hub.data["ocpp201"]
        assert (await _present(hub, "CACHED"))["status"] == "Accepted"
        station.arming.cancel(station.evses[1])
        assert len(csms.payloads("Authorize")) == 1
        await _set(csms, ("AuthCtrlr", "LocalPreAuthorize", "true"))
        assert await _present(hub, "CACHED") == {"status": "Accepted", "evse_id": 1}
        assert len(csms.payloads("Authorize")) == 1  # answered from the cache
        controller.state("ev_connected", cp=1)
        started = (await csms.wait_for("TransactionEvent"))[0].payload
        assert started["eventType"] == "Started" and started["triggerReason"] == "Authorized"
        assert started["idToken"] == _token("CACHED")


async def test_offline_listed_token_starts_and_unknown_token_rules_tc_c_26(
    config_dir, start_station
) -> None:
    """CSMS gone (C12/C15): a token on the local list starts a session (LocalAuthorizeOffline
    true), its Started event is delivered with offline true once the CSMS is back; an
    unknown token is `Unknown` (nothing starts) while OfflineTxForUnknownIdEnabled is
    false, Accepted when it is true (TC_C_26_CS: the transaction runs; the CSMS answers
    the queued Started with Invalid; StopTxOnInvalidId false keeps it running)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        assert await _send_list(csms, 1, "Full", [_entry("LISTED")]) == "Accepted"
        await _offline(csms, hub)
        assert await _present(hub, "LISTED") == {"status": "Accepted", "evse_id": 1}
        controller.state("ev_connected", cp=1)
        await wait_until(lambda: hub.data["ocpp201"].transactions, what="offline transaction")
        await csms.start()
        started = (await csms.wait_for("TransactionEvent"))[0].payload
        assert started["eventType"] == "Started" and started["offline"] is True
        assert started["idToken"] == _token("LISTED")
        await _charging(hub)  # the fake controller's authorize ends in charging
        controller.state("stopped", cp=0)
        controller.state("idle", cp=0)
        await wait_until(lambda: not hub.data["ocpp201"].transactions, what="ended")
        # an unknown token, offline
        await _set(csms, ("TxCtrlr", "StopTxOnInvalidId", "false"))
        await _offline(csms, hub)
        assert await _present(hub, "STRANGER") == {"status": "Unknown", "evse_id": 1}
        controller.state("ev_connected", cp=1)
        await asyncio.sleep(0.3)
        assert controller.calls == [("authorize", {})]  # only the listed token's start
        controller.state("idle", cp=0)
        await csms.start()
        await csms.wait_connected(STATION)
        await _set(csms, ("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "true"))
        csms.id_tags["STRANGER"] = "Invalid"
        await _offline(csms, hub)
        assert await _present(hub, "STRANGER") == {"status": "Accepted", "evse_id": 1}
        controller.state("ev_connected", cp=1)
        await wait_until(lambda: hub.data["ocpp201"].transactions, what="unknown id's tx")
        await csms.start()
        await csms.wait_until(lambda: len(_events(csms, "Started")) == 2)
        second = _events(csms, "Started")[1]
        assert second["offline"] is True and second["idToken"] == _token("STRANGER")
        await asyncio.sleep(0.5)
        assert hub.data["ocpp201"].transactions  # StopTxOnInvalidId false: still running
        assert _events(csms, "Ended") == _events(csms, "Ended")[:1]
        # the CSMS's verdict went into the cache
        local = hub.data["ocpp201"].authorization.local
        assert local.cache[f"{TOKEN_TYPE}:stranger"][1] == {"status": "Invalid"}


async def test_e05_stop_tx_on_invalid_id_deauthorizes(config_dir, start_station) -> None:
    """E05 with TxCtrlr.StopTxOnInvalidId true: a transaction started offline for an
    unknown token the CSMS then answers Invalid ends with triggerReason Deauthorized and
    stoppedReason DeAuthorized."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        await _set(
            csms,
            ("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "true"),
            ("TxCtrlr", "StopTxOnInvalidId", "true"),
        )
        csms.id_tags["LOST-CARD"] = "Invalid"
        await _offline(csms, hub)
        assert (await _present(hub, "LOST-CARD"))["status"] == "Accepted"
        controller.state("ev_connected", cp=1)
        await wait_until(lambda: hub.data["ocpp201"].transactions, what="offline transaction")
        await csms.start()
        ended = (
            await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
        )[0].payload
        assert ended["triggerReason"] == "Deauthorized"
        assert ended["transactionInfo"]["stoppedReason"] == "DeAuthorized"
        assert ("stop_charging", {}) in controller.calls


async def test_max_energy_on_invalid_id_caps_the_transaction(config_dir, start_station) -> None:
    """E05 with StopTxOnInvalidId false and MaxEnergyOnInvalidId 500 Wh: the transaction
    of a token the CSMS answers Invalid runs until 500 Wh more were delivered, then
    ends DeAuthorized."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        await _set(
            csms,
            ("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "true"),
            ("TxCtrlr", "MaxEnergyOnInvalidId", "500"),
        )
        csms.id_tags["LOST-CARD"] = "Invalid"
        await _offline(csms, hub)
        assert (await _present(hub, "LOST-CARD"))["status"] == "Accepted"
        controller.state("ev_connected", cp=1)
        await wait_until(lambda: hub.data["ocpp201"].transactions, what="offline transaction")
        controller.energy(2.0, 7.0)
        await csms.start()
        await csms.wait_for("TransactionEvent")
        await wait_until(lambda: hub.data["ocpp201"].authorization.energy_cap, what="capped")
        controller.energy(2.4, 7.0)
        controller.state("charging", cp=2)
        await asyncio.sleep(0.3)
        assert _events(csms, "Ended") == []
        controller.energy(2.5, 7.0)
        ended = (
            await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
        )[0].payload
        assert ended["transactionInfo"]["stoppedReason"] == "DeAuthorized"


async def test_list_and_cache_survive_a_restart(config_dir, start_station) -> None:
    """The list, its version and the cache are in the journal's SQLite file: after a
    restart GetLocalListVersion is unchanged and, offline, both a listed and a cached
    token are Accepted (LocalAuthorizeOffline) without the offline-unknown rule."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        path = config_dir(station_yaml(csms.url()))
        hub, _ = await _linked(csms, path, start_station)
        assert await _send_list(csms, 7, "Full", [_entry("LISTED")]) == "Accepted"
        assert (await _present(hub, "CACHED"))["status"] == "Accepted"
        await hub.async_stop()
        hub2, _ = await start_station(path)
        FakeController(hub2).state("idle", cp=0)
        await csms.wait_until(lambda: len(csms.received("BootNotification")) == 2)
        await csms.wait_connected(STATION)
        assert await _version(csms) == 7
        await _offline(csms, hub2)
        assert (await _present(hub2, "cached"))["status"] == "Accepted"
        hub2.data["ocpp201"].arming.cancel(hub2.data["ocpp201"].evses[1])
        assert (await _present(hub2, "LISTED"))["status"] == "Accepted"
        hub2.data["ocpp201"].arming.cancel(hub2.data["ocpp201"].evses[1])
        assert (await _present(hub2, "NOBODY"))["status"] == "Unknown"


async def _notified(csms: OcppCsms, request_id: int) -> list[dict[str, Any]]:
    """The NotifyCustomerInformation chunks of one request, once the last (tbc false)
    arrived; their seqNo run from 0."""

    def chunks() -> list[dict[str, Any]]:
        return [
            p for p in csms.payloads("NotifyCustomerInformation") if p["requestId"] == request_id
        ]

    found = await csms.wait_until(lambda: chunks() and chunks()[-1]["tbc"] is False and chunks())
    assert [c["seqNo"] for c in found] == list(range(len(found)))
    return found


async def test_tc_n_27_report_n10_clear_tc_n_31_no_data(config_dir, start_station) -> None:
    """N09/N10: report=true sends NotifyCustomerInformation (seqNo from 0, tbc false on
    the last, generatedAt, requestId) with the token's cache and list entries and its
    sessions (TC_N_27_CS); clear=true removes the cache entry and the token from the
    session log, after which a report says no data is held (TC_N_31_CS); the list entry
    stays (it is the CSMS's)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        csms.answer("NotifyCustomerInformation", {})
        hub, controller = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        assert await _send_list(csms, 1, "Full", [_entry("ALICE")]) == "Accepted"
        assert (await _present(hub, "BOB"))["status"] == "Accepted"
        controller.state("ev_connected", cp=1)
        await csms.wait_for("TransactionEvent")
        await _charging(hub)  # the fake controller's authorize ends in charging
        controller.state("stopped", cp=0)
        await csms.wait_until(lambda: _events(csms, "Ended"))
        # the finished session is still shown, with its token, until the clear
        assert hub.states.get("sensor.ocpp201_session_state").attributes["id_token"] == "BOB"
        request = {"requestId": 5, "report": True, "clear": False, "idToken": _token("BOB")}
        assert await csms.call(STATION, "CustomerInformation", request) == {"status": "Accepted"}
        chunks = await _notified(csms, 5)
        held = json.loads("".join(c["data"] for c in chunks))
        assert all(len(c["data"]) <= 512 and c["generatedAt"] for c in chunks)
        assert [h["source"] for h in held] == ["authCache", "session"]
        assert held[0]["token"] == _token("BOB") and held[0]["info"]["status"] == "Accepted"
        assert held[1]["id_token"] == "BOB" and held[1]["stop_reason"] is not None
        # ALICE is on the list
        alice = {"requestId": 6, "report": True, "clear": False, "idToken": _token("ALICE")}
        assert (await csms.call(STATION, "CustomerInformation", alice))["status"] == "Accepted"
        listed = json.loads("".join(c["data"] for c in await _notified(csms, 6)))
        assert [h["source"] for h in listed] == ["localList"]
        # clear (and report what was held before the clear)
        clear = {"requestId": 7, "report": True, "clear": True, "idToken": _token("BOB")}
        assert (await csms.call(STATION, "CustomerInformation", clear))["status"] == "Accepted"
        await _notified(csms, 7)
        station = hub.data["ocpp201"]
        # the clear runs after the answer: the cache entry goes first, then the session
        # log's token (in the file), then the entity's attribute
        await wait_until(
            lambda: hub.states.get("sensor.ocpp201_session_state").attributes["id_token"] is None,
            what="token gone from the session entity",
        )
        assert f"{TOKEN_TYPE}:bob" not in station.authorization.local.cache
        sessions = await hub.services.async_call(
            "ocpp201", "get_sessions", {}, blocking=True, return_response=True
        )
        assert sessions["sessions"][0]["id_token"] is None
        again = {"requestId": 8, "report": True, "clear": False, "idToken": _token("BOB")}
        assert (await csms.call(STATION, "CustomerInformation", again))["status"] == "Accepted"
        (none,) = await _notified(csms, 8)
        assert none["data"] == "No data held about idToken BOB"
        assert not csms.errors_sent()


@pytest.mark.parametrize(
    ("request_payload", "status"),
    [
        ({"report": True, "clear": False}, "Invalid"),  # no customer reference
        (
            {"report": True, "clear": False, "customerIdentifier": "x", "idToken": _token("B")},
            "Invalid",
        ),
        ({"report": False, "clear": False, "idToken": _token("B")}, "Invalid"),
    ],
)
async def test_customer_information_answers(
    config_dir, start_station, request_payload: dict[str, Any], status: str
) -> None:
    """N09.FR.04: exactly one customer reference with report or clear, else Invalid
    and no NotifyCustomerInformation (a customerIdentifier is Accepted: below)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        csms.answer("NotifyCustomerInformation", {})
        await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        answer = await csms.call(
            STATION, "CustomerInformation", {"requestId": 1, **request_payload}
        )
        assert answer["status"] == status
        await asyncio.sleep(0.2)
        assert csms.payloads("NotifyCustomerInformation") == []


async def test_d01_refused_lists_change_nothing(config_dir, start_station) -> None:
    """D01.FR.18: versionNumber SHALL be above 0 -> a Full or Differential update with 0
    or below is Failed. D01.FR.06: the idTokens of a list SHALL be unique -> a list with
    one token twice (IdTokenType.idToken compares case-insensitively) is Failed, not
    applied with its last entry. AuthorizationData.idTokenInfo is required when
    updateType is Full -> Failed. D01.FR.19: a Differential update whose version is not
    above the installed one is VersionMismatch. D01.FR.17: a Differential entry without
    idTokenInfo removes the token. Each refusal leaves the list and its version as they
    were, and carries a statusInfo naming the reason."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        local = hub.data["ocpp201"].authorization.local
        assert await _send_list(csms, 0, "Full", [_entry("A")]) == "Failed"
        assert await _send_list(csms, -3, "Full", [_entry("A")]) == "Failed"
        assert await _send_list(csms, 0, "Differential", [_entry("A")]) == "Failed"
        assert await _version(csms) == 0
        assert local.local_list == {}
        assert await _send_list(csms, 4, "Full", [_entry("A"), _entry("B")]) == "Accepted"
        # D01.FR.18 holds for an emptying Full update too (unlike 1.6): the list stays
        assert await _send_list(csms, 0, "Full", []) == "Failed"
        assert await _version(csms) == 4
        before = dict(local.local_list)
        twice = [_entry("A"), _entry("C"), _entry("c", "Blocked")]
        answer = await csms.call(
            STATION,
            "SendLocalList",
            {"versionNumber": 5, "updateType": "Full", "localAuthorizationList": twice},
        )
        assert answer["status"] == "Failed"
        assert answer["statusInfo"]["reasonCode"] == "InvalidValue"
        assert await _send_list(csms, 5, "Differential", twice) == "Failed"
        no_info = [_entry("A"), {"idToken": _token("B")}]
        assert await _send_list(csms, 5, "Full", no_info) == "Failed"
        # a Differential version 0 or below when a list is installed: Failed (D01.FR.18
        # comes before the version comparison)
        assert await _send_list(csms, -1, "Differential", [_entry("C")]) == "Failed"
        assert await _send_list(csms, 4, "Differential", [_entry("C")]) == "VersionMismatch"
        assert await _version(csms) == 4
        assert local.local_list == before
        removal = [{"idToken": _token("A")}]
        assert await _send_list(csms, 5, "Differential", removal) == "Accepted"
        assert sorted(local.local_list) == [f"{TOKEN_TYPE}:b"]
        assert await _version(csms) == 5
        assert not csms.errors_sent()


EVSE_2 = """    - id: 2
      connector_id: 1
      state_entity: sensor.charger_2_state
      authorize_action: {action: fake.authorize}
      stop_action: {action: fake.stop_charging}
"""


async def test_id_token_info_evse_id_limits_the_evses(config_dir, start_station) -> None:
    """IdTokenInfoType.evseId (Part 2 datatypes: "only used when the IdToken is only
    valid for one or more specific EVSEs, not for the entire Charging Station"), as the
    AuthorizeResponse (C01) and a local list entry (D01, used by LocalPreAuthorize C13)
    carry it, on a two-EVSE station: a token valid on EVSE 2 only does not start on EVSE
    1 (nothing is held there, the controller is not authorized); presented without an
    EVSE it is held on EVSE 2; a token without evseId may use either."""
    from orge.exceptions import ServiceValidationError

    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await _linked(
            csms, config_dir(station_yaml(csms.url()) + EVSE_2), start_station
        )
        hub.states.async_set("sensor.charger_2_state", "idle", {"cp": 0, "pb": 0})
        station = hub.data["ocpp201"]
        only_2 = {"idTokenInfo": {"status": "Accepted", "evseId": [2]}}
        csms.answer("Authorize", only_2)

        async def present(value: str, evse_id: int | None = None) -> dict[str, Any]:
            data: dict[str, Any] = {"id_token": value, "type": TOKEN_TYPE}
            if evse_id is not None:
                data["evse_id"] = evse_id
            return await hub.services.async_call(
                "ocpp201", "authorize", data, blocking=True, return_response=True
            )

        with pytest.raises(ServiceValidationError, match="valid on EVSE \\[2\\] only"):
            await present("ONLY-2", evse_id=1)
        assert station.arming.held == {}
        assert ("authorize", {}) not in controller.calls
        assert (await present("ONLY-2"))["evse_id"] == 2
        assert list(station.arming.held) == [2]
        station.arming.cancel(station.evses[2])
        # the same restriction from a local list entry (LocalPreAuthorize: no Authorize)
        csms.reset_answers()
        await _set(csms, ("AuthCtrlr", "LocalPreAuthorize", "true"))
        listed = {"idToken": _token("LISTED-2"), "idTokenInfo": only_2["idTokenInfo"]}
        assert await _send_list(csms, 1, "Full", [listed]) == "Accepted"
        asked = len(csms.received("Authorize"))
        with pytest.raises(ServiceValidationError, match="not on EVSE 1"):
            await present("LISTED-2", evse_id=1)
        assert station.arming.held == {}
        assert (await present("LISTED-2"))["evse_id"] == 2
        assert len(csms.received("Authorize")) == asked
        station.arming.cancel(station.evses[2])
        # a token the CSMS gives no evseId: valid on every EVSE
        assert (await present("ANYWHERE", evse_id=1))["evse_id"] == 1
        assert not csms.errors_sent()


async def test_n09_n10_customer_identifier_and_certificate_accepted_with_no_data(
    config_dir, start_station
) -> None:
    """N09.FR.02/FR.06, N10.FR.04: ORGE keeps customer data per id token only (no
    customer accounts, no ISO 15118 contract certificates), so a request by
    customerIdentifier or customerCertificate is Accepted and its NotifyCustomerInformation
    says no data is held; a clear changes nothing."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        csms.answer("NotifyCustomerInformation", {})
        hub, _ = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        assert (await _present(hub, "BOB"))["status"] == "Accepted"  # cached, kept
        cases = [
            (21, {"report": True, "clear": False, "customerIdentifier": "OpenChargeAlliance"}),
            (22, {"report": True, "clear": True, "customerIdentifier": "OpenChargeAlliance"}),
            (23, {"report": False, "clear": True, "customerIdentifier": "OpenChargeAlliance"}),
        ]
        certificate = {
            "hashAlgorithm": "SHA256",
            "issuerNameHash": "a" * 64,
            "issuerKeyHash": "b" * 64,
            "serialNumber": "1f2e",
        }
        cases.append((24, {"report": True, "clear": False, "customerCertificate": certificate}))
        for request_id, request in cases:
            answer = await csms.call(
                STATION, "CustomerInformation", {"requestId": request_id, **request}
            )
            assert answer == {"status": "Accepted"}
            (notified,) = await _notified(csms, request_id)
            reference = (
                "customerCertificate 1f2e"
                if "customerCertificate" in request
                else "customerIdentifier OpenChargeAlliance"
            )
            assert notified["data"] == f"No data held about {reference}"
        assert f"{TOKEN_TYPE}:bob" in hub.data["ocpp201"].authorization.local.cache
        assert not csms.errors_sent()


async def test_n10_fr_06_clear_without_report_says_what_was_cleared(
    config_dir, start_station
) -> None:
    """N10.FR.06: clear=true, report=false removes what is held about the token (the
    cache entry; not the local list's, N10.FR.02) and one NotifyCustomerInformation says
    so; a second clear finds nothing (N10.FR.04's "no data")."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        csms.answer("NotifyCustomerInformation", {})
        hub, _ = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        assert (await _present(hub, "BOB"))["status"] == "Accepted"
        station = hub.data["ocpp201"]
        assert f"{TOKEN_TYPE}:bob" in station.authorization.local.cache
        clear = {"requestId": 31, "report": False, "clear": True, "idToken": _token("BOB")}
        assert await csms.call(STATION, "CustomerInformation", clear) == {"status": "Accepted"}
        (notified,) = await _notified(csms, 31)
        assert notified["data"] == "Cleared the data held about idToken BOB: authCache"
        await wait_until(
            lambda: f"{TOKEN_TYPE}:bob" not in station.authorization.local.cache,
            what="cache entry cleared",
        )
        again = {"requestId": 32, "report": False, "clear": True, "idToken": _token("BOB")}
        assert await csms.call(STATION, "CustomerInformation", again) == {"status": "Accepted"}
        (none,) = await _notified(csms, 32)
        assert none["data"] == "No data held about idToken BOB"
