"""Bringing a station up: load the config, validate each block, set components up in
dependency order, each with a timeout. A component that fails is reported (log with
traceback, a notification entity, `orge.config.setup_errors`) and the others still start.

`check_configuration` runs the same loading and validation without any I/O and returns
every problem; `orge check-config` prints them.

A start whose configuration has problems runs on the last good copy or, without one, in
recovery mode (`orge.recovery`, docs/recovery.md); it never raises.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from typing import Any

import voluptuous as vol

from orge import check_names, recovery
from orge import config as conf_util
from orge.check_result import CheckResult
from orge.core import EVENT_COMPONENT_LOADED, Orge
from orge.exceptions import ConfigError, OrgeError
from orge.loader import Component, ComponentIndex
from orge.service_descriptions import describe_component
from orge.yaml import NodeDict, display_path, track_files

_LOGGER = logging.getLogger(__name__)
NOTIFICATION_DOMAIN = "persistent_notification"
# What recovery mode starts, as in Home Assistant: the API and web view (with their tokens
# and bans) and notifications; nothing that touches the charger or the CSMS.
RECOVERY_MODE_COMPONENTS = ("http", NOTIFICATION_DOMAIN)
# The shipped configuration reads the HTTP port from this variable; recovery mode uses it
# too when http's own block cannot be read, so the port stays where the operator expects.
HTTP_PORT_VARIABLE = "ORGE_HTTP_PORT"


def _validate_component(result: CheckResult, component: Component, block: Any) -> Any:
    """The component's CONFIG_SCHEMA applied to its own block (None -> {})."""
    domain = component.domain
    missing = component.missing_requirements()
    if missing:
        result.add(domain, [f"Component '{domain}' needs {', '.join(missing)}, not installed"])
        return None
    try:
        module = component.import_module()
    except Exception as err:
        _LOGGER.debug("Import of %s failed", domain, exc_info=True)
        result.add(
            domain, [f"Component '{domain}' cannot be imported: {type(err).__name__}: {err}"]
        )
        return None
    if block is None:
        block = {}
    schema = getattr(module, "CONFIG_SCHEMA", None)
    if schema is None:
        return block
    validated, problems = conf_util.validate_block(domain, schema, block, result.config_dir)
    result.add(domain, problems)
    return validated


def takes_blocks(component: Component) -> bool:
    """Whether the component's configuration may come in several blocks (`automation:`
    and `automation more:`): its CONFIG_SCHEMA takes a list. A component that cannot be
    imported or has no schema is not asked (its own error is reported elsewhere)."""
    try:
        schema = getattr(component.import_module(), "CONFIG_SCHEMA", None)
    except Exception:
        return True
    if schema is None:
        return True
    try:
        schema([])
    except (vol.Invalid, ValueError, TypeError, KeyError):
        return False
    return True


