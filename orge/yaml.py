"""The YAML loader: Home Assistant's tags, and a file and line on every node.

Mappings load as `NodeDict`, lists as `NodeList`, strings as `NodeStr`; each carries
`__config_file__` and `__line__`. Other scalars (int, bool, None) cannot carry attributes,
so their parent mapping remembers the line of each key (`NodeDict.key_line`). Every later
error (schema, template, blueprint input) can name the place an operator must edit.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

from orge.exceptions import ConfigError
from orge.redact import is_secret_name, register_secret
from orge.yaml_errors import explain as explain_yaml_error

SECRET_YAML = "secrets.yaml"
_LOGGER = logging.getLogger(__name__)
_MISSING = object()


_tracking = threading.local()


@contextmanager
def track_files() -> Iterator[dict[str, str | None]]:
    """Every file the loader reads in this thread inside the block, as
    {absolute path: text as parsed} (None for a secrets file: read it again to copy it),
    and every `!include_dir_*` folder as {absolute path + os.sep: None} (it may be empty).
    The last good configuration is a copy of exactly these."""
    files: dict[str, str | None] = {}
    previous = getattr(_tracking, "files", None)
    _tracking.files = files
    try:
        yield files
    finally:
        _tracking.files = previous


def _note_read(path: str, text: str | None) -> None:
    files = getattr(_tracking, "files", None)
    if files is not None:
        files[path] = text


class _Node:
    __config_file__: str = "?"
    __line__: int = 0


class NodeDict(dict, _Node):  # type: ignore[type-arg]
    """A mapping that knows where it and each of its keys came from."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._key_lines: dict[Any, tuple[str, int]] = {}

    def key_line(self, key: Any) -> tuple[str, int]:
        return self._key_lines.get(key, (self.__config_file__, self.__line__))


class NodeList(list, _Node):  # type: ignore[type-arg]
    """A list that knows where it came from."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._item_lines: list[tuple[str, int]] = []

    def item_line(self, index: int) -> tuple[str, int]:
        if 0 <= index < len(self._item_lines):
            return self._item_lines[index]
        return (self.__config_file__, self.__line__)


class NodeStr(str, _Node):
    """A string that knows where it came from."""


class Secret(NodeStr):
    """A value from `!secret` (or a secret-looking `!env_var`): shown as *** everywhere."""

    def __repr__(self) -> str:
        return "'***'"


class SecretList(NodeList):
    """A list from `!secret` (trusted proxies, allowed ids): a list, shown as ***."""

    def __repr__(self) -> str:
        return "'***'"


class SecretDict(NodeDict):
    """A mapping from `!secret`: a dict, shown as ***."""

    def __repr__(self) -> str:
        return "'***'"


def _as_secret(value: Any, path: str, line: int) -> Any:
    """A secret value of any YAML type, as Home Assistant gives it, with every string in it
    masked: strings become Secret, lists SecretList, mappings SecretDict. Numbers, booleans
    and null stay as they are (masking every "8080" in the logs would hide too much)."""
    result: Any
    if isinstance(value, str):
        register_secret(value)
        result = Secret(value)
    elif isinstance(value, list):
        result = SecretList(_as_secret(item, path, line) for item in value)
        result._item_lines = [(path, line)] * len(value)
    elif isinstance(value, dict):
        result = SecretDict()
        for key, item in value.items():
            result[key] = _as_secret(item, path, line)
            result._key_lines[key] = (path, line)
    else:
        return value
    result.__config_file__ = path
    result.__line__ = line
    return result


class Input:
    """`!input name` in a blueprint; replaced by the automation's value on use."""

    def __init__(self, name: str, config_file: str, line: int) -> None:
        self.name = name
        self.__config_file__ = config_file
        self.__line__ = line

    def __repr__(self) -> str:
        return f"!input {self.name}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Input) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("input", self.name))


def where(node: Any) -> tuple[str, int] | None:
    """(file, line) of a loaded node, or None if it carries none."""
    line = getattr(node, "__line__", 0)
    if line:
        return getattr(node, "__config_file__", "?"), line
    return None


