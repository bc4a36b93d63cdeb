"""The virtual operator: MSISDNs, routing between virtual SIMs, status reports.

Several `VirtualModem`s attach to one `VirtualNetwork`; each gets an MSISDN (+447700900001, ...002,
from Ofcom's drama range, so nothing real is ever texted). A part submitted to another virtual SIM's
number is delivered to that modem (concatenated parts are collected first, then re-encoded as
SMS-DELIVERs), and a status report goes back to the sender after `report_delay` seconds if the part
asked for one. As a real SMSC does, it holds a report its handset is not attached for, and offers
again one the handset did not acknowledge (`report_retry` later).

Status-report outcome rule (per recipient, by its last four digits; override with `set_outcome`):
  ...0000  -> one report, TP-Status 0x41 (permanent failure: incompatible destination)
  ...9998  -> 0x30 (still trying) after report_delay, then 0x00 (delivered) after 2 x report_delay
  ...9999  -> no report at all (the SMSC lost it)
  anything else -> 0x00 (delivered)
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from modem.pdu import Concat, encode_deliver, encode_status_report, new_concat_reference
from modem.virtual.record import SubmitRecord
from modem.virtual.scheduler import Scheduler, ThreadScheduler

if TYPE_CHECKING:
    from modem.virtual.device import VirtualModem

DELIVERED, PENDING, FAILED = 0x00, 0x30, 0x41


def default_outcome(recipient: str) -> list[int]:
    """TP-Status values the SMSC will report for a part sent to `recipient` (see module doc)."""
    digits = normalize(recipient)
    if digits.endswith("0000"):
        return [FAILED]
    if digits.endswith("9998"):
        return [PENDING, DELIVERED]
    if digits.endswith("9999"):
        return []
    return [DELIVERED]


def normalize(number: str) -> str:
    """Digits in international form (UK national 07... -> 447...), for routing only."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if number.strip().startswith("00"):
        return digits[2:]
    if digits.startswith("0"):
        return "44" + digits[1:]
    return digits


@dataclass
class _Pending:
    """Parts of one concatenated message collected until all have arrived."""

    total: int
    parts: dict[int, str] = field(default_factory=dict)


