"""Template limits: what a token holder can submit must fail fast, never freeze or OOM.

Renders run inline on the station's only event loop (OCPP, the ESP32 link, HTTP), so each
attack below must end in a clear TemplateError. Each render runs in a thread joined with a
generous timeout: the assertion is "it finished and raised", not a timing figure.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import orge.template as template_module
from orge.core import Orge
from orge.template import Template, TemplateError, render_text
from tests.components.http.conftest import Station, make_station, station  # noqa: F401

MB = "'a' * 1000000"

ATTACKS = {
    "nested powers": "{{ ((10**1000)**1000)**100 }}",
    "huge power": "{{ 10 ** 100000000 }}",
    "repeated products": "{{ (10**3000) * (10**3000) * (10**3000) * (10**3000) }}",
    "big int division": "{{ (7 ** 20000) // (3 ** 12000) }}",
    "~ doubling": (
        f"{{% set ns = namespace(a={MB}) %}}{{% for i in range(20) %}}"
        "{% set ns.a = ns.a ~ ns.a %}{% endfor %}{{ ns.a | length }}"
    ),
    "~ once": f"{{% set a = {MB} %}}{{% set b = a ~ a %}}{{{{ b | length }}}}",
    "+ doubling": f"{{% set a = {MB} %}}{{% set b = a + a %}}{{{{ b | length }}}}",
    "list + in a loop": (
        "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}"
        f"{{% set ns.l = ns.l + [({MB})[:999000] ~ i] %}}{{% endfor %}}"
    ),
    "center filter": "{{ 'x' | center(500000000) }}",
    "center method": "{{ 'x'.center(500000000) }}",
    "ljust method": "{{ 'x'.ljust(500000000) }}",
    "zfill method": "{{ 'x'.zfill(500000000) }}",
    "str.format width": "{{ '{:>500000000}'.format(1) }}",
    "str.format nested width": "{{ '{:>{}}'.format(1, 500000000) }}",
    "format_map width": "{{ '{x:>500000000}'.format_map({'x': 1}) }}",
    "printf width": "{{ '%500000000s' % 1 }}",
    "printf precision": "{{ '%.500000000f' % 1.0 }}",
    "printf star": "{{ '%*s' % (500000000, 1) }}",
    "format filter": "{{ '%500000000s' | format(1) }}",
    "replace filter": f"{{{{ ({MB}) | replace('a', 'a' * 1000) }}}}",
    "replace method": f"{{{{ ({MB}).replace('a', 'a' * 1000) }}}}",
    "replace empty": "{{ ('a' * 1000) | replace('', 'b' * 10000) }}",
    "translate": f"{{{{ ({MB}).translate({{97: 'b' * 1000}}) }}}}",
    "expandtabs": "{{ ('\\t' * 1000000).expandtabs(1000) }}",
    "indent": "{{ ('a\\n' * 100000) | indent(10000) }}",
    "wordwrap": "{{ ('a' * 300000) | wordwrap(1) }}",
    "printed aliased list": f"{{{{ [{MB}] * 1000 }}}}",
    "join filter": f"{{{{ ([{MB}] * 1000) | join(',') }}}}",
    "join method": f"{{{{ ','.join([{MB}] * 1000) }}}}",
    "string filter": f"{{{{ ([{MB}] * 1000) | string }}}}",
    "tojson": f"{{{{ ([{MB}] * 1000) | tojson }}}}",
    "to_json": f"{{{{ ([{MB}] * 1000) | to_json }}}}",
    "sum of lists": "{{ ([[0] * 1000000] * 1000) | sum(start=[]) }}",
    "batch fill": "{{ [1] | batch(1000000000, 0) | list }}",
    "slice": "{{ [1] | slice(1000000000) | list }}",
    "round precision": "{{ 1.5 | round(100000000) }}",
    "lipsum": "{{ lipsum(100000000) }}",
    "output in a loop": "{% for i in range(100000) %}{{ 'a' * 1000 }}{% endfor %}",
    "static output in a loop": "{% for i in range(100000) %}" + "x" * 1000 + "{% endfor %}",
    "regex (a+)+": "{{ ('a' * 28 ~ 'b') is match('(a+)+$') }}",
    "regex (a*)*": "{{ ('a' * 28 ~ 'b') is match('(a*)*$') }}",
    "regex (a|aa)+": "{{ ('a' * 28 ~ 'b') is match('(a|aa)+$') }}",
    "regex polynomial": "{{ ('a' * 400) is match('.*.*.*.*x') }}",
    "regex long input": f"{{{{ ({MB}) is match('a') }}}}",
    "nested loop over a string": (
        f"{{% set a = {MB} %}}{{% for x in a %}}{{% for y in a %}}{{% endfor %}}{{% endfor %}}"
    ),
    "exponential macro": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    ),
}


def render_in_thread(text: str) -> BaseException | str:
    """Render in a thread; fail the test (rather than hang it) if it does not finish."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(render_text(None, text, None))  # type: ignore[arg-type]
        except BaseException as err:
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive(), f"render did not finish: {text[:80]}"
    return outcome[0]


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # The wall-clock backstop is 1 s; a shorter one keeps the suite quick.
    monkeypatch.setattr(template_module.budget, "MAX_RENDER_SECONDS", 0.2)


