"""What real SIMs and starting modems do to the driver (issue 13, items 1, 5 and 6), on virtual modems
over ptys: a wrong PIN, SIM- or network-level send refusals, and a modem still starting up."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from gateway.core.clock import FakeClock
from gateway.core.config import from_dict
from gateway.daemon import Daemon
from gateway.sims import status
from modem.errors import ErrorClass, classify_cms
from modem.pin import PinMemory
from modem.cnmi import cnmi_from_test
from modem.supervisor import ModemState, ModemSupervisor
from modem.virtual.cli import Simulation
from modem.virtual.device import VirtualModem
from modem.virtual.network import VirtualNetwork
from modem.virtual.profiles import GENERIC, PROFILES
from modem.virtual.server import VirtualModemPort

from .daemon_helpers import database_section
from .engine_helpers import Gateway
from .modem_helpers import Inbox, fast_settings, virtual_modems, wait_until

pytestmark = pytest.mark.timeout(90)


class States:
    """Every state a supervisor entered, with its reason (the on_state callback)."""

    def __init__(self) -> None:
        self.seen: list[tuple[ModemState, str]] = []
        self.lock = threading.Lock()

    def __call__(self, name: str, state: ModemState, reason: str) -> None:
        with self.lock:
            self.seen.append((state, reason))

    def reasons(self, state: ModemState) -> list[str]:
        with self.lock:
            return [r for s, r in self.seen if s is state]


@pytest.fixture
def one_modem(tmp_path):
    simulation = virtual_modems(tmp_path / "ports", report_delay=1.0)
    yield simulation
    simulation.close()


def _supervise(simulation: Simulation, states: States, **options) -> ModemSupervisor:
    settings_keys = {f.name for f in dataclasses.fields(fast_settings("x", "x"))}
    settings = fast_settings("sim1", simulation.ports["sim1"].path,
                             **{k: v for k, v in options.items() if k in settings_keys})
    supervisor = ModemSupervisor(settings, Inbox(), on_state=states,
                                 **{k: v for k, v in options.items() if k not in settings_keys})
    supervisor.start()
    return supervisor


# ---- item 1: a wrong PIN is sent once per SIM and configured PIN ---------------------------------
def test_wrong_pin_is_sent_once_however_long_the_supervisor_retries(one_modem):
    modem = one_modem.ports["sim1"].modem
    modem.sim("pin", pin="1234")
    clock, states = FakeClock(), States()
    supervisor = _supervise(one_modem, states, pin="0000", clock=clock)
    try:
        # every poll moves the backoff clock on by 5 s: dozens of reconnects, then a day more
        wait_until(lambda: clock.advance(5.0) or len(states.reasons(ModemState.SIM_ERROR)) >= 30, 60,
                   "30 reconnects")
        clock.advance(86_400)
        seen = len(states.reasons(ModemState.SIM_ERROR))
        wait_until(lambda: clock.advance(5.0) or len(states.reasons(ModemState.SIM_ERROR)) >= seen + 10, 30,
                   "10 more reconnects")
    finally:
        supervisor.stop()
    assert modem.status()["pin_attempts"] == 1
    assert modem.sim_state == "pin"  # not PUK-locked
    reasons = states.reasons(ModemState.SIM_ERROR)
    assert all("PIN refused, 2 tries left" in r for r in reasons), reasons[:3]
    assert "not tried again until it changes" in reasons[-1]


@pytest.mark.parametrize("profile", ["sim800", "e3131", "ec25", "generic"])
def test_refused_pin_says_how_many_tries_are_left_on_each_model(tmp_path, profile):
    with virtual_modems(tmp_path, profile=profile, report_delay=1.0) as simulation:
        modem = simulation.ports["sim1"].modem
        modem.sim("pin", pin="1234")
        states = States()
        supervisor = _supervise(simulation, states, pin="0000")
        try:
            wait_until(lambda: states.reasons(ModemState.SIM_ERROR), 15, "the SIM error")
        finally:
            supervisor.stop()
        assert "PIN refused, 2 tries left" in states.reasons(ModemState.SIM_ERROR)[0]
        assert modem.status()["pin_attempts"] == 1


def test_refused_pin_is_remembered_across_restarts_until_the_config_changes(one_modem, tmp_path):
    modem = one_modem.ports["sim1"].modem
    modem.sim("pin", pin="1234")
    memory_file = tmp_path / "data" / "sim-pin.json"
    for run in range(3):  # three daemon runs, each with its memory read back from the file
        states = States()
        supervisor = _supervise(one_modem, states, pin="0000", pin_memory=PinMemory(memory_file))
        try:
            wait_until(lambda: states.reasons(ModemState.SIM_ERROR), 15, f"the SIM error of run {run}")
        finally:
            supervisor.stop()
    assert modem.status()["pin_attempts"] == 1
    assert "0000" not in memory_file.read_text()  # a fingerprint, never the PIN
    states = States()
    supervisor = _supervise(one_modem, states, pin="1234", pin_memory=PinMemory(memory_file))  # config fixed
    try:
        assert supervisor.wait_ready(15), supervisor.reason
    finally:
        supervisor.stop()
    assert modem.status()["pin_attempts"] == 2


def test_unreadable_pin_memory_sends_no_pin_and_says_why(one_modem, tmp_path):
    modem = one_modem.ports["sim1"].modem
    modem.sim("pin", pin="1234")
    memory_file = tmp_path / "sim-pin.json"
    memory_file.write_text("{not json")
    states = States()
    supervisor = _supervise(one_modem, states, pin="1234", pin_memory=PinMemory(memory_file))
    try:
        wait_until(lambda: states.reasons(ModemState.SIM_ERROR), 15, "the SIM error")
    finally:
        supervisor.stop()
    assert modem.status()["pin_attempts"] == 0
    assert "sim-pin.json is unreadable" in states.reasons(ModemState.SIM_ERROR)[0]
    assert memory_file.read_text() == "{not json"  # kept for a person to look at


# ---- item 5: whose fault a +CMS ERROR is -----------------------------------------------------------
def test_cms_errors_classified_by_whose_fault_they_are():
    for code in (8, 10, 50, 69, 302):  # barred, not subscribed, not allowed: the SIM's
        assert classify_cms(code) is ErrorClass.SIM, code
    for code in (38, 111, 127, 194):  # network out of order, protocol error, interworking, SC failure
        assert classify_cms(code) is ErrorClass.NETWORK, code
    for code in (1, 28, 30, 195, 196, 304):  # the number's, or the message's own
        assert classify_cms(code) is ErrorClass.PERMANENT, code
    assert classify_cms(314) is ErrorClass.TRANSIENT  # SIM busy
    unclassified = [code for code in range(128, 256) if classify_cms(code) is ErrorClass.UNKNOWN]
    assert unclassified == []


def test_barred_sim_goes_out_of_rotation_and_its_work_moves_to_another_sim(tmp_path, clock):
    gw = Gateway(tmp_path, clock, modems=2, modem_timing=clock)
    try:
        barred = gw.sim.ports["sim1"].modem
        barred.barred(8)  # operator determined barring: whatever the number
        messages = [gw.queue.enqueue(f"+4477009001{i:02d}", f"offer {i}").id for i in range(6)]
        for message_id in messages:
            gw.wait_status(message_id, "sent", "delivered")
            stored = gw.queue.get(message_id)
            assert stored.sim == "sim2" and stored.attempts == 1
        sim1 = gw.supervisors["sim1"]
        assert sim1.state is ModemState.OUT_OF_ROTATION
        described = {m["name"]: m for m in status.describe([(s, None) for s in gw.supervisors.values()])}
        assert described["sim1"]["state"] == "out_of_rotation"
        assert "CMS ERROR: 8" in described["sim1"]["reason"]
        assert status.health_of(described["sim2"]) == ("pass", "ready")
        barred.barred(None)
        clock.advance(sim1.settings.rest_s + 1)
        wait_until(lambda: sim1.state is ModemState.READY, 10, "sim1 back in rotation")
    finally:
        gw.stop()


def test_refused_number_fails_the_message_and_keeps_the_sims(tmp_path, clock):
    gw = Gateway(tmp_path, clock, modems=2, modem_timing=clock)
    try:
        for port in gw.sim.ports.values():
            port.modem.refuse_number("+447700900155", 1)  # unassigned number
        failed = gw.queue.enqueue("+447700900155", "nobody there")
        gw.wait_status(failed.id, "failed")
        assert "CMS ERROR: 1" in gw.queue.get(failed.id).last_error
        fine = gw.queue.enqueue("+447700900156", "somebody there")
        gw.wait_status(fine.id, "sent", "delivered")
        assert all(s.state is ModemState.READY for s in gw.supervisors.values())
    finally:
        gw.stop()


# ---- item 6: a starting modem's "not yet" is a wait ------------------------------------------------
@pytest.mark.parametrize("options", [
    # at once: +CPIN: NOT READY, then CMS 500; init waits them out
    pytest.param({}, id="init_waits_out_the_start_up_window"),
    # a driver that stops waiting early: its SMS settings are refused, then made again at SMS Ready
    pytest.param({"startup_window": 0.1}, id="sms_settings_made_again_once_the_modem_says_sms_ready"),
])
def test_a_starting_modem_gets_its_sms_settings(tmp_path, options):
    with virtual_modems(tmp_path, modem_options={"startup": 1.5}, report_delay=1.0) as simulation:
        modem = simulation.ports["sim1"].modem
        states = States()
        supervisor = _supervise(simulation, states, **options)
        try:
            assert supervisor.wait_ready(15), supervisor.reason
            wait_until(lambda: modem.status()["cnmi"] == [2, 1, 0, 1, 0], 10, "the best CNMI on the modem")
            # the modem takes the command before the session records its answer: wait for both
            wait_until(lambda: _session_cnmi(supervisor) == "2,1,0,1,0", 10, "the session's CNMI")
        finally:
            supervisor.stop()
        troubles = [s for s, _ in states.seen if s in (ModemState.SIM_ERROR, ModemState.HUNG)]
        assert troubles == []


def _session_cnmi(supervisor: ModemSupervisor) -> str:
    with supervisor.session() as session:
        return session.cnmi


def test_cnmi_derived_from_what_the_modem_offers():
    assert cnmi_from_test(PROFILES["sim800"].cnmi_test) == "2,1,0,1,0"  # no ds=2 on a SIM800
    assert cnmi_from_test(PROFILES["ec25"].cnmi_test) == "2,1,0,2,0"
    assert cnmi_from_test("+CNMI: (0-2),(0-3),(0,2),(0-2),(1)") == "2,1,0,2,1"
    assert cnmi_from_test("+CNMI: (1),(0,2),(0),(0),(0)") == "1,2,0,0,0"
    assert cnmi_from_test("+CNMI: (0,3),(0),(0),(0),(0)") is None  # no SMS indication at all
    assert cnmi_from_test("") is None


def test_a_modem_that_only_offers_bfr_1_still_gets_indications(tmp_path):
    profile = dataclasses.replace(GENERIC, name="bfr1", cnmi_test="+CNMI: (0-2),(0-3),(0,2),(0-2),(1)")
    network = VirtualNetwork(report_delay=0.1, record=str(tmp_path / "submitted.jsonl"))
    modem = VirtualModem("sim1", profile, network=network, register_delay=0.05, power_on=False)
    simulation = Simulation(network, {"sim1": VirtualModemPort(modem, str(tmp_path), "sim1")}, modems=[modem])
    try:
        supervisor = _supervise(simulation, States())
        try:
            assert supervisor.wait_ready(15), supervisor.reason
            with supervisor.session() as session:
                assert session.cnmi == "2,1,0,2,1"
            assert modem.status()["cnmi"] == [2, 1, 0, 2, 1]
        finally:
            supervisor.stop()
    finally:
        simulation.close()


def test_daemon_restarts_never_resend_a_refused_pin(tmp_path):
    with virtual_modems(tmp_path / "ports", report_delay=1.0) as simulation:
        modem = simulation.ports["sim1"].modem
        modem.sim("pin", pin="1234")
        config = from_dict({"gateway": {"data_dir": str(tmp_path)}, **database_section(),
                            "modems": [{"name": "sim1", "port": simulation.ports["sim1"].path, "pin": "0000"}]})
        for run in range(3):
            daemon = Daemon(config)
            daemon.attach_modems(list(config.modems))
            for supervisor in daemon.supervisors:
                supervisor.start()
            try:
                assert daemon.supervisors[0].wait_for({ModemState.SIM_ERROR}, 15), f"run {run}"
                assert "PIN refused, 2 tries left" in daemon.supervisors[0].reason
            finally:
                daemon.stop()
        assert modem.status()["pin_attempts"] == 1
        assert (tmp_path / "sim-pin.json").exists()


def test_a_modem_that_restarts_without_a_word_is_initialised_again(tmp_path):
    # a module that reboots on its own and prints nothing (no RDY, no SMS Ready): its echo is back,
    # CMEE and CNMI at their defaults, so every status report would be dropped (CNMI ds=0)
    with virtual_modems(tmp_path, profile="generic") as simulation:
        modem = simulation.ports["sim1"].modem
        chosen = [int(n) for n in cnmi_from_test(GENERIC.cnmi_test).split(",")]
        supervisor = _supervise(simulation, States())
        try:
            assert supervisor.wait_ready(15), supervisor.reason
            wait_until(lambda: modem.status()["cnmi"] == chosen, 10, "the driver's CNMI on the modem")
            # a UART module reboots within reset() (defaults back, echo on): the driver, not the
            # test, ends that state, so the test waits only for what the driver makes of it
            modem.reset()
            wait_until(lambda: modem.status()["cnmi"] == chosen and not modem.status()["echo"], 15,
                       "the driver's settings made again")
            assert supervisor.wait_ready(15), supervisor.reason
        finally:
            supervisor.stop()


def test_a_silent_restart_seen_by_a_send_is_set_up_again_at_once_not_at_the_next_check(tmp_path):
    """Every status report the modem gets before its CNMI is set again is dropped: the restart a send
    notices (its command echoed) wakes the supervisor now, not after the check interval."""
    with virtual_modems(tmp_path, profile="generic") as simulation:
        modem = simulation.ports["sim1"].modem
        chosen = [int(n) for n in cnmi_from_test(GENERIC.cnmi_test).split(",")]
        supervisor = _supervise(simulation, States(), check_interval_s=60.0)
        try:
            assert supervisor.wait_ready(15), supervisor.reason
            wait_until(lambda: modem.status()["cnmi"] == chosen, 10, "the driver's CNMI on the modem")
            modem.reset()  # a UART module: rebooted within the call, nothing checks it for 60 s
            assert modem.status()["cnmi"] != chosen and modem.status()["echo"]
            wait_until(lambda: modem.registered, 10, "the network again")
            with supervisor.session() as session:
                session.send("+447700900123", "after the reboot")
            wait_until(lambda: modem.status()["cnmi"] == chosen and not modem.status()["echo"], 20,
                       "the driver's settings made again well before the next check")
        finally:
            supervisor.stop()
