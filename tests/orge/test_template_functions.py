"""Home Assistant's template functions and filters (helpers/template.py, 2024.x), each
holding the value Home Assistant gives, and each inside the sandbox's limits."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orge.core import Orge
from orge.template import MAX_ITERATIONS, MAX_REGEX_INPUT, Template, TemplateError


@pytest.fixture
async def hub(orge: Orge) -> Orge:
    orge.config.time_zone = "Europe/Berlin"
    orge.states.async_set("sensor.power", "7200", {"unit_of_measurement": "W"})
    orge.states.async_set("sensor.current", "16", {"unit_of_measurement": "A"})
    orge.states.async_set("switch.relay", "on")
    orge.states.async_set("group.meters", "on", {"entity_id": ["sensor.power", "sensor.current"]})
    return orge


def render(orge: Orge, text: str, **variables: object) -> Any:
    return Template(text, orge).async_render(variables)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ average([1, 2, 3]) }}", 2.0),
        ("{{ average(1, 2, 3) }}", 2.0),
        ("{{ [1, 2, 3, 4] | average }}", 2.5),
        ("{{ average([], 5) }}", 5),  # a list and a second argument: the default
        ("{{ average([], default=7) }}", 7),
        ("{{ median([3, 1, 2, 4]) }}", 2.5),
        ("{{ median(5, 1, 3) }}", 3),
        ("{{ statistical_mode([1, 2, 2, 3]) }}", 2),
        ("{{ statistical_mode([], 0) }}", 0),
        ("{{ log(100, 10) }}", 2.0),
        ("{{ 8 | log(2) }}", 3.0),
        ("{{ log(e) }}", 1.0),
        ("{{ log('x', 10, 0) }}", 0),
        ("{{ sqrt(16) }}", 4.0),
        ("{{ '16' | sqrt }}", 4.0),
        ("{{ sqrt(-1, 'nan') }}", "nan"),
        ("{{ sin(pi / 2) }}", 1.0),
        ("{{ cos(0) }}", 1.0),
        ("{{ tan(0) }}", 0.0),
        ("{{ asin(1) == pi / 2 }}", True),
        ("{{ acos(1) }}", 0.0),
        ("{{ atan(0) }}", 0.0),
        ("{{ atan2(1, 1) == pi / 4 }}", True),
        ("{{ (1, 1) | atan2 == pi / 4 }}", True),
        ("{{ tau == 2 * pi and e > 2.718 and inf > 10 ** 300 }}", True),
        ("{{ 12 | bitwise_and(10) }}", 8),
        ("{{ 12 | bitwise_or(3) }}", 15),
        ("{{ 12 | bitwise_xor(10) }}", 6),
        ("{{ iif(none, 'a', 'b', 'c') }}", "c"),
        ("{{ iif(1 > 0, 'yes', 'no') }}", "yes"),
        ("{{ min(3, 1, 2) }} {{ max([4, 9]) }}", "1 9"),
        ("{{ min(['b', 'A']) }} {{ ['a', 'B'] | min }}", "A a"),  # jinja's: case-insensitive
        ("{{ max([{'v': 1}, {'v': 3}], attribute='v') }}", {"v": 3}),
        ("{{ bool(2) }} {{ bool(0.0) }} {{ 'On' | bool }}", "True False True"),
        ("{{ bool('none', 'x') }}", "x"),  # 'none' is not a boolean in cv.boolean
        ("{{ is_state_attr('switch.relay', 'missing', none) }}", False),
        ("{{ 'hello' | base64_encode }}", "aGVsbG8="),
        ("{{ 'aGVsbG8=' | base64_decode }}", "hello"),
        ("{{ 'A' | ord }}", 65),
        ("{{ ({'b': 1, 'a': 'é'} | to_json(sort_keys=True))[:7] }}", '{"a":"é'),
        ("{{ ({'b': 1} | to_json(ensure_ascii=True)) == '{\"b\": 1}' }}", True),
        ("{{ {'a': 1} | to_json(pretty_print=True) }}", {"a": 1}),
        ("{{ ('{\"a\": 1}' | from_json).a }}", 1),
        ("{{ 'nope' | from_json(0) }}", 0),
        ("{{ 0x01020304 | pack('>I') | length }}", 4),
        ("{{ unpack(0x01020304 | pack('>I'), '>H', offset=2) }}", 772),
        ("{{ pack('x', '>I') }}", None),  # cannot pack: None
        ("{{ 3 | multiply(2.5) }}", 7.5),
        ("{{ '2' | add(1) }}", 3.0),
        ("{{ [1, 2] | contains(2) }}", True),
        ("{{ [1, 2] is contains(3) }}", False),
        ("{{ '12.5' | is_number }} {{ 'x' is is_number }}", "True False"),
        ("{{ timedelta(minutes=90).total_seconds() }}", 5400.0),
        ("{{ strptime('2024-01-02 10:30', '%Y-%m-%d %H:%M').minute }}", 30),
        ("{{ strptime('x', '%Y', 'bad') }}", "bad"),
        ("{{ as_timedelta('01:30:00').total_seconds() }}", 5400.0),
        ("{{ ('2 days, 0:10:00' | as_timedelta).total_seconds() }}", 173400.0),
        ("{{ as_timedelta('PT15M').total_seconds() }}", 900.0),
        ("{{ as_timedelta('5:30').total_seconds() }}", 330.0),  # MM:SS, as HA reads it
        ("{{ as_timedelta('soon') }}", None),
    ],
)
async def test_math_statistics_and_conversions(hub: Orge, text: str, expected: Any) -> None:
    assert render(hub, text) == expected


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("{{ average([]) }}", "average"),
        ("{{ median(['a', 1]) }}", "median"),
        ("{{ log('x') }}", "log"),
        ("{{ log(10, 'x') }}", "log"),
        ("{{ sqrt('x') }}", "sqrt"),
        ("{{ 'x' | sin }}", "sin"),
        ("{{ atan2('x', 1) }}", "atan2"),
        ("{{ 'x' | timestamp_local }}", "timestamp_local"),
        ("{{ '0' | timestamp_utc }}", "timestamp_utc"),  # a timestamp must be a number
        ("{{ 'x' | timestamp_custom }}", "timestamp_custom"),
        ("{{ 'x' | multiply(2) }}", "multiply"),
        ("{{ 'x' | from_json }}", "from_json"),
        ("{{ strptime('x', '%Y') }}", "strptime"),
        ("{{ as_datetime(none) }}", "as_datetime"),
    ],
)
async def test_no_default_raises_like_home_assistant(hub: Orge, text: str, name: str) -> None:
    with pytest.raises(TemplateError, match=f"{name} got invalid input"):
        render(hub, text)


async def test_regex_filters(hub: Orge) -> None:
    assert render(hub, r"{{ 'a1b22c333' | regex_findall('\\d+') }}") == ["1", "22", "333"]
    assert render(hub, r"{{ 'L1=10A L2=12A' | regex_findall('L(\\d)=(\\d+)') }}") == [
        ("1", "10"),
        ("2", "12"),
    ]
    assert render(hub, r"{{ 'a1b22c333' | regex_findall_index('\\d+', 1) }}") == 22
    assert render(hub, r"{{ 'a1b22' | regex_findall_index('\\d+') }}") == 1
    assert render(hub, "{{ 'Hello World' | regex_replace('o', '0') }}") == "Hell0 W0rld"
    assert render(hub, "{{ 'ABC' | regex_replace('b', 'x', ignorecase=True) }}") == "AxC"
    assert render(hub, "{{ 'ABC' | regex_match('abc', ignorecase=True) }}") is True
    assert render(hub, "{{ 'xABC' | regex_match('abc') }}") is False
    assert render(hub, "{{ 'xabc' | regex_search('abc') }}") is True
    assert render(hub, "{{ 'xabc' is search('b.') }} {{ 'xabc' is match('b') }}") == "True False"
    with pytest.raises(TemplateError, match="IndexError"):
        render(hub, r"{{ 'a1' | regex_findall_index('\\d', 3) }}")


async def test_regex_filters_keep_the_sandbox_limits(hub: Orge) -> None:
    long_text = "a" * (MAX_REGEX_INPUT + 1)
    for text in (
        "{{ x | regex_findall('a') }}",
        "{{ x | regex_replace('a', 'b') }}",
        "{{ x | regex_search('b') }}",
    ):
        with pytest.raises(TemplateError, match="OverflowError"):
            render(hub, text, x=long_text)
    with pytest.raises(TemplateError, match="nested quantifiers"):
        render(hub, "{{ 'aaaa' | regex_findall('(a+)+$') }}")
    with pytest.raises(TemplateError, match="OverflowError"):  # 256 x 1 MB replacements
        render(hub, "{{ 'aaaa' | regex_replace('', r) }}", r="b" * 1_000_000)
    with pytest.raises(TemplateError, match="OverflowError"):
        render(hub, "{{ 1 | pack('1000000000s') }}")
    with pytest.raises(TemplateError, match="OverflowError"):
        render(hub, "{{ median(range(n)) }}", n=MAX_ITERATIONS + 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ 'Charger 1 – Max Current' | slugify }}", "charger_1_max_current"),
        ("{{ 'Straße Ünd Café' | slugify('-') }}", "strasse-und-cafe"),
        ('{{ "Driver\'s door" | slugify }}', "drivers_door"),
        ("{{ '!!!' | slugify }}", "unknown"),
        ("{{ '' | slugify }}", ""),
    ],
)
async def test_slugify(hub: Orge, text: str, expected: str) -> None:
    assert Template(text, hub).render_to_text() == expected


async def test_time_filters_use_the_station_time_zone(hub: Orge) -> None:
    # 2024-10-27 00:30 UTC is 02:30 CEST (+02:00); 01:30 UTC is 02:30 CET (+01:00)
    first, second = 1729989000, 1729992600
    assert render(hub, f"{{{{ {first} | timestamp_local }}}}") == "2024-10-27T02:30:00+02:00"
    assert render(hub, f"{{{{ {second} | timestamp_local }}}}") == "2024-10-27T02:30:00+01:00"
    assert render(hub, f"{{{{ {first} | timestamp_utc }}}}") == "2024-10-27T00:30:00+00:00"
    assert render(hub, f"{{{{ {second} | timestamp_custom('%H:%M %Z') }}}}") == "02:30 CET"
    assert render(hub, f"{{{{ {second} | timestamp_custom('%H:%M', false) }}}}") == "01:30"
    assert render(hub, "{{ x | timestamp_custom('%H', default='-') }}", x="?") == "-"
    as_local = render(hub, "{{ (as_datetime(t) | as_local).isoformat() }}", t=second)
    assert as_local == "2024-10-27T02:30:00+01:00"
    # a naive datetime is taken to be local already (dt_util.as_local)
    assert render(hub, "{{ (as_datetime('2024-01-05 12:00') | as_local).isoformat() }}") == (
        "2024-01-05T12:00:00+01:00"
    )
    assert render(hub, "{{ as_timestamp('2024-01-01T00:00:00') }}") == 1704063600.0
    assert render(hub, "{{ as_timestamp('2024-01-01T00:00:00+00:00') }}") == 1704067200.0


async def test_as_datetime_as_home_assistant(hub: Orge) -> None:
    assert render(hub, "{{ as_datetime(0).isoformat() }}") == "1970-01-01T00:00:00+00:00"
    assert render(hub, "{{ as_datetime('0').year }}") == 1970
    assert render(hub, "{{ as_datetime('2024-03-01 10:00').tzinfo is none }}") is True
    assert render(hub, "{{ as_datetime('nonsense') }}") is None  # text: None, not an error
    assert render(hub, "{{ as_datetime('nonsense', 'd') }}") == "d"
    day = render(hub, "{{ as_datetime(d).isoformat() }}", d=datetime(2024, 3, 1).date())
    assert day == "2024-03-01T00:00:00"  # a date: midnight, naive


async def test_relative_time_and_today_at(hub: Orge) -> None:
    now = datetime.now(UTC)
    cases = {
        timedelta(seconds=30): "30 seconds",
        timedelta(seconds=89): "1 minute",  # rounded, as dt_util.get_age does
        timedelta(seconds=91): "2 minutes",
        timedelta(minutes=90): "2 hours",
        timedelta(hours=25): "1 day",
        timedelta(days=45): "2 months",
        timedelta(days=400): "1 year",
    }
    for ago, words in cases.items():
        assert render(hub, "{{ relative_time(t) }}", t=now - ago) == words
        assert render(hub, "{{ t | relative_time }}", t=now - ago) == words
    future = now + timedelta(hours=1)
    assert render(hub, "{{ relative_time(t) == t }}", t=future) is True
    at = render(hub, "{{ today_at('10:15').isoformat() }}")
    local_today = (
        datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).date()
    )
    assert at.startswith(f"{local_today.isoformat()}T10:15:00+0")
    assert render(hub, "{{ today_at().hour }}") == 0
    with pytest.raises(TemplateError, match="could not convert str to datetime: '25:99'"):
        render(hub, "{{ today_at('25:99') }}")


async def test_states_count_state_with_unit_and_expand(hub: Orge) -> None:
    assert render(hub, "{{ states | count }}") == 4
    assert render(hub, "{{ states.sensor | count }}") == 2
    assert render(hub, "{{ states.sensor.power.state_with_unit }}") == "7200 W"
    assert render(hub, "{{ states.switch.relay.state_with_unit }}") == "on"
    assert render(hub, "{{ states('sensor.current', with_unit=True) }}") == "16 A"
    assert render(hub, "{{ states.sensor.power == states.sensor.power }}") is True
    assert render(hub, "{{ states | map(attribute='state_with_unit') | list }}") == [
        "on",
        "16 A",
        "7200 W",
        "on",
    ]
    assert render(
        hub, "{{ expand('group.meters', 'switch.relay') | map(attribute='entity_id') | list }}"
    ) == ["sensor.current", "sensor.power", "switch.relay"]
    assert render(hub, "{{ expand(states.sensor.power, 'sensor.none') | count }}") == 1
    # what they read is tracked: states | count re-renders on any change
    tpl = Template("{{ states | count }}", hub)
    _result, info = tpl.async_render_with_info()
    assert info.all_states


async def test_new_names_are_known_to_check_config() -> None:
    from orge.template import strict_checks

    with strict_checks():
        for text in (
            "{{ x | regex_findall('a') | average }}",
            "{{ 1 | timestamp_local | slugify }}",
            "{{ x is search('a') and x is contains('a') }}",
        ):
            Template(text).check_syntax()


async def test_clock_filters_are_not_folded_at_compile_time(
    hub: Orge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    text = "{{ 0 | timestamp_local }}"
    Template(text).async_render()  # compiled without a station: UTC
    assert render(hub, text) == "1970-01-01T01:00:00+01:00"
    assert not math.isnan(render(hub, "{{ pi }}"))
