"""Service descriptions from services.yaml over a real HTTP server and WebSocket:
GET /api/services and `get_services` answer in Home Assistant's shape, with fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.components.http.conftest import Station

CHARGER_DEMO_SERVICES = """\
authorize:
  name: Authorize a tag
  description: Authorise the session with an id tag.
  fields:
    id_tag:
      name: Id tag
      description: The RFID tag.
      required: true
      example: 04A2B3C4
      selector:
        text: {}
"""

HELPERS = "input_number:\n  limit: {min: 6, max: 32}\n"


async def _station(make_station: Callable[..., Any]) -> Station:
    return await make_station(
        extra=HELPERS,
        **{"custom_components__charger_demo__services.yaml": CHARGER_DEMO_SERVICES},
    )


async def test_api_services_carry_the_yaml_fields(make_station: Callable[..., Any]) -> None:
    station = await _station(make_station)
    response = await station.get("/api/services")
    assert response.status == 200
    by_domain = {item["domain"]: item["services"] for item in await response.json()}

    # a component's services.yaml wins over the short description given in its code
    assert by_domain["charger_demo"]["authorize"] == {
        "name": "Authorize a tag",
        "description": "Authorise the session with an id tag.",
        "fields": {
            "id_tag": {
                "name": "Id tag",
                "description": "The RFID tag.",
                "required": True,
                "example": "04A2B3C4",
                "selector": {"text": {}},
            }
        },
    }
    # a built-in component: input_number.set_value as its services.yaml says
    set_value = by_domain["input_number"]["set_value"]
    assert set_value["description"] == "Set the value."
    assert set_value["fields"] == {
        "entity_id": {"example": "input_number.limit"},
        "value": {"example": 16},
    }
    # the engine's own services, from orge/services.yaml
    update = by_domain["orge"]["update_entity"]
    assert update["fields"]["entity_id"]["required"] is True
    turn_on = by_domain["switch"]["turn_on"]
    assert turn_on["name"] == "Turn on"
    assert turn_on["target"] == {"entity": {"domain": "switch"}}
    assert by_domain["number"]["set_value"]["fields"]["value"]["required"] is True
    # a service without a services.yaml entry keeps the HA shape: empty fields
    assert by_domain["charger_demo"]["echo"]["fields"] == {}
    assert by_domain["charger_demo"]["echo"]["response"] == {"optional": True}


async def test_websocket_get_services_matches_rest(make_station: Callable[..., Any]) -> None:
    station = await _station(make_station)
    rest = {
        item["domain"]: item["services"]
        for item in await (await station.get("/api/services")).json()
    }
    ws = await station.ws()
    await ws.send_json({"id": 1, "type": "get_services"})
    answer = await ws.receive_json()
    await ws.close()
    assert answer["success"] is True
    assert answer["result"] == rest
    assert answer["result"]["charger_demo"]["authorize"]["fields"]["id_tag"]["required"] is True
