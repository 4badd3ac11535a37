"""Loading configuration.yaml: the `orge:` core section, packages, logger, and errors that
name the file and line an operator must edit."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge
from orge.exceptions import ConfigError
from orge.redact import MASK, is_secret_name, mask_texts, secret_texts
from orge.suggest import option_hint
from orge.yaml import (
    NodeDict,
    NodeList,
    Secret,
    SecretDict,
    SecretList,
    display_path,
    load_yaml,
    where,
)

CONFIG_FILE = "configuration.yaml"
CORE_DOMAIN = "orge"
LOGGER_DOMAIN = "logger"
ENGINE_DOMAINS = (CORE_DOMAIN, LOGGER_DOMAIN)
LOG_LEVELS = ("critical", "fatal", "error", "warning", "warn", "info", "debug", "notset")

CUSTOMIZE_SCHEMA = vol.Schema({cv.entity_id: vol.Schema({}, extra=vol.ALLOW_EXTRA)})

CORE_SCHEMA = vol.Schema(
    {
        vol.Optional(
            "name",
            default="ORGE",
            description="The station's name, shown in the web view and in /api/config.",
        ): cv.string,
        vol.Optional(
            "station_id",
            default="",
            description="Who the station is (the OCPP station id unless an OCPP block sets its own); also the MQTT topic level.",
        ): cv.string,
        vol.Optional(
            "time_zone",
            default="UTC",
            description=cv.describe(
                "IANA time zone of the station's local time (time triggers, conditions, templates).",
                example="Europe/Istanbul",
            ),
        ): cv.time_zone,
        vol.Optional(
            "unit_system",
            default="metric",
            description="metric or us_customary, as in Home Assistant.",
        ): vol.In(["metric", "us_customary"]),
        vol.Optional(
            "allowlist_external_dirs",
            default=[],
            description="Directories outside the config dir that components may read.",
        ): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(
            "customize",
            default={},
            description="Per-entity attribute overrides: entity id -> {attribute: value}.",
        ): CUSTOMIZE_SCHEMA,
        vol.Optional(
            "packages",
            default={},
            description="Named packages of domain blocks merged into the configuration as Home Assistant does (lists extend, mappings merge, a repeated key is an error).",
        ): vol.Schema({cv.slug: dict}),
        vol.Optional(
            "setup_timeout",
            default=60,
            description=cv.describe(
                "Longest time each component's setup may take before it is reported as failed.",
                unit="s",
            ),
        ): vol.All(vol.Coerce(float), vol.Range(min=1)),
    }
)

LOGGER_SCHEMA = vol.Schema(
    {
        vol.Optional(
            "default",
            default="info",
            description="Level of every logger not listed in logs: critical, error, warning, info or debug.",
        ): vol.All(cv.string, vol.Lower, vol.In(LOG_LEVELS)),
        vol.Optional(
            "logs",
            default={},
            description="Per-logger levels: logger name (components.esp32) -> level.",
        ): vol.Schema({cv.string: vol.All(cv.string, vol.Lower, vol.In(LOG_LEVELS))}),
    }
)


def find_config_dir(path: str | None) -> str:
    return os.path.abspath(path or "config")


def config_dir_problem(config_dir: str, has_last_good: bool = False) -> str | None:
    """Why nothing can run from `config_dir` (one line), or None if it can be read.

    A missing or unreadable directory is not something the last good copy or recovery
    mode can stand in for (the copy and the lock live inside it): `orge run` exits with
    EX_CONFIG (78), which the shipped unit does not restart on. Nor is a missing or
    unreadable `configuration.yaml` when there is no last good copy (`has_last_good`:
    `orge.recovery.find_last_good` found one); with a copy it is a configuration problem
    like any other, and the station starts on the copy."""
    if not os.path.isdir(config_dir):
        return f"{config_dir}: no such configuration directory (-c DIR names it)"
    if not os.access(config_dir, os.R_OK | os.X_OK):
        return f"{config_dir}: cannot read the configuration directory (permission denied)"
    path = os.path.join(config_dir, CONFIG_FILE)
    problem = None
    if not os.path.isfile(path):
        problem = f"{path}: not found (start from configuration.yaml.example)"
    else:
        try:
            with open(path, "rb"):
                pass
        except OSError as err:
            problem = f"{path}: cannot read: {err.strerror or err}"
    if problem is None or has_last_good:
        return None
    return f"{problem}; no last good copy in .storage/last_good to start on instead"


def load_configuration(config_dir: str, source_dir: str | None = None) -> dict[str, Any]:
    """Load `configuration.yaml` with its includes and packages merged in.

    `source_dir` is where the YAML is read from when it is not the config dir itself (the
    last good copy under `.storage/`): includes and `secrets.yaml` resolve inside it, while
    everything else (storage, custom components, blueprints) stays in `config_dir`.
    Raises `ConfigError` naming the file (and line) to fix."""
    source = source_dir or config_dir
    path = os.path.join(source, CONFIG_FILE)
    if not os.path.isfile(path):
        # The copy names its files as the config dir does ("configuration.yaml").
        raise ConfigError(f"{display_path(path, source)}: file not found")
    data = load_yaml(path, source)
    if data is None:
        data = NodeDict()
    if not isinstance(data, dict):
        raise ConfigError(f"{CONFIG_FILE}: the top level must be a mapping of domain: options")
    core = data.get(CORE_DOMAIN) or {}
    if isinstance(core, dict) and core.get("packages"):
        merge_packages(data, core["packages"], config_dir)
    return data


def domain_of(key: Any) -> str:
    """`esp32 station2` is a second block for the `esp32` domain, as in Home Assistant."""
    return str(key).split(" ", 1)[0]


def merge_packages(config: dict[str, Any], packages: Any, config_dir: str) -> None:
    """Merge each package's domains into the top level: lists extend, mappings merge."""
    if not isinstance(packages, dict):
        return
    for package_name, package in packages.items():
        if not isinstance(package, dict):
            raise ConfigError(
                f"{location(packages, [package_name], config_dir)}: "
                f"package {package_name} must be a mapping of domain: options"
            )
        for key, value in package.items():
            if key == CORE_DOMAIN:
                continue
            if key not in config or config[key] is None:
                config[key] = value
                _copy_line(config, key, package, key)
            elif isinstance(config[key], list) or isinstance(value, list):
                config[key] = NodeList(cv.ensure_list(config[key]) + cv.ensure_list(value))
            elif isinstance(config[key], dict) and isinstance(value, dict):
                for sub_key, sub_value in value.items():
                    if sub_key in config[key]:
                        raise ConfigError(
                            f"{location(package, [key, sub_key], config_dir)}: package "
                            f"{package_name} sets {key}.{sub_key}, which is already set"
                        )
                    config[key][sub_key] = sub_value
                    _copy_line(config[key], sub_key, value, sub_key)
            else:
                raise ConfigError(
                    f"{location(package, [key], config_dir)}: package {package_name} "
                    f"sets {key}, which is already set"
                )


