"""The real serial driver (transport, session, supervisor) against virtual modems over ptys.

The first group covers the defects found in python-gsmmodem-new's transport, each test named by the
behaviour that library got wrong; each fault kind of the virtual modem is exercised with the modem
back in service afterwards.
"""

from __future__ import annotations

import time

import pytest
import serial

from modem.encoding import segment_info
from modem.errors import CmsError, CommandTimeout, ErrorClass, PromptTimeout
from modem.report_match import matches_any
from modem.session import SendFailed
from modem.supervisor import ModemSettings, ModemState
from modem.transport import AtTransport

from .modem_helpers import (Inbox, another_program_wrote, fail_nth_send, fast_settings, start_supervisor, virtual_modems,
                            wait_settled, wait_until, when_the_modem_sees)

pytestmark = pytest.mark.timeout(60)

SCRIPTS = {
    "english": "Your order #1234 is ready for collection. Thank you!",
    "arabic": "طلبك جاهز للاستلام. شكرا لك!",
    "russian": "Ваш заказ готов к выдаче. Спасибо!",
    "chinese": "您的订单已准备好取货。谢谢！",
    "emoji": "Sale today 🎉🛍️ 50% off 👍🏽",
    "extension": "Symbols €[]{}~^|\\ all here",
}


@pytest.fixture
def sim_options() -> dict:
    return {"count": 2, "profile": "sim800,e3131"}


@pytest.fixture
def inbox():
    return Inbox()


@pytest.fixture
def modem1(sim, inbox):
    supervisor = start_supervisor("sim1", sim.ports["sim1"].path, inbox)
    yield supervisor
    supervisor.stop()


def submitted(sim, *, to: str | None = None) -> list[dict]:
    entries = sim.network.record.submitted
    return [e for e in entries if to is None or e["recipient"].endswith(to[-9:])]


@pytest.mark.parametrize("profile", ["sim800", "e3131", "ec25", "generic"])
def test_init_and_identity_on_each_profile(tmp_path, profile):
    simulation = virtual_modems(tmp_path, profile=profile, report_delay=1.0)
    try:
        supervisor = start_supervisor("sim1", simulation.ports["sim1"].path, Inbox())
        try:
            with supervisor.session() as session:
                identity = session.identity()
                health = session.health()
            assert identity.imei.isdigit() and len(identity.imei) == 15
            assert identity.imsi and identity.imsi.isdigit()
            assert identity.iccid and identity.iccid.startswith("89")
            assert identity.manufacturer and identity.model
            assert health.registered and health.operator == "Virtual Tel"
            assert 0 < health.signal.bars <= 5 and health.signal.dbm < 0
            assert health.smsc and health.smsc.startswith("+")
        finally:
            supervisor.stop()
    finally:
        simulation.close()


@pytest.mark.parametrize("script", sorted(SCRIPTS))
@pytest.mark.parametrize("repeat", [1, 4])  # one part, then several
def test_send_any_script_single_and_multipart(sim, modem1, inbox, script, repeat):
    text = " ".join([SCRIPTS[script]] * repeat)
    with modem1.session() as session:
        parts = session.send("+447700900123", text)
    info = segment_info(text)
    assert len(parts) == info.parts
    assert [p.seq for p in parts] == list(range(1, info.parts + 1))
    references = [p.reference for p in parts]
    assert len(set(references)) == len(references)  # every part's reference kept, not only the last
    records = submitted(sim, to="+447700900123")
    assert [r["mr"] for r in records] == references
    assert "".join(r["text"] for r in sorted(records, key=lambda r: r["concat_seq"])) == text
    if info.parts > 1:
        assert len({r["concat_ref"] for r in records}) == 1
    # status reports come back and match every part by reference
    outstanding = [("+447700900123", ref) for ref in references]
    wait_until(lambda: len(inbox.reports) >= len(parts), 10, "status reports")
    assert all(matches_any(r, outstanding) for r in inbox.reports)
    assert {r.reference for r in inbox.reports} == set(references)
    assert all(r.outcome == "delivered" for r in inbox.reports)


