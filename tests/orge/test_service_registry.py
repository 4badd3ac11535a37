"""ServiceRegistry: descriptions from services.yaml, and the call path's behaviour that the
faster hot path must keep (names, data copies, contexts, responses)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol

from orge.core import Context, Orge, ServiceCall, SupportsResponse, callback
from orge.exceptions import ConfigError, ServiceNotFound, ServiceValidationError
from orge.service_descriptions import describe_component, read_services_yaml


async def test_yaml_description_wins_and_applies_before_or_after_register(orge: Orge) -> None:
    orge.services.async_register(
        "charger", "early", callback(lambda call: None), description={"description": "code"}
    )
    orge.services.async_set_descriptions(
        "charger",
        {
            "early": {"description": "from yaml", "fields": {"a": {"required": True}}},
            "late": {"name": "Late", "description": "later", "fields": {}},
        },
    )
    orge.services.async_register(
        "charger", "late", callback(lambda call: None), description={"name": "Code name"}
    )
    services = orge.services.async_services()["charger"]
    assert services["early"].description == {
        "description": "from yaml",
        "fields": {"a": {"required": True}},
    }
    assert services["late"].description == {"name": "Late", "description": "later", "fields": {}}


async def test_engine_services_are_described(orge: Orge) -> None:
    orge.services.async_register("orge", "update_entity", callback(lambda call: None))
    description = orge.services.async_services()["orge"]["update_entity"].description
    assert description["name"] == "Update entity"
    assert description["fields"]["entity_id"]["required"] is True
    assert "turn_on" in orge.services.async_described("switch")


def test_services_yaml_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text("authorize:\n  description: ok\n   fields: {}\n")
    with pytest.raises(ConfigError) as info:
        read_services_yaml(str(path))
    assert str(info.value).startswith(f"{path}, line 3: ")
    path.write_text("- not\n- a mapping\n")
    with pytest.raises(ConfigError, match="one mapping of service name"):
        read_services_yaml(str(path))
    assert read_services_yaml(str(tmp_path / "absent.yaml")) == {}


async def test_broken_services_yaml_is_logged_and_the_service_still_registers(
    orge: Orge, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "services.yaml").write_text("go: [unclosed\n")
    describe_component(orge.services, "broken", str(tmp_path))
    assert "Service descriptions of broken not loaded" in caplog.text
    orge.services.async_register("broken", "go", callback(lambda call: None))
    assert orge.services.has_service("broken", "go")
    assert orge.services.async_services()["broken"]["go"].description == {"fields": {}}


async def test_call_keeps_names_data_and_context(orge: Orge) -> None:
    seen: list[ServiceCall] = []

    @callback
    def handler(call: ServiceCall) -> None:
        seen.append(call)

    orge.services.async_register("Charger", "Go", handler)
    data = {"current": 16}
    await orge.services.async_call("CHARGER", "go", data, blocking=True)
    data["current"] = 32  # the caller's dict is not the call's data
    call = seen[0]
    assert (call.domain, call.service) == ("charger", "go")
    assert dict(call.data) == {"current": 16}
    with pytest.raises(TypeError):
        call.data["current"] = 1  # type: ignore[index]
    # a context is made when first read, and stays the same object
    assert call.context is call.context
    assert isinstance(call.context, Context)
    given = Context(user_id="operator")
    await orge.services.async_call("charger", "go", {}, blocking=True, context=given)
    assert seen[1].context is given
    await orge.services.async_call(
        "charger", "go", {"a": 1}, blocking=True, target={"entity_id": "switch.x"}
    )
    assert dict(seen[2].data) == {"a": 1, "entity_id": "switch.x"}
    with pytest.raises(ServiceNotFound, match=r"Service charger\.nope not found"):
        await orge.services.async_call("Charger", "Nope", {}, blocking=True)


async def test_schema_output_is_the_call_data(orge: Orge) -> None:
    seen: list[dict[str, Any]] = []

    async def handler(call: ServiceCall) -> dict[str, Any]:
        seen.append(dict(call.data))
        return {"ok": call.data["current"]}

    orge.services.async_register(
        "charger",
        "limit",
        handler,
        vol.Schema({vol.Required("current"): vol.Coerce(int)}),
        SupportsResponse.OPTIONAL,
    )
    answer = await orge.services.async_call(
        "charger", "limit", {"current": "16"}, blocking=True, return_response=True
    )
    assert answer == {"ok": 16} and seen == [{"current": 16}]
    assert await orge.services.async_call("charger", "limit", {"current": 6}, blocking=True) is None
    with pytest.raises(ServiceValidationError, match="Invalid data for charger.limit"):
        await orge.services.async_call("charger", "limit", {"current": "x"}, blocking=True)
    with pytest.raises(ServiceValidationError, match="non-blocking"):
        await orge.services.async_call("charger", "limit", {}, return_response=True)


async def test_response_only_service_refuses_a_plain_call(
    orge: Orge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    orge.services.async_register(
        "charger", "traces", callback(lambda call: {}), supports_response=SupportsResponse.ONLY
    )
    with pytest.raises(ServiceValidationError, match="only works with a response"):
        await orge.services.async_call("charger", "traces", {}, blocking=True)
    orge.services.async_register("charger", "plain", callback(lambda call: None))
    with pytest.raises(ServiceValidationError, match="does not return a response"):
        await orge.services.async_call("charger", "plain", {}, blocking=True, return_response=True)
