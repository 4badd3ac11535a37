"""Setting the esp32 component up: link, entities, services, and the built-in simulator."""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import EVENT_ORGE_STOP, Event, Orge, ServiceCall
from orge.entity import async_add_entities

from . import metrics
from .charger import Esp32Charger, Settings
from .const import DOMAIN, PORT_SIMULATOR, SIMULATE_EVENTS
from .entities import build_entities

_LOGGER = logging.getLogger(__name__)


async def async_setup_esp32(orge: Orge, config: dict[str, Any]) -> bool:
    name_text = config["name"]
    settings = Settings(
        name=cv.slugify(name_text),
        friendly=name_text[:1].upper() + name_text[1:],
        baudrate=config["baudrate"],
        status_interval=config["status_interval"],
        session_status_interval=config["session_status_interval"],
        ack_timeout=config["ack_timeout"],
        retries=config["retries"],
        max_current=config.get("max_current"),
    )
    simulator = None
    port = config["port"]
    if port == PORT_SIMULATOR:
        from .simulator import Esp32Simulator

        options = config["simulator"]
        simulator = Esp32Simulator(
            time_scale=options["time_scale"],
            stat_interval=options["stat_interval"],
            cable_rating=options["cable_rating"],
            fault_report_interval=options["fault_report_interval"],
        )
        # A real pty, so the default config runs the same serial code as a station.
        link_dir = tempfile.mkdtemp(prefix="orge-esp32-")
        port = await simulator.start_pty(link=os.path.join(link_dir, "ttyESP32"))
        _LOGGER.info("Simulated ESP32 controller on %s", port)

    charger = Esp32Charger(orge, port, settings)
    charger.simulator = simulator
    chargers = orge.data.get(DOMAIN)
    if chargers is None:  # the first charger of this hub: its collector reads them all
        chargers = orge.data[DOMAIN] = {}
        metrics.register(orge, chargers)
    chargers[settings.name] = charger
    charger.entities = build_entities(charger)
    await async_add_entities(orge, DOMAIN, charger.entities)

    orge.async_create_background_task(charger.link.run(), f"esp32 {settings.name} link")
    orge.async_create_background_task(charger.watchdog(), f"esp32 {settings.name} watchdog")

    async def on_stop(_event: Event) -> None:
        await charger.shutdown()
        if simulator is not None:
            await simulator.stop()
            link = simulator.port
            if link and os.path.dirname(link).startswith(tempfile.gettempdir()):
                try:
                    os.rmdir(os.path.dirname(link))
                except OSError:
                    pass

    orge.bus.async_listen_once(EVENT_ORGE_STOP, on_stop)
    _register_services(orge, charger, simulator)
    return True


def _register_services(orge: Orge, charger: Esp32Charger, simulator: Any) -> None:
    # Descriptions come from services.yaml, attached by the engine (orge/service_descriptions.py).
    def register(service: str, handler: Any, schema: Any = None) -> None:
        orge.services.async_register(DOMAIN, service, handler, schema or vol.Schema({}))

    async def authorize(call: ServiceCall) -> None:
        await charger.authorize()

    async def clear_authorization(call: ServiceCall) -> None:
        await charger.clear_authorization()

    async def stop_charging(call: ServiceCall) -> None:
        await charger.stop_charging()

    async def set_max_current(call: ServiceCall) -> None:
        await charger.set_max_current(call.data["current"])

    async def lock(call: ServiceCall) -> None:
        await charger.lock(True)

    async def unlock(call: ServiceCall) -> None:
        await charger.lock(False)

    async def refresh(call: ServiceCall) -> None:
        await charger.refresh()

    def whole_amperes(value: Any) -> int:
        try:
            amps = float(value)
        except (TypeError, ValueError):
            raise vol.Invalid(f"current must be a number of amperes, got {value!r}") from None
        if not amps.is_integer():
            raise vol.Invalid(f"current must be a whole number of amperes, got {value!r}")
        return int(amps)  # the range is checked by the command, with its own message

    register("authorize", authorize)
    register("clear_authorization", clear_authorization)
    register("stop_charging", stop_charging)
    register(
        "set_max_current", set_max_current, vol.Schema({vol.Required("current"): whole_amperes})
    )
    register("lock", lock)
    register("unlock", unlock)
    register("refresh", refresh)

    if simulator is None:
        return

    async def simulate(call: ServiceCall) -> None:
        event = call.data["event"]
        if event == "fault_phase":
            simulator.power_board_fault("phase")
        elif event == "fault_earth":
            simulator.power_board_fault("earth")
        elif event == "reboot":
            await simulator.reboot()
        elif event == "plug_in":
            simulator.plug_in(call.data.get("cable_rating"))
        else:
            getattr(simulator, event)()

    register(
        "simulate",
        simulate,
        vol.Schema(
            {
                vol.Required("event"): vol.In(SIMULATE_EVENTS, msg="unknown simulator event"),
                vol.Optional("cable_rating"): vol.In([6, 13, 20, 32, 63]),
            }
        ),
    )
