"""The technician's scripts in hw-test/ as a technician runs them: real processes, virtual modems on
ptys, faults injected through the virtual modem's own fault API, and a copy of the repository
without .venv (a fresh clone)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modem.diagnostics import PROBE_CHECKS, CheckOptions, Status
from modem.port_scan import scan_ports

ROOT = Path(__file__).parent.parent
SCRIPTS = ("modem-check", "probe", "send-test")
EVERY_SCRIPT = (*SCRIPTS, "ussd", "loopback", "soak", "dump", "leds", "power-cycle")
FAULT_DEADLINE = 10.0  # issue 17: a fault is reported within 10 s
pytestmark = pytest.mark.timeout(120)


def hw_test(script: str, *args: str, root: Path = ROOT, env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run([str(root / "hw-test" / script), *args], capture_output=True, text=True, timeout=60,
                            env=env)
    return result, time.monotonic() - started


@pytest.fixture
def sim_options() -> dict:
    return {"profile": "ec25"}


def status_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.split(" ", 1)[0] in ("PASS", "FAIL", "SKIP")]


def test_every_script_is_in_the_suite():
    assert sorted(EVERY_SCRIPT) == sorted(p.name for p in (ROOT / "hw-test").iterdir() if not p.name.startswith("_"))


@pytest.mark.parametrize("script", EVERY_SCRIPT)
def test_each_script_passes_on_a_virtual_modem(script, tmp_path):
    extra = ("--output", str(tmp_path / "dumped.json")) if script == "dump" else ()
    result, _ = hw_test(script, "--simulate", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = status_lines(result.stdout)
    assert lines and all(line.startswith("PASS ") for line in lines), result.stdout
    assert result.stdout.splitlines()[-1] == f"{len(lines)}/{len(lines)} PASS"


def test_send_test_times_the_send_and_the_report():
    result, _ = hw_test("send-test", "--simulate", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["send SMS"]["status"] == "PASS" and checks["send SMS"]["seconds"] is not None
    assert checks["delivery report"]["status"] == "PASS"
    assert checks["delivery report"]["seconds"] >= 0.2  # the virtual network's report delay


def test_json_has_every_check_and_the_summary():
    result, _ = hw_test("modem-check", "--simulate", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    names = [c["name"] for c in report["checks"]]
    assert names == [*PROBE_CHECKS, "send SMS", "delivery report"]
    assert report["passed"] is True and report["summary"] == f"{len(names)}/{len(names)} PASS"


# (fault, how to inject it, extra arguments, the check that fails, words its reason has)
FAULTS = {
    "no SIM": (lambda modem: modem.sim("missing"), (), "SIM ready", "SIM not inserted"),
    "wrong PIN": (lambda modem: modem.sim("pin", pin="1234"), ("--pin", "0000"), "SIM ready", "PIN refused, 2 tries left"),
    # a searching or hung modem stays so for the whole run: the checks give up after the wait they are
    # given, here short (the defaults are the scripts' --help)
    "no network": (lambda modem: modem.no_network(), ("--timeout", "0.5"), "network registration",
                   "no network: registration searching"),
    "registration denied": (lambda modem: modem.registration_denied(cause=13), (), "network registration",
                            "no network: registration denied (cause 13: roaming not allowed in this location area)"),
    "hang": (lambda modem: modem.hang(), ("--answer-timeout", "0.5"), "modem answers", "no answer to AT"),
    "missing port": (None, (), "port", "No such file or directory"),
}


def faulty_port(sim, tmp_path: Path, fault: str) -> str:
    """sim1's port with `fault` (one of FAULTS) injected, or a path with nothing behind it."""
    inject = FAULTS[fault][0]
    if inject is None:
        return str(tmp_path / "unplugged")
    inject(sim.ports["sim1"].modem)
    return sim.ports["sim1"].path


