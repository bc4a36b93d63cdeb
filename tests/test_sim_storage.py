"""SMS memories through the real driver (transport, session, supervisor) on virtual modems over ptys:
the memory a URC names is the one read, one reader at a time, stored status reports applied, sweeps
only when there is a reason, memory-full signals answered at once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.inbound.storing import StoringInbound
from gateway.outbound.engine import Engine
from gateway.outbound.queue import Queue
from gateway.store import db
from modem.session import InboundSms, SendFailed
from modem.supervisor import ModemSupervisor
from modem.virtual import VirtualModem

from .modem_helpers import Inbox, start_supervisor, virtual_modems, wait_settled, wait_until

pytestmark = pytest.mark.timeout(60)


def simulator(tmp_path, profile: str, **kwargs):
    return virtual_modems(tmp_path / "ports", profile=profile, **kwargs)


def count_commands(modem, command: bytes) -> dict[str, int]:
    """Count the commands starting with `command` that reach the virtual modem."""
    seen = {"count": 0}
    original = modem.feed

    def feed(data: bytes) -> None:
        seen["count"] += data.count(command)
        original(data)

    modem.feed = feed
    return seen


@contextlib.contextmanager
def supervised(tmp_path, profile: str, inbox: Inbox | StoringInbound,
               **settings: Any) -> Iterator[tuple[VirtualModem, ModemSupervisor]]:
    """sim1 of a fresh `profile` simulation and a started supervisor handing its inbound to `inbox`;
    both stopped after."""
    sim = simulator(tmp_path, profile)
    try:
        supervisor = start_supervisor("sim1", sim.ports["sim1"].path, inbox, **settings)
        try:
            yield sim.ports["sim1"].modem, supervisor
        finally:
            supervisor.stop()
    finally:
        sim.close()


def stored(modem, storage: str) -> int:
    return modem.status()["stored"].get(storage, 0)


# ---- item 2: the memory named in +CMTI/+CDSI ----------------------------------------------------

def test_a_report_announced_in_sr_is_read_there_and_the_sms_in_the_same_slot_of_sm_stays(tmp_path):
    inbox = Inbox()
    with supervised(tmp_path, "e3131", inbox) as (modem, supervisor):
        inbox.refuse = True  # this SMS stays in SM slot 0
        modem.inject_sms("+447700900555", "kept on the SIM", mode="cmti")
        wait_until(lambda: stored(modem, "SM") == 1, 10, "SMS in SM")
        with supervisor.session() as session:
            [part] = session.send("+447700900123", "asks for a report")  # +CDSI: "SR",0
        wait_until(lambda: inbox.reports, 10, "the report read from SR")
        assert [r.reference for r in inbox.reports] == [part.reference]
        wait_until(lambda: stored(modem, "SR") == 0, 10, "the report deleted from SR")
        assert stored(modem, "SM") == 1  # the SMS in slot 0 of SM was not read as a report and deleted


# ---- item 3: one reader, delete only what was read, store once ----------------------------------

class RacingInbox(Inbox):
    """While the sweep holds SMS "A", its late +CMTI arrives and (with two readers) the events thread
    takes it too and frees its slot; then "B" arrives unannounced and takes the lowest free slot,
    which the sweep then deletes as A's."""

    def __init__(self, modem) -> None:
        super().__init__()
        self.modem = modem

    def on_sms(self, modem: str, sms: InboundSms) -> bool:
        super().on_sms(modem, sms)
        if sms.message and sms.message.text == "A" and self.texts().count("A") == 1:
            self.modem.send_urc('+CMTI: "SM",1')
            with contextlib.suppress(AssertionError):  # with one reader, slot 1 stays A's
                wait_until(lambda: stored(self.modem, "SM") == 0, 1.5, "slot 1 freed by another reader")
            self.modem.inject_sms("+447700900556", "B", mode="store")
        return True


def test_the_sweep_and_the_events_thread_never_read_the_same_slots(tmp_path):
    sim = simulator(tmp_path, "sim800")
    try:
        modem = sim.ports["sim1"].modem
        inbox = RacingInbox(modem)
        supervisor = start_supervisor("sim1", sim.ports["sim1"].path, inbox, check_interval_s=60.0)
        try:
            modem.inject_sms("+447700900555", "A", mode="store")  # slot 1, its +CMTI comes later
            supervisor.check_now()
            wait_until(lambda: "A" in inbox.texts() and stored(modem, "SM") <= 1, 10, "the sweep")
            supervisor.check_now()  # B, if it is still there, is found by the next sweep
            wait_until(lambda: "B" in inbox.texts(), 10, "B read")
            wait_until(lambda: stored(modem, "SM") == 0, 10, "SIM emptied")
            assert sorted(inbox.texts()) == ["A", "B"]  # each once: no second copy, none deleted unread
        finally:
            supervisor.stop()
    finally:
        sim.close()


