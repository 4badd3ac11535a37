"""Undefined names render as Home Assistant renders them (helpers/template.py,
make_logging_undefined with strict=False): empty / false / nothing, with a warning naming
the template; using one in arithmetic, a comparison or float()/int() still fails."""

from __future__ import annotations

import logging

import pytest

from orge.template import Template, TemplateError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ x }}", ""),
        ("a{{ x }}b", "ab"),
        ("{{ 'yes' if x else 'no' }}", "no"),
        ("{% for i in x %}{{ i }}{% endfor %}end", "end"),
        ("{{ x ~ 'kW' }}", "kW"),
        ("{{ x | string }}", ""),
    ],
)
def test_undefined_renders_empty_with_a_warning(
    text: str, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    assert Template(text).render_to_text({}) == expected
    assert f"Template variable warning: 'x' is undefined when rendering '{text}'" in caplog.text


@pytest.mark.parametrize(
    "text", ["{{ x is defined }}", "{{ x | default(1) }}", "{{ y.z | default(2) if y is defined }}"]
)
def test_defined_checks_do_not_warn(text: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    Template(text).render_to_text({})
    assert "Template variable warning" not in caplog.text


@pytest.mark.parametrize(
    "text",
    [
        "{{ x | float }}",
        "{{ x | float(0) }}",
        "{{ x | int(3) }}",
        "{{ x > 5 }}",
        "{{ x + 1 }}",
        "{{ x.y }}",
    ],
)
def test_using_undefined_still_fails_as_in_home_assistant(text: str) -> None:
    with pytest.raises(TemplateError, match="UndefinedError: 'x' is undefined"):
        Template(text).async_render({})


def test_failed_render_keeps_what_it_read(orge: object) -> None:
    tpl = Template("{{ states('sensor.late') | float > 5 }}", orge)  # type: ignore[arg-type]
    with pytest.raises(TemplateError) as err:
        tpl.async_render({})
    assert err.value.render_info is not None
    assert err.value.render_info.entities == {"sensor.late"}
