"""URL passwords are masked in logs and text even when nobody registered them."""

from __future__ import annotations

import io
import logging

from orge.log import setup_logging
from orge.redact import redact


def test_url_password_masked_in_text() -> None:
    assert redact("to ws://CP1:hunter2-abc@host:9/ocpp x") == "to ws://CP1:***@host:9/ocpp x"
    # urlsplit reads the password up to the last @ of the host part: mask all of it.
    assert redact("wss://CP1:p@ss@host/ocpp") == "wss://CP1:***@host/ocpp"
    assert redact("'wss://a:pw-1234@[::1/ocpp'") == "'wss://a:***@[::1/ocpp'"
    # Nothing else changes: an @ in the path, a user without a password.
    for text in ("http://host/a@b", "ws://user@host/", "mailto:a@b", "/api/history?x=1"):
        assert redact(text) == text


def test_url_query_masked_in_text() -> None:
    """A URL's query (a download token, a pre-signed URL's signature) is shown as ***,
    whether or not it was registered: docs/operations.md, "never printed"."""
    assert (
        redact("'location': 'https://u:pw-1234@h:1/x.whl?token=Sup3rQueryTok', 'retry': 1")
        == "'location': 'https://u:***@h:1/x.whl?***', 'retry': 1"
    )
    assert redact("ws://h/p?q=1@2 and more") == "ws://h/p?*** and more"
    assert redact("ftp://h/up?X-Amz-Signature=abc#frag") == "ftp://h/up?***#frag"


def test_url_password_masked_in_log_lines_and_tracebacks() -> None:
    stream = io.StringIO()
    setup_logging(logging.INFO, stream)
    logger = logging.getLogger("tests.security.redact")
    logger.warning("link to %s failed", "ws://CP1:unregistered-pw-77@127.0.0.1/ocpp")
    try:
        raise ConnectionError("cannot reach wss://CP1:unregistered-pw-77@csms.example/ocpp")
    except ConnectionError:
        logger.exception("boom")
    finally_remove_handlers()
    text = stream.getvalue()
    assert "unregistered-pw-77" not in text
    assert text.count("CP1:***@") >= 2  # the message, the exception (and its source line)


def finally_remove_handlers() -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_orge", False)]:
        root.removeHandler(handler)