def test_failed_status_report_and_permanent_error(sim, modem1, inbox):
    with modem1.session() as session:
        [part] = session.send("+447700900000", "to a number that will fail")
    wait_until(lambda: inbox.reports, 10, "report")
    assert inbox.reports[0].outcome == "failed" and inbox.reports[0].reference == part.reference
    sim.ports["sim1"].modem.cms_error(21, times=1)  # short message transfer rejected
    with modem1.session() as session, pytest.raises(SendFailed) as info:
        session.send("+447700900123", "rejected")
    assert isinstance(info.value.cause, CmsError) and info.value.cause.error_class is ErrorClass.PERMANENT


def test_transient_error_then_success_keeps_accepted_parts(sim, modem1):
    """A multipart whose part 2 hits a transient error: part 1's reference is reported as sent."""
    text = "x" * 400  # three parts
    fail_nth_send(sim.ports["sim1"].modem, 2, 42)  # congestion, on the second part only
    with modem1.session() as session, pytest.raises(SendFailed) as info:
        session.send("+447700900123", text)
    assert [p.seq for p in info.value.sent] == [1]
    assert info.value.failed_seq == 2 and info.value.cause.transient


def test_inbound_cmti_and_cmt_single_and_multipart(sim, modem1, inbox):
    modem = sim.ports["sim1"].modem
    long_text = "Привет! " * 30
    modem.inject_sms("+447700900555", "hello via CMTI", mode="cmti")
    modem.inject_sms("+447700900556", "hello via CMT", mode="cmt")
    modem.inject_sms("+447700900557", long_text, mode="cmti", split=True)
    modem.inject_sms("+447700900558", long_text, mode="cmt")
    wait_until(lambda: len(inbox.sms) >= 2 + 2 * segment_info(long_text).parts, 10, "all inbound parts")
    assert "hello via CMTI" in inbox.texts() and "hello via CMT" in inbox.texts()
    for sender in ("+447700900557", "+447700900558"):
        parts = [s.message for s in inbox.sms if s.message and s.message.sender == sender]
        joined = "".join(p.text for p in sorted(parts, key=lambda p: p.concat.seq))
        assert joined == long_text
    # stored ones were deleted from the SIM after the handler kept them
    wait_until(lambda: modem.status()["stored"].get("SM", 0) == 0, 10, "SIM emptied")


def test_stored_messages_read_at_start(sim, inbox):
    modem = sim.ports["sim2"].modem
    modem.power_off()
    sim.ports["sim2"].modem.boot()
    modem.inject_sms("+447700900777", "waiting on the SIM before we started", mode="cmti")
    supervisor = start_supervisor("sim2", sim.ports["sim2"].path, inbox)
    try:
        wait_until(lambda: "waiting on the SIM before we started" in inbox.texts(), 10, "stored SMS")
    finally:
        supervisor.stop()


def test_ussd(sim, modem1):
    sim.ports["sim1"].modem.ussd_reply("Balance 5.00 GBP. RING 0800 123 for offers")
    with modem1.session() as session:
        assert session.ussd("*100#", timeout=5) == "Balance 5.00 GBP. RING 0800 123 for offers"


def test_virtual_modems_text_each_other(sim, modem1, inbox):
    other = Inbox()
    modem2 = start_supervisor("sim2", sim.ports["sim2"].path, other)
    try:
        with modem1.session() as session:
            session.send(sim.ports["sim2"].modem.msisdn, "hi from sim1 👋")
        wait_until(lambda: "hi from sim1 👋" in other.texts(), 10, "delivery to sim2")
        assert other.sms[0].message.sender.endswith(sim.ports["sim1"].modem.msisdn[-9:])
    finally:
        modem2.stop()


# ---- the defects of the plain library -------------------------------------------------------

def slot_of(modem, pdu: str) -> tuple[str, int]:
    """(memory, index) where the virtual modem stored the SMS-DELIVER `pdu`."""
    for name, storage in modem.storages.items():
        for index, stored in storage.items():
            if stored.pdu == pdu:
                return name, index
    raise AssertionError("the SMS is not stored")


