"""hw-test/dump: a modem's answers recorded as a virtual-modem profile that loads in the virtual modem,
on which the driver inits and the other scripts run, so an unknown modem becomes a test."""

from __future__ import annotations

import json

import pytest

from modem.virtual.profiles import load_profile

from .test_hw_test import FAULTS, fails_fast, faulty_port, hw_test, status_lines

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def sim_options() -> dict:
    return {"profile": "e3131"}  # the most unlike the generic profile: ^ICCID, ^CPIN, packed USSD


def test_a_dumped_modem_becomes_a_virtual_one_the_driver_and_the_scripts_run_on(sim, tmp_path):
    output = tmp_path / "unknown-modem.json"
    modem = sim.ports["sim1"].modem
    result, _ = hw_test("dump", "--port", sim.ports["sim1"].path, "--output", str(output))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS driver inits on the dumped profile: huawei E3131 on a virtual modem" in result.stdout
    assert result.stdout.splitlines()[-1] == "5/5 PASS"
    text = output.read_text()
    assert modem.imei not in text and modem.iccid not in text  # the unit's numbers stay out
    profile = load_profile(output)
    assert (profile.manufacturer, profile.model, profile.revision) == ("huawei", "E3131", modem.profile.revision)
    assert profile.iccid == {"^ICCID?": "^ICCID: {iccid_swapped}"} and profile.pin_counter == "^CPIN"
    assert profile.cnmi_test == modem.profile.cnmi_test and profile.cops_act == ",2"
    assert profile.capacity == modem.profile.capacity  # every memory it offers, not only the selected one
    assert "^CURC" in profile.accepted and "IMEI: {imei}" in profile.ati
    assert json.loads(text)["answers"]["AT+CGMM"] == ["E3131"]
    probe, _ = hw_test("probe", "--simulate", "--profile", str(output))
    assert probe.returncode == 0, probe.stdout + probe.stderr
    assert "PASS modem answers: huawei E3131 firmware" in probe.stdout and "PASS PIN tries left: 3 of 3 (^CPIN)" in probe.stdout


@pytest.mark.parametrize("fault", ["hang", "missing port"])
def test_a_modem_that_cannot_be_dumped_fails_fast_and_writes_nothing(sim, tmp_path, fault):
    output = tmp_path / "never.json"
    result, seconds = hw_test("dump", "--port", faulty_port(sim, tmp_path, fault), "--output", str(output),
                              *FAULTS[fault][1])
    lines = fails_fast(result, seconds, fault)
    assert [line.split(":", 1)[0] for line in lines][-3:] == [
        "SKIP answers recorded", "SKIP profile written", "SKIP driver inits on the dumped profile"]
    assert not output.exists()


def test_a_file_that_is_not_a_profile_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"profile": {"modell": "typo"}}')
    result, _ = hw_test("probe", "--simulate", "--profile", str(bad))
    assert result.returncode == 2 and "not a modem profile written by hw-test/dump (unknown fields modell)" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(ValueError, match="not a modem profile"):
        load_profile(tmp_path / "missing.json")
    assert status_lines(result.stdout) == []
