"""The virtual modem receiving: +CMTI and the SIM's listing, +CMT and +CNMA, status reports,
USSD, two modems texting each other, and its SMS memories (status-report storage, URCs inside a
listing, memory full per profile).

Each test talks AT through the REAL pty as a bare host does (modem_helpers.Host).
"""

from __future__ import annotations

import re
import time

import pytest

from modem.pdu import StatusReport, decode

from .modem_helpers import Host, _make, _ready_host, _send_pdu, _wait_registered
from .modem_helpers import hosts, two_modems  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(20)


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
