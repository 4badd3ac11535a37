"""OCPP 1.6 Smart Charging profile against the real test CSMS over a real WebSocket.

Named by the OCPP 1.6 test case (TC_0xx) they follow; expected composite schedules are
computed by hand from the profiles sent.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_state

from components.ocpp_station.clock import parse_time
from tests.ocpp_csms import OcppCsms

PENDING = "sensor.ocpp16_pending_current_limit"


@pytest.fixture
async def linked(config_dir, start_station):
    """(csms, hub, controller, path) with the station booted and idle."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        path = config_dir(station_yaml(csms.url()))
        hub, _ = await start_station(path)
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        yield csms, hub, controller, path


def profile(
    pid: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    stack: int = 0,
    kind: str = "Absolute",
    unit: str = "A",
    **schedule: Any,
) -> dict[str, Any]:
    extra = {k: schedule.pop(k) for k in ("transactionId", "recurrencyKind") if k in schedule}
    return {
        "chargingProfileId": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": {
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": s, "limit": lim} for s, lim in periods],
            **schedule,
        },
        **extra,
    }


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def set_profile(csms: OcppCsms, connector: int, body: dict[str, Any]) -> str:
    answer = await csms.call(
        STATION, "SetChargingProfile", {"connectorId": connector, "csChargingProfiles": body}
    )
    return answer["status"]


async def composite(csms: OcppCsms, connector: int, duration: int, unit: str | None = None):
    request: dict[str, Any] = {"connectorId": connector, "duration": duration}
    if unit:
        request["chargingRateUnit"] = unit
    answer = await csms.call(STATION, "GetCompositeSchedule", request)
    assert answer["status"] == "Accepted" and answer["connectorId"] == connector
    schedule = answer["chargingSchedule"]
    periods = [(p["startPeriod"], float(p["limit"])) for p in schedule["chargingSchedulePeriod"]]
    return parse_time(answer["scheduleStart"]), periods, schedule


def limit(hub) -> str:
    return hub.states.get("number.fake_limit").state


async def test_TC_056_tx_default_profile(linked) -> None:
    """A TxDefaultProfile on connector 0 applies to every connector (§3.13.2); a stepped
    schedule is accepted and its limit follows the periods (a timer at the boundary)."""
    csms, hub, controller, _ = linked
    body = profile(1, "TxDefaultProfile", [(0, 16), (2, 10)], kind="Relative")
    assert await set_profile(csms, 0, body) == "Accepted"
    # idle, Relative: read as for a session starting now: its first period
    await wait_state(hub, "number.fake_limit", "16.0")
    absolute = profile(
        2,
        "TxDefaultProfile",
        [(0, 14), (2, 8)],
        stack=1,
        startSchedule=iso(datetime.now(UTC).replace(microsecond=0)),
    )
    assert await set_profile(csms, 1, absolute) == "Accepted"
    await wait_state(hub, "number.fake_limit", "14.0")
    await wait_state(hub, "number.fake_limit", "8.0", timeout=5)  # the 2 s boundary
    assert [c[1]["value"] for c in controller.calls if c[0] == "set_value"] == [16, 14, 8]


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.01)


async def test_TC_057_tx_profile_during_a_transaction(linked) -> None:
    """A TxProfile for the running transaction is Accepted; this controller restarts its
    session on a current change, so the limit pends and nothing changes mid-session."""
    csms, hub, controller, _ = linked
    controller.state("ev_connected")
    await csms.remote_start(STATION, id_tag="T")
    await csms.wait_for("StartTransaction")
    # wait_for returns when the CALL is recorded; the CSMS gives its id in the answer
    await wait_until(lambda: csms.last_transaction_id > 0)
    tx_id = csms.last_transaction_id
    assert (
        await set_profile(csms, 1, profile(3, "TxProfile", [(0, 10)], transactionId=tx_id + 5))
        == "Rejected"
    )
    body = profile(3, "TxProfile", [(0, 10)], transactionId=tx_id)
    deadline = asyncio.get_running_loop().time() + 10  # a loaded machine
    # the station learns the CSMS's transactionId from StartTransaction.conf
    while (status := await set_profile(csms, 1, body)) != "Accepted":
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.05)
    await wait_state(hub, PENDING, "10.0")
    assert hub.states.get(PENDING).attributes["reason"].startswith("session running")
    assert limit(hub) == "32"
    _, periods, _ = await composite(csms, 1, 60)
    assert periods == [(0, 10.0)]
    controller.state("stopped")
    await csms.wait_for("StopTransaction")
    await wait_state(hub, PENDING, "none")  # the TxProfile ended with its transaction
    assert limit(hub) == "32"


