"""A log formatter that keeps each record's message on one line."""

from __future__ import annotations

import logging


def escape_nonprintable(text: str) -> str:
    """Replace each character that str.isprintable() rejects with a backslash escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(character: str) -> str:
    code = ord(character)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


class OneLineFormatter(logging.Formatter):
    """Escapes control characters in the message, so values from requests (statement ids,
    reasons, error texts) cannot forge log lines. Tracebacks keep their line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return escape_nonprintable(super().formatMessage(record))
