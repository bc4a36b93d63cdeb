"""A modem's SMS memories, read by one reader at a time, and what comes in handed to the handler.

A stored SMS or status report leaves its slot only after the handler kept it and the slot still
holds the same PDU (a new SMS may have taken a freed index meanwhile); a direct one (`+CMT`/`+CDS`)
is acknowledged (`AT+CNMA`) only after the handler kept it. The event thread and the supervisor's
sweep share one lock, so the same slot is never read and deleted by both.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from modem import pdu, sim_storage
from modem.errors import CommandFailed, MalformedPdu, ModemError
from modem.transport import DISCONNECTED, AtTransport, Unsolicited

log = logging.getLogger("gsmgw.modem")


@dataclass(frozen=True)
class InboundSms:
    """An SMS as it came off the modem: decoded, or kept raw with the reason it could not be."""

    raw_pdu: str
    message: pdu.Deliver | None
    error: str | None = None
    storage_index: int | None = None
    storage: str | None = None  # the memory it was read from ("SM", "SR", ...)


class StorageUnavailable(ModemError):
    """The modem refused to select an SMS memory (AT+CPMS), so its slots are not read or deleted."""


class InboundHandler(Protocol):
    """Receives what the modem reports. Returning False keeps the SMS on the SIM (or unacknowledged)."""

    def on_sms(self, modem: str, sms: InboundSms) -> bool: ...

    def on_status_report(self, modem: str, report: pdu.StatusReport) -> bool: ...


class SmsMemory:
    """The memories `AT+CPMS=?` offers, which one is mem1 (what AT+CMGR/CMGL/CMGD work on), and the
    one lock every reader and deleter of them takes."""

    def __init__(self, transport: AtTransport, *, optional: Callable[[str], bool],
                 optional_response: Callable[[str, str], str | None]) -> None:
        """`optional` / `optional_response`: the session's way of asking what a modem may refuse."""
        self.transport = transport
        self.name = transport.name
        self._optional = optional
        self._optional_response = optional_response
        self.storages = sim_storage.DEFAULT
        self.left_on_sim = 0  # what the primary memory held when the last sweep ended
        self._mem1: str | None = None  # None: not known (before init, after the modem restarted)
        self._can_select = True
        self.lock = threading.RLock()  # one reader (and deleter) of SMS memory at a time

    def setup(self) -> None:
        """Use the memories `AT+CPMS=?` offers: the SIM for received SMS where it can be, and "SR"
        swept too where status reports may be stored there."""
        with self.lock:  # the event thread may be reading another memory right now
            self.storages = sim_storage.choose(sim_storage.parse_cpms_test(
                self._optional_response("AT+CPMS=?", "+CPMS:")))
            self._can_select = self._optional(self.storages.select_command())
            self._mem1 = self.storages.primary if self._can_select else None

    def forget_selection(self) -> None:
        """The modem restarted: which memory is mem1 is not known any more."""
        self._mem1 = None

    def _select(self, storage: str | None) -> None:
        """Make `storage` mem1. A modem that never accepted AT+CPMS has one memory; it is read as it is."""
        if storage is None or storage == self._mem1 or not self._can_select:
            return
        try:
            self.transport.command(f'AT+CPMS="{storage}"', timeout=10.0)
        except CommandFailed as exc:
            raise StorageUnavailable(f"{self.name}: cannot select SMS memory {storage}: {exc}") from exc
        self._mem1 = storage

    def read_stored(self, storage: str | None = None) -> list[InboundSms]:
        """Every SMS and status report in one memory (the primary unless named), read or not: those
        left by a crash, a full SIM or a URC we never saw."""
        storage = storage or self.storages.primary
        with self.lock:
            self._select(storage)
            response = self.transport.command("AT+CMGL=4", timeout=30.0)
        entries = sim_storage.pair_listing(response.lines, "+CMGL:", storage)
        return [read_sms(entry.raw, entry.index, entry.storage) for entry in entries]

    def read_index(self, index: int, storage: str | None = None) -> str | None:
        """The PDU in one slot of `storage` (the primary unless named); None for an empty slot."""
        storage = storage or self.storages.primary
        with self.lock:
            self._select(storage)
            response = self.transport.command(f"AT+CMGR={index}", timeout=10.0)
        entries = sim_storage.pair_listing(response.lines, "+CMGR:", storage, index)
        return entries[0].raw if entries else None

    def delete_index(self, index: int, storage: str | None = None) -> None:
        storage = storage or self.storages.primary
        with self.lock:
            self._select(storage)
            self.transport.command(f"AT+CMGD={index}", timeout=10.0)

    def sweep(self, handler: InboundHandler) -> int:
        """Hand every stored SMS and status report to the handler; delete those it kept. Returns how
        many; `left_on_sim` says how many stay in the primary memory (refused, or not ours)."""
        kept = left = 0
        with self.lock:
            for storage in self.storages.swept:
                try:
                    listed = self.read_stored(storage)
                except (StorageUnavailable, CommandFailed) as exc:  # an answer: the modem is fine
                    log.warning("%s: could not list SMS memory %s: %s", self.name, storage, exc)
                    continue
                for sms in listed:
                    try:
                        taken = self._take(handler, sms)
                    except (StorageUnavailable, CommandFailed) as exc:
                        log.warning("%s: %s/%s stays for the next read: %s", self.name, storage,
                                    sms.storage_index, exc)
                        taken = False
                    kept += taken
                    left += not taken and storage == self.storages.primary
            # counted by the modem: a slot no listing could pair with a PDU is there too
            usage = sim_storage.receiving(sim_storage.parse_cpms_read(self._optional_response("AT+CPMS?", "+CPMS:")))
            self.left_on_sim = usage.used if usage else left
        return kept

    def _take(self, handler: InboundHandler, sms: InboundSms) -> bool:
        """Apply one stored SMS or report by what its PDU is (not by which URC named it), then delete
        its slot if the handler kept it and the slot still holds the same PDU."""
        report = sms.message is None and sms.raw_pdu and _is_status_report(sms.raw_pdu)
        kept = hand_report(handler, self.name, sms.raw_pdu) if report else hand_sms(handler, self.name, sms)
        if not kept or sms.storage_index is None:
            return False
        if self.read_index(sms.storage_index, sms.storage) != sms.raw_pdu.upper():
            log.warning("%s: slot %s/%d changed before it was deleted; left for the next read", self.name,
                        sms.storage, sms.storage_index)
            return False
        self.delete_index(sms.storage_index, sms.storage)
        return True

    def take_stored(self, event: Unsolicited, handler: InboundHandler) -> None:
        """+CMTI/+CDSI: read the slot in the memory the URC names, under the one lock (a sweep in
        another thread must not read and delete the same slots meanwhile)."""
        slot = sim_storage.parse_stored_urc(event.line)
        if slot is None:
            log.warning("%s: unreadable %r", self.name, event.line)
            return
        storage, index = slot
        with self.lock:
            raw = self.read_index(index, storage)
            if raw is not None:
                self._take(handler, read_sms(raw, index, storage or self.storages.primary))

    def take_direct(self, event: Unsolicited, handle: Callable[[str], bool], *, acknowledge: bool) -> None:
        """+CMT/+CDS with its PDU: handled, then acknowledged (AT+CNMA) if the modem wants that."""
        if event.pdu is None:
            log.warning("%s: %r came without its PDU line", self.name, event.line)
            return
        if handle(event.pdu) and acknowledge:
            try:
                self.transport.command("AT+CNMA")
            except CommandFailed as exc:
                log.debug("%s: +CNMA refused: %s", self.name, exc)