def _copy_line(target: Any, key: Any, source: Any, source_key: Any) -> None:
    if isinstance(target, NodeDict) and isinstance(source, NodeDict):
        target._key_lines[key] = source.key_line(source_key)


def location(root: Any, path: list[Any], config_dir: str | None) -> str:
    """'file, line N' of the deepest node along `path` that knows its place."""
    node = root
    found = where(root)
    for part in path:
        if isinstance(node, NodeDict) and part in node:
            found = node.key_line(part)
            node = node[part]
        elif isinstance(node, NodeList) and isinstance(part, int) and part < len(node):
            found = node.item_line(part)
            node = node[part]
        else:
            break
        found = where(node) or found
    if found is None:
        return CONFIG_FILE
    return f"{display_path(found[0], config_dir)}, line {found[1]}"


def missing_files(
    domain: str, config_dir: str, config: Mapping[str, Any], options: Iterable[str]
) -> list[str]:
    """One check-config problem per option of `options` set in `config` (a domain's
    validated block) to a file that is not there, in the shape of every other problem:
    `Invalid config for 'ocpp201' at configuration.yaml, line 7: ca_file file ca.pem not
    found`. A relative path is read from `config_dir`; the line is the value's own (its
    NodeStr, which voluptuous passes through), or the file alone when it has none."""
    problems = []
    for name in options:
        path = config.get(name)
        if not path or os.path.isfile(os.path.join(config_dir, str(path))):
            continue
        problems.append(option_problem(domain, config_dir, path, f"{name} file {path} not found"))
    return problems


