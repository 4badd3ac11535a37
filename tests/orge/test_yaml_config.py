"""YAML tags, file/line on every node, configuration loading, packages, error lines."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import voluptuous as vol

from orge import config as conf_util
from orge.exceptions import ConfigError
from orge.yaml import Input, NodeDict, Secret, dump, load_yaml, where


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_every_node_knows_file_and_line(tmp_path: Path) -> None:
    main = write(tmp_path / "configuration.yaml", "a:\n  b: x\n  c: 5\nlist:\n  - one\n  - two\n")
    data = load_yaml(str(main))
    assert isinstance(data, NodeDict)
    assert where(data["a"]) == (str(main), 2)
    assert where(data["a"]["b"]) == (str(main), 2)
    assert data["a"].key_line("c") == (str(main), 3)
    assert where(data["list"][1]) == (str(main), 6)


def test_secret_env_var_and_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "secrets.yaml", "station_password: hunter22\n")
    monkeypatch.setenv("OCPP_STATION_NAME", "AC_7")
    monkeypatch.delenv("ORGE_UNSET", raising=False)
    main = write(
        tmp_path / "configuration.yaml",
        "pw: !secret station_password\n"
        "name: !env_var OCPP_STATION_NAME\n"
        "beat: !env_var ORGE_UNSET 60\n"
        "x: !input speed\n",
    )
    data = load_yaml(str(main))
    assert data["pw"] == "hunter22" and isinstance(data["pw"], Secret)
    assert repr(data["pw"]) == "'***'"
    assert "hunter22" not in dump(data)
    assert data["name"] == "AC_7"
    assert data["beat"] == "60"
    assert isinstance(data["x"], Input) and data["x"].name == "speed"


def test_secret_found_in_parent_dir_and_unknown_secret(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", "token: abcdef\n")
    write(tmp_path / "configuration.yaml", "sub: !include pkg/sub.yaml\n")
    write(tmp_path / "pkg" / "sub.yaml", "t: !secret token\nmissing: !secret nothing_here\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(str(tmp_path / "configuration.yaml"), str(tmp_path))
    assert str(err.value) == "pkg/sub.yaml, line 2: Secret nothing_here not defined"


def test_missing_env_var_names_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCPP_201_URL", raising=False)
    main = write(tmp_path / "configuration.yaml", "ocpp201:\n  url: !env_var OCPP_201_URL\n")
    with pytest.raises(
        ConfigError,
        match=r"configuration.yaml, line 2: environment variable OCPP_201_URL is not set",
    ):
        load_yaml(str(main))


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    main = write(tmp_path / "configuration.yaml", "a: 1\nb:\n  - x\n  c: [\n")
    with pytest.raises(ConfigError, match=r"^configuration.yaml, line \d+: invalid YAML"):
        load_yaml(str(main))


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    main = write(tmp_path / "configuration.yaml", "a: 1\nb: 2\na: 3\n")
    with pytest.raises(ConfigError, match="line 3: duplicate key 'a'"):
        load_yaml(str(main))


def test_include_of_missing_file(tmp_path: Path) -> None:
    main = write(tmp_path / "configuration.yaml", "x: 1\nautomation: !include automations.yaml\n")
    with pytest.raises(ConfigError, match="line 2: !include file not found: automations.yaml"):
        load_yaml(str(main))


def test_include_dir_variants(tmp_path: Path) -> None:
    write(tmp_path / "d" / "one.yaml", "- a\n- b\n")
    write(tmp_path / "d" / "two.yaml", "- c\n")
    write(tmp_path / "m" / "x.yaml", "k1: 1\n")
    write(tmp_path / "m" / "sub" / "y.yaml", "k2: 2\n")
    main = write(
        tmp_path / "configuration.yaml",
        "named: !include_dir_named m\n"
        "lst: !include_dir_list d\n"
        "merged_list: !include_dir_merge_list d\n"
        "merged_named: !include_dir_merge_named m\n",
    )
    data = load_yaml(str(main))
    assert data["named"] == {"x": {"k1": 1}, "y": {"k2": 2}}
    assert data["lst"] == [["a", "b"], ["c"]]
    assert data["merged_list"] == ["a", "b", "c"]
    assert data["merged_named"] == {"k1": 1, "k2": 2}
    assert where(data["merged_list"][2])[0].endswith("two.yaml")


def test_schema_error_in_included_file_names_that_file(tmp_path: Path) -> None:
    write(tmp_path / "esp.yaml", "port: /dev/ttyUSB0\nbaudrate: fast\n")
    write(tmp_path / "configuration.yaml", "orge:\n  name: x\nesp32: !include esp.yaml\n")
    raw = conf_util.load_configuration(str(tmp_path))
    schema = vol.Schema({"port": str, vol.Optional("baudrate"): int})
    _, problems = conf_util.validate_block("esp32", schema, raw["esp32"], str(tmp_path))
    assert problems == [
        "Invalid config for 'esp32' at esp.yaml, line 2: expected int for dictionary value "
        "'baudrate', got 'fast'"
    ]


def test_schema_error_message_shape_and_secret_masking(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", "pw: sup3rsecret\n")
    write(
        tmp_path / "configuration.yaml",
        "http:\n  server_port: not_a_port\n  password: !secret pw\n  bogus: 1\n",
    )
    raw = conf_util.load_configuration(str(tmp_path))
    schema = vol.Schema({vol.Optional("server_port"): int, vol.Optional("password"): int})
    _, problems = conf_util.validate_block("http", schema, raw["http"], str(tmp_path))
    assert (
        "Invalid config for 'http' at configuration.yaml, line 2: expected int for "
        "dictionary value 'server_port', got 'not_a_port'" in problems
    )
    assert any("line 3" in p and "'***'" in p for p in problems)
    assert any("line 4" in p and "'bogus' is an invalid option for 'http'" in p for p in problems)
    assert not any("sup3rsecret" in p for p in problems)


def test_packages_merge_like_home_assistant(tmp_path: Path) -> None:
    write(
        tmp_path / "configuration.yaml",
        "orge:\n  packages:\n    pkg: !include pkg.yaml\n"
        "automation:\n  - alias: a\n"
        "http:\n  server_port: 8000\n",
    )
    write(
        tmp_path / "pkg.yaml",
        "automation:\n  - alias: b\nhttp:\n  cors_allowed_origins: [x]\nnew_domain:\n  k: v\n",
    )
    raw = conf_util.load_configuration(str(tmp_path))
    assert [a["alias"] for a in raw["automation"]] == ["a", "b"]
    assert raw["http"] == {"server_port": 8000, "cors_allowed_origins": ["x"]}
    assert raw["new_domain"] == {"k": "v"}
    assert raw.key_line("new_domain")[0].endswith("pkg.yaml")


def test_package_conflict_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path / "configuration.yaml",
        "orge:\n  packages:\n    pkg:\n      http:\n        server_port: 1\nhttp:\n  server_port: 8000\n",
    )
    with pytest.raises(
        ConfigError, match="package pkg sets http.server_port, which is already set"
    ):
        conf_util.load_configuration(str(tmp_path))


def test_core_and_logger_sections(tmp_path: Path) -> None:
    core = conf_util.CORE_SCHEMA({"name": "Station 7", "time_zone": "Europe/Istanbul"})
    assert core["unit_system"] == "metric"
    with pytest.raises(vol.Invalid, match="invalid time zone"):
        conf_util.CORE_SCHEMA({"time_zone": "Mars/Olympus"})
    logger = conf_util.LOGGER_SCHEMA({"default": "warning", "logs": {"components.esp32": "debug"}})
    conf_util.apply_logger_config(logger)
    try:
        assert logging.getLogger().level == logging.WARNING
        assert logging.getLogger("components.esp32").level == logging.DEBUG
    finally:
        logging.getLogger().setLevel(logging.WARNING)
        logging.getLogger("components.esp32").setLevel(logging.NOTSET)
