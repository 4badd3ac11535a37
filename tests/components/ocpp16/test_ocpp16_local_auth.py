"""Local authorization under OCPP 1.6 (§3.5, Local Auth List Management profile) against
the test CSMS over a real WebSocket, the journal's SQLite file on disk: SendLocalList /
GetLocalListVersion, the authorization cache and ClearCache, LocalPreAuthorize, the
offline rules (LocalAuthorizeOffline, AllowOfflineTxForUnknownId), a tag the CSMS rejects
in its StartTransaction answer, and a restart. Named by OCA 1.6 test case where one
applies."""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml

from tests.ocpp_csms import OcppCsms


def _entry(tag: str, status: str = "Accepted") -> dict[str, Any]:
    return {"idTag": tag, "idTagInfo": {"status": status}}


async def _linked(csms: OcppCsms, path: Any, start_station: Any) -> tuple[Any, FakeController]:
    hub, _ = await start_station(path)
    controller = FakeController(hub)
    controller.state("idle")
    await csms.wait_for("StatusNotification", 2)
    return hub, controller


async def _present(hub: Any, tag: str) -> dict[str, Any]:
    return await hub.services.async_call(
        "ocpp16", "authorize", {"id_tag": tag}, blocking=True, return_response=True
    )


async def _send_list(csms: OcppCsms, version: int, kind: str, entries: list[dict]) -> str:
    payload: dict[str, Any] = {"listVersion": version, "updateType": kind}
    if entries:
        payload["localAuthorizationList"] = entries
    return (await csms.call(STATION, "SendLocalList", payload))["status"]


async def _version(csms: OcppCsms) -> int:
    return (await csms.call(STATION, "GetLocalListVersion", {}))["listVersion"]


async def _change(csms: OcppCsms, key: str, value: str) -> None:
    assert await csms.change_configuration(STATION, key, value) == {"status": "Accepted"}


async def _offline(csms: OcppCsms, hub: Any) -> None:
    await csms.stop()
    deadline = asyncio.get_running_loop().time() + 5
    while hub.data["ocpp16"].link is not None:
        assert asyncio.get_running_loop().time() < deadline, "link still up"
        await asyncio.sleep(0.02)


def _release(hub: Any) -> None:
    """Drop the start a presented tag armed (the test only wants the decision)."""
    station = hub.data["ocpp16"]
    station.arming.cancel(station.bindings[1])


async def test_tc_042_2_empty_tc_043_2_version_mismatch_tc_043_3_failed(
    config_dir, start_station
) -> None:
    """TC_042_2_CS: a Full list of version 1 without entries -> GetLocalListVersion 0.
    TC_043_2_CS: Full v2 -> 2, Full v5 -> 5, a Differential update not above 5 ->
    VersionMismatch (the list unchanged). TC_043_CS: Full then Differential Accepted (a
    Differential entry without idTagInfo removes the tag). TC_043_3_CS: more entries than
    SendLocalListMaxLength -> Failed; LocalAuthListEnabled false -> Failed. The keys of
    the profile are reported (§9.3)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        keys = await csms.get_configuration(
            STATION, ["LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength"]
        )
        reported = {k["key"]: (k["readonly"], k["value"]) for k in keys["configurationKey"]}
        assert reported == {
            "LocalAuthListEnabled": (False, "true"),
            "LocalAuthListMaxLength": (True, "1000"),
            "SendLocalListMaxLength": (True, "250"),
        }
        assert await _send_list(csms, 1, "Full", []) == "Accepted"
        assert await _version(csms) == 0
        assert await _send_list(csms, 2, "Full", [_entry("A"), _entry("B")]) == "Accepted"
        assert await _version(csms) == 2
        assert await _send_list(csms, 5, "Full", [_entry("A"), _entry("B")]) == "Accepted"
        assert await _version(csms) == 5
        assert await _send_list(csms, 5, "Differential", [_entry("C")]) == "VersionMismatch"
        assert await _version(csms) == 5
        local = hub.data["ocpp16"].authorization.local
        assert sorted(local.local_list) == ["a", "b"]
        assert await _send_list(csms, 6, "Differential", [_entry("C"), {"idTag": "A"}]) == (
            "Accepted"
        )
        assert sorted(local.local_list) == ["b", "c"]
        too_many = [_entry(f"T{i}") for i in range(251)]
        assert await _send_list(csms, 7, "Full", too_many) == "Failed"
        assert await _version(csms) == 6
        await _change(csms, "LocalAuthListEnabled", "false")
        assert await _send_list(csms, 8, "Full", [_entry("A")]) == "Failed"
        assert not csms.errors_sent()


async def test_tc_008_start_from_the_local_list_with_local_pre_authorize(
    config_dir, start_station
) -> None:
    """TC_008_CS: LocalPreAuthorize true, AuthorizationCacheEnabled false, the tag on the
    list: no Authorize.req, Preparing, then StartTransaction with the tag and Charging."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        await _change(csms, "LocalPreAuthorize", "true")
        await _change(csms, "AuthorizationCacheEnabled", "false")
        assert await _version(csms) == 0
        assert await _send_list(csms, 1, "Full", [_entry("LISTED")]) == "Accepted"
        assert await _present(hub, "LISTED") == {"status": "Accepted"}
        assert csms.received("Authorize") == []
        controller.state("ev_connected")
        start = (await csms.wait_for("StartTransaction"))[0].payload
        assert start["idTag"] == "LISTED"
        statuses = [p["status"] for p in csms.payloads("StatusNotification")]
        await csms.wait_until(
            lambda: [p["status"] for p in csms.payloads("StatusNotification")][-1] == "Charging"
        )
        assert "Preparing" in [p["status"] for p in csms.payloads("StatusNotification")]
        assert statuses  # StatusNotifications were sent all along
        assert csms.received("Authorize") == []


