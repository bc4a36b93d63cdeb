"""The virtual modem, driven through a REAL pty with plain os.read/os.write (not the gateway's driver).

Every test talks AT the way a host does, so what passes here is what the lead's serial driver sees.
"""

from __future__ import annotations

import errno
import os
import re
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import serial

from modem.pdu import StatusReport, decode, encode_submit
from modem.virtual import ManualScheduler, Simulation, VirtualModem, VirtualNetwork
from modem.virtual.control import ControlError, apply, send_command
from modem.virtual.record import duplicates, read_record

from .modem_helpers import virtual_modems, wait_until

pytestmark = pytest.mark.timeout(20)


class Host:
    """A serial host on the pty: write bytes, read until a pattern appears."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.buf = b""

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def send(self, data: bytes | str) -> None:
        os.write(self.fd, data.encode() if isinstance(data, str) else data)

    def _fill(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        chunk = os.read(self.fd, 4096)
        if not chunk:
            raise EOFError
        self.buf += chunk
        return True

    def expect(self, pattern: bytes | str, timeout: float = 3.0) -> re.Match:
        """Wait for `pattern`; consume the buffer up to the end of the match."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern, re.S)
        deadline = time.monotonic() + timeout
        while True:
            if m := rx.search(self.buf):
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} not seen; got {self.buf!r}")
            self._fill(left)

    def quiet(self, seconds: float) -> bytes:
        """Everything that arrives within `seconds` (to prove nothing, or only noise, came)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self._fill(left)
        data, self.buf = self.buf, b""
        return data

    def at(self, command: str, timeout: float = 3.0) -> str:
        """Send a command, return everything up to and including its final result code."""
        self.send(command + "\r")
        m = self.expect(rb"(.*?\r\n(OK|ERROR|\+CM[ES] ERROR: [^\r]*|COMMAND NOT SUPPORT)\r\n)", timeout)
        return m.group(1).decode("latin-1")


def _wait_registered(host: Host) -> None:
    deadline = time.monotonic() + 10
    while ",1" not in host.at("AT+CREG?"):
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.fixture
def sim_options() -> dict:
    return {"count": 2}


@pytest.fixture
def hosts(sim):
    opened: list[Host] = []

    def open_host(name: str = "sim1", echo_off: bool = True) -> Host:
        host = Host(sim.ports[name].path)
        opened.append(host)
        if echo_off:
            host.expect(r"\r\n(SMS Ready|\+QIND: PB DONE|\^SRVST:2)\r\n")
            assert host.at("ATE0").endswith("OK\r\n")
            _wait_registered(host)
            host.quiet(0.02)
        return host

    yield open_host
    for host in opened:
        host.close()


def _make(tmp_path, profile: str, **kwargs) -> "Simulation":
    return virtual_modems(tmp_path, profile=profile, **kwargs)


@contextmanager
def _ready_host(tmp_path, profile: str) -> Iterator[tuple[VirtualModem, Host]]:
    """sim1 of a fresh `profile` simulation and a host on it, once its SMS service is up, echo off,
    registered."""
    with _make(tmp_path, profile) as s:
        host = Host(s.ports["sim1"].path)
        try:
            host.expect(r"(SMS Ready|PB DONE|\^SRVST:2)\r\n")
            host.at("ATE0")
            _wait_registered(host)
            yield s.ports["sim1"].modem, host
        finally:
            host.close()


def _send_pdu(host: Host, number: str, text: str, **kwargs) -> list[str]:
    answers = []
    for part in encode_submit(number, text, **kwargs):
        host.send(f"AT+CMGS={part.tpdu_length}\r")
        host.expect(r"\r\n> ")
        host.send(part.hex + "\x1a")
        answers.append(host.expect(r"\r\n(\+CMGS: \d+\r\n\r\nOK|\+CMS ERROR: \d+)\r\n").group(1).decode())
    return answers


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


# --------------------------------------------------------------------------------------------------
# Receiving


def test_cmti_then_cmgl_cmgr_cmgd(sim, hosts):
    host = hosts()
    sim.ports["sim1"].modem.inject_sms("+447911000111", "first")
    host.expect(r'\r\n\+CMTI: "SM",1\r\n')
    sim.ports["sim1"].modem.inject_sms("+447911000111", "second")
    host.expect(r'\r\n\+CMTI: "SM",2\r\n')
    listing = host.at("AT+CMGL=4")
    rows = re.findall(r'\+CMGL: (\d+),(\d),"",(\d+)\r\n([0-9A-F]+)\r\n', listing)
    assert [(r[0], r[1]) for r in rows] == [("1", "0"), ("2", "0")]
    assert [decode(r[3]).text for r in rows] == ["first", "second"]
    assert all(int(r[2]) == len(r[3]) // 2 - 1 - int(r[3][:2], 16) for r in rows)
    assert re.match(r'\r\n\+CMGR: 1,"",\d+\r\n', host.at("AT+CMGR=1"))  # now REC READ
    host.at("AT+CMGF=1")
    text_list = host.at('AT+CMGL="ALL"')
    assert '+CMGL: 1,"REC READ","+447911000111","","' in text_list and "\r\nsecond\r\n" in text_list
    assert host.at("AT+CMGD=1") == "\r\nOK\r\n"
    assert host.at("AT+CPMS?").startswith('\r\n+CPMS: "SM",1,30')
    assert host.at("AT+CMGD=1,4") == "\r\nOK\r\n"
    assert host.at('AT+CMGL="ALL"') == "\r\nOK\r\n"


def test_cmt_direct_delivery_and_cnma_redelivery(sim, hosts):
    host = hosts()
    modem = sim.ports["sim1"].modem
    modem.cnma_timeout = 0.3
    assert host.at("AT+CSMS=1") == "\r\n+CSMS: 1,1,1\r\n\r\nOK\r\n"
    host.at("AT+CNMI=2,2,0,1,0")
    modem.inject_sms("+447911000222", "direct")
    pdu = host.expect(r'\r\n\+CMT: "",(\d+)\r\n([0-9A-F]+)\r\n').group(2).decode()
    assert decode(pdu).text == "direct"
    host.expect(r'\r\n\+CMT: "",\d+\r\n' + pdu + r"\r\n", timeout=1)  # not acknowledged: again
    assert host.at("AT+CNMA") == "\r\nOK\r\n"
    assert b"+CMT" not in host.quiet(0.5)
    assert host.at("AT+CNMA") == "\r\n+CMS ERROR: 340\r\n"


def test_long_inject_split_arrives_out_of_order(sim, hosts):
    host = hosts()
    host.at("AT+CNMI=2,2,0,0,0")
    sim.ports["sim1"].modem.inject_sms("+447911000333", "y" * 300, split=True)
    seqs = [decode(host.expect(r"\+CMT: \"\",\d+\r\n([0-9A-F]+)\r\n").group(1).decode()).concat.seq
            for _ in range(2)]
    assert seqs == [2, 1]


def test_status_report_after_delay_and_failure_rule(sim, hosts):
    host = hosts()
    host.at("AT+CNMI=2,1,0,1,0")
    start = time.monotonic()
    _send_pdu(host, "+447911123456", "report me")
    length, pdu = host.expect(r"\r\n\+CDS: (\d+)\r\n([0-9A-F]+)\r\n", timeout=2).groups()
    assert time.monotonic() - start >= 0.15
    report = decode(pdu.decode())
    assert isinstance(report, StatusReport) and report.reference == 0 and report.status == 0
    assert int(length) == len(pdu) // 2 - 1 - int(pdu[:2], 16)
    _send_pdu(host, "+447911120000", "to a dead number")
    report = decode(host.expect(r"\+CDS: \d+\r\n([0-9A-F]+)\r\n", timeout=2).group(1).decode())
    assert report.reference == 1 and report.status == 0x41 and report.outcome == "failed"


def test_cnmi_ds2_rejected_by_sim800_and_cdsi_on_ec25(tmp_path, sim, hosts):
    assert hosts().at("AT+CNMI=2,1,0,2,0") == "\r\nERROR\r\n"
    with _make(tmp_path / "ec", "ec25") as s:
        host = Host(s.ports["sim1"].path)
        try:
            host.expect(r"PB DONE\r\n")
            host.at("ATE0")
            assert host.at("AT+CNMI=2,1,0,2,0") == "\r\nOK\r\n"
            _send_pdu(host, "+447911123456", "x")
            index = host.expect(r'\+CDSI: "SM",(\d+)\r\n', timeout=2).group(1).decode()
            pdu = re.search(r"\+CMGR: \d,,\d+\r\n([0-9A-F]+)", host.at(f"AT+CMGR={index}")).group(1)
            assert isinstance(decode(pdu), StatusReport)
        finally:
            host.close()


def test_two_modems_text_each_other(sim, hosts):
    one, two = hosts("sim1"), hosts("sim2")
    long_text = "hi two, " + "long " * 40
    _send_pdu(one, "+447700900002", long_text, concat_ref=7)
    _send_pdu(one, "07700900002", "national format")
    for _ in range(3):  # the long text, reassembled by the network, arrives as 2 parts
        two.expect(r'\+CMTI: "SM",\d+\r\n', timeout=2)
    messages = [decode(p) for p in re.findall(r"\r\n([0-9A-F]{20,})\r\n", two.at("AT+CMGL=4"))]
    assert {m.sender for m in messages} == {"+447700900001"}
    assert "".join(m.text for m in sorted(messages[:2], key=lambda m: m.concat.seq)) == long_text
    assert messages[2].text == "national format" and messages[2].concat is None
    _send_pdu(two, "+447700900001", "and back")
    index = one.expect(r'\+CMTI: "SM",(\d+)\r\n', timeout=2).group(1).decode()
    assert "and back" == decode(re.findall(r"\r\n([0-9A-F]{20,})\r\n", one.at(f"AT+CMGR={index}"))[0]).text


def test_ussd_plain_and_ucs2(sim, hosts):
    host = hosts()
    assert host.at('AT+CUSD=1,"*100#",15') == "\r\nOK\r\n"
    assert host.expect(r'\+CUSD: 0,"([^"]*)",15\r\n').group(1) == b"Your balance is 5.00 GBP. RING 123 for offers"
    sim.ports["sim1"].modem.ussd_reply("Hi")
    host.at('AT+CSCS="UCS2"')
    host.at('AT+CUSD=1,"002A0031003000300023",15')
    assert host.expect(r'\+CUSD: 0,"([0-9A-F]*)",15\r\n').group(1) == b"00480069"  # GSM-7, shown in UCS2


def test_huawei_noise_until_curc0(tmp_path):
    with _make(tmp_path, "e3131", modem_options={"noise_interval": 0.05}) as s:
        host = Host(s.ports["sim1"].path)
        try:
            host.expect(r"\^BOOT:")
            host.expect(r"\^RSSI:21\r\n")
            host.expect(r"\^MODE:5,4\r\n")
            host.at("ATE0")
            assert host.at("AT^CURC=0").endswith("\r\nOK\r\n")
            assert host.at("AT").endswith("\r\nOK\r\n")  # noise written before CURC=0 took effect comes before this
            assert host.quiet(0.3) == b""
            assert host.at("AT+FOO") == "\r\nCOMMAND NOT SUPPORT\r\n"
            assert host.at('AT+QURCCFG="urcport","usbat"') == "\r\nCOMMAND NOT SUPPORT\r\n"
            assert host.at("AT+CMGL=4") == "\r\nOK\r\n"
        finally:
            host.close()


def test_commands_dispatched_by_full_name(tmp_path):
    """AT+CURC is not Huawei's AT^CURC: it is unknown, and the ^RSSI/^MODE noise goes on."""
    with _make(tmp_path, "e3131", modem_options={"noise_interval": 0.05}) as s:
        host = Host(s.ports["sim1"].path)
        try:
            host.expect(r"\^RSSI:21\r\n")
            host.at("ATE0")
            assert host.at("AT+CURC=0") == "\r\nCOMMAND NOT SUPPORT\r\n"
            assert host.at("AT^CMGF=1") == "\r\nCOMMAND NOT SUPPORT\r\n"
            assert host.at("AT+CMGF?") == "\r\n+CMGF: 0\r\n\r\nOK\r\n"
            host.expect(r"\^(RSSI|MODE|BOOT):")
        finally:
            host.close()


