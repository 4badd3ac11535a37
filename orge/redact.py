"""Keeps secrets out of logs and output: every known secret value is replaced by ***.

Values enter here when the YAML loader resolves `!secret` or a secret-looking `!env_var`,
and when a component handles a credential it learned elsewhere (`register_secret`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"
_MIN_LENGTH = 4  # shorter values would mask ordinary words and numbers
_secrets: set[str] = set()
_ordered: list[str] = []


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


def redact(text: str) -> str:
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text)
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
