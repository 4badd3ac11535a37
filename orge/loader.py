"""Finding components: built-in `components/<domain>/` and `<config>/custom_components/`.

Each component is a folder with `manifest.yaml` and `__init__.py`. Manifests are read
without importing code; a module is imported only when its domain is used. Importing a
component must do no I/O and stay cheap (heavy libraries are imported in `async_setup`),
so `orge check-config` can load every schema quickly.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import yaml

import components as _builtin_package
from orge.exceptions import ConfigError
from orge.suggest import did_you_mean

_LOGGER = logging.getLogger(__name__)
MANIFEST = "manifest.yaml"
BUILTIN_DIR = os.path.dirname(os.path.abspath(_builtin_package.__file__))
_REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9_.\-]+")
# Manifests are plain YAML: the C loader reads them ten times faster when it is there.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Component:
    """A component as its manifest describes it."""

    domain: str
    path: str
    package: str
    name: str = ""
    version: str = ""
    description: str = ""
    dependencies: list[str] = field(default_factory=list)
    after_dependencies: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    cli: list[str] = field(default_factory=list)
    is_custom: bool = False
    is_library: bool = False
    _module: ModuleType | None = None

    def import_module(self) -> ModuleType:
        if self._module is None:
            self._module = importlib.import_module(self.package)
        return self._module

    def missing_requirements(self) -> list[str]:
        """Requirements not installed. ORGE never pip-installs at run time."""
        installed = installed_distributions()
        missing = []
        for requirement in self.requirements:
            match = _REQUIREMENT_NAME.match(requirement)
            if match and _normalize(match.group(0)) not in installed:
                missing.append(requirement)
        return missing


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def installed_distributions() -> frozenset[str]:
    """Names of installed distributions, from the *.dist-info / *.egg-info folders on
    sys.path: what importlib.metadata would find, without its import cost (check-config
    must stay fast)."""
    names: set[str] = set()
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue
        for item in listing:
            stem, dot, suffix = item.rpartition(".")
            if dot and suffix in ("dist-info", "egg-info"):
                names.add(_normalize(stem.split("-")[0]))
    return frozenset(names)


def _read_manifest(folder: str, package: str, is_custom: bool) -> Component:
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=_FAST_LOADER) or {}
    except OSError as err:
        # strerror only: the OSError's own text would name the path a second time
        raise ConfigError(f"{path}: cannot read manifest: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: cannot read manifest: {err}") from None
    domain = os.path.basename(folder)
    if data.get("domain", domain) != domain:
        raise ConfigError(f"{path}: domain '{data.get('domain')}' does not match folder '{domain}'")
    return Component(
        domain=domain,
        path=folder,
        package=package,
        name=str(data.get("name", domain)),
        version=str(data.get("version", "")),
        description=str(data.get("description", "")),
        dependencies=list(data.get("dependencies") or []),
        after_dependencies=list(data.get("after_dependencies") or []),
        requirements=list(data.get("requirements") or []),
        cli=list(data.get("cli") or []),
        is_custom=is_custom,
        is_library=bool(data.get("library", False)),
    )


def _scan(directory: str, package_prefix: str, is_custom: bool) -> dict[str, Component]:
    if not is_custom:
        return dict(_scan_builtin(directory, package_prefix))
    return _scan_folder(directory, package_prefix, is_custom)


@functools.cache
def _scan_builtin(directory: str, package_prefix: str) -> dict[str, Component]:
    """Built-in components do not change while ORGE runs: read their manifests once."""
    return _scan_folder(directory, package_prefix, False)


def _scan_folder(directory: str, package_prefix: str, is_custom: bool) -> dict[str, Component]:
    found: dict[str, Component] = {}
    if not os.path.isdir(directory):
        return found
    for name in sorted(os.listdir(directory)):
        folder = os.path.join(directory, name)
        if os.path.isfile(os.path.join(folder, MANIFEST)):
            found[name] = _read_manifest(folder, f"{package_prefix}.{name}", is_custom)
    return found


def _use_custom_dir(config_dir: str, custom_dir: str) -> None:
    """Make `custom_components` import from this config dir (one process may load several
    config dirs, e.g. tests or `check-config` of another station)."""
    loaded = sys.modules.get("custom_components")
    if loaded is not None and custom_dir not in list(getattr(loaded, "__path__", [])):
        for name in [m for m in sys.modules if m.split(".")[0] == "custom_components"]:
            del sys.modules[name]
    if sys.path[:1] != [config_dir]:
        if config_dir in sys.path:
            sys.path.remove(config_dir)
        sys.path.insert(0, config_dir)
    importlib.invalidate_caches()


class ComponentIndex:
    """Every component this station could load, custom ones replacing built-ins."""

    def __init__(self, config_dir: str | None = None) -> None:
        self.components = _scan(BUILTIN_DIR, "components", False)
        if config_dir:
            custom_dir = os.path.join(config_dir, "custom_components")
            if os.path.isdir(custom_dir):
                _use_custom_dir(config_dir, custom_dir)
                for domain, component in _scan(custom_dir, "custom_components", True).items():
                    if domain in self.components:
                        _LOGGER.warning(
                            "Custom component %s replaces the built-in one; "
                            "it is not tested with this ORGE version",
                            domain,
                        )
                    self.components[domain] = component

    def get(self, domain: str) -> Component | None:
        return self.components.get(domain)

    def resolve(self, domains: list[str]) -> tuple[list[Component], dict[str, str]]:
        """Order the domains and their dependencies; (ordered components, domain -> error).

        A missing dependency or a cycle fails the domains involved, not the others.
        """
        errors: dict[str, str] = {}
        order: list[Component] = []
        placed: set[str] = set()
        wanted = set(domains)

        def visit(domain: str, chain: list[str]) -> bool:
            if domain in placed:
                return True
            if domain in errors:
                return False
            if domain in chain:
                cycle = " -> ".join(chain[chain.index(domain) :] + [domain])
                for member in chain[chain.index(domain) :]:
                    errors[member] = f"dependency cycle: {cycle}"
                return False
            component = self.components.get(domain)
            if component is None:
                hint = did_you_mean(domain, self.components)
                errors[domain] = f"Component '{domain}' not found{hint}"
                return False
            ok = True
            for dep in component.dependencies:
                if not visit(dep, chain + [domain]):
                    if domain not in errors:
                        reason = errors.get(dep, "failed")
                        errors[domain] = f"dependency '{dep}' cannot be loaded ({reason})"
                    ok = False
            for dep in component.after_dependencies:
                if dep in wanted and not visit(dep, chain + [domain]):
                    pass  # an optional dependency that fails does not fail this one
            if not ok:
                return False
            if domain in errors:
                return False
            placed.add(domain)
            order.append(component)
            return True

        for domain in domains:
            visit(domain, [])
        return order, errors

    def cli_components(self) -> list[Component]:
        return [c for c in self.components.values() if c.cli]


def component_module(component: Component) -> Any:
    return component.import_module()
