"""The PDU records (TS 23.040) and the TP field values encoding and decoding share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DATA8 = "8bit"  # TP-DCS 8-bit data; decoded as latin-1 text

TOA_INTERNATIONAL = 0x91
TOA_UNKNOWN = 0x81
TOA_ALPHANUMERIC = 0xD0
TON_INTERNATIONAL = 0x10
TON_ALPHANUMERIC = 0x50

MTI_DELIVER, MTI_SUBMIT, MTI_STATUS_REPORT = 0x00, 0x01, 0x02
SUBMIT_VPF_RELATIVE = 0x10
SUBMIT_SRR = 0x20
DELIVER_MMS = 0x04  # "no more messages waiting"
UDHI = 0x40
IEI_CONCAT8, IEI_CONCAT16 = 0x00, 0x08
PID_REPLACE_FIRST, PID_REPLACE_LAST = 0x41, 0x47
DCS_HAS_CLASS = 0x10


@dataclass(frozen=True)
class Concat:
    """Concatenation header of one part; `seq` is 1-based."""

    reference: int
    total: int
    seq: int


@dataclass(frozen=True)
class SubmitPart:
    """One SMS-SUBMIT ready for AT+CMGS=<tpdu_length>, then `hex` after the '> ' prompt."""

    hex: str  # uppercase, including the SMSC field ("00" = modem's default SMSC)
    tpdu_length: int  # octets excluding the SMSC field
    seq: int
    total: int
    text: str


@dataclass(frozen=True)
class Deliver:
    sender: str
    text: str
    timestamp: datetime  # tz-aware, the SMSC's service-centre time stamp
    smsc: str | None
    encoding: str
    concat: Concat | None
    pid: int = 0  # TP-PID: 0x41-0x47 replace an earlier message of the same type from this sender
    message_class: int | None = None  # from TP-DCS; 0 is a flash SMS (shown, not stored, by phones)

    @property
    def flash(self) -> bool:
        return self.message_class == 0

    @property
    def replace_type(self) -> int | None:
        """1-7 for "Replace Short Message Type n" (TS 23.040 §9.2.3.9), else None."""
        return self.pid - 0x40 if PID_REPLACE_FIRST <= self.pid <= PID_REPLACE_LAST else None


@dataclass(frozen=True)
class Submit:
    reference: int
    recipient: str
    text: str
    encoding: str
    concat: Concat | None
    status_report: bool
    validity_minutes: int | None = None  # a relative TP-VP, as the period it says; None: none or not relative


@dataclass(frozen=True)
class StatusReport:
    reference: int  # TP-MR of the submitted part this reports on
    recipient: str
    sent_at: datetime
    discharged_at: datetime
    status: int  # TP-Status

    @property
    def outcome(self) -> str:
        """'delivered' (0x00-0x1F), 'pending' (0x20-0x3F, SMSC still trying) or 'failed'."""
        if self.status <= 0x1F:
            return "delivered"
        if self.status <= 0x3F:
            return "pending"
        return "failed"
