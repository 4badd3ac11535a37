"""deploy/envfile.py reads an env file as systemd's EnvironmentFile= does. Each expected value
follows systemd's parser (src/basic/env-file.c, parse_env_file_internal, v254+) step by step,
so the password provision.sh tests with `orge once` is the one the service will get."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "deploy"))
from envfile import parse  # noqa: E402

CASES = [
    # (file text, expected {name: value})
    ("A=plain\n", {"A": "plain"}),
    ("A=  lead and trail  \n", {"A": "lead and trail"}),  # blanks around an unquoted value
    ("  A  =x\n", {"A": "x"}),  # blanks around the key
    ("A=x\\y\n", {"A": "xy"}),  # unquoted: a backslash takes the next character as it is
    ("A=x\\\\y\n", {"A": "x\\y"}),
    ("A=x # not a comment\n", {"A": "x # not a comment"}),  # no comment after a value
    ("A=x ;y\n", {"A": "x ;y"}),
    ("# A=1\n; B=2\nC=3\n", {"C": "3"}),  # '#' or ';' first on a line: a comment
    ("A='a \\\" $b'\n", {"A": 'a \\" $b'}),  # single quotes keep everything
    ('A="a \\" \\\\ \\$ \\` \\n"\n', {"A": 'a " \\ $ ` \\n'}),  # double: 4 escapes, others kept
    ("A=\"ab\" 'cd'ef\n", {"A": "abcdef"}),  # pieces join; blanks after a quote skipped
    ("A=\"ab\"cd 'ef'\n", {"A": "abcd 'ef'"}),  # once unquoted, quotes are characters
    ("A=q'uo\"te\n", {"A": "q'uo\"te"}),  # a quote inside an unquoted value is a character
    ("A=one\\\ntwo\n", {"A": "onetwo"}),  # an escaped line break joins the lines
    ('A="multi\nline"\n', {"A": "multi\nline"}),
    ("A=\nB=\n", {"A": "", "B": ""}),
    ("A=1\nA=2\n", {"A": "2"}),  # the later one wins (provision.sh keeps the last)
    ("A=last line without newline", {"A": "last line without newline"}),
    ("A=x\r\nB=y\r\n", {"A": "x", "B": "y"}),  # CRLF files
    ("A=$(touch /tmp/pwned) `id`\n", {"A": "$(touch /tmp/pwned) `id`"}),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_values_as_systemd_reads_them(text: str, expected: dict[str, str]) -> None:
    assignments, problems = parse(text)
    assert problems == []
    assert {name: value for _line, name, value in assignments} == expected


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("A=1\nthis is not an assignment\n", 2, "no '=' on this line"),
        ("export A=1\n", 1, "'export' is shell"),
        ("1A=x\n", 1, "valid variable name"),
        ("A-B=x\n", 1, "valid variable name"),
    ],
)
def test_lines_systemd_ignores_are_problems(text: str, line: int, words: str) -> None:
    _assignments, problems = parse(text)
    assert [(n, p) for n, p in problems if words in p] == [(line, problems[0][1])]


def test_command_line_never_prints_a_value(tmp_path: Path) -> None:
    secret = "s3cr3t'\"$x"
    env = tmp_path / "station.env"
    env.write_text(f"OCPP_STATION_PASSWORD={secret}\nno equals here\n")
    bad = subprocess.run(
        [sys.executable, str(REPO / "deploy/envfile.py"), str(env)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert bad.stderr == f"{env} line 2: no '=' on this line: systemd ignores it\n"
    env.write_text(f"OCPP_STATION_PASSWORD={secret}\n")
    good = subprocess.run(
        [sys.executable, str(REPO / "deploy/envfile.py"), str(env)],
        capture_output=True,
        check=False,
    )
    assert good.returncode == 0 and good.stderr == b""
    assert good.stdout == b"OCPP_STATION_PASSWORD\0" + secret.encode() + b"\0"
