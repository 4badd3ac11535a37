"""`orge once` for OCPP 2.0.1: boot, one StatusNotification per connector, one heartbeat.

Plugged into the command of `components/ocpp_station/cli.py` (found through the loader).
The smoke test does not know the controller's state (ORGE may not be running), so the
status it reports is `Unavailable`, never a claim that the connector is free; the running
station sends the real status right after its own boot.
"""

from __future__ import annotations

import logging
from typing import Any

from components.ocpp_station.once import OnceResult
from components.ocpp_station.sender import CallRejected, LinkDown, NoAnswer
from orge import __version__
from orge.redact import register_secret

_LOGGER = logging.getLogger(__name__)


async def async_once(config: dict[str, Any], config_dir: str, timeout: float) -> OnceResult:
    from components.ocpp_station.connection import OCPP201, ConnectFailed, open_connection
    from components.ocpp_station.urls import station_url, url_password

    from . import station_id as configured_station_id
    from .charge_point import StationChargePoint

    station_id = configured_station_id(config, _core_station_id(config_dir))
    password = config.get("password") or url_password(config["url"])
    register_secret(password)
    url = station_url(config["url"], station_id, config["append_station_id"])
    result = OnceResult(OCPP201, station_id, url)
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
                "firmwareVersion": config.get("firmware_version") or f"ORGE {__version__}",
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


def _core_station_id(config_dir: str) -> str:
    """`orge: station_id` of the config dir (validated the way the engine does)."""
    from orge.config import CORE_SCHEMA, load_configuration

    try:
        core = load_configuration(config_dir).get("orge") or {}
        return str(CORE_SCHEMA(core).get("station_id") or "")
    except Exception:  # the engine has already reported config problems
        return ""


class _NoOrders:
    """`orge once` takes no orders: every CSMS request gets NotImplemented."""

    def __getattr__(self, name: str) -> Any:
        from ocpp.exceptions import NotImplementedError as OcppNotImplemented

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise OcppNotImplemented(details={"cause": "smoke test connection"})

        return refuse
