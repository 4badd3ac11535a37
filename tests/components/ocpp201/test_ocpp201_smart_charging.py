"""OCPP 2.0.1 block K (smart charging) against the real test CSMS over a real WebSocket.

Test names carry the OCA test case id (OCPP 2.0.1 Part 6) where one applies, else the
use case and requirement (K01.FR.xx) they check. Expected composite schedules are
computed by hand from the profiles sent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_until

from components.ocpp_station.clock import parse_time
from tests.ocpp_csms import OcppCsms

PENDING = "sensor.ocpp201_pending_current_limit"


def profile(
    pid: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    stack: int = 0,
    kind: str = "Absolute",
    unit: str = "A",
    schedule: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [
            {
                "id": pid,
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": s, "limit": lim} for s, lim in periods],
                **(schedule or {}),
            }
        ],
        **extra,
    }


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def station(csms: OcppCsms, config_dir, start_station, path=None):
    path = path or config_dir(station_yaml(csms.url()))
    hub, _ = await start_station(path)
    controller = FakeController(hub)
    controller.state("idle", cp=0)
    await csms.wait_for("StatusNotification")
    return hub, controller, path


async def set_profile(csms: OcppCsms, evse_id: int, body: dict[str, Any]) -> dict[str, Any]:
    return await csms.call(
        STATION, "SetChargingProfile", {"evseId": evse_id, "chargingProfile": body}
    )


async def composite(csms: OcppCsms, evse_id: int, duration: int, unit: str | None = None):
    request: dict[str, Any] = {"duration": duration, "evseId": evse_id}
    if unit:
        request["chargingRateUnit"] = unit
    answer = await csms.call(STATION, "GetCompositeSchedule", request)
    assert answer["status"] == "Accepted"
    schedule = answer["schedule"]
    start = parse_time(schedule["scheduleStart"])
    periods = [(p["startPeriod"], p["limit"]) for p in schedule["chargingSchedulePeriod"]]
    return start, periods, schedule


def limit(hub) -> float:
    return float(hub.states.get("number.fake_limit").state)


async def test_TC_K_01_station_max_profile(config_dir, start_station) -> None:
    """K01: a ChargingStationMaxProfile on EVSE 0 caps every EVSE; on an EVSE: Rejected."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _, _ = await station(csms, config_dir, start_station)
        body = profile(1, "ChargingStationMaxProfile", [(0, 20)])
        wrong = await set_profile(csms, 1, body)
        assert wrong["status"] == "Rejected"
        assert wrong["statusInfo"]["reasonCode"] == "InvalidEvse"
        assert (await set_profile(csms, 0, body))["status"] == "Accepted"
        await wait_until(lambda: limit(hub) == 20, what="20 A")
        _, periods, schedule = await composite(csms, 0, 600)
        assert periods == [(0, 20)] and schedule["chargingRateUnit"] == "A"
        _, periods, _ = await composite(csms, 1, 600)
        assert periods == [(0, 20)]


async def test_TC_K_02_K01_FR_05_replace_by_id_and_by_stack_level(
    config_dir, start_station
) -> None:
    """K01.FR.05: the same id, or the same stackLevel/purpose/EVSE, replaces a profile."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _, _ = await station(csms, config_dir, start_station)
        assert (await set_profile(csms, 1, profile(1, "TxDefaultProfile", [(0, 16)])))[
            "status"
        ] == "Accepted"
        await wait_until(lambda: limit(hub) == 16)
        assert (await set_profile(csms, 1, profile(1, "TxDefaultProfile", [(0, 12)])))[
            "status"
        ] == "Accepted"
        await wait_until(lambda: limit(hub) == 12, what="same id replaced")
        assert (await set_profile(csms, 1, profile(2, "TxDefaultProfile", [(0, 8)])))[
            "status"
        ] == "Accepted"
        await wait_until(lambda: limit(hub) == 8, what="same stack level replaced")
        answer = await csms.call(
            STATION, "GetChargingProfiles", {"requestId": 5, "chargingProfile": {}}
        )
        assert answer["status"] == "Accepted"
        report = (await csms.wait_for("ReportChargingProfiles"))[0].payload
        assert [p["id"] for p in report["chargingProfile"]] == [2]
        got = await csms.call(
            STATION,
            "GetVariables",
            {
                "getVariableData": [
                    {
                        "component": {"name": "SmartChargingCtrlr"},
                        "variable": {"name": "Entries", "instance": "ChargingProfiles"},
                    },
                    {
                        "component": {"name": "SmartChargingCtrlr"},
                        "variable": {"name": "RateUnit"},
                    },
                ]
            },
        )
        values = [r.get("attributeValue") for r in got["getVariableResult"]]
        assert values == ["1", "A,W"]  # one profile installed (the others were replaced)


async def test_TC_K_05_TC_K_06_TC_K_08_clear_charging_profile(config_dir, start_station) -> None:
    """K10: clear by id, by criteria; nothing matching: Unknown (TC_K_08)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _, _ = await station(csms, config_dir, start_station)
        await set_profile(csms, 0, profile(1, "ChargingStationMaxProfile", [(0, 20)]))
        await set_profile(csms, 1, profile(2, "TxDefaultProfile", [(0, 10)], stack=1))
        await wait_until(lambda: limit(hub) == 10)
        by_id = await csms.call(STATION, "ClearChargingProfile", {"chargingProfileId": 2})
        assert by_id["status"] == "Accepted"
        await wait_until(lambda: limit(hub) == 20, what="station max only")
        criteria = {"chargingProfilePurpose": "ChargingStationMaxProfile", "stackLevel": 0}
        by_criteria = await csms.call(
            STATION, "ClearChargingProfile", {"chargingProfileCriteria": criteria}
        )
        assert by_criteria["status"] == "Accepted"
        await wait_until(lambda: limit(hub) == 32, what="no profile: the EVSE's own 32 A")
        none_left = await csms.call(STATION, "ClearChargingProfile", {"chargingProfileId": 2})
        assert none_left["status"] == "Unknown"


