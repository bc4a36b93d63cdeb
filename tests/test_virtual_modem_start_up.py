"""The virtual modem's interpreter alone (no pty) on a manual clock: registration and report delays,
the start-up window until `SMS Ready` and what it refuses or keeps meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modem.pdu import encode_submit
from modem.virtual import ManualScheduler, VirtualModem, VirtualNetwork

pytestmark = pytest.mark.timeout(20)


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
