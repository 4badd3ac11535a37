"""Cost of the template limits on everyday renders, and how fast attacks are refused.

Run: python benchmarks/template_limits.py   (prints µs per render; no hub needed)
"""

from __future__ import annotations

import time

from orge.template import Template, TemplateError

EVERYDAY = {
    "arithmetic": "{{ (x | float / 1000) | round(1) }}",
    "concat": "{{ 'P=' ~ x ~ ' W' }}",
    "format": "{{ '%.1f kW' % (x | float / 1000) }}",
    "loop 100": "{% for i in range(100) %}{{ i }},{% endfor %}",
    "loop+join": "{{ range(100) | map('string') | join(',') }}",
    "macro": "{% macro w(v) %}{{ v }} W{% endmacro %}{% for i in range(20) %}{{ w(i) }}{% endfor %}",
    "regex": r"{{ x is match('^\\d+(\\.\\d+)?$') }}",
}
ATTACKS = {
    "power": "{{ ((10**1000)**1000)**100 }}",
    "~ doubling": "{% set a = 'a' * 1000000 %}{{ a ~ a }}",
    "center": "{{ 'x' | center(500000000) }}",
    "ReDoS": "{{ ('a' * 28 ~ 'b') is match('(a+)+$') }}",
    "macro 2^40 (wall clock)": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    ),
}


def main() -> None:
    for name, text in EVERYDAY.items():
        tpl = Template(text)
        tpl.async_render({"x": "7200.5"})  # compile
        runs = 2000
        start = time.perf_counter()
        for _ in range(runs):
            tpl.async_render({"x": "7200.5"})
        print(f"everyday {name:<12} {(time.perf_counter() - start) / runs * 1e6:8.1f} µs/render")
    for name, text in ATTACKS.items():
        start = time.perf_counter()
        try:
            Template(text).async_render()
            outcome = "rendered (!)"
        except TemplateError as err:
            outcome = str(err).split(": ")[1]
        print(f"attack {name:<24} {time.perf_counter() - start:6.3f} s  {outcome}")


if __name__ == "__main__":
    main()
