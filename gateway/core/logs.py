"""Logging set-up: the daemon's log, and the modem conversation in a file of its own.

A technician reading the AT conversation should not wade through web noise, so `gsmgw.serial` goes to
a rotating `serial.log` only (not propagated), like OctoPrint's serial.log.

Logs get sent to people (a support ticket, a forum post), so no secret is written to one: every
handler set up here masks SIM PINs and PUKs in AT commands, API keys, webhook secrets and passwords in
URLs (`SecretMask`), whichever module logged them. One place, so a new log line cannot forget it.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

_ARGUMENT = r"""(?:"[^"\r\n]*"|[^,;\s"'\\]*)"""
_ARGUMENTS = _ARGUMENT + r"(?:," + _ARGUMENT + r")*"
_SECRETS = (
    # AT+CPIN="1234", AT+CPIN="PUK","NEWPIN", AT+CPWD="SC","old","new", AT+CLCK="SC",1,"1234" (as
    # sent, or as the repr the serial log writes): every argument after "="
    (re.compile(r"(AT\+C(?:PIN|PWD|LCK)=)" + _ARGUMENTS, re.IGNORECASE), r"\1***"),
    (re.compile(r"\b(gsk_[A-Za-z0-9_-]{8})[A-Za-z0-9_-]+"), r"\1…"),  # an API key: its display prefix stays
    (re.compile(r"\b(whsec_)[A-Za-z0-9_-]+"), r"\1…"),
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s@:]+:[^/\s@]+@", re.IGNORECASE), r"\1***@"),  # user:password@
)


def mask(text: str) -> str:
    """`text` with every secret this project knows of replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class SecretMask(logging.Filter):
    """A handler filter: the record's message (and traceback) with secrets masked. The message is
    formatted here, once, so a secret passed as an argument is caught too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True


def configure(data_dir: str | None, *, verbose: bool = False, serial_log: bool = True) -> None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not any(getattr(h, "_gsmgw", False) for h in root.handlers):
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
        console.addFilter(SecretMask())
        console._gsmgw = True  # type: ignore[attr-defined]
        root.addHandler(console)
    serial_logger = logging.getLogger("gsmgw.serial")
    serial_logger.propagate = False
    if serial_log and data_dir and not serial_logger.handlers:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            Path(data_dir) / "serial.log", maxBytes=5_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        handler.addFilter(SecretMask())
        serial_logger.addHandler(handler)
        serial_logger.setLevel(logging.DEBUG)