@pytest.mark.parametrize("text", list(ATTACKS.values()), ids=list(ATTACKS))
def test_attack_fails_fast_with_a_template_error(text: str, short_deadline: None) -> None:
    outcome = render_in_thread(text)
    assert isinstance(outcome, TemplateError), outcome
    assert "Template error" in str(outcome)


def test_errors_say_what_was_too_large() -> None:
    assert "too large" in str(render_in_thread(ATTACKS["center filter"]))
    assert "nested quantifiers" in str(render_in_thread(ATTACKS["regex (a+)+"]))
    assert "alternation inside a quantifier" in str(render_in_thread(ATTACKS["regex (a|aa)+"]))
    assert "more than 3 quantifiers" in str(render_in_thread(ATTACKS["regex polynomial"]))


def test_cpu_only_attacks_hit_the_wall_clock(short_deadline: None) -> None:
    for name in ("nested loop over a string", "exponential macro"):
        assert "ran longer than 0.2 s" in str(render_in_thread(ATTACKS[name])), name


def test_the_allocation_budget_spans_the_whole_render() -> None:
    # Each step is under the per-value cap; together they are not.
    text = (
        f"{{% set ns = namespace(l=[]) %}}{{% for i in range(200) %}}"
        f"{{% set ns.l = ns.l + [({MB})[:999000] ~ i] %}}{{% endfor %}}{{{{ ns.l | length }}}}"
    )
    outcome = render_in_thread(text)
    assert isinstance(outcome, TemplateError) and "in all" in str(outcome)


async def test_everyday_templates_still_work(orge: Orge) -> None:
    orge.states.async_set("sensor.power", "7200.5", {"unit": "W"})
    orge.states.async_set("sensor.current", "16")
    orge.states.async_set("switch.charging", "on")

    def render(text: str, **variables: Any) -> Any:
        return Template(text, orge).async_render(variables)

    assert render("{{ (states('sensor.power') | float / 1000) | round(2) }}") == 7.2
    assert render("{{ 'P=' ~ states('sensor.power') ~ ' W' }}") == "P=7200.5 W"
    assert render("{{ '%.1f kW' % (7200.5 / 1000) }}") == "7.2 kW"
    assert render("{{ '%s A' | format(states('sensor.current')) }}") == "16 A"
    assert render("{{ '{:>6}|{:.2f}'.format('ab', 3.14159) }}") == "    ab|3.14"
    assert render("{{ '{p} W'.format_map({'p': 5}) }}") == "5 W"
    assert render("{{ 'ab'.center(6, '*') }} {{ '7'.zfill(3) }}") == "**ab** 007"
    assert render("{{ 'a_b_c' | replace('_', ' ') }}") == "a b c"
    assert render("{{ ['a', 'b'] | join(', ') }} {{ '-'.join(['x', 'y']) }}") == "a, b x-y"
    assert render("{{ 'x' | center(5) }}|{{ 'a\nb' | indent(2) }}") == "  x  |a\n  b"
    assert render("{{ 'one two three' | wordwrap(7) }}") == "one two\nthree"
    assert render("{{ [[1], [2]] | sum(start=[]) }} {{ [1, 2, 3] | sum }}") == "[1, 2] 6"
    assert render("{{ {'a': [1, 2]} | tojson }}") == {"a": [1, 2]}
    assert render(r"{{ states('sensor.current') is match('^\\d+(\\.\\d+)?$') }}") is True
    assert render(r"{{ '10.0.0.1' is match('^\\d+\\.\\d+\\.\\d+') }}") is True
    assert render("{{ 2 ** 10 }} {{ (2 ** 0.5) | round(3) }} {{ 2 ** -1 }} {{ 17 // 5 }}") == (
        "1024 1.414 0.5 3"
    )
    assert (
        render("{{ 7 % 3 }} {{ 7 / 2 }} {{ [0] * 3 }} {{ 'ab' + 'cd' }}") == "1 3.5 [0, 0, 0] abcd"
    )
    loop = "{% for s in states.switch %}{{ s.entity_id }}{% if not loop.last %},{% endif %}{% endfor %}"
    assert render(loop) == "switch.charging"
    macro = "{% macro w(x) %}{{ x }} W{% endmacro %}{{ w(states('sensor.power')) }}"
    assert render(macro) == "7200.5 W"
    assert (
        render(
            "{% set ns = namespace(t=0) %}{% for i in range(5) %}{% set ns.t = ns.t + i %}"
            "{% endfor %}{{ ns.t }}"
        )
        == 10
    )
    assert render("{{ 'ab' * 2 }}{{ 'x' ~ 1 ~ none }}") == "ababx1None"