def test_an_sms_announced_in_the_middle_of_an_answer_is_read(sim, inbox):
    """The +CMTI between the lines of a multi-line answer is the SMS's only announcement (no sweep
    comes in this test's time): it must be taken as a URC and the answer must stay whole."""
    supervisor = start_supervisor("sim1", sim.ports["sim1"].path, inbox, check_interval_s=600)
    try:
        modem = sim.ports["sim1"].modem
        [pdu] = modem.inject_sms("+447700900002", "announced mid-answer", mode="store")  # no URC of its own
        memory, index = slot_of(modem, pdu)
        modem.urc_midresponse(f'+CMTI: "{memory}",{index}')
        with supervisor.session() as session:
            health = session.health()  # a multi-line answer: the +CMTI lands between its lines
        assert health.registered and health.operator == "Virtual Tel" and health.signal.csq is not None
        wait_until(lambda: "announced mid-answer" in inbox.texts(), 10, "the SMS announced mid-answer")
        wait_until(lambda: modem.status()["stored"][memory] == 0, 10, "the SMS deleted once stored")
        assert inbox.texts() == ["announced mid-answer"]
    finally:
        supervisor.stop()


def test_a_directly_delivered_sms_is_handled_and_acknowledged(sim, inbox):
    """+CMT under AT+CSMS=1: the host must AT+CNMA each one, or the modem delivers it again (and the
    network, in the end, reports it undelivered)."""
    modem = sim.ports["sim1"].modem
    modem.cnma_timeout = 0.5
    another_program_wrote(sim.ports["sim1"].path, b"AT+CSMS=1\r", until=b"OK\r\n")  # SMS service 1 left set
    supervisor = start_supervisor("sim1", sim.ports["sim1"].path, inbox)
    try:
        with supervisor.session() as session:
            assert session.ack_required
        modem.inject_sms("+447700900003", "direct", mode="cmt")
        wait_until(lambda: "direct" in inbox.texts(), 10, "the +CMT delivery")
        wait_until(lambda: modem.status()["awaiting_ack"] == 0, 10, "the +CNMA")
        assert modem.status()["stored"]["SM"] == 0 and inbox.texts() == ["direct"]
    finally:
        supervisor.stop()


def test_a_status_report_whose_lines_arrive_apart_is_read(sim, modem1, inbox):
    modem = sim.ports["sim1"].modem
    modem.split_lines(True)  # header and PDU line ~50 ms apart, in small chunks
    with modem1.session() as session:
        [part] = session.send("+447700900123", "split report")
    wait_until(lambda: inbox.reports, 10, "status report split across reads")
    assert inbox.reports[0].reference == part.reference
    modem.split_lines(False)


def test_bytes_that_are_not_utf8_do_not_kill_the_reader(sim, modem1):
    sim.ports["sim1"].modem.garbage(b"\xff\xfe\x80 noise \xc3\r\n")
    with modem1.session() as session:
        assert session.health().registered
    assert modem1.state is ModemState.READY


def test_after_a_timeout_each_answer_goes_to_its_own_command(sim):
    """The transport alone (no supervisor whose health checks could meet the hang and close the
    port): a command that times out, then the next ones each get their own answer."""
    modem = sim.ports["sim1"].modem
    transport = AtTransport(sim.ports["sim1"].path, fast_settings("sim1", sim.ports["sim1"].path))
    transport.open()
    try:
        transport.command("AT")
        # hung for longer than the test may run: the command and the transport's resync `AT` after it
        # get no answer however late the load lets them reach the modem
        modem.hang(60)
        with pytest.raises(CommandTimeout):
            transport.command("AT+CGMM", timeout=0.5)
        # the transport resynced by itself before raising; the hang ends now (a new hang's end
        # replaces the old one's), and the next command goes out once the modem says it is over
        modem.hang(0.001)
        wait_until(lambda: not modem.status()["hung"], what="the hang to end")
        first = transport.command("AT+CSQ", timeout=5).first("+CSQ:")
        imsi = transport.command("AT+CIMI", timeout=5).text()
    finally:
        transport.close()
    assert first and first.startswith("+CSQ:")
    assert imsi.isdigit()  # the IMSI, not a late model name or signal line