def check_configuration(
    config_dir: str, deep: bool = True, source_dir: str | None = None
) -> CheckResult:
    """Load and validate everything; no port, device or connection is opened.

    With `deep`, each component's `validate_config(config_dir, block) -> list[str]` is run
    too (automations compile their templates, blueprints resolve their inputs).
    `source_dir` reads the YAML from elsewhere (the last good copy), see
    `orge.config.load_configuration`.
    """
    result = CheckResult(config_dir=config_dir)
    try:
        raw = conf_util.load_configuration(config_dir, source_dir)
    except ConfigError as err:
        result.add("configuration", err.problems)
        return result
    result.raw = raw
    core, problems = conf_util.validate_block(
        conf_util.CORE_DOMAIN,
        conf_util.CORE_SCHEMA,
        raw.get(conf_util.CORE_DOMAIN) or {},
        config_dir,
    )
    result.add(conf_util.CORE_DOMAIN, problems)
    result.core = core or conf_util.CORE_SCHEMA({})
    logger, problems = conf_util.validate_block(
        conf_util.LOGGER_DOMAIN,
        conf_util.LOGGER_SCHEMA,
        raw.get(conf_util.LOGGER_DOMAIN) or {},
        config_dir,
    )
    result.add(conf_util.LOGGER_DOMAIN, problems)
    result.logger = logger or conf_util.LOGGER_SCHEMA({})

    index = result.index = ComponentIndex(config_dir)
    keys_by_domain: dict[str, list[Any]] = {}
    for key in raw:
        if key in conf_util.ENGINE_DOMAINS:
            continue
        keys_by_domain.setdefault(conf_util.domain_of(key), []).append(key)
    order, load_errors = index.resolve(list(keys_by_domain))
    for domain, message in load_errors.items():
        keys = keys_by_domain.get(domain) or [domain]
        prefix = ""
        if domain in keys_by_domain and isinstance(raw, NodeDict):
            file, line = raw.key_line(keys[0])
            prefix = f"{display_path(file, config_dir)}, line {line}: "
        result.add(domain, [f"{prefix}{message}"])
    result.order = order
    for component in order:
        keys = keys_by_domain.get(component.domain)
        if not keys:
            block: Any = None  # a pulled-in dependency: its schema's defaults
        elif len(keys) > 1:
            # Several blocks of one domain (`sensor:` and `sensor 2:`) are merged as lists,
            # for a domain whose schema takes a list; one that takes a single mapping
            # (esp32, http, ...) is told so at the second block's line.
            if not takes_blocks(component):
                where = ""
                if isinstance(raw, NodeDict):
                    file, line = raw.key_line(keys[1])
                    where = f"{display_path(file, config_dir)}, line {line}: "
                result.add(
                    component.domain,
                    [
                        f"{where}`{keys[1]}` is a second {component.domain} block, but "
                        f"{component.domain} takes one: put its options under `{keys[0]}:`"
                    ],
                )
                continue
            merged: list[Any] = []
            for key in keys:
                value = raw[key]
                merged.extend(value if isinstance(value, list) else [value])
            block = merged
        else:
            block = raw[keys[0]]
        validated = _validate_component(result, component, block)
        if validated is not None:
            result.blocks[component.domain] = validated
            validator = getattr(component.import_module(), "validate_config", None)
            if deep and validator is not None and component.domain not in result.errors:
                try:
                    result.add(component.domain, list(validator(config_dir, validated)))
                except Exception as err:
                    result.add(component.domain, [f"'{component.domain}': check failed: {err}"])
    return result


async def async_setup_component(
    orge: Orge, component: Component, block: Any, timeout: float
) -> bool:
    """Set one component up; False (and reported) on an exception, False or a timeout."""
    domain = component.domain
    start = time.monotonic()
    describe_component(orge.services, domain, component.path)
    try:
        module = component.import_module()
        setup = getattr(module, "async_setup", None)
        if setup is None:
            ok = True  # a library folder: nothing to start
        else:
            ok = await asyncio.wait_for(setup(orge, block), timeout)
    except TimeoutError:
        report_setup_failure(orge, domain, f"setup took longer than {timeout:.0f} s")
        return False
    except OrgeError as err:
        # An explained failure (a port in use, a device refused): its message says what to
        # do, a traceback would only hide it.
        report_setup_failure(orge, domain, str(err))
        return False
    except Exception as err:
        _LOGGER.error("Setup of %s failed:\n%s", domain, traceback.format_exc())
        report_setup_failure(orge, domain, f"{type(err).__name__}: {err}")
        return False
    if ok is False:
        report_setup_failure(orge, domain, "setup returned False")
        return False
    orge.config.components.add(domain)
    orge.bus.async_fire(EVENT_COMPONENT_LOADED, {"component": domain})
    _LOGGER.info("Set up %s in %.2f s", domain, time.monotonic() - start)
    return True