# --------------------------------------------------------------------------------------------------
# Unplug / replug, TCP, control socket


def test_unplug_and_replug(sim, hosts):
    port = sim.ports["sim1"]
    host = hosts()
    port.unplug()
    assert not os.path.lexists(port.path)
    with pytest.raises((EOFError, OSError)) as info:
        for _ in range(50):
            host.send("AT\r")
            host._fill(0.05)
    if isinstance(info.value, OSError):
        assert info.value.errno == errno.EIO
    port.replug()
    assert os.path.islink(port.path) and os.readlink(port.path) == port.pty_path
    new = hosts(echo_off=False)
    new.expect(r"RDY\r\n")
    new.expect(r"Call Ready\r\n\r\nSMS Ready\r\n")
    new.send("AT\r")
    new.expect(r"AT\r\r\nOK\r\n")  # echo is back on after the reboot


def test_unplug_with_automatic_replug(sim, hosts):
    port = sim.ports["sim1"]
    hosts()
    port.unplug(replug_after=0.2)
    assert not os.path.lexists(port.path)
    deadline = time.monotonic() + 10
    while not os.path.lexists(port.path):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    hosts().at("AT")


def test_cfun_reset_reenumerates_usb_modem(tmp_path):
    with _make(tmp_path, "ec25") as s:
        port = s.ports["sim1"]
        host = Host(port.path)
        try:
            host.expect(r"PB DONE\r\n")
            host.send("AT+CFUN=1,1\r")
            host.expect(r"OK\r\n")
            deadline = time.monotonic() + 10
            while port.plugged:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            while not port.plugged:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        finally:
            host.close()