def fails_fast(result: subprocess.CompletedProcess, seconds: float, fault: str, prefix: str = "") -> list[str]:
    """Asserts the run failed within the deadline with the fault's check and reason; its status lines."""
    _inject, _extra, failing, reason = FAULTS[fault]
    assert result.returncode == 1, result.stdout + result.stderr
    assert seconds < FAULT_DEADLINE
    lines = status_lines(result.stdout)
    failed = next(line for line in lines if line.startswith("FAIL "))
    assert failed.startswith(f"FAIL {prefix}{failing}: ") and reason in failed and "; fix: " in failed, result.stdout
    assert "Traceback" not in result.stderr
    return lines


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("script", SCRIPTS)
def test_a_fault_fails_fast_with_its_reason_and_every_check_still_reported(sim, tmp_path, script, fault):
    port = faulty_port(sim, tmp_path, fault)
    extra = FAULTS[fault][1]
    if script == "send-test":
        extra = (*extra, "--to", "+447700900123")
    result, seconds = hw_test(script, "--port", port, *extra)
    lines = fails_fast(result, seconds, fault)
    expected = 6 if script == "send-test" else len(PROBE_CHECKS)
    assert len(lines) == expected, result.stdout  # nothing vanishes after the first FAIL
    failed_or_skipped = {line.split(":", 1)[0].split(" ", 1)[1] for line in lines if not line.startswith("PASS")}
    for line in lines:
        if line.startswith("SKIP "):  # says which check it waits for, one that did not pass
            assert line.split("needs ", 1)[1].split(" (", 1)[0] in failed_or_skipped, line
    assert result.stdout.splitlines()[-1].startswith(f"{sum(x.startswith('PASS') for x in lines)}/{expected} PASS, ")
    assert "Traceback" not in result.stderr


def test_the_signal_is_still_read_when_the_sim_fails(sim):
    sim.ports["sim1"].modem.sim("missing")
    result, _ = hw_test("probe", "--port", sim.ports["sim1"].path)
    assert "PASS signal: " in result.stdout and "SKIP network registration: needs SIM ready" in result.stdout


def test_a_weak_signal_fails_against_the_threshold(sim):
    result, _ = hw_test("probe", "--port", sim.ports["sim1"].path, "--min-bars", "5", "--json")
    signal = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "signal")
    # the virtual modem's CSQ 21 is -71 dBm, 5 bars: at the top threshold it still passes
    assert signal["status"] == "PASS"
    sim.ports["sim1"].modem.no_network()
    result, _ = hw_test("probe", "--port", sim.ports["sim1"].path, "--timeout", "0.5", "--json")
    signal = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "signal")
    assert signal["status"] == "FAIL" and "CSQ 99" in signal["detail"] and signal["fix"]


@pytest.mark.parametrize("args, words", [
    (("--simulate", "--profile", "bogus"), "unknown modem profile"),
    (("--port", "/dev/null", "--profile", "ec25"), "--profile only applies with --simulate"),
    (("--simulate", "--min-bars", "9"), "--min-bars must be 0 to 5"),
    (("--simulate", "--answer-timeout", "0"), "--answer-timeout must be more than 0"),
])
def test_bad_options_are_a_usage_error_not_a_traceback(args, words):
    result, _ = hw_test("modem-check", *args)
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("script", EVERY_SCRIPT)
def test_help_shows_the_waits_and_their_defaults(script):
    result, _ = hw_test(script, "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "--answer-timeout" in text and "before it counts as hung (default 3)" in text
    assert "seconds to wait for network registration" in text


def test_send_test_needs_a_number_on_a_real_port(sim):
    result, _ = hw_test("send-test", "--port", sim.ports["sim1"].path)
    assert result.returncode == 2 and "--to is required" in result.stderr


def test_scan_probes_each_port_and_skips_those_that_do_not_speak_at(sim, tmp_path):
    ports = [(sim.ports["sim1"].path, "virtual"), (str(tmp_path / "gone"), "unplugged")]
    checks = list(scan_ports(ports, lambda path: CheckOptions(port=path)))
    assert checks[0].name == "serial ports" and checks[0].passed
    sim1 = os.path.basename(sim.ports["sim1"].path)
    assert [c.name for c in checks[1:1 + len(PROBE_CHECKS)]] == [f"{sim1} {n}" for n in PROBE_CHECKS]
    assert all(c.passed for c in checks[1:1 + len(PROBE_CHECKS)])
    assert checks[-1].name == "gone" and checks[-1].status is Status.SKIP
    nothing = list(scan_ports([], lambda path: CheckOptions(port=path)))
    assert len(nothing) == 1 and nothing[0].status is Status.FAIL and nothing[0].fix


def fresh_clone(tmp_path: Path) -> Path:
    """The repository's files without .venv, caches or build output, as a fresh clone has them."""
    copy = tmp_path / "clone"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info",
                                                             ".pytest_cache", ".hypothesis", "var", "build"))
    return copy