def report_setup_failure(orge: Orge, domain: str, reason: str) -> None:
    _LOGGER.error("Component %s failed to set up: %s", domain, reason)
    orge.config.setup_errors[domain] = reason
    orge.states.async_set(
        f"{NOTIFICATION_DOMAIN}.setup_failed_{domain}",
        "notifying",
        {
            "title": f"{domain} failed to start",
            "message": f"The component '{domain}' did not start: {reason}",
            "friendly_name": f"{domain} failed to start",
        },
    )


async def async_setup_components(orge: Orge, result: CheckResult) -> None:
    """Set up every component in order; a component waits only for its dependencies."""
    timeout = float(result.core.get("setup_timeout", 60))
    done: dict[str, asyncio.Future[bool]] = {}
    for component in result.order:
        done[component.domain] = orge.loop.create_future()

    async def run(component: Component) -> None:
        domain = component.domain
        ok = True
        for dep in component.dependencies:
            if dep in done and not await done[dep]:
                report_setup_failure(orge, domain, f"dependency '{dep}' failed")
                ok = False
                break
        for dep in component.after_dependencies:
            if dep in done:
                await done[dep]
        if ok and domain in result.errors:
            report_setup_failure(orge, domain, "; ".join(result.errors[domain]))
            ok = False
        if ok:
            ok = await async_setup_component(
                orge, component, result.blocks.get(domain, {}), timeout
            )
        done[domain].set_result(ok)

    await asyncio.gather(*(run(component) for component in result.order))
    check_names.async_check_started(orge, result)


def _checked(config_dir: str, source_dir: str | None = None, deep: bool = False) -> CheckResult:
    """`check_configuration` that never raises: an unexpected error is one more problem
    (a station must start even when a checker has a bug).

    Not deep to start: what only `validate_config` finds (one automation whose template
    does not compile) is the component's to handle at setup, as in Home Assistant: that
    automation is skipped with an error naming file and line, the others run."""
    try:
        return check_configuration(config_dir, deep, source_dir)
    except Exception as err:
        _LOGGER.exception("Checking the configuration failed")
        result = CheckResult(config_dir=config_dir)
        result.add("configuration", [f"checking the configuration failed: {err!r}"])
        return result


def _checked_tracked(
    config_dir: str, deep: bool = False
) -> tuple[CheckResult, dict[str, str | None]]:
    with track_files() as files:
        result = _checked(config_dir, None, deep)
    return result, dict(files)


async def async_keep_last_good(orge: Orge) -> float | None:
    """After a start on its own configuration: run `orge check-config`'s full check on the
    files this start read. What only that check finds (one automation that does not
    compile, skipped at set-up as in Home Assistant) becomes a problem like the others:
    logged, one persistent notification each, the binary sensor `on`, listed by the API;
    the station keeps running on its configuration (mode `normal`).

    The configuration is kept as the last good copy when it loaded without a problem,
    every component set up, the full check finds nothing, and the files are still the ones
    this start read. Returns the copy's time, or None."""
    status = recovery.recovery_status(orge)
    config_dir = orge.config.config_dir
    if config_dir is None or status.mode != recovery.MODE_NORMAL or not status.files:
        return None
    deep, files = await orge.loop.run_in_executor(None, _checked_tracked, config_dir, True)
    if files != status.files:
        # What the check read is not what runs: its findings are not this station's.
        _LOGGER.info("Configuration changed since this start: not kept as the last good one")
        return None
    found = [line for line in deep.problems if line not in status.problems]
    if found:
        for line in found:
            _LOGGER.error("%s", line)
        status.problems.extend(found)
        recovery.async_publish(orge, status)
    if deep.problems:
        _LOGGER.warning(
            "Configuration not kept as the last good one: orge check-config finds %d problem(s)",
            len(deep.problems),
        )
        return None
    if not recovery.is_good_start(orge):
        return None
    return await recovery.async_save_last_good(orge)