async def test_TC_058_tx_profile_without_transaction_rejected(linked) -> None:
    csms, _, _, _ = linked
    assert await set_profile(csms, 1, profile(4, "TxProfile", [(0, 10)])) == "Rejected"
    assert await set_profile(csms, 0, profile(4, "TxProfile", [(0, 10)])) == "Rejected"


async def test_TC_059_remote_start_with_charging_profile(linked) -> None:
    """§5.11: a RemoteStartTransaction's TxProfile (no transactionId) is set before the
    controller is authorized; one with a transactionId is Rejected."""
    csms, hub, controller, _ = linked
    controller.state("ev_connected")
    wrong = await csms.remote_start(
        STATION, id_tag="T", chargingProfile=profile(5, "TxProfile", [(0, 10)], transactionId=1)
    )
    assert wrong["status"] == "Rejected"
    answer = await csms.remote_start(
        STATION, id_tag="T", chargingProfile=profile(5, "TxProfile", [(0, 10)])
    )
    assert answer["status"] == "Accepted"
    await csms.wait_for("StartTransaction")
    names = [c[0] for c in controller.calls]
    assert names.index("set_value") < names.index("authorize")
    assert limit(hub) == "10.0"


async def test_TC_066_get_composite_schedule(linked) -> None:
    """§3.13.5: min(ChargePointMaxProfile, TxDefaultProfile), in A and in W."""
    csms, _, _, _ = linked
    anchor = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    # 11 040 W = 16 A x 230 V x 3 phases
    station_max = profile(6, "ChargePointMaxProfile", [(0, 11040)], unit="W")
    default = profile(
        7, "TxDefaultProfile", [(0, 20), (100, 12)], startSchedule=iso(anchor), duration=200
    )
    assert await set_profile(csms, 0, station_max) == "Accepted"
    assert await set_profile(csms, 1, default) == "Accepted"
    start, periods, schedule = await composite(csms, 1, 300)
    shift = int((start - anchor).total_seconds())
    assert schedule["chargingRateUnit"] == "A" and schedule["duration"] == 300
    assert periods == [(0, 16.0), (100 - shift, 12.0), (200 - shift, 16.0)]
    _, watts, schedule = await composite(csms, 1, 300, unit="W")
    assert schedule["chargingRateUnit"] == "W"
    assert watts == [(0, 11040.0), (100 - shift, 8280.0), (200 - shift, 11040.0)]
    _, station, _ = await composite(csms, 0, 60)
    assert station == [(0, 16.0)]  # connector 0: the station maximum


async def test_smart_charging_configuration_keys(linked) -> None:
    """§9.4: what the station's smart charging takes (A and W, 24 periods, 8 levels)."""
    csms, _, _, _ = linked
    keys = [
        "ChargingScheduleAllowedChargingRateUnit",
        "ChargingScheduleMaxPeriods",
        "ChargeProfileMaxStackLevel",
    ]
    answer = await csms.call(STATION, "GetConfiguration", {"key": keys})
    values = {k["key"]: k["value"] for k in answer["configurationKey"]}
    assert values == dict(zip(keys, ["Current,Power", "24", "8"], strict=True))


async def test_TC_067_clear_charging_profile(linked) -> None:
    """§5.5: by id, by connector and purpose; nothing matching: Unknown."""
    csms, hub, _, _ = linked
    assert await set_profile(csms, 0, profile(8, "ChargePointMaxProfile", [(0, 20)])) == "Accepted"
    assert await set_profile(csms, 1, profile(9, "TxDefaultProfile", [(0, 10)])) == "Accepted"
    await wait_state(hub, "number.fake_limit", "10.0")
    assert await csms.call(STATION, "ClearChargingProfile", {"id": 9}) == {"status": "Accepted"}
    await wait_state(hub, "number.fake_limit", "20.0")
    by_purpose = {"connectorId": 0, "chargingProfilePurpose": "ChargePointMaxProfile"}
    assert await csms.call(STATION, "ClearChargingProfile", by_purpose) == {"status": "Accepted"}
    await wait_state(hub, "number.fake_limit", "32.0")
    assert await csms.call(STATION, "ClearChargingProfile", {"id": 9}) == {"status": "Unknown"}


