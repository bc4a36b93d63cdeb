"""The virtual modem's ports: unplug and replug, a USB modem's re-enumeration after a reset, TCP
through pyserial's socket URL, the control socket and its Python API.

Each test talks AT through the REAL pty as a bare host does (modem_helpers.Host).
"""

from __future__ import annotations

import errno
import os
import time

import pytest
import serial

from modem.virtual.control import ControlError, apply, send_command

from .modem_helpers import Host, _make, virtual_modems
from .modem_helpers import hosts, two_modems  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(20)


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
