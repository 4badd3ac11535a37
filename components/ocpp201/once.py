"""`orge once` for OCPP 2.0.1: boot, one StatusNotification per connector, one heartbeat.

Plugged into the command of `components/ocpp_station/cli.py` (found through the loader).
The smoke test does not know the controller's state (ORGE may not be running), so the
status it reports is `Unavailable`, never a claim that the connector is free; the running
station sends the real status right after its own boot.
"""

from __future__ import annotations

import logging
from typing import Any

from components.ocpp_station.config import firmware_version
from components.ocpp_station.once import OnceResult, resolve_for_once
from components.ocpp_station.sender import CallRejected, LinkDown, NoAnswer

_LOGGER = logging.getLogger(__name__)


async def async_once(config: dict[str, Any], config_dir: str, timeout: float) -> OnceResult:
    from components.ocpp_station.connection import OCPP201, ConnectFailed, open_connection

    from .charge_point import StationChargePoint
    from .device_model import DeviceModel

    # the password SetVariables stored (SecurityCtrlr.BasicAuthPassword) wins, as in `run`
    stored = ("ocpp201.db", f"{DeviceModel.SETTING_PREFIX}SecurityCtrlr/BasicAuthPassword")
    identity, result = resolve_for_once(config, config_dir, OCPP201, stored)
    if identity is None:
        return result
    station_id, password, url = identity.station_id, identity.password, identity.url
    try:
        connection = await open_connection(
            url,
            station_id,
            password,
            [OCPP201],
            ca_file=config.get("ca_file"),
            verify_tls=config["verify_tls"],
            ping_interval=None,
            open_timeout=timeout,
        )
    except ConnectFailed as err:
        result.error = err.message
        result.finish()
        return result
    cp = StationChargePoint(
        station_id,
        connection,
        _NoOrders(),
        min(timeout, 30),
        logging.getLogger("components.ocpp201.wire"),
    )
    connection.attach(cp, station_id, min(timeout, 30))
    link = connection
    try:
        boot = {
            "chargingStation": {
                "model": config["model"],
                "vendorName": config["vendor"],
                "firmwareVersion": firmware_version(config),
            },
            "reason": "PowerUp",
        }
        if config.get("serial_number"):
            boot["chargingStation"]["serialNumber"] = config["serial_number"]
        answer = await link.call("BootNotification", boot)
        result.boot_status = answer.get("status")
        result.record("BootNotification", {"reason": "PowerUp"}, answer)
        if result.boot_status != "Accepted":
            result.error = f"BootNotification {result.boot_status}"
            return result
        for evse in config["evse"]:
            request = {
                "timestamp": answer.get("currentTime"),
                "connectorStatus": "Unavailable",
                "evseId": evse["id"],
                "connectorId": evse["connector_id"],
            }
            result.record(
                "StatusNotification", request, await link.call("StatusNotification", request)
            )
        result.record("Heartbeat", {}, await link.call("Heartbeat", {}))
    except NoAnswer as err:
        result.error = str(err)
    except CallRejected as err:
        result.error = f"CALLERROR {err}"
    except LinkDown:
        result.error = "the CSMS closed the connection"
    finally:
        await link.close()
        result.finish()
    return result


class _NoOrders:
    """`orge once` takes no orders: every CSMS request gets NotImplemented."""

    def __getattr__(self, name: str) -> Any:
        from ocpp.exceptions import NotImplementedError as OcppNotImplemented

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise OcppNotImplemented(details={"cause": "smoke test connection"})

        return refuse
