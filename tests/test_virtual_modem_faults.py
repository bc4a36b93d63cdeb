"""The virtual modem's faults: latency, hangs, resets, injected CMS/CME errors, no network, a
missing or locked SIM and its PIN tries, URCs and split lines inside answers, a full store, a
missing prompt, garbage bytes, barred and refused numbers.

Each test talks AT through the REAL pty as a bare host does (modem_helpers.Host).
"""

from __future__ import annotations

import os
import re
import select
import time

import pytest

from modem.pdu import decode, encode_submit
from modem.virtual.control import apply

from .modem_helpers import Host, _make, _send_pdu, _wait_registered, wait_until
from .modem_helpers import hosts, two_modems  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(20)


# --------------------------------------------------------------------------------------------------
# Faults


def test_latency_delays_answers(sim, hosts):
    host = hosts()
    sim.ports["sim1"].modem.set_latency(0.3)
    start = time.monotonic()
    host.send("AT\rAT+CSQ\r")  # the second command waits for the first answer
    host.expect(r"OK\r\n")
    host.expect(r"\+CSQ: 21,99\r\n\r\nOK\r\n")
    assert time.monotonic() - start >= 0.55


def test_hang_answers_nothing_then_recovers(sim, hosts):
    host = hosts()
    modem = sim.ports["sim1"].modem
    modem.hang(60)  # hung for the whole quiet window, however late the test gets to it
    host.send("AT\r")
    assert host.quiet(0.3) == b""
    modem.hang(0.01)  # the hang ends
    wait_until(lambda: not modem.status()["hung"], 10, "the hang over")
    assert host.at("AT") == "\r\nOK\r\n"  # the command sent while hung was lost


def test_sms_arriving_during_a_hang_waits_in_the_network(sim, hosts):
    host = hosts()
    host.at("AT+CNMI=2,2,0,1,0")
    modem = sim.ports["sim1"].modem
    modem.hang(60)  # hung for the whole quiet window, however late the test gets to it
    modem.inject_sms("+447911000444", "while hung")
    assert host.quiet(0.3) == b""
    modem.hang(0.01)  # the hang ends: the network delivers what it held
    pdu = host.expect(r'\+CMT: "",\d+\r\n([0-9A-F]+)\r\n', timeout=10).group(1).decode()
    assert decode(pdu).text == "while hung"


def test_reset_by_control_reboots_with_a_start_up_window(tmp_path):
    with _make(tmp_path, "sim800", modem_options={"startup": 0.4}) as sim:
        host = Host(sim.ports["sim1"].path)
        try:
            host.expect(r"SMS Ready\r\n", timeout=3)
            assert host.at("ATE0").endswith("OK\r\n")
            apply(sim.ports, {"cmd": "reset", "modem": "sim1"})
            host.expect(r"RDY\r\n")
            assert host.at("AT+CMGL=4") == "AT+CMGL=4\r\r\n+CMS ERROR: 500\r\n"  # echo on again, SMS not up yet
            host.expect(r"SMS Ready\r\n", timeout=3)
        finally:
            host.close()


def test_cms_and_cme_error_injection(sim, hosts):
    host = hosts()
    modem = sim.ports["sim1"].modem
    modem.cms_error(38, times=2)
    assert _send_pdu(host, "+447911123456", "a") == ["+CMS ERROR: 38"]
    assert _send_pdu(host, "+447911123456", "a") == ["+CMS ERROR: 38"]
    assert _send_pdu(host, "+447911123456", "a") == ["+CMGS: 0\r\n\r\nOK"]
    host.at("AT+CMEE=1")
    modem.cme_error(515, command="CSQ")
    assert host.at("AT+CSQ") == "\r\n+CME ERROR: 515\r\n"
    assert host.at("AT+CSQ").startswith("\r\n+CSQ: 21")


def test_no_network(sim, hosts):
    host = hosts()
    modem = sim.ports["sim1"].modem
    modem.no_network(True)
    assert host.at("AT+CSQ") == "\r\n+CSQ: 99,99\r\n\r\nOK\r\n"
    assert host.at("AT+CREG?") == "\r\n+CREG: 0,2\r\n\r\nOK\r\n"
    assert _send_pdu(host, "+447911123456", "a") == ["+CMS ERROR: 331"]
    modem.no_network(False)
    _wait_registered(host)
    assert _send_pdu(host, "+447911123456", "a") == ["+CMGS: 0\r\n\r\nOK"]