def test_tcp_with_pyserial_socket_url(tmp_path):
    with _make(tmp_path, "sim800", tcp=True) as s:
        url = s.ports["sim1"].tcp_url
        assert url.startswith("socket://127.0.0.1:")
        with serial.serial_for_url(url, timeout=1) as ser:
            time.sleep(0.1)
            ser.write(b"ATE0\r")
            assert b"OK" in ser.read_until(b"OK\r\n")
            ser.write(b"AT+CGMM\r")
            assert ser.read_until(b"OK\r\n").endswith(b"\r\nSIMCOM_SIM800\r\n\r\nOK\r\n")


def test_control_socket_and_python_api(tmp_path):
    address = str(tmp_path / "control.sock")
    with virtual_modems(tmp_path, 2, control=address, report_delay=1.0) as s:
        listing = send_command(address, {"cmd": "list"})
        assert [m["msisdn"] for m in listing] == ["+447700900001", "+447700900002"]
        host = Host(s.ports["sim2"].path)
        try:
            host.expect(r"SMS Ready\r\n")
            send_command(address, {"cmd": "inject_sms", "modem": "sim2", "sender": "+447911", "text": "ctl"})
            host.expect(r'\+CMTI: "SM",1\r\n')
            send_command(address, {"cmd": "garbage", "modem": "sim2", "hex": "fffe"})
            host.expect(b"\xff\xfe")
            with pytest.raises(ControlError):
                send_command(address, {"cmd": "hang", "modem": "sim9"})
            with pytest.raises(ControlError):
                send_command(address, {"cmd": "hang", "modem": "sim1", "bogus": 1})
            assert send_command(address, {"cmd": "status", "modem": "sim2"})["stored"]["SM"] == 1
            apply(s.ports, {"cmd": "set_latency", "modem": "sim2", "seconds": 0.0})
        finally:
            host.close()


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