def keep_received(unsolicited: queue.Queue[Unsolicited], modem: str, handler: InboundHandler,
                  connected: Callable[[], bool], limit: float = 0.0) -> int:
    """Hand over the +CMT/+CDS a port that is going received and nobody handled (the end of a
    session, the port of a recovery step). Their PDU exists nowhere else: under AT+CSMS=0 the
    modem acknowledged them to the network as it printed them. Taken without AT+CNMA (the port is
    going; under AT+CSMS=1 the network sends them again, and storing is idempotent); +CMTI/+CDSI are
    left, their slot stays on the SIM for the next sweep. Reads up to the end-of-port marker (it
    follows the last line received), or while nothing comes until the port is closed or `limit`
    seconds have passed. Returns how many were handed over."""
    deadline = time.monotonic() + limit
    kept = 0
    while True:
        try:
            event = unsolicited.get(timeout=max(0.0, min(0.5, deadline - time.monotonic())))
        except queue.Empty:
            if not connected() or time.monotonic() >= deadline:
                return kept
            continue
        if event is DISCONNECTED:
            return kept
        if event.pdu is None:
            continue
        if event.name == "+CMT":
            hand_sms(handler, modem, read_sms(event.pdu, None))
        elif event.name == "+CDS":
            hand_report(handler, modem, event.pdu)
        else:
            continue
        kept += 1
        log.info("%s: %s received as its port went; kept", modem, event.name)


def read_sms(raw: str, index: int | None, storage: str | None = None) -> InboundSms:
    """An SMS-DELIVER PDU as it came off the modem, decoded where it can be."""
    try:
        message = pdu.decode(raw)
    except MalformedPdu as exc:
        return InboundSms(raw, None, f"undecodable PDU: {exc}", index, storage)
    if not isinstance(message, pdu.Deliver):
        return InboundSms(raw, None, f"not an SMS-DELIVER ({type(message).__name__})", index, storage)
    return InboundSms(raw, message, None, index, storage)


def _is_status_report(raw: str) -> bool:
    try:
        return isinstance(pdu.decode(raw), pdu.StatusReport)
    except MalformedPdu:
        return False


def hand_sms(handler: InboundHandler, modem: str, sms: InboundSms) -> bool:
    """Call the handler; an exception in it means 'not kept', so the SMS stays on the SIM."""
    try:
        return bool(handler.on_sms(modem, sms))
    except Exception:
        log.exception("%s: inbound handler failed; the SMS stays on the modem", modem)
        return False


def hand_report(handler: InboundHandler, modem: str, raw: str) -> bool:
    """Decode a status report and call the handler; one that can never be decoded counts as kept."""
    try:
        report = pdu.decode(raw)
    except MalformedPdu as exc:
        log.warning("%s: undecodable status report %r: %s", modem, raw, exc)
        return True  # nothing useful can ever come of it; drop it from the SIM
    if not isinstance(report, pdu.StatusReport):
        log.warning("%s: expected a status report, got %s", modem, type(report).__name__)
        return True
    try:
        return bool(handler.on_status_report(modem, report))
    except Exception:
        log.exception("%s: status report handler failed", modem)
        return False
