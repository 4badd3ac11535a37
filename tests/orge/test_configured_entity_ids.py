"""Each built-in component's `configured_entity_ids` against what its set-up really makes,
and every service a built-in component registers described by a services.yaml: one real
station with every built-in component (simulated charger, demo CSMS on a free port)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orge.check_names import ENTITY_IDS_HOOK, known_names
from orge.loader import ComponentIndex


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _station(http_port: int, csms_port: int) -> str:
    return f"""\
orge:
  station_id: TEST_STATION_1
esp32:
  port: simulator
  name: Charger
demo:
modbus_meter:
  host: 127.0.0.1
  tcp_port: 9
  model: eastron_sdm630
  name: grid_meter
http:
  server_host: 127.0.0.1
  server_port: {http_port}
recorder:
persistent_notification:
power_monitor:
  vcgencmd: /nonexistent/vcgencmd
ngrok:
  api_url: http://127.0.0.1:9
mqtt:
  broker: 127.0.0.1
  port: 9
demo_csms:
  host: 127.0.0.1
  port: {csms_port}
ocpp201:
  url: ws://127.0.0.1:{csms_port}/ocpp
ocpp16:
  url: ws://127.0.0.1:{csms_port}/ocpp
  fallback: true
input_boolean:
  free_charging:
input_number:
  session_limit: {{min: 1, max: 10}}
input_select:
  mode: {{options: [eco, fast]}}
input_datetime:
  free_from: {{has_date: false, has_time: true}}
timer:
  charging_session: {{duration: "04:00:00"}}
template:
  - sensor:
      - name: Charger power x2
        state: "{{{{ 2 }}}}"
    binary_sensor:
      - name: Is charging
        state: "{{{{ is_state('sensor.charger_state', 'charging') }}}}"
script:
  stop_it:
    sequence:
      - action: esp32.stop_charging
automation:
  - id: Free hours
    triggers: {{trigger: event, event_type: never}}
    actions: {{action: esp32.authorize}}
  - alias: Second one
    triggers: {{trigger: event, event_type: never}}
    actions: {{action: esp32.authorize}}
"""


async def test_hooks_match_what_setup_creates(
    config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    path = config_dir(_station(_free_port(), _free_port()))
    hub, result = await start_station(path)
    assert not result.problems, result.problems
    builtin = {c.domain for c in ComponentIndex().components.values() if not c.is_library}
    configured = {c.domain for c in result.order if not c.is_library}
    # every built-in component is in this station, and each says what it makes
    assert configured == builtin
    assert set(hub.config.components) >= configured, hub.config.setup_errors
    for component in result.order:
        if not component.is_library:
            assert hasattr(component.import_module(), ENTITY_IDS_HOOK), component.domain
    known = known_names(result)
    assert known.complete
    # sensor.ocpp_active_protocol is written when the first OCPP link reports (demo CSMS)
    for _ in range(100):
        if hub.states.get("sensor.ocpp_active_protocol"):
            break
        await asyncio.sleep(0.05)
    existing = set(hub.states.async_entity_ids())
    assert known.entities <= existing, sorted(known.entities - existing)
    # what the station has beyond the hooks: only the domains they leave open
    unforeseen = {
        entity_id
        for entity_id in existing - known.entities
        if entity_id.partition(".")[0] not in known.open_domains
        and not any(entity_id.startswith(prefix) for prefix in known.open_prefixes)
    }
    assert unforeseen == set()
    assert {
        "sensor.charger_state",
        "number.charger_max_current",
        "automation.free_hours",
        "automation.second_one",
        "script.stop_it",
        "sensor.charger_power_x2",
        "binary_sensor.is_charging",
        "timer.charging_session",
        "sensor.ocpp_active_protocol",
    } <= known.entities


async def test_every_builtin_service_is_described(
    config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    path = config_dir(_station(_free_port(), _free_port()))
    hub, result = await start_station(path)
    assert not result.problems, result.problems
    known = known_names(result)
    undescribed = []
    for domain, services in hub.services.async_services().items():
        for name, service in services.items():
            if not service.description.get("description"):
                undescribed.append(f"{domain}.{name}")
            # the check-config view of services is the running one
            assert f"{domain}.{name}" in known.services, f"{domain}.{name}"
    # script.<name> is described by the script's own config in HA; here only by its name
    assert [name for name in undescribed if not name.startswith("script.")] == []
    authorize = hub.services.async_services()["ocpp201"]["authorize"].description
    assert authorize["fields"]["id_token"]["required"] is True
