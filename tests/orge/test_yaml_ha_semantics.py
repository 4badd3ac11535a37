"""YAML as Home Assistant reads it (homeassistant/util/yaml/loader.py, 2024.x): merge keys,
`!secret` of any type, `!env_var`, `!include` of empty files and directories; and syntax
errors worded as what to fix, with file and line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import voluptuous as vol

from orge import config as conf_util
from orge.exceptions import ConfigError
from orge.redact import redact
from orge.yaml import NodeDict, Secret, SecretDict, SecretList, dump, load_yaml, where


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- merge keys ------------------------------------------------------------------------


def test_merge_key_then_local_override_local_wins(tmp_path: Path) -> None:
    main = write(
        tmp_path / "configuration.yaml",
        "base: &base\n  mode: single\n  max: 5\nautomation:\n  <<: *base\n  mode: queued\n",
    )
    data = load_yaml(str(main))
    assert data["automation"] == {"mode": "queued", "max": 5}
    # the overriding key points at the line that set it
    assert data["automation"].key_line("mode") == (str(main), 6)


def test_merge_list_earlier_map_wins_and_local_wins_over_all(tmp_path: Path) -> None:
    # YAML merge key type: of `<<: [*a, *b]`, a key of *a beats the same key of *b
    main = write(
        tmp_path / "configuration.yaml",
        "a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n  y: 9\n",
    )
    assert load_yaml(str(main))["c"] == {"x": 1, "y": 9, "z": 2}


def test_real_duplicate_beside_a_merge_is_still_an_error(tmp_path: Path) -> None:
    main = write(
        tmp_path / "configuration.yaml",
        "base: &base {x: 1}\nc:\n  <<: *base\n  y: 1\n  y: 2\n",
    )
    with pytest.raises(ConfigError, match=r"^configuration.yaml, line 5: duplicate key 'y'$"):
        load_yaml(str(main))


# --- !secret of any type ---------------------------------------------------------------


def test_secret_list_stays_a_list_and_masked(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", "proxies:\n  - 127.0.0.1\n  - 10.20.30.0/24\nport: 8123\n")
    main = write(
        tmp_path / "configuration.yaml",
        "http:\n  trusted_proxies: !secret proxies\n  server_port: !secret port\n",
    )
    data = load_yaml(str(main), str(tmp_path))
    proxies = data["http"]["trusted_proxies"]
    assert isinstance(proxies, list) and isinstance(proxies, SecretList)
    assert proxies == ["127.0.0.1", "10.20.30.0/24"]
    assert all(isinstance(item, Secret) for item in proxies)
    assert data["http"]["server_port"] == 8123  # a number stays a number
    assert repr(proxies) == "'***'"
    assert "10.20.30.0" not in dump(data) and "127.0.0.1" not in dump(data)
    assert redact("from 10.20.30.0/24") == "from ***"
    assert where(proxies) == (str(main), 2)


def test_secret_list_passes_schema_and_errors_do_not_show_it(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", "proxies:\n  - 192.168.77.1\n  - not-a-net-x\n")
    write(tmp_path / "configuration.yaml", "http:\n  trusted_proxies: !secret proxies\n")
    raw = conf_util.load_configuration(str(tmp_path))

    def network(value: str) -> str:
        if not value[0].isdigit():
            raise vol.Invalid("invalid network")
        return value

    schema = vol.Schema({"trusted_proxies": [network]})
    _, problems = conf_util.validate_block("http", schema, raw["http"], str(tmp_path))
    assert problems == [
        "Invalid config for 'http' at configuration.yaml, line 2: invalid network for "
        "dictionary value 'trusted_proxies->1', got '***'"
    ]
    good, problems = conf_util.validate_block(
        "http", vol.Schema({"trusted_proxies": [str]}), raw["http"], str(tmp_path)
    )
    assert problems == [] and good["trusted_proxies"] == ["192.168.77.1", "not-a-net-x"]


def test_secret_mapping_and_null_secret(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", "login:\n  user: op\n  password: pa55word\nempty:\n")
    main = write(tmp_path / "configuration.yaml", "auth: !secret login\nnone: !secret empty\n")
    data = load_yaml(str(main))
    assert isinstance(data["auth"], SecretDict) and data["auth"] == {
        "user": "op",
        "password": "pa55word",
    }
    assert isinstance(data["auth"]["password"], Secret)
    assert "pa55word" not in dump(data) and repr(data["auth"]) == "'***'"
    assert data["none"] is None  # defined as null: Home Assistant returns None, no error


def test_secrets_file_must_be_a_mapping(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", "- a\n- b\n")
    main = write(tmp_path / "configuration.yaml", "x: !secret a\n")
    with pytest.raises(ConfigError, match="a secrets file must map names to values"):
        load_yaml(str(main))


def test_env_var_is_always_a_string(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Home Assistant returns os.environ's string (or the default's words joined by spaces)
    monkeypatch.setenv("ORGE_T_PORT", "8000")
    monkeypatch.delenv("ORGE_T_UNSET", raising=False)
    main = write(
        tmp_path / "configuration.yaml",
        "port: !env_var ORGE_T_PORT\nlist: !env_var ORGE_T_UNSET [1, 2]\nflag: !env_var "
        "ORGE_T_UNSET true\n",
    )
    data = load_yaml(str(main))
    assert data == {"port": "8000", "list": "[1, 2]", "flag": "true"}


# --- includes --------------------------------------------------------------------------


def test_include_of_empty_file_is_an_empty_mapping(tmp_path: Path) -> None:
    write(tmp_path / "empty.yaml", "# nothing yet\n")
    write(tmp_path / "zero.yaml", "0\n")
    main = write(tmp_path / "configuration.yaml", "a: !include empty.yaml\nb: !include zero.yaml\n")
    data = load_yaml(str(main))
    assert data["a"] == {} and isinstance(data["a"], NodeDict)
    assert data["b"] == 0  # a falsy value that is not empty stays what it is


def test_include_dirs_empty_files_and_empty_or_missing_dirs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "d" / "a.yaml", "")
    write(tmp_path / "d" / "b.yaml", "- x\n")
    write(tmp_path / "d" / "c.yaml", "k: 1\n")
    (tmp_path / "none").mkdir()
    main = write(
        tmp_path / "configuration.yaml",
        "named: !include_dir_named d\n"
        "lst: !include_dir_list d\n"
        "mlist: !include_dir_merge_list d\n"
        "mnamed: !include_dir_merge_named d\n"
        "e1: !include_dir_named none\n"
        "e2: !include_dir_list none\n"
        "e3: !include_dir_merge_list none\n"
        "e4: !include_dir_merge_named none\n"
        "m1: !include_dir_list missing\n",
    )
    with caplog.at_level(logging.WARNING):
        data = load_yaml(str(main))
    assert data["named"] == {"a": {}, "b": ["x"], "c": {"k": 1}}  # empty file -> {}
    assert data["lst"] == [["x"], {"k": 1}]  # empty file -> no item
    assert data["mlist"] == ["x"]  # only lists are merged
    assert data["mnamed"] == {"k": 1}  # only mappings are merged
    assert (data["e1"], data["e2"], data["e3"], data["e4"]) == ({}, [], [], {})
    assert data["m1"] == []  # a missing directory reads as empty, with a warning
    assert "configuration.yaml, line 9: !include_dir_list directory not found" in caplog.text


# --- syntax errors in words to act on --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "hint"),
    [
        ("a:\n  b: 1\n\tc: 2\n", 3, "a tab character: indent with spaces only"),
        ("a: 1\n  b: 2\n", 2, "this line is indented more than the lines above it"),
        (
            "http:\n  server_port: 8000\n    ssl: x\n",
            3,
            "this line is indented more than the lines above it",
        ),
        (
            "http:\n  server_port:8000\n  x: 1\n",
            2,
            "a missing space after the colon of 'server_port:'",
        ),
        ("name: a: b\n", 1, "a value with ': ' in it must be quoted"),
        ('a: "abc\nb: 1\n', 1, "a quote opened on line 1 is never closed"),
        ("a: 'abc\nb: 1\n", 1, "a quote opened on line 1 is never closed"),
        ("a: [1, 2\nb: 1\n", 2, "a '[' opened on line 1 is never closed"),
        ("a: {x: 1\nb: 1\n", 2, "a '{' opened on line 1 is never closed"),
        ("a: 1\nb: [\n", 2, "a '[' opened on line 2 is never closed"),
        ("a:\n  b: {x: [1, 2]\n", 2, "a '{' opened on line 2 is never closed"),
        (
            "a:\n    b: 1\n  c: 2\n",
            3,
            "this line is indented less than the line above it, but not as far as the key",
        ),
        ("a: 1\n- b\n", 2, "a list item '-' where a 'key: value' is expected"),
        ("a: *nope\n", 1, "the alias *nope has no anchor &nope above it"),
        ("a: !foo x\n", 1, "unknown tag !foo (known: !include,"),
        ("a: @x\n", 1, "'@' cannot start a value: put the value in quotes"),
        ('a: "c:\\d"\n', 1, "a backslash in a double-quoted string"),
    ],
)
def test_syntax_error_says_what_to_fix(tmp_path: Path, text: str, line: int, hint: str) -> None:
    inc = write(tmp_path / "pkg" / "inc.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_yaml(str(inc), str(tmp_path))
    message = str(err.value)
    assert message.startswith(f"pkg/inc.yaml, line {line}: invalid YAML: {hint}"), message
    assert "(the parser says: " in message  # the parser's own words stay beside the hint


def test_control_character_names_its_line(tmp_path: Path) -> None:
    main = write(tmp_path / "configuration.yaml", "a: 1\nb: x\x07y\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(str(main))
    assert str(err.value).startswith(
        "configuration.yaml, line 2: invalid YAML: a character YAML does not allow (#x0007)"
    )


def test_syntax_error_does_not_quote_the_value(tmp_path: Path) -> None:
    main = write(tmp_path / "configuration.yaml", "auth:\n  password:hunter2secret\n  x: 1\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(str(main))
    assert "hunter2secret" not in str(err.value)
    assert "line 2" in str(err.value)


def test_syntax_error_in_included_file_names_it(tmp_path: Path) -> None:
    write(tmp_path / "automations.yaml", "- alias: x\n  trigger:\n\t- platform: state\n")
    main = write(tmp_path / "configuration.yaml", "automation: !include automations.yaml\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(str(main))
    assert str(err.value).startswith(
        "automations.yaml, line 3: invalid YAML: a tab character: indent with spaces only"
    )
