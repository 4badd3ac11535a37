"""Keeps secrets out of logs and output: every known secret value is replaced by ***.

Values enter here when the YAML loader resolves `!secret` or a secret-looking `!env_var`,
and when a component handles a credential it learned elsewhere (`register_secret`).

What counts as secret-looking is one rule, `is_secret_name`: a name (of an environment
variable or a configuration option) holding one of SECRET_WORDS, as `password`, `token`,
`authtoken`, `client_secret`, `api_key`. check-config masks such an option's value in what
it prints (orge/config.py:format_invalid) and the editor schema lets it take a `!secret`
name (orge/json_schema.py).
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"
_MIN_LENGTH = 4  # shorter values would mask ordinary words and numbers
_secrets: set[str] = set()
# Upper case; a name holds a secret when its upper-cased form contains one of them.
SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "KEY", "PASS")
_ordered: list[str] = []


def is_secret_name(name: object) -> bool:
    """Whether an option or environment variable named `name` holds a secret (False for
    anything but a str: a list index, a voluptuous marker's non-str key). A name that is
    `key` alone is an identifier (a Modbus register's key), not a key."""
    if not isinstance(name, str) or name.strip().upper() == "KEY":
        return False
    return any(word in name.upper() for word in SECRET_WORDS)


def secret_texts(value: Any, secret: bool = False) -> set[str]:
    """The texts of `value` (a configuration value: scalars, lists, mappings) that are
    secret: all of it when `secret` (it is the value of a secret option), else what sits
    under a secret option's name at any depth; numbers as their text. In a secret value a
    mapping's key with no value is secret too (`password: {Sup3rS3cret}` is a mapping whose
    key is the password); other keys are option names (`access_tokens: [{name, token}]`)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if secret and item is None:
                found.add(str(key))
            found |= secret_texts(item, secret or is_secret_name(key))
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            found |= secret_texts(item, secret)
    elif secret and value is not None and not isinstance(value, bool):
        found.add(str(value))
    found.discard("")
    return found


def mask_texts(text: str, texts: set[str]) -> str:
    """`text` with each of `texts` replaced by ***, the longest first (so a secret holding
    another is masked whole)."""
    for secret in sorted(texts, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def forget_secrets() -> None:
    """Forget every registered secret. The registry is the process's (a station is one
    process); a test run holds many stations in one process, so the test kit forgets
    them after each test, lest one test's secret masks another's text."""
    _secrets.clear()
    _ordered.clear()


def register_secret(value: str | None) -> None:
    if value and len(value) >= _MIN_LENGTH and value not in _secrets:
        _secrets.add(value)
        # Longest first, so a secret containing another is masked whole.
        _ordered[:] = sorted(_secrets, key=len, reverse=True)


# The password of a URL's user info (`ws://user:password@host`), whether or not it was
# registered: a URL often comes from a setting whose name does not look secret, and an
# error that quotes it (check-config) may come before any component could register it.
# The password runs to the last `@` before the host part ends, as urlsplit reads it.
_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*://[^\s/?#@:'\"]*:)[^\s/?#'\"]*@")


# A URL's query: a firmware or log location's download token or signature (a pre-signed
# URL) sits there, so no line shows it (docs/operations.md: "never printed").
_URL_QUERY = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*://[^\s?#'\"]*\?)[^\s#'\"]+")


def redact(text: str) -> str:
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text)
    if "://" in text and "?" in text:
        text = _URL_QUERY.sub(rf"\g<1>{MASK}", text)
    return text


def redact_value(value: Any) -> Any:
    """A copy of a JSON-like value with secret strings masked."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(item) for item in value]
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the formatted message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