# --------------------------------------------------------------------------------------------------
# The interpreter alone (no pty), on a manual clock


def test_interpreter_on_manual_clock():
    clock = ManualScheduler()
    net = VirtualNetwork(scheduler=clock, report_delay=5.0)
    out: list[bytes] = []
    modem = VirtualModem("m", "ec25", network=net, output=out.append, register_delay=1.0)
    clock.advance(0.5)
    out.clear()
    modem.feed(b"ATE0\rAT+CREG?\r")
    assert b"+CREG: 0,2" in b"".join(out)
    clock.advance(1.0)
    out.clear()
    modem.feed(b"AT+CREG?\r")
    assert b"".join(out) == b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"
    modem.feed(b"AT+CNMI=2,1,0,1,0\r")
    part = encode_submit("+447911123456", "clock")[0]
    modem.feed(b"AT+CMGS=%d\r" % part.tpdu_length + part.hex.encode() + b"\x1a")
    out.clear()
    clock.advance(4.9)
    assert b"+CDS" not in b"".join(out)
    clock.advance(0.2)
    assert b"+CDS: " in b"".join(out)
    modem.close()
    net.close()


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


def _starting_sim800(**network: float) -> tuple[
    ManualScheduler, VirtualNetwork, VirtualModem, list[bytes], Callable[[str], bytes]
]:
    """A SIM800 with a 2 s start-up window on a manual clock: the clock, network, modem, what it
    wrote, and `at(command)` giving the answer to one command."""
    clock = ManualScheduler()
    net = VirtualNetwork(scheduler=clock, **network)
    out: list[bytes] = []
    modem = VirtualModem("m", "sim800", network=net, output=out.append, register_delay=0.1, startup=2.0)

    def at(command: str) -> bytes:
        out.clear()
        modem.feed(command.encode() + b"\r")
        return b"".join(out)

    return clock, net, modem, out, at


