"""Modems named by identity (IMEI, ICCID): found on whichever serial port they are plugged into, through
the real supervisor and virtual modems on ptys."""

from __future__ import annotations

import pytest

from modem.discovery import PortClaims, candidates
from modem.supervisor import ModemState, ModemSupervisor
from modem.virtual.control import apply

from .daemon_helpers import database_section
from .modem_helpers import Inbox, fast_settings, wait_until

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def sim_options() -> dict:
    return {"count": 2, "profile": "sim800"}


def scan_of(sim) -> tuple[str, ...]:
    return (sim.ports["sim1"].directory + "/*",)


def test_modems_named_by_imei_come_back_under_their_name_after_a_replug_on_another_port(sim):
    claims = PortClaims()
    wanted = sim.ports["sim2"].modem
    fixed = ModemSupervisor(fast_settings("till", sim.ports["sim1"].path), Inbox(), claims=claims)
    named = ModemSupervisor(fast_settings("shop", "", imei=wanted.imei, scan=scan_of(sim)), Inbox(), claims=claims)
    fixed.start()
    named.start()
    try:
        assert named.wait_ready(20), f"{named.state} {named.reason}"
        assert named.port == sim.ports["sim2"].path
        assert named.identity.imei == wanted.imei
        assert fixed.wait_ready(20)

        apply(sim.ports, {"cmd": "unplug", "modem": "sim2"})
        wait_until(lambda: named.state is not ModemState.READY, 10, "unplug noticed")
        apply(sim.ports, {"cmd": "replug", "modem": "sim2", "path": "usb-socket-4"})
        wait_until(lambda: named.state is ModemState.READY, 30, "back under its name")

        assert named.port.endswith("/usb-socket-4") and named.port == sim.ports["sim2"].path
        assert named.identity.imei == wanted.imei
        with named.session() as session:
            session.send("+447700900123", "from the moved modem")
        sent = [e for e in sim.network.record.submitted if e["text"] == "from the moved modem"]
        assert [e["msisdn"] for e in sent] == [wanted.msisdn]
        assert fixed.state is ModemState.READY  # its port was never probed by the search
    finally:
        named.stop()
        fixed.stop()


def test_a_modem_named_by_iccid_is_found_and_a_missing_one_says_what_was_tried(sim):
    claims = PortClaims()
    by_iccid = ModemSupervisor(fast_settings("a", "", iccid=sim.ports["sim1"].modem.iccid, scan=scan_of(sim)),
                               Inbox(), claims=claims)
    missing = ModemSupervisor(fast_settings("b", "", imei="356938035643809", scan=scan_of(sim)),
                              Inbox(), claims=claims)
    by_iccid.start()
    try:
        assert by_iccid.wait_ready(20)
        assert by_iccid.port == sim.ports["sim1"].path
        missing.start()
        wait_until(lambda: missing.state is ModemState.DISCONNECTED, 20, "not found")
        assert "no modem with IMEI 356938035643809" in missing.reason
        assert f"{sim.ports['sim2'].path}: IMEI {sim.ports['sim2'].modem.imei}" in missing.reason
        assert sim.ports["sim1"].path not in missing.reason  # held by "a": not probed
        assert by_iccid.state is ModemState.READY
    finally:
        missing.stop()
        by_iccid.stop()


def test_each_device_is_a_candidate_once_whatever_its_names(tmp_path):
    device = tmp_path / "ttyUSB0"
    device.write_text("")
    (tmp_path / "by-id").mkdir()
    (tmp_path / "by-id" / "usb-SimTech_SIM800-if00").symlink_to(device)
    (tmp_path / "by-id" / "usb-gone").symlink_to(tmp_path / "nothing")
    found = candidates([str(tmp_path / "by-id" / "*"), str(tmp_path / "ttyUSB*")])
    assert found == [str(tmp_path / "by-id" / "usb-SimTech_SIM800-if00")]


def test_a_claimed_port_is_refused_to_others_under_any_of_its_names(tmp_path):
    device = tmp_path / "ttyUSB0"
    device.write_text("")
    link = tmp_path / "modem1"
    link.symlink_to(device)
    claims = PortClaims()
    assert claims.claim(str(link), "a")
    assert not claims.claim(str(device), "b")
    assert claims.claim(str(device), "a")
    claims.release("a")
    assert claims.claim(str(device), "b")


def test_the_daemon_finds_a_modem_by_imei_and_drives_its_led(sim, tmp_path):
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    from gateway.core.config import from_dict
    from gateway.daemon import Daemon
    from gateway.sims import status

    previous, Device.pin_factory = Device.pin_factory, MockFactory()
    moved = sim.ports["sim2"]
    config = from_dict({"gateway": {"data_dir": str(tmp_path), "serial_scan": list(scan_of(sim))},
                        "gpio": {"system_led_pin": 4}, **database_section(),
                        "modems": [{"name": "till", "port": sim.ports["sim1"].path},
                                   {"name": "shop", "imei": moved.modem.imei, "led_pin": 17, "power_pin": 27}]})
    daemon = Daemon(config)
    try:
        daemon.attach_modems(list(config.modems))
        for supervisor in daemon.supervisors:
            supervisor.start()
        assert daemon.wait_ready(20)
        shop = {s.name: s for s in daemon.supervisors}["shop"]
        assert shop.port == moved.path and Device.pin_factory.pin(17).state  # registered: steady
        moved.unplug()
        wait_until(lambda: shop.state is not ModemState.READY, 10, "unplug noticed")
        moved.replug(path="usb-socket-2")
        wait_until(lambda: shop.state is ModemState.READY, 30, "back under its name")
        described = {m["name"]: m for m in status.describe([(s, daemon.engine.workers.get(s.name))
                                                                  for s in daemon.supervisors])}
        assert described["shop"]["port"].endswith("/usb-socket-2")
        assert described["shop"]["identity"]["imei"] == moved.modem.imei
        assert described["shop"]["limits"]["minute"]["cap"] == 6  # its worker, limits and all, kept
    finally:
        daemon.stop()
        Device.pin_factory.reset()
        Device.pin_factory = previous
