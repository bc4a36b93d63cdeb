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
    """Whose fault a coded error is, which says what a caller should do about it."""

    TRANSIENT = "transient"  # nobody's for long: retry later, here or on another SIM
    PERMANENT = "permanent"  # the message's (its number or its content): it will never go; fail it
    SIM = "sim"  # the SIM's (missing, locked, barred, not subscribed): rest it, send from another
    NETWORK = "network"  # the SIM's network (out of order, SC failure): rest the SIM, send from another
    UNKNOWN = "unknown"


# 3GPP TS 27.005 §3.2.5: 0-127 are RP causes (TS 24.011 Annex E-2), 128-255 TP-FCS values (TS 23.040
# §9.2.3.22), 300-340 the ME's own, 500 unknown, 512+ vendor (SIMCom and Quectel busy codes).
_CMS_PERMANENT = ({1, 21, 27, 28, 30, 95, 96, 97, 99, 304, 305}
                  | set(range(128, 192))  # TP-PID, TP-DCS, TP-Command errors, TPDU not supported
                  | {195, 196, 197, 198, 199})  # invalid or barred destination, duplicate, bad validity
_CMS_SIM = ({8, 10, 29, 50, 69, 193, 301, 302, 303, 330}  # barred, not subscribed, not allowed here
            | set(range(310, 314)) | set(range(315, 319)))  # missing, PIN/PUK, failure, wrong SIM
_CMS_NETWORK = {38, 111, 127, 194}  # network out of order, protocol error, interworking, SC failure
_CMS_TRANSIENT = ({41, 42, 47, 81, 98, 192, 300, 314, 320, 322, 331, 332, 500, 512, 513, 514}
                  | set(range(200, 256)))  # reserved SC codes, MS/SIM busy or full, application codes
# 3GPP TS 27.007 §9.2.
_CME_TRANSIENT = {14, 30, 31, 32, 100, 515}
_CME_SIM = {3, 5, 10, 11, 12, 13, 15, 16, 17, 18}
# Answers that mean "not yet" while a modem starts (SIM busy, device busy, SMS not ready yet).
_CME_NOT_READY = {14, 515}
_CMS_NOT_READY = {314, 500, 512, 513, 514}


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
    """Classify a +CMS ERROR code by whose fault it is; unknown codes are retried by callers."""
    for codes, error_class in ((_CMS_TRANSIENT, ErrorClass.TRANSIENT), (_CMS_SIM, ErrorClass.SIM),
                               (_CMS_NETWORK, ErrorClass.NETWORK), (_CMS_PERMANENT, ErrorClass.PERMANENT)):
        if code in codes:
            return error_class
    return ErrorClass.UNKNOWN


def classify_cme(code: int) -> ErrorClass:
    """Classify a +CME ERROR code."""
    if code in _CME_TRANSIENT:
        return ErrorClass.TRANSIENT
    if code in _CME_SIM:
        return ErrorClass.SIM
    return ErrorClass.UNKNOWN


def not_ready(exc: Exception) -> bool:
    """Is this a modem saying "not yet" (still starting: SIM busy, SMS not ready) rather than "no"?"""
    if isinstance(exc, CmeError):
        return exc.code in _CME_NOT_READY
    if isinstance(exc, CmsError):
        return exc.code in _CMS_NOT_READY
    return False


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
