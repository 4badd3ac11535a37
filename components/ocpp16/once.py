"""`orge once` for 1.6J: boot, one StatusNotification per connector, one Heartbeat.

Called by `ocpp_station.cli` through the loader with the validated `ocpp16:` block. It
opens its own short connection (no hub, no journal) and reports what happened. Without a
running station it cannot know the connector's real state, so the status it reports is
`Unavailable` (never a claim that the connector is free); the running station sends the
real status right after its own boot.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ..ocpp_station.config import firmware_version
from ..ocpp_station.connection import ConnectFailed, open_connection
from ..ocpp_station.once import OnceResult, resolve_for_once
from ..ocpp_station.sender import CallRejected, LinkDown, NoAnswer
from .link import SUBPROTOCOL, Link


def _summary(payload: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: payload[key] for key in keys if key in payload}


async def async_once(config: dict[str, Any], config_dir: str, timeout: float) -> OnceResult:
    identity, result = resolve_for_once(config, config_dir, SUBPROTOCOL)
    if identity is None:
        return result
    station_id, url = identity.station_id, identity.url
    station = SimpleNamespace(
        station_id=station_id, response_timeout=min(timeout, config["response_timeout"])
    )
    try:
        connection = await open_connection(
            url,
            station_id,
            identity.password,
            [SUBPROTOCOL],
            ca_file=config.get("ca_file"),
            verify_tls=config["verify_tls"],
            ping_interval=None,
            open_timeout=timeout,
        )
        link = Link(station, connection)  # type: ignore[arg-type]
        try:
            await _exchange(link, config, result)
        finally:
            await connection.close()
    except ConnectFailed as err:
        result.error = str(err)
    except (NoAnswer, CallRejected, LinkDown) as err:
        result.error = f"{type(err).__name__}: {err}"
    result.finish()
    return result


async def _exchange(link: Link, config: dict[str, Any], result: OnceResult) -> None:
    boot: dict[str, Any] = {
        "chargePointVendor": config["vendor"],
        "chargePointModel": config["model"],
    }
    if config.get("serial_number"):
        boot["chargePointSerialNumber"] = config["serial_number"]
    boot["firmwareVersion"] = firmware_version(config)
    answer = await link.send_call("BootNotification", boot)
    result.boot_status = answer.get("status")
    result.record("BootNotification", boot, _summary(answer, ("status", "interval", "currentTime")))
    if result.boot_status != "Accepted":
        result.error = f"BootNotification {result.boot_status}"
        return
    timestamp = answer.get("currentTime")
    for evse in config["evse"]:
        status = {
            "connectorId": evse["id"],
            "errorCode": "NoError",
            "status": "Unavailable",
            "info": "orge once smoke test",
            "timestamp": timestamp,
        }
        result.record(
            "StatusNotification", status, await link.send_call("StatusNotification", status)
        )
    beat = await link.send_call("Heartbeat", {})
    result.record("Heartbeat", {}, _summary(beat, ("currentTime",)))