def test_start_up_window_until_sms_ready_again_after_cfun_reset():
    clock, net, modem, out, at = _starting_sim800()
    try:
        at("ATE0")
        at("AT+CMEE=1")
        assert at("AT+CPIN?") == b"\r\n+CPIN: NOT READY\r\n\r\nOK\r\n"
        assert at("AT+CMGF=0") == b"\r\nOK\r\n"  # the host interface works from the start
        clock.advance(1.0)
        assert at("AT+CPIN?") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
        assert at("AT+CNMI=2,1,0,1,0") == b"\r\n+CMS ERROR: 500\r\n"
        assert at('AT+CPMS="SM","SM","SM"') == b"\r\n+CMS ERROR: 500\r\n"
        out.clear()
        clock.advance(1.0)
        assert b"\r\nSMS Ready\r\n" in b"".join(out)
        assert at("AT+CNMI=2,1,0,1,0") == b"\r\nOK\r\n"
        assert at("AT+CFUN=1,1") == b"\r\nOK\r\n"
        clock.advance(0.1)  # the reboot: a new window
        at("ATE0")
        assert at("AT+CNMI=2,1,0,1,0") == b"\r\n+CMS ERROR: 500\r\n"  # coded even with CMEE=0
        clock.advance(2.0)
        assert at("AT+CNMI?") == b"\r\n+CNMI: 2,1,0,0,0\r\n\r\nOK\r\n"  # the SMS service's defaults
    finally:
        modem.close()
        net.close()


def test_a_report_for_a_modem_still_starting_is_kept_by_the_smsc_and_offered_again():
    """A report the network offers during the start-up window is not acknowledged (the SMS service
    is not up), so the SMSC tries it again later instead of the modem dropping it at its defaults."""
    clock, net, modem, out, at = _starting_sim800(report_delay=1.0, report_retry=5.0)
    try:
        at("ATE0")
        clock.advance(2.0)
        assert at("AT+CNMI=2,1,0,1,0") == b"\r\nOK\r\n"
        part = encode_submit("+447911123456", "before the reboot")[0]
        modem.feed(b"AT+CMGS=%d\r" % part.tpdu_length + part.hex.encode() + b"\x1a")
        clock.advance(0.1)
        assert at("AT+CFUN=1,1") == b"\r\nOK\r\n"
        clock.advance(1.0)  # the report comes while the modem is registered but still starting
        assert modem.registered
        out.clear()
        clock.advance(1.5)
        assert b"SMS Ready" in b"".join(out)
        assert at("ATE0") and at("AT+CNMI=2,1,0,1,0") == b"\r\nOK\r\n"  # the driver sets it again
        out.clear()
        clock.advance(4.0)
        assert b"+CDS: " in b"".join(out)
        assert modem.reports_discarded == 0
    finally:
        modem.close()
        net.close()


def test_a_cnmi_taken_at_the_end_of_the_start_up_window_is_not_undone_by_it():
    """The window's end (the SMS service's defaults) is a timer; a command that comes in when the
    window is over but before that timer ran must not be taken and then silently undone: a modem
    that says nothing (no `SMS Ready`) would drop every status report from then on."""
    clock = ManualScheduler()
    net = VirtualNetwork(scheduler=clock)
    out: list[bytes] = []
    modem = VirtualModem("m", "generic", network=net, output=out.append, register_delay=0.1, startup=2.0)
    try:
        clock.advance(1.0)  # registered; the window's end is due at 2.0
        clock._now += 1.5  # a late timer: the window is over, its end has not run yet
        out.clear()
        modem.feed(b"AT+CNMI=2,1,0,1,0\r")
        assert b"ERROR" in b"".join(out)  # "not yet", as in the window (CMEE off: a plain ERROR)
        clock.run_pending()  # the window's end: the defaults
        out.clear()
        modem.feed(b"AT+CNMI=2,1,0,1,0\r")
        assert b"OK" in b"".join(out)
        assert modem.status()["cnmi"] == [2, 1, 0, 1, 0]
    finally:
        modem.close()
        net.close()


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