async def test_recurring_weekly_and_restart(linked, start_station) -> None:
    """A Recurring Weekly profile laid out in the composite schedule, and kept across a
    restart of the station (the journal's SQLite file)."""
    csms, hub, _, path = linked
    anchor = datetime.now(UTC).replace(microsecond=0) - timedelta(days=7, seconds=30)
    body = profile(
        10,
        "TxDefaultProfile",
        [(0, 8)],
        kind="Recurring",
        recurrencyKind="Weekly",
        startSchedule=iso(anchor),
        duration=60,
    )
    assert await set_profile(csms, 1, body) == "Accepted"
    start, periods, _ = await composite(csms, 1, 120)
    shift = int((start - anchor - timedelta(days=7)).total_seconds())  # ~30 s
    assert periods == [(0, 8.0), (60 - shift, 32.0)]
    await hub.async_stop()
    hub2, _ = await start_station(path)
    FakeController(hub2).state("idle")
    await csms.wait_for("BootNotification", 2)
    await csms.wait_connected(STATION)
    await csms.wait_for("StatusNotification", 4)
    start, periods, _ = await composite(csms, 1, 120)
    shift = int((start - anchor - timedelta(days=7)).total_seconds())
    assert periods[0] == (0, 8.0 if shift < 60 else 32.0)


async def test_profile_limits_max_periods_stack_level_profiles_installed(linked) -> None:
    """§5.16 with the §9.4 keys: more periods than ChargingScheduleMaxPeriods (24), a
    stackLevel above ChargeProfileMaxStackLevel (8), a profile beyond
    MaxChargingProfilesInstalled (8): Rejected; at the limits Accepted; replacing an
    installed profile (same id) always fits."""
    csms, _, _, _ = linked
    keys = await csms.call(
        STATION,
        "GetConfiguration",
        {
            "key": [
                "ChargingScheduleMaxPeriods",
                "ChargeProfileMaxStackLevel",
                "MaxChargingProfilesInstalled",
            ]
        },
    )
    assert {k["key"]: k["value"] for k in keys["configurationKey"]} == {
        "ChargingScheduleMaxPeriods": "24",
        "ChargeProfileMaxStackLevel": "8",
        "MaxChargingProfilesInstalled": "8",
    }
    periods = [(60 * i, 16) for i in range(25)]
    assert await set_profile(csms, 1, profile(1, "TxDefaultProfile", periods)) == "Rejected"
    assert await set_profile(csms, 1, profile(1, "TxDefaultProfile", periods[:24])) == "Accepted"
    assert await set_profile(csms, 1, profile(2, "TxDefaultProfile", [(0, 16)], stack=9)) == (
        "Rejected"
    )
    for pid, stack in zip(range(2, 9), range(1, 8), strict=True):
        assert (
            await set_profile(csms, 1, profile(pid, "TxDefaultProfile", [(0, 16)], stack=stack))
            == "Accepted"
        ), pid
    assert await set_profile(csms, 1, profile(9, "TxDefaultProfile", [(0, 16)], stack=8)) == (
        "Rejected"
    )
    assert await set_profile(csms, 1, profile(8, "TxDefaultProfile", [(0, 20)], stack=8)) == (
        "Accepted"
    )


async def test_composite_schedule_duration_capped(linked) -> None:
    """§5.7: the duration asked, up to the station's maximum (7 days): a longer request is
    answered with the shorter duration the schedule covers."""
    csms, _, _, _ = linked
    assert await set_profile(csms, 1, profile(1, "TxDefaultProfile", [(0, 16)])) == "Accepted"
    _, periods, schedule = await composite(csms, 1, 3600)
    assert schedule["duration"] == 3600 and periods == [(0, 16.0)]
    _, periods, schedule = await composite(csms, 1, 30 * 86400)
    assert schedule["duration"] == 7 * 86400 and periods == [(0, 16.0)]