async def test_tc_061_clear_cache(config_dir, start_station) -> None:
    """TC_061_CS: with AuthorizationCacheEnabled and LocalPreAuthorize, a tag the CSMS
    accepted is answered from the cache (no Authorize.req); ClearCache.conf Accepted
    empties it, so the same tag sends Authorize.req again; with the cache disabled
    ClearCache is Rejected."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        await _change(csms, "LocalPreAuthorize", "true")
        assert await _present(hub, "CARD") == {"status": "Accepted"}
        _release(hub)
        assert len(csms.received("Authorize")) == 1
        assert await _present(hub, "card") == {"status": "Accepted"}  # case-insensitive
        _release(hub)
        assert len(csms.received("Authorize")) == 1
        assert await csms.call(STATION, "ClearCache", {}) == {"status": "Accepted"}
        assert hub.data["ocpp16"].authorization.local.cache == {}
        assert await _present(hub, "CARD") == {"status": "Accepted"}
        _release(hub)
        assert len(csms.received("Authorize")) == 2
        await _change(csms, "AuthorizationCacheEnabled", "false")
        assert await csms.call(STATION, "ClearCache", {}) == {"status": "Rejected"}


async def test_tc_037_1_offline_start_with_a_listed_tag_and_unknown_tags(
    config_dir, start_station
) -> None:
    """TC_037_1_CS: the CSMS gone, a listed tag (LocalAuthorizeOffline true) starts a
    session; StartTransaction is delivered once the CSMS is back. An unknown tag is
    Invalid while AllowOfflineTxForUnknownId is false; with it true the tag starts a
    transaction, and when the CSMS answers its StartTransaction Invalid,
    StopTransactionOnInvalidId stops it with reason DeAuthorized (§3.5.1)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        assert await _send_list(csms, 1, "Full", [_entry("LISTED")]) == "Accepted"
        await _offline(csms, hub)
        assert await _present(hub, "LISTED") == {"status": "Accepted"}
        controller.state("ev_connected")
        await csms.start()
        start = (await csms.wait_for("StartTransaction"))[0].payload
        assert start["idTag"] == "LISTED"
        controller.state("stopped")
        await csms.wait_for("StopTransaction")
        controller.state("idle")
        await csms.wait_until(
            lambda: [p["status"] for p in csms.payloads("StatusNotification")][-1] == "Available"
        )
        # an unknown tag offline, the rule off
        await _offline(csms, hub)
        assert await _present(hub, "STRANGER") == {"status": "Invalid"}
        await csms.start()
        await csms.wait_connected(STATION)
        await _change(csms, "AllowOfflineTxForUnknownId", "true")
        csms.id_tags["STRANGER"] = "Invalid"
        await _offline(csms, hub)
        assert await _present(hub, "STRANGER") == {"status": "Accepted"}
        controller.state("ev_connected")
        await csms.start()
        starts = await csms.wait_for("StartTransaction", 2)
        assert starts[1].payload["idTag"] == "STRANGER"
        stop = (await csms.wait_for("StopTransaction", 2))[1].payload
        assert stop["reason"] == "DeAuthorized"
        # the CSMS's verdict is cached
        cached = hub.data["ocpp16"].authorization.local.cache["stranger"]
        assert cached[1]["status"] == "Invalid"


