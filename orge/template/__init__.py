"""Templates: a sandboxed jinja2 environment with Home Assistant's helpers.

`Template(text, orge)` compiles lazily and caches compiled code by text. While rendering,
every entity a template reads is recorded (`Template.entities`, `RenderInfo`), so a
template trigger re-renders only when one of those entities changes. A failure raises
`TemplateError` whose message names the template's file and line; callers log it and
carry on.

One idea per module:

- `tracking`: what a render read (RenderInfo) and the read-only views of states;
- `functions`: Home Assistant's template functions, filters and tests;
- `budget`: the limits of one render (size, loops, time, regexes), checked before
  anything large is built; `sandbox`: the jinja2 classes that apply them (jinja2 is
  imported only when the first template compiles);
- `compiled`: the environment, the compile cache and `Template`, and the helpers that
  walk structures of templates;
- `validators`: voluptuous validators (cv.template, cv.dynamic_template, ...).

The names below are the package's public interface, `from orge.template import X`.
"""

from __future__ import annotations

from orge.template.budget import MAX_ITERATIONS, MAX_REGEX_INPUT, MAX_RENDER_SECONDS
from orge.template.compiled import (
    Template,
    TemplateError,
    async_warm_up,
    attach,
    collect,
    is_template_string,
    parse_result,
    render_complex,
    render_text,
    strict_checks,
)
from orge.template.functions import as_datetime, as_timestamp, time_value, time_zone
from orge.template.tracking import RenderInfo, TemplateState
from orge.template.validators import (
    dynamic_template,
    result_as_boolean,
    template,
    template_complex,
)

__all__ = [
    "MAX_ITERATIONS",
    "MAX_REGEX_INPUT",
    "MAX_RENDER_SECONDS",
    "RenderInfo",
    "Template",
    "TemplateError",
    "TemplateState",
    "as_datetime",
    "as_timestamp",
    "async_warm_up",
    "attach",
    "collect",
    "dynamic_template",
    "is_template_string",
    "parse_result",
    "render_complex",
    "render_text",
    "result_as_boolean",
    "strict_checks",
    "template",
    "template_complex",
    "time_value",
    "time_zone",
]