def test_a_late_ok_before_the_prompt_is_not_taken_for_the_send(sim, modem1):
    """A slow modem's late OK (to an earlier command) that lands right after AT+CMGS is not its
    answer: the PDU never went, so no part may be recorded sent (with no reference, its status
    report could never be matched)."""
    modem = sim.ports["sim1"].modem
    when_the_modem_sees(modem, 1, lambda: modem.send_urc("OK"))
    with modem1.session() as session:
        with pytest.raises(SendFailed) as info:
            session.send("+447700900123", "after a late OK")
        assert isinstance(info.value.cause, PromptTimeout) and info.value.sent == []
        [part] = session.send("+447700900123", "sent again")
    assert part.reference is not None
    assert [r["text"] for r in submitted(sim)] == ["sent again"]


def test_a_missing_prompt_is_cancelled_with_esc(sim, inbox):
    modem = sim.ports["sim1"].modem
    # a prompt timeout shorter than the default 10 s (test_prompt_timeout_is_a_setting in
    # test_modem_answers.py shows the driver waits what the setting says)
    supervisor = start_supervisor("sim1", sim.ports["sim1"].path, inbox, prompt_timeout_s=2.0)
    try:
        modem.no_prompt(1)
        with supervisor.session() as session:
            with pytest.raises(SendFailed) as info:
                session.send("+447700900123", "no prompt")
            assert isinstance(info.value.cause, PromptTimeout)
            # the modem was told ESC: the next command is not swallowed as PDU text
            assert session.transport.command("AT+CSQ").first("+CSQ:")
            parts = session.send("+447700900123", "after the prompt trouble")
    finally:
        supervisor.stop()
    assert len(parts) == 1
    assert [r["text"] for r in submitted(sim)] == ["after the prompt trouble"]


def test_ring_inside_a_ussd_answer_is_not_a_call(sim, modem1):
    sim.ports["sim1"].modem.ussd_reply("Call RING now")
    with modem1.session() as session:
        assert session.ussd("*100#", timeout=5) == "Call RING now"


def test_the_character_set_stays_gsm_after_a_ucs2_send(sim, modem1):
    with modem1.session() as session:
        session.send("+447700900123", "UCS-2 text: Привет")
        line = session.transport.command("AT+CSCS?").first("+CSCS:")
        assert line == '+CSCS: "GSM"'
        assert session.health().operator == "Virtual Tel"  # not hex


def test_the_operator_is_decoded_when_another_program_left_ucs2(sim, modem1):
    with modem1.session() as session:
        session.transport.command('AT+CSCS="UCS2"')
        assert session.health().operator == "Virtual Tel"
        session.init()  # re-init puts GSM back
        assert session.transport.command("AT+CSCS?").first("+CSCS:") == '+CSCS: "GSM"'


def test_a_stored_sms_stays_on_the_sim_while_the_handler_fails(sim, modem1, inbox):
    modem = sim.ports["sim1"].modem
    inbox.refuse = True
    modem.inject_sms("+447700900004", "must not be lost", mode="cmti")
    wait_until(lambda: inbox.refused >= 1, 10, "the SMS read and refused by the handler (a sweep may read it too)")
    with modem1.session() as session:  # the reader is done with it: a delete would have come before this
        session.health()
    assert modem.status()["stored"]["SM"] == 1  # kept on the SIM
    inbox.refuse = False
    modem1.check_now()  # the periodic sweep picks it up
    wait_until(lambda: "must not be lost" in inbox.texts(), 10)
    wait_until(lambda: modem.status()["stored"]["SM"] == 0, 10, "deleted after it was kept")