async def test_K01_FR_09_tx_profile_needs_its_transaction(config_dir, start_station) -> None:
    """K01.FR.09: a TxProfile without a transaction is Rejected; K01.FR.33: one naming
    another transaction too. During the transaction: Accepted, and pending (the
    controller restarts its session on a current change), applied after the session."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller, _ = await station(csms, config_dir, start_station)
        alone = await set_profile(csms, 1, profile(1, "TxProfile", [(0, 10)]))
        assert alone["status"] == "Rejected"
        assert alone["statusInfo"]["reasonCode"] == "TxNotFound"
        controller.state("charging", cp=2)
        started = (await csms.wait_for("TransactionEvent"))[0].payload
        tx_id = started["transactionInfo"]["transactionId"]
        other = await set_profile(csms, 1, profile(1, "TxProfile", [(0, 10)], transactionId="x"))
        assert other["status"] == "Rejected"
        ours = await set_profile(csms, 1, profile(1, "TxProfile", [(0, 10)], transactionId=tx_id))
        assert ours["status"] == "Accepted"
        await wait_until(lambda: hub.states.get(PENDING).state == "10.0", what="pending")
        assert hub.states.get(PENDING).attributes["evses"]["1"]["limit"] == 10
        assert limit(hub) == 32  # never changed mid-session
        _, periods, _ = await composite(csms, 1, 60)
        assert periods == [(0, 10)]  # what the schedule says for this transaction
        controller.state("stopped", cp=0)
        await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
        controller.state("idle", cp=0)
        # the TxProfile ended with its transaction: nothing is left to apply
        await wait_until(lambda: hub.states.get(PENDING).state == "none", what="no pending")
        assert limit(hub) == 32


async def test_K01_FR_31_35_invalid_schedules_rejected(config_dir, start_station) -> None:
    """K01.FR.31 (first startPeriod 0), K01.FR.35 (ascending periods), a Relative profile
    with startSchedule, a stack level above ProfileStackLevel, below the controller's
    minimum current: Rejected with a reason."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await station(csms, config_dir, start_station)
        cases = [
            (profile(1, "TxDefaultProfile", [(60, 10)]), "InvalidSchedule"),
            (profile(1, "TxDefaultProfile", [(0, 10), (0, 12)]), "InvalidSchedule"),
            (
                profile(
                    1,
                    "TxDefaultProfile",
                    [(0, 10)],
                    kind="Relative",
                    schedule={"startSchedule": "2026-01-01T00:00:00Z"},
                ),
                "InvalidSchedule",
            ),
            (profile(1, "TxDefaultProfile", [(0, 10)], stack=9), "InvalidStackLevel"),
            (profile(1, "TxDefaultProfile", [(0, 3)]), "BelowMinimum"),
        ]
        for body, reason in cases:
            answer = await set_profile(csms, 1, body)
            assert answer["status"] == "Rejected", body
            assert answer["statusInfo"]["reasonCode"] == reason