def option_problem(domain: str, config_dir: str, value: Any, text: str) -> str:
    """A check-config problem about a domain's option whose value is `value` (from its
    validated block), in the shape of every other problem: `Invalid config for 'http' at
    configuration.yaml, line 3: <text>`. The line is the value's own (a string read from
    YAML keeps it: NodeStr); the file alone when it has none (a number, a default)."""
    found = where(value)
    place = f"{display_path(found[0], config_dir)}, line {found[1]}" if found else CONFIG_FILE
    return f"Invalid config for '{domain}' at {place}: {text}"


def _value_at(root: Any, path: list[Any]) -> tuple[bool, Any]:
    node = root
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, node


def _show(value: Any, secret: bool) -> str:
    """The value an error names (`got ...`): *** for a secret option's value or `!secret`,
    and for each secret option inside a mapping shown whole."""
    if secret or isinstance(value, (Secret, SecretList, SecretDict)):
        return repr(MASK)
    text = repr(_masked(value))
    return text if len(text) <= 80 else text[:77] + "..."


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: MASK if is_secret_name(key) else _masked(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(item) for item in value]
    return value if not isinstance(value, str) else str(value)


# Texts shorter than this stay in a message: masking every "1" would garble "at least 16
# characters" and tell nothing; the value itself (`got ...`) is masked whatever its length.
_MIN_MASKED = 3


def format_invalid(
    domain: str, err: vol.Invalid, config: Any, config_dir: str | None, schema: Any = None
) -> list[str]:
    """One line per problem:
    `Invalid config for 'esp32' at configuration.yaml, line 12: expected int for
    dictionary value 'baudrate', got 'fast'`. `config` is the domain's own block; with its
    `schema`, an unknown option gets the nearest valid one ("did you mean `baudrate`?")."""
    errors = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
    # A secret written in configuration.yaml itself (not through !secret) is known only
    # here, by its option's name (orge.redact.is_secret_name): no message may quote it.
    hidden = {text for text in secret_texts(config) if len(text) >= _MIN_MASKED}
    lines = []
    for error in errors:
        path = list(error.path)
        where_text = location(config, path, config_dir)
        message = mask_texts(error.error_message or str(error), hidden)
        found, value = _value_at(config, path)
        if path and isinstance(path[-1], vol.Marker):
            path[-1] = path[-1].schema
        secret = any(is_secret_name(part) for part in path)
        if error.error_message == "extra keys not allowed":
            detail = f"'{'->'.join(map(str, path))}' is an invalid option for '{domain}'"
            detail += option_hint(schema, list(error.path), errors)
        elif path:
            detail = f"{message} for dictionary value '{'->'.join(map(str, path))}'"
            if found and "required key not provided" not in message:
                detail += f", got {_show(value, secret)}"
        else:
            detail = message
        lines.append(f"Invalid config for '{domain}' at {where_text}: {detail}")
    return lines


def validate_block(
    domain: str, schema: Any, block: Any, config_dir: str | None
) -> tuple[Any, list[str]]:
    """Validate one domain's block; (validated value, problems)."""
    try:
        return schema(block), []
    except vol.Invalid as err:
        return None, format_invalid(domain, err, block, config_dir, schema)
    except ConfigError as err:
        return None, list(err.problems)
    except Exception as err:
        return None, [f"Invalid config for '{domain}': {type(err).__name__}: {err}"]


def async_apply_core_config(orge: Orge, core: dict[str, Any]) -> None:
    cfg = orge.config
    cfg.name = core["name"]
    cfg.station_id = core["station_id"]
    cfg.time_zone = core["time_zone"]
    cfg.unit_system = core["unit_system"]
    cfg.allowlist_external_dirs = set(core["allowlist_external_dirs"])
    cfg.customize = {key: dict(value) for key, value in core["customize"].items()}


def _level(name: str) -> int:
    return {"warn": logging.WARNING, "fatal": logging.CRITICAL}.get(
        name, logging.getLevelName(name.upper())
    )


def apply_logger_config(logger_config: dict[str, Any]) -> None:
    logging.getLogger().setLevel(_level(logger_config["default"]))
    for name, level in logger_config["logs"].items():
        logging.getLogger(name).setLevel(_level(level))