def test_text_in_any_encoding_goes_through_the_driver(sim, modem1):
    with modem1.session() as session:
        session.send("+447700900123", "ÿ and 🙂")
        with pytest.raises(ValueError):
            session.send("+44 7700 900123", "spaces in a number are refused, not sent as a name")
    [record] = submitted(sim)
    assert record["text"] == "ÿ and 🙂" and record["encoding"] == "ucs2"


def test_flow_control_is_configurable(sim):
    port = sim.ports["sim1"].path
    plain = AtTransport(port)
    plain.open()
    try:
        assert plain._serial.rtscts is False
    finally:
        plain.close()
    hardware = AtTransport(port, ModemSettings("modem", port=port, rtscts=True))
    hardware.open()
    try:
        assert hardware._serial.rtscts is True
    finally:
        hardware.close()


# ---- faults ---------------------------------------------------------------------------------

def test_latency_is_tolerated(sim, modem1):
    sim.ports["sim1"].modem.set_latency(0.3)
    with modem1.session() as session:
        assert len(session.send("+447700900123", "slow modem")) == 1
    sim.ports["sim1"].modem.set_latency(0)


def test_hang_is_detected_and_recovered(sim, inbox):
    modem = sim.ports["sim1"].modem
    # the ladder may reach AT+CFUN=1,1, after which it waits boot_s: the virtual modem is up at once
    supervisor = start_supervisor("sim1", sim.ports["sim1"].path, inbox, boot_s=0.5)
    try:
        modem.hang(60)  # the hang lasts until the supervisor has found it (an event), not a guessed 3 s
        wait_until(lambda: supervisor.state is not ModemState.READY, 10, "hang detected")
        modem.hang(0.01)  # then the modem answers again by itself
        wait_until(lambda: supervisor.state is ModemState.READY, 15, "back in service")
    finally:
        supervisor.stop()


def test_unplug_3s_back_in_service_by_itself(sim, modem1):
    port = sim.ports["sim1"]
    port.unplug()
    wait_until(lambda: modem1.state is ModemState.DISCONNECTED or modem1.state is ModemState.CONNECTING,
               10, "unplug noticed")
    time.sleep(3)  # the modem stays away for 3 s, as in the acceptance test
    returned = time.monotonic()
    port.replug()
    wait_until(lambda: modem1.state is ModemState.READY, 30, "back in service")
    assert time.monotonic() - returned < 30
    assert port.plugged and port.pty_path  # a new pty behind the same link (the kernel may reuse the number)
    with modem1.session() as session:
        assert len(session.send("+447700900123", "after replug")) == 1


def test_cms_error_n_times(sim, modem1):
    sim.ports["sim1"].modem.cms_error(500, times=2)
    with modem1.session() as session:
        for _ in range(2):
            with pytest.raises(SendFailed) as info:
                session.send("+447700900123", "busy")
            assert info.value.cause.transient
        assert len(session.send("+447700900123", "third time lucky")) == 1


def test_no_network_then_back(sim, modem1):
    modem = sim.ports["sim1"].modem
    modem.no_network(True)
    wait_until(lambda: modem1.state is ModemState.NO_NETWORK, 10, "no network noticed")
    modem.no_network(False)
    wait_until(lambda: modem1.state is ModemState.READY, 10, "network back")


def test_sim_missing_and_pin(tmp_path):
    simulation = virtual_modems(tmp_path, report_delay=1.0)
    try:
        modem = simulation.ports["sim1"].modem
        modem.sim("missing")
        from modem.supervisor import ModemSupervisor

        from .modem_helpers import fast_settings

        supervisor = ModemSupervisor(fast_settings("sim1", simulation.ports["sim1"].path), Inbox())
        supervisor.start()
        try:
            wait_until(lambda: supervisor.state is ModemState.SIM_ERROR, 10, "SIM error")
            assert "not inserted" in supervisor.reason or "seated" in supervisor.reason
        finally:
            supervisor.stop()
        modem.sim("pin", pin="4321")
        supervisor = ModemSupervisor(fast_settings("sim1", simulation.ports["sim1"].path), Inbox())
        supervisor.start()
        try:
            wait_until(lambda: supervisor.state is ModemState.SIM_ERROR, 10, "PIN asked")
            assert "PIN" in supervisor.reason
        finally:
            supervisor.stop()
        supervisor = start_supervisor("sim1", simulation.ports["sim1"].path, Inbox(), pin="4321")
        supervisor.stop()
    finally:
        simulation.close()