# --------------------------------------------------------------------------------------------------
# SMS memories: status-report storage, URCs inside a listing, memory full per profile


def test_e3131_stores_status_reports_in_sr_and_announces_them_there(tmp_path):
    with _make(tmp_path, "e3131") as s:
        host = Host(s.ports["sim1"].path)
        try:
            host.expect(r"\^SRVST:2\r\n")
            host.at("ATE0")
            _wait_registered(host)
            assert host.at("AT+CNMI=2,1,0,2,0") == "\r\nOK\r\n"
            s.ports["sim1"].modem.inject_sms("+447911000111", "an SMS in SM slot 0", mode="cmti")
            host.expect(r'\+CMTI: "SM",0\r\n')
            _send_pdu(host, "+447911123456", "x")
            assert host.expect(r'\+CDSI: "(\w+)",(\d+)\r\n', timeout=2).groups() == (b"SR", b"0")
            sms = re.search(r"\+CMGR: \d,,\d+\r\n([0-9A-F]+)", host.at("AT+CMGR=0")).group(1)
            assert not isinstance(decode(sms), StatusReport)  # mem1 is SM: slot 0 there is the SMS
            assert host.at('AT+CPMS="SR"') == "\r\n+CPMS: 1,30,1,30,1,30\r\n\r\nOK\r\n"
            report = re.search(r"\+CMGR: \d,,\d+\r\n([0-9A-F]+)", host.at("AT+CMGR=0")).group(1)
            assert isinstance(decode(report), StatusReport)
            assert host.at("AT+CPMS?").startswith('\r\n+CPMS: "SR",1,30,"SM",1,30,"SM",1,30')
        finally:
            host.close()


def test_urc_inside_a_pair_lands_between_the_header_and_its_pdu(sim, hosts):
    host = hosts()
    modem = sim.ports["sim1"].modem
    modem.inject_sms("+447911000111", "one")
    host.expect(r"\+CMTI: \"SM\",1\r\n")
    modem.urc_inside_pair('+CIEV: "SMSFULL",1')
    listing = host.at("AT+CMGL=4")
    assert re.fullmatch(r'\r\n\+CMGL: 1,0,"",\d+\r\n\r\n\+CIEV: "SMSFULL",1\r\n\r\n[0-9A-F]+\r\n\r\nOK\r\n',
                        listing), listing


@pytest.mark.parametrize(("profile", "signal"), [("sim800", r'\+CIEV: "SMSFULL",1'),
                                                   ("e3131", r'\^SMMEMFULL: "SM"'),
                                                   ("ec25", r'\+QIND: "smsfull","SM"')])
def test_a_sim_filled_up_says_so_in_its_vendor_signal(tmp_path, profile, signal):
    with _ready_host(tmp_path, profile) as (modem, host):
        host.at("AT+CNMI=2,1,0,0,0")
        for i in range(modem.storages["SM"].capacity):
            modem.inject_sms("+447911000111", f"filler {i}", mode="cmti")
        modem.inject_sms("+447911000111", "one too many", mode="cmti")
        host.expect(signal + r"\r\n", timeout=5)
        first = modem.profile.first_index
        host.at(f"AT+CMGD={first}")
        host.expect(rf'\+CMTI: "SM",{first}\r\n')  # the network delivers what it held


def test_a_status_report_refused_for_a_full_memory_comes_again_once_there_is_room(tmp_path):
    with _ready_host(tmp_path, "e3131") as (modem, host):
        host.at("AT+CNMI=2,1,0,2,0")
        modem.storage_full(True)
        _send_pdu(host, "+447911123456", "x")
        host.expect(r'\^SMMEMFULL: "SM"\r\n', timeout=2)
        assert not re.search(rb"\+CDSI", host.quiet(0.4))
        modem.storage_full(False)
        host.expect(r'\+CDSI: "SR",0\r\n', timeout=2)