async def test_list_and_cache_survive_a_restart(config_dir, start_station) -> None:
    """The list, its version and the cache live in the journal's SQLite file: after a
    restart GetLocalListVersion is unchanged and, offline, a listed and a cached tag are
    Accepted while an unknown one is Invalid."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        path = config_dir(station_yaml(csms.url()))
        hub, _ = await _linked(csms, path, start_station)
        assert await _send_list(csms, 3, "Full", [_entry("LISTED")]) == "Accepted"
        assert await _present(hub, "CACHED") == {"status": "Accepted"}
        await hub.async_stop()
        hub2, _ = await start_station(path)
        FakeController(hub2).state("idle")
        await csms.wait_until(lambda: len(csms.received("BootNotification")) == 2)
        await csms.wait_connected(STATION)
        assert await _version(csms) == 3
        await _offline(csms, hub2)
        assert await _present(hub2, "CACHED") == {"status": "Accepted"}
        _release(hub2)
        assert await _present(hub2, "LISTED") == {"status": "Accepted"}
        _release(hub2)
        assert await _present(hub2, "NOBODY") == {"status": "Invalid"}


async def test_send_local_list_refused_lists_change_nothing(config_dir, start_station) -> None:
    """§5.15: "All idTags in the localAuthorizationList MUST be unique" -> a list with one
    idTag twice (IdToken is case-insensitive) is Failed, not applied with its last entry;
    AuthorizationData.idTagInfo is required when updateType is Full -> Failed; a
    listVersion below 0, or 0 for a list with entries, is Failed (§5.9:
    GetLocalListVersion 0 means an empty list and -1 no list support, so no installed
    list can carry those; 2.0.1 D01.FR.18 says it outright), while a Full update without
    entries at listVersion 0 empties the list (its version is then 0, TC_042_2_CS's
    state). A Differential update not above the installed version is
    VersionMismatch (§5.15, TC_043_2_CS); a Differential entry without idTagInfo removes
    the tag (§6.43 AuthorizationData). Each refusal leaves the list and its version."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await _linked(csms, config_dir(station_yaml(csms.url())), start_station)
        local = hub.data["ocpp16"].authorization.local
        assert await _send_list(csms, 0, "Full", [_entry("A")]) == "Failed"
        assert await _send_list(csms, -1, "Full", [_entry("A")]) == "Failed"
        assert await _send_list(csms, 0, "Differential", [_entry("A")]) == "Failed"
        assert await _version(csms) == 0
        assert local.local_list == {}
        assert await _send_list(csms, 2, "Full", [_entry("A")]) == "Accepted"
        assert await _send_list(csms, 0, "Full", []) == "Accepted"
        assert await _version(csms) == 0
        assert local.local_list == {}
        assert await _send_list(csms, 3, "Full", [_entry("A"), _entry("B")]) == "Accepted"
        twice = [_entry("A"), _entry("C"), _entry("c", "Blocked")]
        assert await _send_list(csms, 4, "Full", twice) == "Failed"
        assert await _send_list(csms, 4, "Differential", twice) == "Failed"
        assert await _send_list(csms, 4, "Full", [_entry("A"), {"idTag": "B"}]) == "Failed"
        assert await _send_list(csms, -2, "Differential", [_entry("C")]) == "Failed"
        assert await _send_list(csms, 3, "Differential", [_entry("C")]) == "VersionMismatch"
        assert await _version(csms) == 3
        assert sorted(local.local_list) == ["a", "b"]
        assert await _send_list(csms, 4, "Differential", [{"idTag": "A"}]) == "Accepted"
        assert sorted(local.local_list) == ["b"]
        assert await _version(csms) == 4
        assert not csms.errors_sent()