def test_sim_missing_and_pin(sim, hosts):
    host = hosts()
    modem = sim.ports["sim1"].modem
    host.at("AT+CMEE=1")
    modem.sim("missing")
    assert host.at("AT+CPIN?") == "\r\n+CME ERROR: 10\r\n"
    assert host.at("AT+CIMI") == "\r\n+CME ERROR: 10\r\n"
    assert host.at("AT+CMGL=4") == "\r\n+CMS ERROR: 310\r\n"
    modem.sim("pin", pin="4321")
    assert host.at("AT+CPIN?") == "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    assert host.at("AT+CIMI") == "\r\n+CME ERROR: 11\r\n"
    assert host.at('AT+CPIN="1111"') == "\r\n+CME ERROR: 16\r\n"
    assert host.at('AT+CPIN="4321"') == "\r\nOK\r\n"
    host.expect(r"\+CPIN: READY\r\n")
    _wait_registered(host)
    assert host.at("AT+CPIN?") == "\r\n+CPIN: READY\r\n\r\nOK\r\n"


def test_urc_midresponse_lands_between_cmgl_entries(sim, hosts):
    host = hosts()
    modem = sim.ports["sim1"].modem
    for text in ("one", "two"):
        modem.inject_sms("+447911000111", text)
        host.expect(r"\+CMTI: \"SM\",\d\r\n")
    modem.urc_midresponse('+CMTI: "SM",3')
    listing = host.at("AT+CMGL=4")
    assert re.fullmatch(r'\r\n\+CMGL: 1,0,"",\d+\r\n[0-9A-F]+\r\n\r\n\+CMTI: "SM",3\r\n'
                        r'\r\n\+CMGL: 2,0,"",\d+\r\n[0-9A-F]+\r\n\r\nOK\r\n', listing)


def test_split_lines_puts_cds_header_and_pdu_in_separate_reads(sim, hosts):
    host = hosts()
    host.at("AT+CNMI=2,1,0,1,0")
    sim.ports["sim1"].modem.split_lines(True)
    _send_pdu(host, "+447911123456", "split")
    reads: list[tuple[float, bytes]] = []
    deadline = time.monotonic() + 3
    while not re.search(rb"\+CDS: \d+\r\n[0-9A-F]+\r\n", b"".join(r for _, r in reads)):
        assert time.monotonic() < deadline, reads
        if select.select([host.fd], [], [], 0.5)[0]:
            reads.append((time.monotonic(), os.read(host.fd, 4096)))
    data = b"".join(r for _, r in reads)
    header_end = data.index(b"+CDS: ") + data[data.index(b"+CDS: "):].index(b"\r\n") + 2
    # find the read holding the header's last byte and the one holding the PDU's first byte
    pos, header_read, pdu_read = 0, None, None
    for i, (_, chunk) in enumerate(reads):
        if header_read is None and pos + len(chunk) >= header_end:
            header_read = i
        if pdu_read is None and pos + len(chunk) > header_end + 2 and re.match(rb"[0-9A-F]", data[pos + len(chunk) - 1:pos + len(chunk)]):
            pdu_read = i
        pos += len(chunk)
    assert pdu_read > header_read
    assert reads[pdu_read][0] - reads[header_read][0] >= 0.03


def test_storage_full(sim, hosts):
    host = hosts()
    modem = sim.ports["sim1"].modem
    modem.storage_full(True)
    modem.inject_sms("+447911000111", "cannot store")
    host.expect(r'\+CIEV: "SMSFULL",1\r\n')
    host.send("AT+CMGW=10\r")
    host.expect(r"\+CMS ERROR: 322\r\n")
    modem.storage_full(False)  # the network delivers what it held
    host.expect(r'\+CMTI: "SM",1\r\n')