class VirtualNetwork:
    """Shared by the modems of one simulation; owns the clock unless one is given."""

    def __init__(
        self,
        *,
        scheduler: Scheduler | None = None,
        report_delay: float = 1.0,
        report_retry: float = 30.0,
        delivery_delay: float = 0.05,
        smsc: str = "+447785016005",
        record: SubmitRecord | str | None = None,
        first_msisdn: int = 447700900001,
        outcome: Callable[[str], list[int]] = default_outcome,
        operator: str = "Virtual Tel",
        mccmnc: str = "23415",
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """`now`: the network's clock (service-centre time stamps), the gateway's own in tests;
        `report_retry`: how long the SMSC waits before it offers again a status report that a modem
        attached to the network did not acknowledge (its SMS service still starting); real SMSCs
        wait minutes between tries."""
        self._own_scheduler = scheduler is None
        self.scheduler: Scheduler = scheduler if scheduler is not None else ThreadScheduler()
        self.report_delay = report_delay
        self.report_retry = report_retry
        self.delivery_delay = delivery_delay
        self.smsc = smsc
        self.record = record if isinstance(record, SubmitRecord) else SubmitRecord(record)
        self.operator = operator
        self.mccmnc = mccmnc
        self._outcome = outcome
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._overrides: dict[str, list[int]] = {}
        self._numbers = itertools.count(first_msisdn)
        self._modems: dict[str, "VirtualModem"] = {}
        self._pending: dict[tuple[str, str, int, int], _Pending] = {}
        self._lock = threading.Lock()

    # -- membership ---------------------------------------------------------------------------
    def attach(self, modem: "VirtualModem", msisdn: str | None = None) -> str:
        with self._lock:
            if msisdn is None:
                while (msisdn := f"+{next(self._numbers)}") and normalize(msisdn) in self._modems:
                    pass
            self._modems[normalize(msisdn)] = modem
        return msisdn

    def detach(self, modem: "VirtualModem") -> None:
        with self._lock:
            for key in [k for k, m in self._modems.items() if m is modem]:
                del self._modems[key]

    def modem_for(self, number: str) -> "VirtualModem | None":
        with self._lock:
            return self._modems.get(normalize(number))

    @property
    def modems(self) -> list["VirtualModem"]:
        with self._lock:
            return list(self._modems.values())

    def set_outcome(self, number: str, statuses: list[int]) -> None:
        """Force the TP-Status sequence for one recipient (empty list: no report)."""
        with self._lock:
            self._overrides[normalize(number)] = list(statuses)

    def outcome(self, recipient: str) -> list[int]:
        with self._lock:
            forced = self._overrides.get(normalize(recipient))
        return list(forced) if forced is not None else self._outcome(recipient)

    # -- traffic ------------------------------------------------------------------------------
    def submit(
        self,
        sender: "VirtualModem",
        *,
        mr: int,
        recipient: str,
        text: str,
        encoding: str,
        concat: Concat | None,
        status_report: bool,
        raw: str,
        busy: tuple[float, float] | None = None,
    ) -> dict[str, Any]:
        """Accept one part from `sender`: record it, route it, schedule its status report(s).

        `busy`: (PDU received, answer due), wall-clock seconds: the time the modem spends on this
        part, recorded for utilisation figures."""
        timing = {"received": round(busy[0], 4), "answer_at": round(busy[1], 4)} if busy else {}
        entry = self.record.add({
            "modem": sender.name, "msisdn": sender.msisdn, "recipient": recipient, "text": text,
            "concat_ref": concat.reference if concat else None,
            "concat_total": concat.total if concat else 1,
            "concat_seq": concat.seq if concat else 1,
            "mr": mr, "raw": raw, "encoding": encoding, "status_report": status_report, **timing,
        })
        sent_at = self.now()
        self._route(sender.msisdn, recipient, text, concat, sent_at)
        if status_report:
            for i, status in enumerate(self.outcome(recipient), start=1):
                self.scheduler.call_later(
                    self.report_delay * i,
                    lambda status=status: self._report(sender, mr, recipient, status, sent_at),
                )
        return entry

    def _route(self, sender: str, recipient: str, text: str, concat: Concat | None, sent_at: datetime) -> None:
        target = self.modem_for(recipient)
        if target is None:
            return  # an outside number: the SMSC takes it, nothing to deliver here
        if concat is not None and concat.total > 1:
            key = (normalize(sender), normalize(recipient), concat.reference, concat.total)
            with self._lock:
                pending = self._pending.setdefault(key, _Pending(concat.total))
                pending.parts[concat.seq] = text
                if len(pending.parts) < pending.total:
                    return
                del self._pending[key]
            text = "".join(pending.parts[i] for i in sorted(pending.parts))
        pdus = self.deliver_pdus(sender, text, sent_at)
        self.scheduler.call_later(self.delivery_delay, lambda: target.network_deliver(pdus))

    def deliver_pdus(self, sender: str, text: str, when: datetime | None = None, *,
                     message_class: int | None = None) -> list[str]:
        """SMS-DELIVER PDUs (with SMSC) for `text` from `sender`, concatenated when long;
        `message_class` 0 is a flash SMS."""
        when = when or self.now()
        return encode_deliver(sender, text, when, concat_ref=new_concat_reference(), smsc=self.smsc,
                              message_class=message_class)

    def _report(self, sender: "VirtualModem", mr: int, recipient: str, status: int, sent_at: datetime) -> None:
        try:
            pdu = encode_status_report(mr, recipient, status, sent_at, self.now(), smsc=self.smsc)
        except ValueError:  # e.g. an alphanumeric recipient cannot be put in a report
            return
        self.record.add_report({"modem": sender.name, "mr": mr, "recipient": recipient, "status": status})
        sender.network_status_report(pdu)

    def retry_later(self, offer: Callable[[], None]) -> None:
        """A report (or SMS) the handset did not acknowledge: the SMSC keeps it and offers it again."""
        self.scheduler.call_later(self.report_retry, offer)

    def now(self) -> datetime:
        """The SMSC's time, to the second as time stamps carry it."""
        return self._now().astimezone(timezone.utc).replace(microsecond=0)

    def close(self) -> None:
        """Stop the clock (if this network owns it) and close the record file."""
        if self._own_scheduler:
            self.scheduler.close()  # type: ignore[attr-defined]
        self.record.close()
