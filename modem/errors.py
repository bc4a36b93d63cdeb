"""Typed errors for the modem layer.

Callers decide what to do (retry, fail over, fail the message) from the type and the code, never from
parsing message strings, so every error the modem can say becomes one of these.
"""

from __future__ import annotations

from enum import Enum


class ModemError(Exception):
    """Base class of everything the modem layer raises."""


class ModemDisconnected(ModemError):
    """The port went away (USB unplug, pty closed); every waiting caller gets this at once."""


class CommandTimeout(ModemError):
    """No final result code arrived before the command's deadline."""

    def __init__(self, command: str, seconds: float) -> None:
        super().__init__(f"{command!r}: no answer within {seconds:g} s")
        self.command = command
        self.seconds = seconds


class CommandFailed(ModemError):
    """Plain `ERROR` (no code) in answer to a command."""

    def __init__(self, command: str, detail: str = "ERROR") -> None:
        super().__init__(f"{command!r}: {detail}")
        self.command = command


class ErrorClass(str, Enum):
    """What a caller should do about a coded error."""

    TRANSIENT = "transient"  # retry later, or on another SIM
    PERMANENT = "permanent"  # this message will never go; fail it
    SIM = "sim"  # the SIM needs a person (PIN, PUK, missing, broken)
    UNKNOWN = "unknown"


# 3GPP TS 27.005 §3.2.5 and vendor busy codes.
_CMS_TRANSIENT = {38, 41, 42, 47, 331, 332, 500, 512, 513, 514}
_CMS_PERMANENT = {1, 8, 10, 21, 27, 28, 29, 30, 50, 69, 81, 96, 97, 98, 99, 111, 127,
                  300, 301, 302, 303, 304, 305, 325}
_CMS_SIM = set(range(310, 319))
# 3GPP TS 27.007 §9.2.
_CME_TRANSIENT = {14, 30, 31, 32, 100, 515}
_CME_SIM = {3, 5, 10, 11, 12, 13, 15, 16, 17, 18}


class CodedError(CommandFailed):
    """`+CMS ERROR: n` or `+CME ERROR: n`; `kind` says which."""

    kind = ""

    def __init__(self, command: str, code: int, text: str = "") -> None:
        self.code = code
        self.text = text
        super().__init__(command, f"+{self.kind} ERROR: {code}{' (' + text + ')' if text else ''}")

    @property
    def error_class(self) -> ErrorClass:
        return ErrorClass.UNKNOWN

    @property
    def transient(self) -> bool:
        return self.error_class is ErrorClass.TRANSIENT


class CmsError(CodedError):
    """Message-service error (TS 27.005)."""

    kind = "CMS"

    @property
    def error_class(self) -> ErrorClass:
        return classify_cms(self.code)


class CmeError(CodedError):
    """Equipment / SIM error (TS 27.007)."""

    kind = "CME"

    @property
    def error_class(self) -> ErrorClass:
        return classify_cme(self.code)


def classify_cms(code: int) -> ErrorClass:
    """Classify a +CMS ERROR code; unknown codes are treated as transient by callers that retry."""
    if code in _CMS_TRANSIENT:
        return ErrorClass.TRANSIENT
    if code in _CMS_SIM:
        return ErrorClass.SIM
    if code in _CMS_PERMANENT:
        return ErrorClass.PERMANENT
    return ErrorClass.UNKNOWN


def classify_cme(code: int) -> ErrorClass:
    """Classify a +CME ERROR code."""
    if code in _CME_TRANSIENT:
        return ErrorClass.TRANSIENT
    if code in _CME_SIM:
        return ErrorClass.SIM
    return ErrorClass.UNKNOWN


class PromptTimeout(ModemError):
    """`AT+CMGS` never gave its `> ` prompt; the driver has already sent ESC to cancel."""


class SimError(ModemError):
    """The SIM is missing, locked or broken: a person must act."""


class NotRegistered(ModemError):
    """The modem did not register on a network before the deadline."""


class InvalidNumber(ValueError):
    """A phone number that cannot be put in an SMS address field."""


class MalformedPdu(ValueError):
    """A PDU from the modem that cannot be decoded (kept raw, never crashes the reader)."""


class SubmitUncertain(ModemError):
    """A PDU was handed to the modem but its answer never came: the network may or may not have it.

    The engine records such a part as `unknown` and does not resend it unless configured to.
    """

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"{command!r}: {reason}; the part may have been sent")
        self.command = command
