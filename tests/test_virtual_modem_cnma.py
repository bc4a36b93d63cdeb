"""Under AT+CSMS=1 the network counts a +CMT delivered only once the host acknowledged it (+CNMA).

One the host never acknowledges (it is gone, or the modem loses power first) is refused to the
network (RP-ERROR, 3GPP TS 24.011), and the SMSC, which kept it, offers it again later: nothing is
lost. Under AT+CSMS=0 the modem acknowledges it as it prints it (tests/test_modem_session_end.py).
"""

from __future__ import annotations

import re

import pytest
import serial

from tests.modem_helpers import virtual_modems, wait_until

pytestmark = pytest.mark.timeout(30)

CMT = rb'\+CMT: "",\d+\r\n([0-9A-F]+)\r\n'


def _host(path: str) -> serial.Serial:
    """A host that asks for SMS service 1 and every SMS as +CMT, echo off."""
    host = serial.serial_for_url(path, timeout=5)
    for command in (b"ATE0\r", b"AT+CMGF=0\r", b"AT+CSMS=1\r", b"AT+CNMI=2,2,0,0,0\r"):
        host.write(command)
        assert host.read_until(b"OK\r\n").endswith(b"OK\r\n"), command
    return host


def _cmts(host: serial.Serial, count: int) -> list[str]:
    """The PDUs of the next `count` +CMTs (each read up to its PDU line, or the read times out)."""
    seen, data = [], b""
    while len(seen) < count:
        chunk = host.read_until(b"\r\n")
        assert chunk.endswith(b"\r\n"), f"only {len(seen)} +CMT of {count}: {data + chunk!r}"
        data += chunk
        if match := re.search(CMT, data):
            seen.append(match.group(1).decode())
            data = data[match.end():]
    return seen


def _deliveries_of(modem, pdu: str) -> list[str]:
    return [how for _, how, delivered in list(modem.deliveries) if delivered == pdu]


def test_a_cmt_never_acknowledged_is_offered_again_by_the_network(tmp_path):
    with virtual_modems(tmp_path, profile="sim800") as sim:
        sim.network.report_retry = 0.1
        modem = sim.ports["sim1"].modem
        modem.cnma_timeout = 0.1
        wait_until(lambda: modem.registered, what="the modem registered")
        host = _host(sim.ports["sim1"].path)
        try:
            (pdu,) = modem.inject_sms("+447700900021", "ack me")
            # the first +CMT and the modem's 3 resends, then the SMSC's next offer of the same SMS
            assert set(_cmts(host, 1 + 3 + 1)) == {pdu}
            wait_until(lambda: len(_deliveries_of(modem, pdu)) == 2, what="the second delivery recorded")
            assert _deliveries_of(modem, pdu) == ["cmt", "cmt"]
            host.write(b"AT+CNMA\r")
            assert host.read_until(b"OK\r\n").endswith(b"OK\r\n")
            assert modem.status()["awaiting_ack"] == 0
        finally:
            host.close()


def test_a_cmt_unacknowledged_when_the_power_goes_comes_again_after_the_replug(tmp_path):
    with virtual_modems(tmp_path, profile="sim800") as sim:
        sim.network.report_retry = 0.1
        port = sim.ports["sim1"]
        modem = port.modem
        wait_until(lambda: modem.registered, what="the modem registered")
        host = _host(port.path)
        try:
            (pdu,) = modem.inject_sms("+447700900022", "power cut before the ack")
            assert _cmts(host, 1) == [pdu]
        finally:
            host.close()
        port.unplug()  # before the +CNMA: the network never heard it was delivered
        port.replug()

        wait_until(lambda: len(_deliveries_of(modem, pdu)) == 2, what="the SMSC's second offer")
        assert _deliveries_of(modem, pdu) == ["cmt", "stored"]  # nobody has the new port open: on the SIM
        assert modem.status()["stored"]["SM"] == 1
