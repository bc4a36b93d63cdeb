"""The hw-test scripts that make traffic (ussd, loopback, soak) as a technician runs them: a dry run
passes, and each fault the virtual modem can have fails fast with its reason, every check still
reported."""

from __future__ import annotations

import json

import pytest

from modem.diagnostics import READY_CHECKS

from .test_hw_test import FAULT_DEADLINE, FAULTS, fails_fast, faulty_port, hw_test

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def sim_options() -> dict:
    return {"profile": "sim800", "count": 2}  # two modems: loopback's A and B; the others use A


def script_args(script: str, sim, port: str) -> tuple[str, ...]:
    """What each script needs besides the port under test (modem A: sim1)."""
    if script == "loopback":
        return ("--port", port, "--number", sim.ports["sim1"].modem.msisdn, "--peer", sim.ports["sim2"].path,
                "--peer-number", sim.ports["sim2"].modem.msisdn, "--wait", "5")
    if script == "ussd":
        return ("--port", port, "--code", "*100#")
    return ("--port", port, "--to", sim.ports["sim2"].modem.msisdn, "--count", "2", "--report-timeout", "5")


OWN_CHECKS = {"ussd": ["USSD *100#"], "soak": ["soak sent", "soak delivery reports", "soak send time"],
              "loopback": ["A → B", "B → A"]}


def expected_names(script: str) -> list[str]:
    ready = [f"{side} {name}" for side in "AB" for name in READY_CHECKS] if script == "loopback" else list(READY_CHECKS)
    return ready + OWN_CHECKS[script]


@pytest.mark.parametrize("script", OWN_CHECKS)
def test_each_traffic_script_passes_on_real_ports_and_in_json(sim, script):
    result, _ = hw_test(script, *script_args(script, sim, sim.ports["sim1"].path), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert [c["name"] for c in report["checks"]] == expected_names(script)
    assert report["passed"] and report["summary"] == f"{len(expected_names(script))}/{len(expected_names(script))} PASS"


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("script", OWN_CHECKS)
def test_a_fault_fails_fast_with_its_reason(sim, tmp_path, script, fault):
    port = faulty_port(sim, tmp_path, fault)
    result, seconds = hw_test(script, *script_args(script, sim, port), *FAULTS[fault][1])
    lines = fails_fast(result, seconds, fault, "A " if script == "loopback" else "")
    assert [line.split(":", 1)[0].split(" ", 1)[1] for line in lines] == expected_names(script)
    for own in OWN_CHECKS[script]:  # nothing it could not do is hidden or claimed
        assert f"SKIP {own}: needs " in result.stdout
    assert result.stdout.splitlines()[-1].startswith(f"{sum(x.startswith('PASS') for x in lines)}/{len(lines)} PASS, ")


def test_loopback_times_each_way_and_fails_when_the_peer_number_is_wrong(sim):
    args = list(script_args("loopback", sim, sim.ports["sim1"].path))
    result, _ = hw_test("loopback", *args, "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["A → B"]["seconds"] > 0 and checks["B → A"]["seconds"] > 0
    args[args.index("--peer-number") + 1] = "+447700900555"  # nobody's: the text never comes back
    args[args.index("--wait") + 1] = "1"
    result, seconds = hw_test("loopback", *args, "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert result.returncode == 1 and seconds < FAULT_DEADLINE
    assert checks["A → B"]["status"] == "FAIL" and "not received within 1 s" in checks["A → B"]["detail"]
    assert checks["B → A"]["status"] == "PASS"


def test_ussd_says_what_the_network_answered_when_it_refuses(sim):
    sim.ports["sim1"].modem.ussd_reply("unknown application", status=4)
    result, _ = hw_test("ussd", *script_args("ussd", sim, sim.ports["sim1"].path))
    assert result.returncode == 1
    assert "FAIL USSD *100#: USSD *100#: " in result.stdout and "; fix: check the code" in result.stdout


def test_soak_keeps_to_the_configured_limits_and_counts_what_was_refused(sim, tmp_path):
    config = tmp_path / "gsmgw.toml"
    config.write_text('[[modems]]\nname = "shop"\nport = "/dev/null"\n[modems.limits]\nper_minute = 60\nmin_gap_s = 1.5\n')
    sim.ports["sim1"].modem.cms_error(38, times=1)  # the network refuses one of them
    result, _ = hw_test("soak", *script_args("soak", sim, sim.ports["sim1"].path), "--count", "3",
                        "--config", str(config), "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    sent = checks["soak sent"]
    assert sent["status"] == "FAIL" and sent["detail"].startswith("2/3 accepted in ")
    assert "(60/minute, 120/hour, 500/day, 10000/month, 1.5 s apart)" in sent["detail"] and "1: " in sent["detail"]
    seconds = float(sent["detail"].split(" accepted in ")[1].split(" s")[0])
    assert seconds >= 2 * 1.5 - 0.1  # three sends, the gap kept between them
    assert checks["soak delivery reports"]["status"] == "SKIP"
    result, _ = hw_test("soak", *script_args("soak", sim, sim.ports["sim1"].path), "--config", str(config),
                        "--modem", "nope")
    assert result.returncode == 2 and "no [[modems]] entry named 'nope'" in result.stderr
