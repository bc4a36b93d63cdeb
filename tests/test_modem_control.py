"""What a person may ask of a running modem (gateway.sims.control): a restart through the supervisor's
reset step, and a USSD code answered later, on a real supervisor and a virtual modem on a pty."""

from __future__ import annotations

import threading

import pytest

from gateway.sims.control import BadCode, ModemControl, UnknownModem, check_code
from modem.supervision import ModemState

from .modem_helpers import Inbox, start_supervisor, wait_until

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


@pytest.fixture
def modem(sim):
    port = next(iter(sim.ports.values()))
    supervisor = start_supervisor("shop1", port.path, Inbox(), boot_s=0.0)
    yield supervisor, port.modem
    supervisor.stop()


def counting_resets(device) -> threading.Event:
    """An event set when the virtual modem is told AT+CFUN=1,1 (it then boots as it would)."""
    reset = threading.Event()

    def hook() -> None:
        reset.set()
        device.boot()

    device.reset_hook = hook
    return reset


@pytest.mark.parametrize("code", ["*100#", "#123*1#", " *101# "])
def test_a_ussd_code_is_digits_star_and_hash(code):
    assert check_code(code) == code.strip()


@pytest.mark.parametrize("code", ["", "*100#;AT+CFUN=0", "\"*100#", "1" * 33, "*100#\r\nAT"])
def test_anything_else_is_refused_before_the_modem_sees_it(code):
    with pytest.raises(BadCode):
        check_code(code)


def test_a_restart_resets_the_modem_and_it_comes_back_ready(modem):
    supervisor, device = modem
    reset = counting_resets(device)
    states: list[ModemState] = []
    supervisor._on_state = lambda name, state, reason: states.append(state)
    ModemControl(lambda: [supervisor]).restart("shop1")
    assert reset.wait(10), "the modem was never told AT+CFUN=1,1"
    wait_until(lambda: ModemState.READY in states, 15, "ready again after the restart")
    assert states[0] is ModemState.INITIALISING and supervisor.state is ModemState.READY
    assert supervisor.recovery == ""  # back in service: the step is no longer shown


def test_a_restart_waits_for_the_send_in_flight(modem):
    supervisor, device = modem
    reset = counting_resets(device)
    control = ModemControl(lambda: [supervisor])
    with supervisor.session():
        control.restart("shop1")
        wait_until(lambda: supervisor.state is ModemState.INITIALISING, 10, "out of service")
        assert not reset.is_set()  # the modem is not reset under a send
    assert reset.wait(10)
    assert supervisor.wait_ready(15)


def test_a_ussd_answer_comes_later_as_the_network_wrote_it(modem):
    supervisor, device = modem
    device.ussd_text = XSS
    job = ModemControl(lambda: [supervisor]).ussd("shop1", "*100#")
    assert job.done.wait(15)
    assert (job.answer, job.error) == (XSS, None)
    assert device.ussd_requests == ["*100#"]


def test_a_ussd_refusal_or_a_modem_not_ready_is_the_jobs_error(modem):
    supervisor, device = modem
    device.ussd_status = 4  # not supported by the network
    control = ModemControl(lambda: [supervisor])
    job = control.ussd("shop1", "*100#")
    assert job.done.wait(15) and job.answer is None and "USSD *100#" in job.error
    assert control.job(job.id) is job
    with pytest.raises(UnknownModem):
        control.ussd("shop9", "*100#")
    supervisor.stop()
    stopped = control.ussd("shop1", "*100#")
    assert stopped.done.wait(5) and "not ready" in stopped.error