def test_scripts_run_from_a_fresh_clone_and_from_path(tmp_path):
    clone = fresh_clone(tmp_path)
    assert not (clone / ".venv").exists()
    # the Python that has the dependencies is the one on PATH (python3), as on a machine with python3-serial
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    result, _ = hw_test("modem-check", "--simulate", root=clone, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == f"{len(PROBE_CHECKS) + 2}/{len(PROBE_CHECKS) + 2} PASS"
    assert not (clone / ".venv").exists()  # found a Python; did not need to build one
    for script in ("soak", "loopback"):  # the gateway's limits and config, two virtual modems: from the clone too
        result, _ = hw_test(script, "--simulate", root=clone, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    # installed: a link on PATH to the script (what the installer makes)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gsmgw-probe").symlink_to(clone / "hw-test" / "probe")
    on_path = subprocess.run(["gsmgw-probe", "--simulate"], capture_output=True, text=True, timeout=60,
                             env={**env, "PATH": f"{bin_dir}:{env['PATH']}"})
    assert on_path.returncode == 0, on_path.stdout + on_path.stderr
    assert on_path.stdout.splitlines()[-1] == f"{len(PROBE_CHECKS)}/{len(PROBE_CHECKS)} PASS"


def test_without_a_usable_python_it_builds_the_venv_as_make_does_or_says_what_to_install(tmp_path):
    clone = fresh_clone(tmp_path)
    # the system's python3 lacks pyserial; no package index here, so building .venv fails: it must say so
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PIP_NO_INDEX": "1"}
    if subprocess.run(["python3", "-c", "import serial, gsmmodem.pdu"], env=env, capture_output=True).returncode == 0:
        pytest.skip("this machine's python3 has the dependencies")
    result, _ = hw_test("modem-check", "--simulate", root=clone, env=env)
    assert result.returncode == 2
    assert f"creating {clone}/.venv (make -C {clone} .venv/.installed)" in result.stderr
    assert "could not create" in result.stderr and "Traceback" not in result.stderr


def test_the_probe_checks_send_nothing_even_when_given_a_number(sim):
    from modem.diagnostics import run_checks

    checks = list(run_checks(CheckOptions(port=sim.ports["sim1"].path, send_to="+447700900123"), PROBE_CHECKS))
    assert [c.name for c in checks] == list(PROBE_CHECKS) and all(c.passed for c in checks)
    assert sim.network.record.submitted == []


@pytest.mark.parametrize("sim_options", [{"profile": name} for name in ("sim800", "e3131", "ec25", "generic")],
                         ids=lambda options: options["profile"])
def test_probe_tells_the_pin_tries_left_in_each_models_own_command(sim):
    modem = sim.ports["sim1"].modem
    modem.sim("pin", pin="1234")
    result, _ = hw_test("probe", "--port", sim.ports["sim1"].path, "--pin", "0000", "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["PIN tries left"]["status"] == "PASS"
    assert checks["PIN tries left"]["detail"] == f"2 of 3 ({modem.profile.pin_counter})"
    # each run is one attempt with the wrong PIN: the next one leaves a single try, which fails
    result, _ = hw_test("probe", "--port", sim.ports["sim1"].path, "--pin", "0000", "--json")
    tries = {c["name"]: c for c in json.loads(result.stdout)["checks"]}["PIN tries left"]
    assert tries["status"] == "FAIL" and tries["detail"].startswith("1 of 3") and "only 1 PIN try left" in tries["fix"]


def test_a_denied_registration_keeps_its_signal_and_says_the_networks_reason(sim):
    modem = sim.ports["sim1"].modem
    modem.registration_denied(cause=3)
    result, seconds = hw_test("probe", "--port", sim.ports["sim1"].path, "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    registration = checks["network registration"]
    assert registration["status"] == "FAIL" and seconds < FAULT_DEADLINE
    assert registration["detail"] == "no network: registration denied (cause 3: illegal MS)"
    assert "call the operator" in registration["fix"]
    assert checks["signal"]["status"] == "PASS"  # it hears the network; the network says no
    modem.registration_denied(False)
    result, _ = hw_test("probe", "--port", sim.ports["sim1"].path)
    assert result.returncode == 0, result.stdout