def test_no_prompt_swallows_the_next_command(sim, hosts):
    host = hosts()
    sim.ports["sim1"].modem.no_prompt(1)
    part = encode_submit("+447911123456", "x")[0]
    host.send(f"AT+CMGS={part.tpdu_length}\r")
    assert b">" not in host.quiet(0.2)
    host.send("AT\r")  # a driver that does not send ESC: its next command becomes PDU text
    assert host.quiet(0.2) == b""
    host.send("\x1b")
    host.expect(r"^\r\nOK\r\n")
    assert host.at("AT") == "\r\nOK\r\n"
    assert sim.network.record.submitted == []


def test_garbage_bytes(sim, hosts):
    host = hosts()
    sim.ports["sim1"].modem.garbage(b"\xff\xfe\x00")
    host.expect(b"\xff\xfe\x00")
    assert host.at("AT") == "\r\nOK\r\n"


def test_pin_try_counter_and_puk_after_three_wrong_pins(sim, hosts):
    host = hosts()
    modem = sim.ports["sim1"].modem
    host.at("AT+CMEE=1")
    modem.sim("pin", pin="4321")
    assert host.at("AT+SPIC") == "\r\n+SPIC: 3,3,10,10\r\n\r\nOK\r\n"
    assert host.at('AT+CPINR="SIM PIN"') == "\r\n+CME ERROR: 4\r\n"  # not a SIM800 command
    for left in (2, 1):
        assert host.at('AT+CPIN="0000"') == "\r\n+CME ERROR: 16\r\n"
        assert host.at("AT+SPIC") == f"\r\n+SPIC: {left},3,10,10\r\n\r\nOK\r\n"
    assert host.at('AT+CPIN="0000"') == "\r\n+CME ERROR: 16\r\n"
    assert host.at("AT+CPIN?") == "\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n"
    assert host.at('AT+CPIN="4321"') == "\r\n+CME ERROR: 16\r\n"  # the right PIN is too late now
    assert host.at('AT+CPIN="00000000","1111"') == "\r\n+CME ERROR: 16\r\n"  # a wrong PUK counts
    assert host.at("AT+SPIC") == "\r\n+SPIC: 0,3,9,10\r\n\r\nOK\r\n"
    assert modem.status()["pin_attempts"] == 5
    assert host.at('AT+CPIN="12345678","1111"') == "\r\nOK\r\n"
    host.expect(r"\+CPIN: READY\r\n")
    assert host.at("AT+SPIC") == "\r\n+SPIC: 3,3,10,10\r\n\r\nOK\r\n"


@pytest.mark.parametrize("profile,command,answer", [
    ("e3131", "AT^CPIN?", "^CPIN: SIM PIN,2,10,2,10,3"),
    ("ec25", 'AT+QPINC="SC"', '+QPINC: "SC",2,10'),
    ("generic", 'AT+CPINR="SIM PIN"', "+CPINR: SIM PIN,2,3"),
])
def test_pin_try_counter_in_each_models_form(tmp_path, profile, command, answer):
    with _make(tmp_path, profile, modem_options={"noise_interval": 60.0}) as s:
        modem = s.ports["sim1"].modem
        host = Host(s.ports["sim1"].path)
        try:
            if modem.profile.boot_lines:  # a boot line landing inside an answer would be part of it
                host.expect(re.escape(modem.profile.boot_lines[-1][1].split("{")[0]).encode())
            host.at("ATE0")
            host.at("AT+CMEE=1")
            modem.sim("pin", pin="4321")
            assert host.at('AT+CPIN="0000"') == "\r\n+CME ERROR: 16\r\n"
            assert host.at(command).startswith(f"\r\n{answer}\r\n")
        finally:
            host.close()


def test_barred_sim_refuses_every_number_refused_number_only_itself(sim, hosts):
    host = hosts()
    modem = sim.ports["sim1"].modem
    modem.barred(8)
    assert _send_pdu(host, "+447911123456", "a") == ["+CMS ERROR: 8"]
    assert _send_pdu(host, "+447911000222", "a") == ["+CMS ERROR: 8"]
    modem.barred(None)
    modem.refuse_number("+447911123456", 1)
    assert _send_pdu(host, "+447911123456", "a") == ["+CMS ERROR: 1"]
    assert _send_pdu(host, "+447911000222", "a")[0].startswith("+CMGS: ")
    modem.refuse_number("+447911123456", None)
    assert _send_pdu(host, "+447911123456", "a")[0].startswith("+CMGS: ")
