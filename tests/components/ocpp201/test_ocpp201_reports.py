"""Issue 10 point 2 under 2.0.1: GetReport (B08, with componentCriteria and
componentVariable) and GetChargingProfiles (K09) exist and answer by the book."""

from __future__ import annotations

from ocpp201_helpers import PASSWORD, STATION
from test_ocpp201_orders import connected_station, profile

from tests.ocpp_csms import OcppCsms


def _reported(csms: OcppCsms, request_id: int) -> list[tuple[str, str, str | None, str]]:
    return [
        (
            item["component"]["name"],
            item["variable"]["name"],
            item["variable"].get("instance"),
            item["variableAttribute"][0]["value"],
        )
        for message in csms.received("NotifyReport")
        if message.payload["requestId"] == request_id
        for item in message.payload["reportData"]
    ]


async def test_get_report_by_component_variable_and_criteria(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await connected_station(csms, config_dir, start_station)
        # one component/variable pair: exactly that variable, with its value
        answer = await csms.call(
            STATION,
            "GetReport",
            {
                "requestId": 11,
                "componentVariable": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ],
            },
        )
        assert answer["status"] == "Accepted"
        await csms.wait_for("NotifyReport", where=lambda p: p["requestId"] == 11)
        # the interval of the CSMS's BootNotification answer (60 s) replaced the configured 30
        assert _reported(csms, 11) == [("OCPPCommCtrlr", "HeartbeatInterval", None, "60")]
        # a component without a variable: all of its variables
        answer = await csms.call(
            STATION,
            "GetReport",
            {"requestId": 12, "componentVariable": [{"component": {"name": "AlignedDataCtrlr"}}]},
        )
        assert answer["status"] == "Accepted"
        await csms.wait_for("NotifyReport", where=lambda p: p["requestId"] == 12)
        names = {(c, v) for c, v, _, _ in _reported(csms, 12)}
        assert {c for c, _ in names} == {"AlignedDataCtrlr"}
        assert {("AlignedDataCtrlr", "Interval"), ("AlignedDataCtrlr", "Enabled")} <= names
        # componentCriteria Enabled: only components whose Enabled is true
        answer = await csms.call(
            STATION, "GetReport", {"requestId": 13, "componentCriteria": ["Enabled"]}
        )
        assert answer["status"] == "Accepted"
        await csms.wait_for("NotifyReport", where=lambda p: p["requestId"] == 13)
        components = {c for c, _, _, _ in _reported(csms, 13)}
        assert "SampledDataCtrlr" in components and "OCPPCommCtrlr" not in components
        # both filters: the intersection; nothing matches -> EmptyResultSet (B08.FR.05)
        answer = await csms.call(
            STATION,
            "GetReport",
            {
                "requestId": 14,
                "componentCriteria": ["Enabled"],
                "componentVariable": [{"component": {"name": "OCPPCommCtrlr"}}],
            },
        )
        assert answer["status"] == "EmptyResultSet"
        answer = await csms.call(
            STATION,
            "GetReport",
            {"requestId": 15, "componentVariable": [{"component": {"name": "NoSuchCtrlr"}}]},
        )
        assert answer["status"] == "EmptyResultSet"
        assert not [m for m in csms.received("NotifyReport") if m.payload["requestId"] in (14, 15)]
        assert not csms.errors_sent()


async def test_get_charging_profiles(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await connected_station(csms, config_dir, start_station)

        async def get(request_id: int, criterion: dict, evse_id: int | None = None) -> dict:
            payload: dict = {"requestId": request_id, "chargingProfile": criterion}
            if evse_id is not None:
                payload["evseId"] = evse_id
            return await csms.call(STATION, "GetChargingProfiles", payload)

        assert (await get(1, {}))["status"] == "NoProfiles"  # K09.FR.03
        default = profile("TxDefaultProfile", 16, profile_id=5)
        assert (
            await csms.call(
                STATION, "SetChargingProfile", {"evseId": 1, "chargingProfile": default}
            )
        )["status"] == "Accepted"
        station_max = profile("ChargingStationMaxProfile", 20, profile_id=6)
        assert (
            await csms.call(
                STATION, "SetChargingProfile", {"evseId": 0, "chargingProfile": station_max}
            )
        )["status"] == "Accepted"
        assert (await get(2, {"chargingProfilePurpose": "TxDefaultProfile"}))["status"] == (
            "Accepted"
        )
        report = (
            await csms.wait_for("ReportChargingProfiles", where=lambda p: p["requestId"] == 2)
        )[0].payload
        assert report["evseId"] == 1 and report["chargingLimitSource"] == "CSO"
        assert report["chargingProfile"] == [default]  # as installed
        assert report.get("tbc", False) is False
        # all profiles: one message per EVSE, the last one with tbc false
        assert (await get(3, {}))["status"] == "Accepted"
        reports = await csms.wait_for(
            "ReportChargingProfiles", where=lambda p: p["requestId"] == 3, count=2
        )
        assert sorted(r.payload["evseId"] for r in reports) == [0, 1]
        assert [r.payload.get("tbc", False) for r in reports] == [True, False]
        assert (await get(4, {"chargingProfileId": [6]}, evse_id=0))["status"] == "Accepted"
        assert (await get(5, {"stackLevel": 3}))["status"] == "NoProfiles"
        assert (await get(6, {"chargingLimitSource": ["EMS"]}))["status"] == "NoProfiles"
        assert not csms.errors_sent()
