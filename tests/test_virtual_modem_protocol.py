"""The virtual modem's line protocol and sending: echo, answers in order, identity per profile,
character sets, registration, AT+CMGS in PDU and text mode.

Each test talks AT through the REAL pty as a bare host does (modem_helpers.Host).
"""

from __future__ import annotations

import re

import pytest

from modem.pdu import encode_submit
from modem.virtual.record import duplicates, read_record

from .modem_helpers import Host, _make, _send_pdu, virtual_modems, wait_until
from .modem_helpers import hosts, two_modems  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(20)


# --------------------------------------------------------------------------------------------------
# Line protocol


def test_echo_until_ate0_and_again_after_atz(sim, hosts):
    host = hosts(echo_off=False)
    host.expect(r"RDY\r\n")
    host.expect(r"SMS Ready\r\n")
    host.send("AT\r")
    host.expect(r"^AT\r\r\nOK\r\n")
    host.send("ATE0\r")
    host.expect(r"^ATE0\r\r\nOK\r\n")  # the command that turns echo off is still echoed
    host.send("AT\r")
    host.expect(r"^\r\nOK\r\n")
    host.send("ATZ\r")
    host.expect(r"^\r\nOK\r\n")
    host.send("at\n")  # lenient: lower case, lone LF
    host.expect(r"^at\n\r\nOK\r\n")


# Commands and their answers, in order (each answer can depend on the commands before it).
CONVERSATIONS = {
    "cmee_modes_and_unknown_commands": [
        ('AT+CPIN="0000"', "\r\nERROR\r\n"),  # SIM already unlocked
        ("AT+NOPE", "\r\nERROR\r\n"),
        ("AT+CMEE=1", "\r\nOK\r\n"),
        ('AT+CPIN="0000"', "\r\n+CME ERROR: 3\r\n"),
        ("AT+NOPE", "\r\n+CME ERROR: 4\r\n"),
        ("AT+CMEE=2", "\r\nOK\r\n"),
        ('AT+CPIN="0000"', "\r\n+CME ERROR: operation not allowed\r\n"),
        ("AT+CMEE?", "\r\n+CMEE: 2\r\n\r\nOK\r\n"),
        ("AT+CMEE=?", "\r\n+CMEE: (0-2)\r\n\r\nOK\r\n"),
        ("AT+CMGF=?;+CMGF?", "\r\n+CMGF: (0,1)\r\n\r\n+CMGF: 0\r\n\r\nOK\r\n"),
    ],
    "network_and_sim_queries": [
        ("AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n"),
        ("AT+CREG?", "\r\n+CREG: 0,1\r\n\r\nOK\r\n"),
        ("AT+CREG=2;+CREG?", '\r\n+CREG: 2,1,"1A2B","00C3"\r\n\r\nOK\r\n'),
        ("AT+CGREG?", "\r\n+CGREG: 0,1\r\n\r\nOK\r\n"),
        ("AT+COPS=3,0;+COPS?", '\r\n+COPS: 0,0,"Virtual Tel"\r\n\r\nOK\r\n'),
        ("AT+CSQ", "\r\n+CSQ: 21,99\r\n\r\nOK\r\n"),
        ("AT+CSCA?", '\r\n+CSCA: "+447785016005",145\r\n\r\nOK\r\n'),
        ("AT+CFUN?", "\r\n+CFUN: 1\r\n\r\nOK\r\n"),
        ("AT+CNUM", '\r\n+CNUM: "","+447700900001",145\r\n\r\nOK\r\n'),
        ('AT+CSCS="UCS2";+COPS?', '\r\n+COPS: 0,0,"005600690072007400750061006C002000540065006C"\r\n\r\nOK\r\n'),
    ],
}


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_answers_in_order(sim, hosts, conversation):
    host = hosts()
    for command, answer in CONVERSATIONS[conversation]:
        assert host.at(command) == answer, command


@pytest.mark.parametrize("profile,model,iccid_ok,iccid_bad,first", [
    ("sim800", "SIMCOM_SIM800", "AT+CCID", "AT+QCCID", r"\r\n89\d{18}\r\n"),
    ("e3131", "E3131", "AT^ICCID?", "AT+CCID", r"\r\n\^ICCID: 98\d{18}\r\n"),
    ("ec25", "EC25", "AT+QCCID", "AT^ICCID?", r"\r\n\+QCCID: 89\d{18}\r\n"),
    ("generic", "GSM Modem", "AT+CCID", "AT+QCCID", r"\r\n\+CCID: 89\d{18}\r\n"),
])
def test_identity_per_profile(tmp_path, profile, model, iccid_ok, iccid_bad, first):
    with _make(tmp_path, profile) as s:
        host = Host(s.ports["sim1"].path)
        modem = s.ports["sim1"].modem
        try:
            wait_until(lambda: modem.registered and getattr(modem, "_ready_sent", False) and not modem._sms_starting,
                       10, "its start-up lines out")
            host.at("ATE0")
            if profile == "e3131":
                host.at("AT^CURC=0")
            host.at("AT")  # what the modem wrote before (boot lines, noise) is read up to this answer
            assert host.at("AT+CGMM") == f"\r\n{model}\r\n\r\nOK\r\n"
            assert re.fullmatch(r"\r\n\d{15}\r\n\r\nOK\r\n", host.at("AT+CGSN"))
            assert re.fullmatch(r"\r\n23415\d{10}\r\n\r\nOK\r\n", host.at("AT+CIMI"))
            assert re.match(first, host.at(iccid_ok))
            assert "OK" not in host.at(iccid_bad)
            assert "+GCAP: +CGSM" in host.at("AT+GCAP")
            ati = host.at("ATI")
            assert {"sim800": "SIM800 R14.18", "e3131": "Model: E3131", "ec25": "Quectel",
                    "generic": "Virtual"}[profile] in ati
        finally:
            host.close()


