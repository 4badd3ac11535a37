"""Re-reading one domain's block of configuration.yaml for a `<domain>.reload` service.

The block is merged the way start-up merges it (`automation:` plus `automation old:`,
packages) and validated with the component's CONFIG_SCHEMA. Any problem raises
ConfigError naming the file and line; the caller then keeps what is running.
"""

from __future__ import annotations

from typing import Any

from orge import config as conf_util
from orge.core import Orge
from orge.exceptions import ConfigError, OrgeError


def read_domain_block(config_dir: str, domain: str, schema: Any) -> Any:
    """Load configuration.yaml again and return the domain's validated block."""
    raw = conf_util.load_configuration(config_dir)
    keys = [key for key in raw if conf_util.domain_of(key) == domain]
    if len(keys) > 1:
        block: Any = []
        for key in keys:
            value = raw[key]
            block.extend(value if isinstance(value, list) else [value])
    else:
        block = raw[keys[0]] if keys else None
    validated, problems = conf_util.validate_block(
        domain, schema, {} if block is None else block, config_dir
    )
    if problems:
        raise ConfigError("; ".join(problems), problems)
    return validated


async def async_read_domain_block(orge: Orge, domain: str, schema: Any) -> Any:
    """`read_domain_block` in the executor (it reads files)."""
    if not orge.config.config_dir:
        raise OrgeError(f"{domain}.reload needs a config directory")
    return await orge.async_add_executor_job(
        read_domain_block, orge.config.config_dir, domain, schema
    )


async def async_replace_entities(
    orge: Orge, domain: str, entities: dict[str, Any], new: list[Any]
) -> None:
    """Remove the entities in `entities` and add `new` in their place (the dict is updated
    in place, so service handlers holding it see the new ones). Restored values carry
    over: a removed RestoreEntity leaves its state to the one that replaces it."""
    from orge.entity import async_add_entities

    for entity in list(entities.values()):
        await entity.async_remove()
    entities.clear()
    for entity in await async_add_entities(orge, domain, new):
        entities[entity.entity_id] = entity


def register_reload(
    orge: Orge,
    domain: str,
    schema: Any,
    entities: dict[str, Any],
    build: Any,
) -> None:
    """`<domain>.reload`: re-read the YAML; on a problem keep the entities and raise."""
    import logging

    from orge.core import ServiceCall

    async def reload(call: ServiceCall) -> None:
        try:
            block = await async_read_domain_block(orge, domain, schema)
        except OrgeError as err:
            logging.getLogger(__name__).error("%s not reloaded, kept as it was: %s", domain, err)
            raise
        await async_replace_entities(orge, domain, entities, build(block))

    orge.services.async_register(
        domain, "reload", reload, None, description={"description": f"Re-read {domain} from YAML."}
    )