async def test_post_api_template_answers_an_error(station: Station) -> None:  # noqa: F811
    for name in ("nested powers", "~ doubling", "regex (a+)+", "str.format width"):
        response = await asyncio.wait_for(
            station.post("/api/template", json={"template": ATTACKS[name]}), timeout=10
        )
        assert response.status == 400, name
        assert "template" in (await response.json())["message"].lower(), name
    # the station kept serving
    response = await station.post("/api/template", json={"template": "{{ 6 * 7 }}"})
    assert response.status == 200 and await response.text() == "42"


async def test_websocket_render_template_answers_an_error(station: Station) -> None:  # noqa: F811
    ws = await station.ws()
    await ws.send_json({"id": 1, "type": "render_template", "template": ATTACKS["center method"]})
    while True:
        message = await asyncio.wait_for(ws.receive_json(), timeout=10)
        if message.get("id") == 1:
            break
    assert message["success"] is False and message["error"]["code"] == "template_error"
    await ws.close()


async def test_bounded_filters_keep_their_behaviour(orge: Orge) -> None:
    def render(text: str) -> Any:
        return Template(text, orge).render_to_text()

    assert render("{{ [1, 2, 3, 4] | slice(2) | list }}") == "[[1, 2], [3, 4]]"
    assert render("{{ [1, 2, 3] | batch(2, 0) | list }}") == "[[1, 2], [3, 0]]"
    assert render("{{ 'a b' | wordwrap(1, wrapstring='|') }}") == "a|b"
    assert render("{{ [1, 2] | pprint }} {{ [1] | string }}") == "[1, 2] [1]"
    assert render("{{ {'a': 1} | tojson(2) }}") == '{\n  "a": 1\n}'
    assert render("{{ [{'n': 'x'}, {'n': 'y'}] | join(',', attribute='n') }}") == "x,y"
    assert render("{{ [{'v': 1}, {'v': 2}] | sum(attribute='v') }}") == "3"
    assert render("{{ 'aXbX' | replace('X', '-', 1) }}") == "a-bX"


def test_safe_strings_are_bounded_too(short_deadline: None) -> None:
    for text in (
        "{{ ('{:>500000000}' | safe).format(1) }}",
        "{{ ('{x:>500000000}' | safe).format_map({'x': 1}) }}",
        "{{ ('x' | safe).center(500000000) }}",
    ):
        outcome = render_in_thread(text)
        assert isinstance(outcome, TemplateError) and "too large" in str(outcome), text
    assert render_text(None, "{{ ('<{}>' | safe).format('&') }}", None) == "<&amp;>"  # type: ignore[arg-type]


def test_overlong_template_is_refused_before_compiling() -> None:
    outcome = render_in_thread("{{ 1 }}" * 100_000)  # compiling it would take seconds
    assert isinstance(outcome, TemplateError) and "characters long" in str(outcome)
    with pytest.raises(TemplateError, match="characters long"):
        Template("{{ 1 }}" * 100_000).check_syntax()


def test_slices_count_towards_the_budget() -> None:
    text = (
        f"{{% set a = {MB} %}}{{% set ns = namespace(l=[]) %}}"
        "{% for i in range(5000) %}{% set ns.l = ns.l + [a[i:]] %}{% endfor %}"
    )
    outcome = render_in_thread(text)
    assert isinstance(outcome, TemplateError) and "in all" in str(outcome)
    assert render_text(None, "{{ 'abcdef'[1:3] }} {{ [1, 2, 3][-1] }}", None) == "bc 3"  # type: ignore[arg-type]


def test_per_item_filters_take_at_most_max_iterations_items() -> None:
    outcome = render_in_thread(f"{{{{ ({MB}) | list | sort | length }}}}")
    assert isinstance(outcome, TemplateError) and "sort of more than" in str(outcome)
    outcome = render_in_thread(f"{{{{ ({MB}) | map('upper') | list | length }}}}")
    assert isinstance(outcome, TemplateError) and "map of more than" in str(outcome)
    text = (
        "{{ [3, 1, 2] | sort | list }} {{ [1, 1, 2] | unique | list }} "
        "{{ [1, 2, 3, 4] | select('odd') | list }} {{ ['a'] | map('upper') | list }} "
        "{{ {'b': 1, 'a': 2} | dictsort }} {{ [{'k': 1}, {'k': 1}] | groupby('k') | length }}"
    )
    assert render_text(None, text, None) == (  # type: ignore[arg-type]
        "[1, 2, 3] [1, 2] [1, 3] ['A'] [('a', 2), ('b', 1)] 1"
    )
