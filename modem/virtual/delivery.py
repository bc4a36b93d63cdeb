"""The virtual modem's network side: registration, SMS and status reports arriving from the
`VirtualNetwork`, and the unsolicited result codes that announce them (+CMTI, +CMT, +CDS, +CDSI,
storage-full signals, Huawei's periodic noise).

What arrives while the modem is unregistered, unpowered or hung waits in the network; an SMS that
would come as +CMT while no host has the port open (DTR off: after a replug before the gateway
opens the new port, or while the gateway restarts) is stored instead, so the host's sweep of the SIM
finds it; a status report
that reaches a modem whose SMS service is not up yet (the start-up window after a boot) is not
acknowledged, and the SMSC tries it again `report_retry` seconds later; what cannot be stored
(an SMS or a status report) waits until memory is freed; +CMT/+CDS under AT+CSMS=1 come again
until acknowledged with AT+CNMA, and one never acknowledged (the host gone, the power lost first) is
the SMSC's again, offered `report_retry` later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from modem.errors import MalformedPdu
from modem.pdu import Deliver, StatusReport, decode
from modem.virtual.scheduler import Timer
from modem.virtual.storage import REC_UNREAD, tpdu_length
from modem.virtual.texts import text_timestamp

MAX_CNMA_RESENDS = 3


@dataclass
class _AwaitingAck:
    """A +CMT/+CDS sent while AT+CSMS=1: the host must AT+CNMA it or it comes again."""

    lines: list[str]
    redeliver: Callable[[], None] | None = None  # the SMSC's next offer, should it never be acknowledged
    resends: int = 0
    timer: Timer | None = None


def _flash(pdu: str) -> bool:
    try:
        message = decode(pdu)
    except MalformedPdu:
        return False
    return isinstance(message, Deliver) and message.flash


class NetworkDelivery:
    """Network events into the modem; the state lives on `VirtualModem`."""

    # -- registration ------------------------------------------------------------------------------
    def _start_registration(self) -> None:
        if self.cfun != 1 or self.sim_state != "ready":
            return
        self._set_reg(3 if self._denied else 2)
        if not self._no_network:
            self._later(self.register_delay, self._registered)

    def _registered(self) -> None:
        if self._no_network or self.cfun != 1 or self.sim_state != "ready" or self.registered:
            return
        first = not getattr(self, "_ready_sent", False) or self._ready_gen != self._gen
        self._set_reg(5 if self.roaming else 1)
        if first:
            self._ready_sent, self._ready_gen = True, self._gen
            wait = self._sms_ready_at - self.sched.now()  # "SMS Ready" ends the start-up window
            if wait > 0:
                self._sms_starting = True
                self._later(wait, self._sms_service_up)
            else:
                self._announce_ready()
        waiting, self._waiting_network = self._waiting_network, []
        for deliver in waiting:
            deliver()

    def _sms_service_up(self) -> None:
        """The end of a start-up window: the SMS service starts with its own defaults, whatever the
        host set before (as SIM800s do), and says so."""
        self._sms_starting = False
        self.cnmi = list(self.profile.cnmi_default)
        self.cpms = ["SM", "SM", "SM"]
        self.csms = 0
        self._announce_ready()

    def _sms_service_down(self) -> bool:
        """In the start-up window, until its end has run (the defaults set): no SMS command is taken
        before then, or the defaults would silently undo it."""
        return self.sched.now() < self._sms_ready_at or self._sms_starting

    def _announce_ready(self) -> None:
        for line in self.profile.ready_lines:
            self._urc([line])

    def _set_reg(self, stat: int) -> None:
        if stat == self.reg_stat:
            return
        self.reg_stat = stat
        lines: list[str] = []
        for n, label in ((self.creg_n, "+CREG"), (self.cgreg_n, "+CGREG"), (self.cereg_n, "+CEREG")):
            if n == 1 or (n == 2 and not self.registered):
                lines.append(f"{label}: {stat}")
            elif n == 2:
                lines.append(f'{label}: {stat},"1A2B","00C3"')
        for line in lines:
            self._urc([line])

    # -- from the network --------------------------------------------------------------------------
    def network_deliver(self, pdus: list[str], mode: str = "auto") -> None:
        """SMS-DELIVER parts arriving from the network (held by the network while unregistered)."""
        with self._lock:
            if not self.powered or not self.registered or self._hung():
                self._waiting_network.append(lambda: self.network_deliver(pdus, mode))
                return
            for pdu in pdus:
                self._incoming_deliver(pdu, mode)

    def network_status_report(self, pdu: str) -> None:
        with self._lock:
            if not self.powered or not self.registered or self._hung():
                self._waiting_network.append(lambda: self.network_status_report(pdu))
                return
            if self._sms_service_down():
                # attached, but its SMS service is not up yet: nothing acknowledges the report, so the
                # SMSC keeps it and tries again later (store and forward), not the moment it attaches
                self.network.retry_later(lambda: self.network_status_report(pdu))
                return
            ds = self.cnmi[3]
            if ds == 1:
                if self.cmgf == 0:
                    lines = [f"+CDS: {tpdu_length(pdu)}", pdu]
                else:
                    rep = decode(pdu)
                    assert isinstance(rep, StatusReport)
                    lines = [f'+CDS: 6,{rep.reference},"{rep.recipient}",145,"{text_timestamp(rep.sent_at)}",'
                             f'"{text_timestamp(rep.discharged_at)}",{rep.status}']
                self._indicate_direct(lines, lambda: self.network_status_report(pdu))
            elif ds == 2:
                name = self.profile.report_storage or self.cpms[2]
                storage = self.storages[name] if self.profile.report_storage else self._storage(2)
                index = storage.add(REC_UNREAD, pdu)
                if index is not None:
                    self._sms_urc([f'+CDSI: "{name}",{index}'])
                else:
                    self._waiting_reports.append(pdu)  # refused: the SMSC tries again once there is room
                    self._memory_full()
            else:
                self.reports_discarded += 1  # ds=0: not routed to the host (27.005), as after a reboot

    def _incoming_deliver(self, pdu: str, mode: str = "auto") -> bool:
        mt = self.cnmi[1]
        # class 0 (flash) is routed to the host, not stored, under mt=1 too (27.005 §3.4.1)
        direct = mode == "cmt" or (mode == "auto" and (mt == 2 or mt == 1 and _flash(pdu)))
        if direct and self.host_present():
            if self.cmgf == 0:
                lines = [self.profile.cmt_header.format(length=tpdu_length(pdu)), pdu]
            else:
                msg = decode(pdu)
                assert isinstance(msg, Deliver)
                lines = [f'+CMT: "{self._text_out(msg.sender)}","","{text_timestamp(msg.timestamp)}"',
                         self._text_out(msg.text)]
            self._indicate_direct(lines, lambda: self.network_deliver([pdu], mode))
            self.deliveries.append((round(time.time(), 3), "cmt", pdu))
            return True
        storage = self._storage(2)
        index = storage.add(REC_UNREAD, pdu)
        self.deliveries.append((round(time.time(), 3), "stored" if index is not None else "memory_full", pdu))
        if index is None:
            self._waiting_space.append(pdu)
            self._memory_full()
            return False
        if mode == "cmti" or (mode == "auto" and mt in (1, 3)):
            self._sms_urc([f'+CMTI: "{self.cpms[2]}",{index}'])
        return True

    def _memory_full(self) -> None:
        if self.profile.storage_full_urc and not self._full_announced:
            self._full_announced = True
            self._urc([self.profile.storage_full_urc])

    def _space_freed(self) -> None:
        """Messages the network could not store while memory was full are delivered again."""
        self._full_announced = False
        waiting, self._waiting_space = self._waiting_space, []
        for pdu in waiting:
            self._incoming_deliver(pdu)
        reports, self._waiting_reports = self._waiting_reports, []
        for pdu in reports:
            self.network_status_report(pdu)

    def _sms_urc(self, lines: list[str]) -> None:
        """+CMTI/+CMT/+CDS/+CDSI obey AT+CNMI <mode>: 0 buffers them in the modem."""
        if self.cnmi[0] == 0:
            self._urc_buffer.append(lines)
        else:
            self._urc(lines)

    def _indicate_direct(self, lines: list[str], redeliver: Callable[[], None] | None = None) -> None:
        """+CMT/+CDS; with AT+CSMS=1 the host must AT+CNMA within cnma_timeout or it comes again;
        one never acknowledged is the network's again (`_unacknowledged`)."""
        self._sms_urc(lines)
        if self.csms != 1:
            return
        ack = _AwaitingAck(lines, redeliver)
        self._acks.append(ack)

        def resend() -> None:
            if ack not in self._acks:
                return
            if ack.resends >= MAX_CNMA_RESENDS:
                self._acks.remove(ack)
                self._unacknowledged(ack)
                return
            ack.resends += 1
            self._sms_urc(ack.lines)
            ack.timer = self._later(self.cnma_timeout, resend)

        ack.timer = self._later(self.cnma_timeout, resend)

    def _drop_acks(self) -> None:
        """Power gone or a reboot: what awaited the host's +CNMA will not be acknowledged now."""
        for ack in getattr(self, "_acks", []):
            if ack.timer:
                ack.timer.cancel()
            self._unacknowledged(ack)
        self._acks: list[_AwaitingAck] = []

    def _unacknowledged(self, ack: _AwaitingAck) -> None:
        """Under AT+CSMS=1 the network counts a +CMT/+CDS delivered only once the host acknowledged
        it: one the host never did (gone, or the modem lost power first) is refused to the network
        (RP-ERROR, 3GPP TS 24.011), and the SMSC, which kept it, offers it again later."""
        if ack.redeliver is not None:
            self.network.retry_later(ack.redeliver)

    def _noise(self, i: int) -> None:
        if not self.curc or not self.profile.noise:
            return
        self._urc([self.profile.noise[i % len(self.profile.noise)]])
        self._later(self.noise_interval, lambda: self._noise(i + 1))