def recovery_mode_result(broken: CheckResult) -> CheckResult:
    """What recovery mode starts: `RECOVERY_MODE_COMPONENTS` and their dependencies, each
    with its own block when that block is valid, else with its defaults (http: port 8000,
    or `$ORGE_HTTP_PORT`; tokens and bans from `.storage/`)."""
    config_dir = broken.config_dir
    result = CheckResult(config_dir=config_dir, core=broken.core, logger=broken.logger)
    try:
        index = broken.index or ComponentIndex(config_dir)
    except Exception as err:  # a broken custom_components folder: built-ins only
        _LOGGER.error("Reading custom components failed: %s", err)
        index = ComponentIndex(None)
    result.index = index
    order, load_errors = index.resolve(list(RECOVERY_MODE_COMPONENTS))
    for domain, message in load_errors.items():
        result.add(domain, [message])
    result.order = order
    for component in order:
        domain = component.domain
        if domain in broken.blocks and domain not in broken.errors:
            result.blocks[domain] = broken.blocks[domain]
            continue
        defaults: dict[str, Any] = {}
        port = os.environ.get(HTTP_PORT_VARIABLE, "")
        if domain == "http" and port.isdigit():
            defaults["server_port"] = int(port)
        validated = _validate_component(result, component, defaults)
        if validated is not None:
            result.blocks[domain] = validated
    return result


async def _async_choose(orge: Orge, config_dir: str) -> tuple[CheckResult, recovery.RecoveryStatus]:
    """The configuration to start: its own, else the last good copy, else recovery mode."""
    run = orge.loop.run_in_executor
    result, files = await run(None, _checked_tracked, config_dir)
    saved_at = await run(None, recovery.last_good_saved_at, config_dir)
    status = recovery.RecoveryStatus(
        problems=list(result.problems), last_good_saved_at=saved_at, files=files
    )
    for line in status.problems:
        _LOGGER.error("%s", line)
    if not status.problems:
        return result, status
    status.files = {}
    copy = await run(None, recovery.find_last_good, config_dir)
    if copy is not None:
        last_good = await run(None, _checked, config_dir, copy)
        if "configuration" not in last_good.errors:
            status.mode = recovery.MODE_LAST_GOOD
            for line in last_good.problems:
                _LOGGER.error("In the last good copy: %s", line)
                status.problems.append(f"In the last good copy: {line}")
            _LOGGER.warning(
                "The configuration has %d problem(s): starting on the last good "
                "configuration, saved %s (%s)",
                len(result.problems),
                recovery.iso_time(saved_at),
                display_path(copy, config_dir),
            )
            return last_good, status
        for line in last_good.problems:
            _LOGGER.error("The last good copy does not load either: %s", line)
            status.problems.append(f"The last good copy does not load either: {line}")
    status.mode = recovery.MODE_RECOVERY
    _LOGGER.warning(
        "The configuration has %d problem(s) and there is no usable last good copy: "
        "starting in recovery mode (%s only)",
        len(result.problems),
        ", ".join(RECOVERY_MODE_COMPONENTS),
    )
    return recovery_mode_result(result), status


async def async_from_config_dir(orge: Orge, config_dir: str) -> CheckResult:
    """Load the config into a hub and set its components up. Returns what was started.

    Never raises for a configuration problem: with problems it starts on the last good
    copy or in recovery mode, and says so (`orge.recovery.async_publish`)."""
    result, status = await _async_choose(orge, config_dir)
    conf_util.async_apply_core_config(orge, result.core)
    conf_util.apply_logger_config(result.logger)
    orge.data["config_check"] = result
    recovery.async_publish(orge, status)
    for domain, problems in result.errors.items():
        if domain in (conf_util.CORE_DOMAIN, conf_util.LOGGER_DOMAIN, "configuration"):
            orge.config.setup_errors[domain] = "; ".join(problems)
    await async_setup_components(orge, result)
    return result