async def test_TC_K_41_composite_of_three_purposes(config_dir, start_station) -> None:
    """K08: station max, TxDefaultProfile and TxProfile combined (the TxProfile overrides
    the default where it has a period; the station maximum caps both)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller, _ = await station(csms, config_dir, start_station)
        controller.state("charging", cp=2)
        started = (await csms.wait_for("TransactionEvent"))[0].payload
        tx_id = started["transactionInfo"]["transactionId"]
        anchor = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10)
        at = {"startSchedule": iso(anchor)}
        station_max = profile(
            1, "ChargingStationMaxProfile", [(0, 20)], schedule={**at, "duration": 86400}
        )
        default = profile(
            2, "TxDefaultProfile", [(0, 16), (100, 10), (200, 18)], schedule={**at, "duration": 300}
        )
        tx = profile(
            3,
            "TxProfile",
            [(0, 12), (150, 8)],
            schedule={**at, "duration": 250},
            transactionId=tx_id,
        )
        assert (await set_profile(csms, 0, station_max))["status"] == "Accepted"
        assert (await set_profile(csms, 1, default))["status"] == "Accepted"
        assert (await set_profile(csms, 1, tx))["status"] == "Accepted"
        start, periods, schedule = await composite(csms, 1, 400)
        assert schedule["duration"] == 400
        shift = int((start - anchor).total_seconds())  # the schedule starts now, ~10 s in
        assert periods == [
            (0, 12),  # TxProfile 12 A (overrides the default's 16, then 10)
            (150 - shift, 8),  # TxProfile's second period
            (250 - shift, 18),  # TxProfile over: the default's third period
            (300 - shift, 20),  # default over: the station maximum
        ]
        # in W: 12 A x 230 V x 3 phases = 8280 W
        _, watts, schedule = await composite(csms, 1, 60, unit="W")
        assert schedule["chargingRateUnit"] == "W" and watts[0] == (0, 8280)
        assert limit(hub) == 32  # a session runs: nothing applied mid-session


async def test_K01_recurring_daily_schedule(config_dir, start_station) -> None:
    """K01/K08: a Recurring Daily profile repeats from its startSchedule every 24 h."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await station(csms, config_dir, start_station)
        # began yesterday, 1 h before now: 10 A, from 2 h after its start 16 A, for 4 h
        anchor = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1, hours=1)
        body = profile(
            1,
            "TxDefaultProfile",
            [(0, 10), (7200, 16)],
            kind="Recurring",
            recurrencyKind="Daily",
            schedule={"startSchedule": iso(anchor), "duration": 14400},
        )
        assert (await set_profile(csms, 1, body))["status"] == "Accepted"
        start, periods, _ = await composite(csms, 1, 6 * 3600)
        today = anchor + timedelta(days=1)
        shift = int((start - today).total_seconds())  # ~3600
        assert periods == [(0, 10), (7200 - shift, 16), (14400 - shift, 32)]


async def test_K01_W_profile_converted_with_phases_and_voltage(config_dir, start_station) -> None:
    """A limit in W is converted with numberPhases and the nominal voltage (here 240 V)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        path = config_dir(station_yaml(csms.url(), nominal_voltage=240))
        hub, _, _ = await station(csms, config_dir, start_station, path)
        body = profile(1, "TxDefaultProfile", [(0, 7200)], unit="W")
        body["chargingSchedule"][0]["chargingSchedulePeriod"][0]["numberPhases"] = 3
        assert (await set_profile(csms, 1, body))["status"] == "Accepted"
        await wait_until(lambda: limit(hub) == 10, what="7200 W / (240 V x 3) = 10 A")
        _, periods, _ = await composite(csms, 1, 60, unit="W")
        assert periods == [(0, 7200)]


async def test_K01_period_boundary_applies_the_next_limit(config_dir, start_station) -> None:
    """A schedule that changes over time: the new limit is applied at the boundary (a
    timer), while the controller is idle."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller, _ = await station(csms, config_dir, start_station)
        body = profile(1, "TxDefaultProfile", [(0, 16), (2, 10)])
        assert (await set_profile(csms, 1, body))["status"] == "Accepted"
        await wait_until(lambda: limit(hub) == 16, what="first period")
        await wait_until(lambda: limit(hub) == 10, timeout=4, what="second period")
        assert [c[1]["value"] for c in controller.calls if c[0] == "set_value"] == [16, 10]