# The C parser (libyaml) reads a file about ten times faster; marks and constructors work
# the same. Start-up and check-config time on a Pi are mostly YAML parsing.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """A safe loader that records file/line and knows the config dir (for secrets)."""

    def __init__(self, stream: Any, path: str, config_dir: str, secrets: _Secrets) -> None:
        super().__init__(stream)
        self.path = path
        self.config_dir = config_dir
        self.secrets = secrets

    def _mark(self, node: yaml.Node, value: Any) -> Any:
        if isinstance(value, _Node) or isinstance(value, Input):
            value.__config_file__ = self.path
            value.__line__ = node.start_mark.line + 1
        return value


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> NodeDict:
    # A key written here may override one merged in with `<<: *anchor` or `<<: [*a, *b]`
    # (YAML merge key type; Home Assistant's loader keeps the local value); only a key
    # written twice here is a duplicate. flatten_mapping removes the `<<` pairs from
    # node.value in place and, if it merged anything, makes a new list with the merged
    # pairs first (from a list of maps, the earlier map's last, so it wins): the local
    # pairs are the tail, and assigning in order leaves the right value.
    local_pairs = node.value
    loader.flatten_mapping(node)
    merged = len(node.value) - len(local_pairs) if node.value is not local_pairs else 0
    result = NodeDict()
    loader._mark(node, result)
    local_keys: set[Any] | None = set() if merged else None
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.MarkedYAMLError(
                "while constructing a mapping",
                node.start_mark,
                "found an unhashable key",
                key_node.start_mark,
            ) from None
        if local_keys is None:
            duplicate = key in result
        elif index >= merged:
            duplicate = key in local_keys
            local_keys.add(key)
        else:
            duplicate = False
        if duplicate:
            raise ConfigError(
                f"{_rel(loader)}, line {key_node.start_mark.line + 1}: duplicate key '{key}'"
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result._key_lines[key] = (loader.path, key_node.start_mark.line + 1)
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> NodeList:
    result = NodeList(loader.construct_object(child, deep=True) for child in node.value)
    result._item_lines = [(loader.path, child.start_mark.line + 1) for child in node.value]
    return loader._mark(node, result)


def _construct_str(loader: _Loader, node: yaml.ScalarNode) -> NodeStr:
    return loader._mark(node, NodeStr(loader.construct_scalar(node)))


def _rel(loader: _Loader) -> str:
    return display_path(loader.path, loader.config_dir)


def display_path(path: str, config_dir: str | None) -> str:
    """A path relative to the config dir when inside it, as operators think of files."""
    if config_dir:
        try:
            rel = os.path.relpath(path, config_dir)
        except ValueError:
            return path
        if not rel.startswith(".."):
            return rel
    return path


def _include_path(loader: _Loader, node: yaml.Node) -> str:
    name = loader.construct_scalar(node)
    if not isinstance(name, str) or not name:
        raise ConfigError(
            f"{_rel(loader)}, line {node.start_mark.line + 1}: {node.tag} needs a file name"
        )
    return os.path.join(os.path.dirname(loader.path), name)


def _include(loader: _Loader, node: yaml.Node) -> Any:
    path = _include_path(loader, node)
    if not os.path.isfile(path):
        raise ConfigError(
            f"{_rel(loader)}, line {node.start_mark.line + 1}: "
            f"!include file not found: {display_path(path, loader.config_dir)}"
        )
    loaded = load_yaml(path, loader.config_dir, loader.secrets)
    if loaded is None:  # an empty file is an empty mapping, as in Home Assistant
        loaded = NodeDict()
        loaded.__config_file__, loaded.__line__ = path, 1
    return loaded


def _yaml_files(loader: _Loader, node: yaml.Node) -> Iterator[str]:
    directory = _include_path(loader, node)
    if not os.path.isdir(directory):
        # Home Assistant reads a missing directory as an empty one; say so, since it is
        # more often a typo than an intent.
        _LOGGER.warning(
            "%s, line %d: %s directory not found, read as empty: %s",
            _rel(loader),
            node.start_mark.line + 1,
            node.tag,
            display_path(directory, loader.config_dir),
        )
        return
    _note_read(os.path.join(os.path.abspath(directory), ""), None)
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(fnmatch.filter(files, "*.yaml")):
            if name != SECRET_YAML and not name.startswith("."):
                yield os.path.join(root, name)


def _include_dir_named(loader: _Loader, node: yaml.Node) -> NodeDict:
    result = loader._mark(node, NodeDict())
    for path in _yaml_files(loader, node):
        loaded = load_yaml(path, loader.config_dir, loader.secrets)
        if loaded is None:  # an empty file is an empty mapping, as in Home Assistant
            loaded = NodeDict()
            loaded.__config_file__, loaded.__line__ = path, 1
        result[os.path.splitext(os.path.basename(path))[0]] = loaded
    return result


def _include_dir_merge_named(loader: _Loader, node: yaml.Node) -> NodeDict:
    result = loader._mark(node, NodeDict())
    for path in _yaml_files(loader, node):
        loaded = load_yaml(path, loader.config_dir, loader.secrets)
        if isinstance(loaded, dict):
            result.update(loaded)
            if isinstance(loaded, NodeDict):
                result._key_lines.update(loaded._key_lines)
    return result


def _include_dir_list(loader: _Loader, node: yaml.Node) -> NodeList:
    result = loader._mark(node, NodeList())
    for path in _yaml_files(loader, node):
        loaded = load_yaml(path, loader.config_dir, loader.secrets)
        if loaded is None:  # an empty file adds no item, as in Home Assistant
            continue
        result.append(loaded)
        result._item_lines.append((path, 1))
    return result


def _include_dir_merge_list(loader: _Loader, node: yaml.Node) -> NodeList:
    result = loader._mark(node, NodeList())
    for path in _yaml_files(loader, node):
        loaded = load_yaml(path, loader.config_dir, loader.secrets)
        if isinstance(loaded, list):
            result.extend(loaded)
            lines = loaded._item_lines if isinstance(loaded, NodeList) else []
            result._item_lines.extend(lines or [(path, 1)] * len(loaded))
    return result


def _env_var(loader: _Loader, node: yaml.Node) -> Any:
    line = node.start_mark.line + 1
    args = str(loader.construct_scalar(node)).split()
    if not args:
        raise ConfigError(f"{_rel(loader)}, line {line}: !env_var needs a variable name")
    name = args[0]
    if name in os.environ:
        value: Any = os.environ[name]
    elif len(args) > 1:
        value = " ".join(args[1:])
    else:
        raise ConfigError(
            f"{_rel(loader)}, line {line}: environment variable {name} is not set "
            "and !env_var gives no default"
        )
    secret = is_secret_name(name)
    result = Secret(value) if secret else NodeStr(value)
    if secret:
        register_secret(value)
    return loader._mark(node, result)


def _secret(loader: _Loader, node: yaml.Node) -> Any:
    """The secret's value with its own YAML type (a list stays a list), masked."""
    name = loader.construct_scalar(node)
    line = node.start_mark.line + 1
    value = loader.secrets.get(str(name), loader.path, loader.config_dir)
    if value is _MISSING:
        raise ConfigError(f"{_rel(loader)}, line {line}: Secret {name} not defined")
    return _as_secret(value, loader.path, line)


def _input(loader: _Loader, node: yaml.Node) -> Input:
    return Input(str(loader.construct_scalar(node)), loader.path, node.start_mark.line + 1)


class _Secrets:
    """secrets.yaml files, looked up beside the including file, then up to the config dir."""

    def __init__(self) -> None:
        self._cache: dict[str, dict[str, Any]] = {}

    def get(self, name: str, from_file: str, config_dir: str) -> Any:
        directory = os.path.dirname(os.path.abspath(from_file))
        top = os.path.abspath(config_dir)
        while True:
            secrets = self._load(os.path.join(directory, SECRET_YAML), top)
            if name in secrets:
                return secrets[name]
            if directory == top or not directory.startswith(top) or directory == "/":
                return _MISSING
            directory = os.path.dirname(directory)

    def _load(self, path: str, config_dir: str) -> dict[str, Any]:
        if path not in self._cache:
            data: Any = {}
            name = display_path(path, config_dir)
            if os.path.isfile(path):
                _note_read(path, None)
                text = _read_text(path, config_dir)
                try:
                    data = yaml.load(text, Loader=_BaseLoader) or {}
                except yaml.YAMLError as err:
                    raise ConfigError(_syntax_problem(name, err, text)) from None
            if not isinstance(data, dict):
                raise ConfigError(f"{name}: a secrets file must map names to values")
            self._cache[path] = data
        return self._cache[path]


for _tag, _fn in {
    "tag:yaml.org,2002:map": _construct_mapping,
    "tag:yaml.org,2002:seq": _construct_sequence,
    "tag:yaml.org,2002:str": _construct_str,
    "!include": _include,
    "!include_dir_named": _include_dir_named,
    "!include_dir_list": _include_dir_list,
    "!include_dir_merge_named": _include_dir_merge_named,
    "!include_dir_merge_list": _include_dir_merge_list,
    "!env_var": _env_var,
    "!secret": _secret,
    "!input": _input,
}.items():
    _Loader.add_constructor(_tag, _fn)


def load_yaml(path: str, config_dir: str | None = None, secrets: _Secrets | None = None) -> Any:
    """Load one YAML file (and what it includes). Errors name the file and line."""
    path = os.path.abspath(path)
    config_dir = os.path.abspath(config_dir or os.path.dirname(path))
    text = _read_text(path, config_dir)
    _note_read(path, text)
    loader = _Loader(text, path, config_dir, secrets or _Secrets())
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        raise ConfigError(_syntax_problem(display_path(path, config_dir), err, text)) from None
    finally:
        loader.dispose()


def _read_text(path: str, config_dir: str) -> str:
    """The file's text, or `ConfigError` in one line naming it as the operator knows it
    ("secrets.yaml: cannot read: [Errno 13] Permission denied"): an OSError's own text
    would add the absolute path, which no other message shows."""
    name = display_path(path, config_dir)
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ConfigError(f"{name}: file not found") from None
    except OSError as err:
        reason = f"[Errno {err.errno}] {err.strerror}" if err.strerror else str(err)
        raise ConfigError(f"{name}: cannot read: {reason}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{name}: cannot read: not UTF-8 text ({err.reason})") from None


def _syntax_problem(name: str, err: yaml.YAMLError, text: str | None) -> str:
    """'file, line N: invalid YAML: what to fix (the parser says: ...)'."""
    if isinstance(err, yaml.reader.ReaderError) and text is not None:
        # a character YAML does not allow (a control character pasted from a terminal)
        line = text.count("\n", 0, err.position) + 1
        return (
            f"{name}, line {line}: invalid YAML: a character YAML does not allow "
            f"(#x{err.character:04x}): delete it (the parser says: {err.reason})"
        )
    if not isinstance(err, yaml.MarkedYAMLError):
        return f"{name}: invalid YAML: {err}"
    line, message = explain_yaml_error(err, text)
    return f"{name}{f', line {line}' if line else ''}: invalid YAML: {message}"


def parse_yaml(text: str, name: str = "<string>") -> Any:
    """Load YAML from a string (tests, the API's check of a posted snippet)."""
    loader = _Loader(text, name, os.getcwd(), _Secrets())
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        raise ConfigError(_syntax_problem(name, err, text)) from None
    finally:
        loader.dispose()


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(NodeDict, lambda d, v: d.represent_dict(dict(v)))
_Dumper.add_representer(NodeList, lambda d, v: d.represent_list(list(v)))
_Dumper.add_representer(NodeStr, lambda d, v: d.represent_str(str(v)))
_Dumper.add_representer(Secret, lambda d, v: d.represent_str("***"))
_Dumper.add_representer(SecretList, lambda d, v: d.represent_str("***"))
_Dumper.add_representer(SecretDict, lambda d, v: d.represent_str("***"))
_Dumper.add_representer(Input, lambda d, v: d.represent_scalar("!input", v.name))


def dump(data: Any) -> str:
    """YAML text of loaded data; secrets come out as ***."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
