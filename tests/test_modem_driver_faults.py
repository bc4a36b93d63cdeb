"""The real serial driver against virtual modems over ptys: each fault kind of the virtual modem is
exercised with the modem back in service afterwards.
"""

from __future__ import annotations

import time

import pytest
import serial

from modem.session import SendFailed
from modem.supervisor import ModemState
from modem.transport import AtTransport

from .modem_helpers import Inbox, another_program_wrote, start_supervisor, submitted, virtual_modems, wait_until
from .modem_helpers import inbox, modem1, sim800_and_e3131  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(60)


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