async def test_K01_profiles_survive_a_restart(config_dir, start_station) -> None:
    """Installed profiles are kept in the station's SQLite file across a restart."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _, path = await station(csms, config_dir, start_station)
        body = profile(7, "TxDefaultProfile", [(0, 14)])
        assert (await set_profile(csms, 1, body))["status"] == "Accepted"
        await wait_until(lambda: limit(hub) == 14)
        await hub.async_stop()  # the station goes down; its SQLite file stays
        hub2, _ = await start_station(path)
        FakeController(hub2).state("idle", cp=0)
        await csms.wait_for("BootNotification", 2)
        await csms.wait_connected(STATION)
        await csms.wait_for("StatusNotification", 2)
        _, periods, _ = await composite(csms, 1, 60)
        assert periods == [(0, 14)]
        await wait_until(lambda: limit(hub2) == 14, what="applied again after the restart")
        answer = await csms.call(
            STATION, "GetChargingProfiles", {"requestId": 9, "chargingProfile": {}}
        )
        assert answer["status"] == "Accepted"
        report = (
            await csms.wait_for("ReportChargingProfiles", where=lambda p: p["requestId"] == 9)
        )[0].payload
        assert report["chargingProfile"][0]["id"] == 7


async def test_K01_relative_tx_profile_from_the_transaction_start(
    config_dir, start_station
) -> None:
    """A Relative TxProfile's periods count from the transaction's start."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        _, controller, _ = await station(csms, config_dir, start_station)
        controller.state("charging", cp=2)
        started = (await csms.wait_for("TransactionEvent"))[0].payload
        tx_start = parse_time(started["timestamp"])
        tx_id = started["transactionInfo"]["transactionId"]
        body = profile(1, "TxProfile", [(0, 12), (3600, 8)], kind="Relative", transactionId=tx_id)
        assert (await set_profile(csms, 1, body))["status"] == "Accepted"
        start, periods, _ = await composite(csms, 1, 7200)
        elapsed = (start - tx_start).total_seconds()  # the schedule asked for starts now
        assert periods[0] == (0, 12) and periods[1][1] == 8
        # 3600 s after the transaction began, give or take the second of truncation
        assert abs(periods[1][0] - (3600 - elapsed)) <= 1
        assert len(periods) == 2  # no duration: 8 A to the end


async def test_K01_profile_limits_periods_stack_level_entries(config_dir, start_station) -> None:
    """SetChargingProfile beyond the device model's limits is Rejected: more periods than
    SmartChargingCtrlr.PeriodsPerSchedule (24), a stackLevel above ProfileStackLevel (8),
    a profile beyond SmartChargingCtrlr.Entries[ChargingProfiles] maxLimit (8); at the
    limits it is Accepted, and replacing an installed profile (same id) always is."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await station(csms, config_dir, start_station)
        answer = await csms.call(
            STATION,
            "GetVariables",
            {
                "getVariableData": [
                    {
                        "component": {"name": "SmartChargingCtrlr"},
                        "variable": {"name": name},
                    }
                    for name in ("PeriodsPerSchedule", "ProfileStackLevel")
                ]
            },
        )
        assert [r["attributeValue"] for r in answer["getVariableResult"]] == ["24", "8"]
        periods = [(60 * i, 16) for i in range(25)]
        too_many = await set_profile(csms, 1, profile(1, "TxDefaultProfile", periods))
        assert too_many["status"] == "Rejected"
        assert too_many["statusInfo"]["reasonCode"] == "InvalidSchedule"
        assert (await set_profile(csms, 1, profile(1, "TxDefaultProfile", periods[:24])))[
            "status"
        ] == "Accepted"
        # ids 1..8 on stack levels 0..7 and 8: eight installed, none replaces another
        for pid, stack in zip(range(2, 9), range(1, 8), strict=True):
            answer = await set_profile(
                csms, 1, profile(pid, "TxDefaultProfile", [(0, 16)], stack=stack)
            )
            assert answer["status"] == "Accepted", pid
        entries = await csms.call(
            STATION,
            "GetVariables",
            {
                "getVariableData": [
                    {
                        "component": {"name": "SmartChargingCtrlr"},
                        "variable": {"name": "Entries", "instance": "ChargingProfiles"},
                    }
                ]
            },
        )
        assert entries["getVariableResult"][0]["attributeValue"] == "8"
        ninth = await set_profile(csms, 1, profile(9, "TxDefaultProfile", [(0, 16)], stack=8))
        assert ninth["status"] == "Rejected"
        assert ninth["statusInfo"]["reasonCode"] == "MaxProfilesReached"
        # replacing one (the same id) fits
        again = await set_profile(csms, 1, profile(8, "TxDefaultProfile", [(0, 20)], stack=8))
        assert again["status"] == "Accepted"


async def test_K08_composite_schedule_duration_capped(config_dir, start_station) -> None:
    """K08: the station reports the duration asked, up to its maximum (7 days); a longer
    request is answered with the shorter duration it covers."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await station(csms, config_dir, start_station)
        assert (await set_profile(csms, 1, profile(1, "TxDefaultProfile", [(0, 16)])))[
            "status"
        ] == "Accepted"
        _, periods, schedule = await composite(csms, 1, 3600)
        assert schedule["duration"] == 3600
        assert periods == [(0, 16.0)]
        _, periods, schedule = await composite(csms, 1, 30 * 86400)
        assert schedule["duration"] == 7 * 86400
        assert periods == [(0, 16.0)]
