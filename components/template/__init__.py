"""template: `template:` blocks of `sensor:` / `binary_sensor:` items, optionally driven by
`triggers:` (then `conditions:` and `variables:` apply, and the value is restored at start).

```yaml
template:
  - sensor:
      - name: Charger power
        unit_of_measurement: W
        state: "{{ states('sensor.voltage') | float(0) * states('sensor.current') | float(0) }}"
  - triggers: {trigger: state, entity_id: sensor.charger_state, to: charging}
    sensor:
      - name: Last charge start
        state: "{{ now().isoformat() }}"
```
"""

from __future__ import annotations

from typing import Any

import orge.validation as cv
from orge.core import Orge

from .config import CONFIG_SCHEMA as CONFIG_SCHEMA  # what the loader validates with
from .config import validate_blocks
from .const import DOMAIN as DOMAIN  # a component names its domain (docs/components.md)


def validate_config(config_dir: str, block: Any) -> list[str]:
    from orge.template import strict_checks

    with strict_checks():  # compile every template: an unknown filter is caught too
        return validate_blocks(block, config_dir)[1]


async def async_setup(orge: Orge, config: list[Any]) -> bool:
    from .entities import async_setup_entities

    await async_setup_entities(orge, config)
    return True


def configured_entity_ids(config: list[Any] | None) -> set[str]:
    """`sensor.<slug of name>` / `binary_sensor.<slug of name>` of each block's items
    (docs/components.md)."""
    ids = set()
    for block in config or []:
        if not isinstance(block, dict):
            continue
        for domain in ("sensor", "binary_sensor"):
            for item in cv.ensure_list(block.get(domain)):
                if isinstance(item, dict) and item.get("name"):
                    ids.add(f"{domain}.{cv.slugify(str(item['name']))}")
    return ids
