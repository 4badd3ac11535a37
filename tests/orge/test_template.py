"""The template engine: helpers, result parsing, entity tracking, errors with file/line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import voluptuous as vol

import orge.validation as cv
from orge.core import Orge
from orge.template import Template, TemplateError, render_text, template_complex
from orge.yaml import parse_yaml


@pytest.fixture
async def hub(orge: Orge) -> Orge:
    orge.states.async_set("sensor.charger_state", "charging", {"unit": "A", "limit": 16})
    orge.states.async_set("sensor.power", "7200.5")
    orge.states.async_set("sensor.gone", "unavailable")
    orge.states.async_set("binary_sensor.fault", "off")
    return orge


def render(orge: Orge, text: str, **variables: object) -> object:
    return Template(text, orge).async_render(variables)


async def test_state_helpers(hub: Orge) -> None:
    assert render(hub, "{{ states('sensor.charger_state') }}") == "charging"
    assert render(hub, "{{ states('sensor.nope') }}") == "unknown"
    assert render(hub, "{{ states.sensor.charger_state.state }}") == "charging"
    assert render(hub, "{{ states.sensor.nope is none }}") is True
    assert render(hub, "{{ is_state('sensor.charger_state', 'charging') }}") is True
    assert render(hub, "{{ is_state('sensor.charger_state', ['idle', 'charging']) }}") is True
    assert render(hub, "{{ state_attr('sensor.charger_state', 'limit') }}") == 16
    assert render(hub, "{{ is_state_attr('sensor.charger_state', 'unit', 'A') }}") is True
    assert render(hub, "{{ has_value('sensor.gone') }}") is False
    assert render(hub, "{{ has_value('sensor.power') }}") is True
    assert render(hub, "{{ states.sensor | map(attribute='entity_id') | list }}") == [
        "sensor.charger_state",
        "sensor.gone",
        "sensor.power",
    ]


async def test_numbers_and_functions(hub: Orge) -> None:
    assert render(hub, "{{ states('sensor.power') | float / 1000 }}") == 7.2005
    assert render(hub, "{{ float('x', 3) }}") == 3
    assert render(hub, "{{ 'x' | int(7) }}") == 7
    assert render(hub, "{{ '12.7' | int }}") == 12
    assert render(hub, "{{ round(2.567, 2) }}") == 2.57
    assert render(hub, "{{ 2.5 | round(0, 'floor') }}") == 2
    assert render(hub, "{{ iif(is_state('binary_sensor.fault', 'on'), 'stop', 'go') }}") == "go"
    assert render(hub, "{{ min(3, 1, 2) }} {{ max([4, 9]) }}") == "1 9"
    assert render(hub, "{{ as_timestamp('2026-01-01T00:00:00+00:00') }}") == 1767225600.0
    assert render(hub, "{{ as_datetime(0).year }}") == 1970
    assert render(hub, "{{ as_timestamp('nonsense', 0) }}") == 0
    assert render(hub, "{{ now().tzinfo is not none and utcnow().year > 2000 }}") is True
    five_ago = datetime.now(UTC) - timedelta(minutes=5, seconds=2)
    assert render(hub, "{{ relative_time(t) }}", t=five_ago) == "5 minutes"
    assert (
        render(
            hub,
            "{{ this.state }} {{ trigger.id }}",
            this=hub.states.get("sensor.power"),
            trigger={"id": "x"},
        )
        == "7200.5 x"
    )


async def test_result_parsing(hub: Orge) -> None:
    assert render(hub, "16") == 16
    assert render(hub, "{{ [1, 2] }}") == [1, 2]
    assert render(hub, "{{ {'a': 1} }}") == {"a": 1}
    assert render(hub, "{{ 'on' }}") == "on"
    assert render(hub, "1.10") == "1.10"  # keeps its spelling
    assert render(hub, "007") == "007"
    assert Template("{{ 16 }}", hub).render_to_text() == "16"
    assert render_text(hub, "{{ 1 + 1 }} A") == "2 A"


async def test_entities_read_are_tracked(hub: Orge) -> None:
    tpl = Template(
        "{{ states('sensor.power') | float > 10 and is_state('binary_sensor.fault', 'off') }}", hub
    )
    _result, info = tpl.async_render_with_info()
    assert info.entities == {"sensor.power", "binary_sensor.fault"}
    assert tpl.entities == {"sensor.power", "binary_sensor.fault"}
    _result, info = Template("{{ states.sensor | count }}", hub).async_render_with_info()
    assert info.domains == {"sensor"}
    _result, info = Template("{{ now() }}", hub).async_render_with_info()
    assert info.has_time


async def test_render_error_names_file_and_line(hub: Orge) -> None:
    node = parse_yaml(
        "a: 1\nvalue: \"{{ states('sensor.power') | float / 0 }}\"\n", "automations.yaml"
    )
    tpl = Template(node["value"], hub)
    with pytest.raises(TemplateError) as err:
        tpl.async_render()
    assert "automations.yaml, line 2" in str(err.value)
    assert "ZeroDivisionError" in str(err.value)
    with pytest.raises(TemplateError, match="float got invalid input 'charging'"):
        render(hub, "{{ states('sensor.charger_state') | float }}")
    with pytest.raises(TemplateError, match="undefined"):
        render(hub, "{{ nothing.here }}")


async def test_sandbox_refuses_internals(hub: Orge) -> None:
    with pytest.raises(TemplateError, match="unsafe"):
        render(hub, "{{ ''.__class__.__mro__ }}")
    with pytest.raises(TemplateError):
        render(hub, "{% set x = [1] %}{{ x.append(2) }}")


def test_validator_catches_syntax_errors() -> None:
    with pytest.raises(vol.Invalid, match="invalid template"):
        cv.template("{{ states('x' }}")
    assert cv.template("{{ 1 }}").text == "{{ 1 }}"
    with pytest.raises(vol.Invalid, match="dynamic"):
        cv.dynamic_template("plain")
    compiled = template_complex({"a": ["{{ 1 }}", 2], "b": "x"})
    assert isinstance(compiled["a"][0], Template) and compiled["a"][1] == 2


async def test_template_without_hub_renders_plain_jinja() -> None:
    assert Template("{{ 2 * x }}").async_render({"x": 4}) == 8


async def test_runaway_templates_are_stopped(hub: Orge) -> None:
    import time

    start = time.perf_counter()
    with pytest.raises(TemplateError, match="loops more than"):
        render(
            hub, "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
        )
    with pytest.raises(TemplateError, match="too large"):
        render(hub, "{{ 'x' * 10000000000 }}")
    with pytest.raises(TemplateError, match="too large"):
        render(hub, "{{ 10 ** 100000000 }}")
    assert time.perf_counter() - start < 2
    assert (
        render(hub, "{{ range(3) | list }} {{ 'ab' * 2 }} {{ 2 ** 10 }} {{ 3 * 4 }}")
        == "[0, 1, 2] abab 1024 12"
    )


async def test_calling_states_records_no_phantom_domains(orge) -> None:  # type: ignore[no-untyped-def]
    """The sandbox's safety probes on `states` are not domain reads."""
    from orge.template import Template

    orge.states.async_set("sensor.x", "1")
    result, info = Template("{{ states('sensor.x') }}", orge).async_render_with_info()
    assert result == 1
    assert info.entities == {"sensor.x"}
    assert info.domains == set()
