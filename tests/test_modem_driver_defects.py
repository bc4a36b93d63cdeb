"""The real serial driver against virtual modems over ptys: the defects found in
python-gsmmodem-new's transport, each test named by the behaviour that library got wrong.
"""

from __future__ import annotations

import pytest

from modem.errors import CommandTimeout, PromptTimeout
from modem.session import SendFailed
from modem.supervisor import ModemSettings, ModemState
from modem.transport import AtTransport

from .modem_helpers import (another_program_wrote, fast_settings, start_supervisor, submitted, wait_until,
                            when_the_modem_sees)
from .modem_helpers import inbox, modem1, sim800_and_e3131  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(60)


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