def test_storage_full_then_freed(sim, inbox):
    """The SIM fills up with messages nobody announced: the next one waits in the network and the
    modem says the memory is full. That signal alone (no periodic sweep comes in this test's time)
    makes the gateway read and free the SIM, and the waiting message then arrives, each once."""
    modem = sim.ports["sim1"].modem
    supervisor = start_supervisor("sim1", sim.ports["sim1"].path, inbox, check_interval_s=600)
    try:
        memory = modem.cpms[2]  # where the modem stores what arrives
        capacity = modem.storages[memory].capacity
        for i in range(capacity):
            modem.inject_sms("+447700900005", f"stored {i}", mode="store")
        assert modem.status()["stored"][memory] == capacity and inbox.texts() == []
        modem.inject_sms("+447700900006", "waits in the network while the SIM is full", mode="cmti")
        expected = [f"stored {i}" for i in range(capacity)] + ["waits in the network while the SIM is full"]
        wait_until(lambda: len(inbox.texts()) >= len(expected), 15, "every message read once there was room")
        wait_until(lambda: modem.status()["stored"][memory] == 0, 10, "the SIM emptied")
        assert sorted(inbox.texts()) == sorted(expected)
    finally:
        supervisor.stop()


def test_unsolicited_noise_everywhere(sim, modem1, inbox):
    modem = sim.ports["sim1"].modem
    for line in ("RING", "^RSSI:12", "+CREG: 1", "Call Ready", "^BOOT:1,0,0,0,0"):
        modem.send_urc(line)
    with modem1.session() as session:
        assert len(session.send("+447700900123", "through the noise")) == 1
    assert modem1.state is ModemState.READY


def test_pyserial_is_really_used_on_a_pty(sim):
    """Guard: the transport opens the pty through pyserial (the real path, not a stand-in)."""
    transport = AtTransport(sim.ports["sim1"].path)
    transport.open()
    try:
        assert isinstance(transport._serial, serial.Serial)
        assert transport.command("AT").lines == []
    finally:
        transport.close()


def test_modem_left_in_a_prompt_by_a_crashed_process(sim, inbox):
    """Another process died after AT+CMGS: the modem swallows input as PDU text until ESC."""
    another_program_wrote(sim.ports["sim1"].path, b"ATE0\r", b"AT+CMGS=20\r", until=b"> ")
    supervisor = start_supervisor("sim1", sim.ports["sim1"].path, inbox)
    try:
        with supervisor.session() as session:
            assert len(session.send("+447700900123", "after a crash")) == 1
    finally:
        supervisor.stop()


def test_a_failure_before_the_pdu_cancels_the_send(sim, modem1):
    """submit(before_pdu=...): the caller's commit runs while the modem gets to its prompt; if it
    fails, ESC cancels the input, nothing reaches the network and the line stays usable."""
    from modem.pdu import encode_submit

    calls: list[int] = []

    def failing_commit() -> None:
        calls.append(len(submitted(sim)))
        raise RuntimeError("disk full")

    part = encode_submit("+447700900123", "must not go")[0]
    with modem1.session() as session:
        with pytest.raises(RuntimeError, match="disk full"):
            session.submit(part, before_pdu=failing_commit)
        assert calls == [0]
        assert session.transport.command("AT+CSQ").first("+CSQ:")  # not swallowed as PDU text
        ok = encode_submit("+447700900123", "this one goes")[0]
        reference = session.submit(ok, before_pdu=lambda: calls.append(len(submitted(sim))))
    assert reference is not None
    assert calls == [0, 0]  # the PDU waited for the commit both times
    assert [r["text"] for r in submitted(sim)] == ["this one goes"]