def test_an_sms_read_again_before_its_slot_was_deleted_is_stored_once(tmp_path, clock, database):
    queue = Queue(db.sessions(database), clock)
    inbound = StoringInbound(Engine(queue, clock), clock)
    announced: list[int] = []
    inbound.received.append(lambda part: announced.append(part.id))
    with supervised(tmp_path, "sim800", inbound, check_interval_s=60.0) as (modem, supervisor):
        wait_settled(supervisor, modem)  # its SMS Ready acted on: the next sweep is the one asked for
        modem.cms_error(500, times=1, command="CMGD")  # stored, then the delete fails (or we crash)
        modem.inject_sms("+447700900555", "STOP", mode="cmti")
        wait_until(lambda: announced, 10, "the SMS stored")
        assert stored(modem, "SM") == 1
        supervisor.check_now()  # the sweep reads it again
        wait_until(lambda: stored(modem, "SM") == 0, 10, "deleted the second time")
        assert len(announced) == 1  # one part, one STOP confirmation


def test_a_line_between_a_listing_header_and_its_pdu_is_not_taken_for_the_pdu(tmp_path):
    inbox = Inbox()
    with supervised(tmp_path, "sim800", inbox, check_interval_s=60.0) as (modem, supervisor):
        modem.inject_sms("+447700900555", "listed with noise inside", mode="store")
        modem.urc_inside_pair("^CSNR: -90,-5")  # a vendor URC the transport does not know
        supervisor.check_now()
        wait_until(lambda: stored(modem, "SM") == 0, 10, "the sweep")
        assert inbox.texts() == ["listed with noise inside"]
        assert all(sms.error is None for sms in inbox.sms)


# ---- item 4: stored reports, sweeps with a reason, memory full -----------------------------------

@pytest.mark.parametrize(("profile", "memory"), [("ec25", "SM"), ("e3131", "SR")])
def test_reports_stored_while_the_daemon_was_down_are_applied_and_deleted(tmp_path, profile, memory):
    sim = simulator(tmp_path, profile, report_delay=1.0)
    inbox = Inbox()
    try:
        modem = sim.ports["sim1"].modem
        supervisor = start_supervisor("sim1", sim.ports["sim1"].path, inbox)
        with supervisor.session() as session:
            [part] = session.send("+447700900123", "reported while we are away")
        supervisor.stop()
        wait_until(lambda: stored(modem, memory) == 1, 10, "the report stored on the modem")
        assert not inbox.reports
        supervisor = start_supervisor("sim1", sim.ports["sim1"].path, inbox)
        try:
            wait_until(lambda: inbox.reports, 10, "the stored report applied")
            assert [(r.reference, r.outcome) for r in inbox.reports] == [(part.reference, "delivered")]
            wait_until(lambda: stored(modem, memory) == 0, 10, "the report deleted")
        finally:
            supervisor.stop()
    finally:
        sim.close()


def test_an_sms_left_on_the_sim_does_not_list_it_every_check(tmp_path):
    inbox = Inbox()
    with supervised(tmp_path, "sim800", inbox, check_interval_s=0.2) as (modem, supervisor):
        inbox.refuse = True  # the handler keeps failing: the SMS stays
        modem.inject_sms("+447700900555", "refused", mode="cmti")
        wait_until(lambda: stored(modem, "SM") == 1, 10, "SMS stored")
        listings, checks = count_commands(modem, b"AT+CMGL"), count_commands(modem, b"AT+CSQ")
        wait_until(lambda: checks["count"] >= 14, 20, "two full checks")
        assert listings["count"] <= 2


@pytest.mark.parametrize("profile", ["sim800", "e3131", "ec25"])
def test_a_full_sim_is_emptied_the_moment_it_says_so(tmp_path, profile):
    inbox = Inbox()
    with supervised(tmp_path, profile, inbox, check_interval_s=60.0) as (modem, supervisor):
        for i in range(modem.storages["SM"].capacity):
            modem.inject_sms("+447700900555", f"unseen {i}", mode="store")
        modem.inject_sms("+447700900556", "waits in the network", mode="cmti")  # -> vendor signal
        wait_until(lambda: "waits in the network" in inbox.texts(), 15, "the held SMS delivered")
        assert len(inbox.texts()) == modem.storages["SM"].capacity + 1


def test_cms_322_empties_the_sim_at_once(tmp_path):
    inbox = Inbox()
    # a generic modem has no vendor signal: the error is all it says
    with supervised(tmp_path, "generic", inbox, check_interval_s=60.0) as (modem, supervisor):
        modem.inject_sms("+447700900555", "unseen", mode="store")
        modem.cms_error(322, times=1)
        with pytest.raises(SendFailed), supervisor.session() as session:
            session.send("+447700900123", "memory full")
        wait_until(lambda: inbox.texts() == ["unseen"], 10, "the SIM read")
        wait_until(lambda: stored(modem, "SM") == 0, 10, "and emptied")