def test_character_sets_offered(sim, hosts):
    assert hosts().at("AT+CSCS=?").startswith('\r\n+CSCS: ("IRA","GSM","UCS2"')


def test_gsm_character_set_puts_septet_values_on_the_line(sim, hosts):
    """Under AT+CSCS="GSM" a modem sends GSM-7 values, not ASCII: @ is NUL, £ 0x01, $ 0x02, è 0x04,
    Δ 0x10, _ 0x11; IRA is plain ASCII."""
    host = hosts()
    sim.network.operator = "Tel@£$è Δ_"
    assert host.at('AT+CSCS="GSM";+COPS?') == '\r\n+COPS: 0,0,"Tel\x00\x01\x02\x04 \x10\x11"\r\n\r\nOK\r\n'
    host.at('AT+CSCA="+447785016005\x00",145')  # an SMSC given in GSM bytes is read in GSM bytes
    smsc = "+447785016005@".encode("utf-16-be").hex().upper()
    assert host.at('AT+CSCS="UCS2";+CSCA?') == f'\r\n+CSCA: "{smsc}",145\r\n\r\nOK\r\n'


def test_registration_takes_time_after_boot(tmp_path):
    with virtual_modems(tmp_path, register_delay=0.4, report_delay=1.0) as s:
        host = Host(s.ports["sim1"].path)
        try:
            host.send("AT+CREG?\r")
            host.expect(r"\+CREG: 0,2\r\n")
            host.expect(r"Call Ready\r\n", timeout=2)
            assert host.at("AT+CREG?").endswith("+CREG: 0,1\r\n\r\nOK\r\n")
        finally:
            host.close()


# --------------------------------------------------------------------------------------------------
# Sending


def test_cmgs_happy_path_is_recorded(sim, hosts, tmp_path):
    host = hosts()
    assert _send_pdu(host, "+447911123456", "Hello from the gateway") == ["+CMGS: 0\r\n\r\nOK"]
    assert _send_pdu(host, "+447911123456", "again") == ["+CMGS: 1\r\n\r\nOK"]
    entries = read_record(str(tmp_path / "ports" / "submitted.jsonl"))
    assert [e["text"] for e in entries] == ["Hello from the gateway", "again"]
    first = entries[0]
    assert first["modem"] == "sim1" and first["msisdn"] == "+447700900001"
    assert first["recipient"] == "+447911123456" and first["mr"] == 0 and first["encoding"] == "gsm7"
    assert first["concat_ref"] is None and first["concat_seq"] == 1
    assert sim.network.record.submitted[1]["mr"] == 1
    assert duplicates(entries) == []


def test_cmgs_multipart_records_each_part(sim, hosts):
    host = hosts()
    text = "x" * 200
    assert len(_send_pdu(host, "+447911123456", text, concat_ref=42)) == 2
    parts = sim.network.record.submitted
    assert [(p["concat_ref"], p["concat_total"], p["concat_seq"]) for p in parts] == [(42, 2, 1), (42, 2, 2)]


@pytest.mark.parametrize(("extra_length", "body", "answer"), [
    pytest.param(1, "{hex}\x1a", r"\+CMS ERROR: 304", id="wrong_length"),
    pytest.param(0, "00ZZ\x1a", r"\+CMS ERROR: 304", id="bad_hex"),
    pytest.param(0, "{hex}\x1b", "OK", id="esc_cancels"),
])
def test_a_cmgs_body_refused_or_cancelled_sends_nothing(sim, hosts, extra_length, body, answer):
    host = hosts()
    part = encode_submit("+447911123456", "never")[0]
    host.send(f"AT+CMGS={part.tpdu_length + extra_length}\r")
    host.expect(r"\r\n> ")
    host.send(body.format(hex=part.hex))
    host.expect(rf"^\r\n{answer}\r\n")
    assert host.at("AT") == "\r\nOK\r\n"
    assert sim.network.record.submitted == []


def test_text_mode_send(sim, hosts):
    host = hosts()
    host.at("AT+CMGF=1")
    host.send('AT+CMGS="+447911123456"\r')
    host.expect(r"\r\n> ")
    host.send("plain text\x1a")
    host.expect(r"\r\n\+CMGS: 0\r\n\r\nOK\r\n")
    assert sim.network.record.submitted[0]["text"] == "plain text"
