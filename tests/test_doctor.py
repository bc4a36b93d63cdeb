"""`gsmgw doctor` on a temporary system tree (etc/, dev/, proc/, sys/ under a root the test makes)
and on this machine: each check's PASS/WARN/FAIL with its fix, the summary and the exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli.doctor import RULE, Places, checks
from modem.diagnostics import Status

ROOT = Path(__file__).parent.parent


def write(path: Path, text: str, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    return path


@pytest.fixture
def system(tmp_path) -> dict:
    """A healthy box: the service user in dialout (this process's group, so the files it makes belong
    to it), a modem port 0660, the udev rule, no ModemManager, root on a USB disk, NTP synchronised."""
    root = tmp_path / "root"
    gid = os.getgid()
    write(root / "etc/group", f"root:x:0:\ndialout:x:{gid}:pi,gsmgw\ngpio:x:997:gsmgw\n")
    write(root / "etc/passwd", "root:x:0:0::/root:/bin/bash\ngsmgw:x:999:999::/var/lib/gsmgw:/usr/sbin/nologin\n")
    write(root / "dev/ttyUSB0", "", 0o660)
    shutil.copy(ROOT / "systemd/99-gsmgw-modems.rules", write(root / RULE, ""))
    write(root / "proc/1/comm", "systemd\n")
    write(root / "proc/mounts", "/dev/sda2 / ext4 rw,noatime 0 0\nproc /proc proc rw 0 0\n")
    timedatectl = write(tmp_path / "timedatectl", "#!/bin/sh\necho yes\n", 0o755)
    data = tmp_path / "data"
    data.mkdir()
    config = write(tmp_path / "gsmgw.toml", f'[gateway]\ndata_dir = "{data}"\n')
    return {"root": root, "config": str(config), "places": Places(root=root, timedatectl=str(timedatectl)),
            "timedatectl": timedatectl, "data": data}


def run(system: dict, **places) -> dict:
    base = system["places"]
    found = list(checks(system["config"], Places(**{**base.__dict__, **places})))
    return {check.name: check for check in found}


def test_a_healthy_box_passes_every_check(system):
    found = run(system)
    assert list(found) == ["config valid", "serial permissions", "ModemManager", "udev rule", "database writable",
                           "disk space", "SD card wear", "clock synchronised"]
    assert all(c.status is Status.PASS for c in found.values()), [c.line() for c in found.values()]
    assert found["serial permissions"].detail == "gsmgw in dialout; 1 serial ports, all dialout rw"


def test_serial_permissions_name_the_user_and_the_port(system):
    root = system["root"]
    write(root / "etc/group", f"dialout:x:{os.getgid()}:pi\n")
    check = run(system)["serial permissions"]
    assert check.status is Status.FAIL and check.detail == "gsmgw is not in dialout"
    assert check.fix.startswith("sudo usermod -aG dialout gsmgw")
    write(root / "etc/group", f"dialout:x:{os.getgid()}:gsmgw\n")
    (root / "dev/ttyUSB0").chmod(0o600)
    check = run(system)["serial permissions"]
    assert check.status is Status.FAIL
    assert "not read-writable by dialout: /dev/ttyUSB0 (-rw-------" in check.detail and "udevadm trigger" in check.fix
    assert run(system, user="nobody")["serial permissions"].detail == "no user nobody"


def test_modemmanager_running_fails_without_the_rule_and_warns_with_it(system):
    root = system["root"]
    write(root / "proc/812/comm", "ModemManager\n")
    check = run(system)["ModemManager"]
    assert check.status is Status.WARN and "disable --now ModemManager" in check.fix
    (root / RULE).unlink()
    found = run(system)
    assert found["ModemManager"].status is Status.FAIL and "holds it" in found["ModemManager"].detail
    assert found["udev rule"].status is Status.FAIL and found["udev rule"].detail == f"/{RULE} missing"
    write(root / RULE, 'SUBSYSTEM=="tty", GROUP="dialout"\n')
    assert run(system)["udev rule"].detail == f"/{RULE} lacks ID_MM_DEVICE_IGNORE"


@pytest.mark.sqlite_only  # the config's own SQLite database, not the suite's GSMGW_DATABASE_URL
def test_the_database_folder_must_be_there_and_writable(system, tmp_path):
    blocked = write(tmp_path / "a-file", "")
    write(Path(system["config"]), f'[gateway]\ndata_dir = "{blocked}"\n')
    check = run(system)["database writable"]
    assert check.status is Status.FAIL and check.detail == f"{blocked} is not a folder" and "data_dir" in check.fix


@pytest.mark.sqlite_only  # the config's own database url, not the suite's GSMGW_DATABASE_URL
def test_a_database_server_that_does_not_answer_fails_without_showing_the_password(system):
    write(Path(system["config"]), '[database]\nurl = "postgresql://gsmgw:secret@127.0.0.1:1/gsmgw"\n')
    check = run(system)["database writable"]
    assert check.status is Status.FAIL and "secret" not in check.detail and check.fix
    assert "127.0.0.1:1" in check.detail  # psycopg is a dependency: the driver is there, nothing listens


def test_sd_card_wear_from_the_kernels_write_count(system):
    root = system["root"]
    write(root / "proc/mounts", "/dev/mmcblk0p2 / ext4 rw,noatime 0 0\n")
    write(root / "proc/uptime", "172800.00 300000.00\n")  # two days
    stat_fields = ["100", "0", "2000", "0", "50", "0", str(4_000_000), "0", "0", "0", "0"]  # 2.048 GB written
    write(root / "sys/block/mmcblk0/stat", " ".join(stat_fields) + "\n")
    check = run(system)["SD card wear"]
    assert check.status is Status.PASS and "2.0 GB written in 2.0 days (1.0 GB/day)" in check.detail
    stat_fields[6] = str(60_000_000)  # 30 GB in two days
    write(root / "sys/block/mmcblk0/stat", " ".join(stat_fields) + "\n")
    check = run(system)["SD card wear"]
    assert check.status is Status.WARN and "15.4 GB/day" in check.detail and "iotop" in check.fix


def test_the_clock_from_timedatectl_or_the_kernel(system, tmp_path):
    write(system["timedatectl"], "#!/bin/sh\necho no\n")
    check = run(system)["clock synchronised"]
    assert check.status is Status.FAIL and "NTPSynchronized=no" in check.detail and "set-ntp true" in check.fix
    missing = str(tmp_path / "no-timedatectl")
    assert run(system, timedatectl=missing, clock_state=lambda: 5)["clock synchronised"].status is Status.FAIL
    assert run(system, timedatectl=missing, clock_state=lambda: 0)["clock synchronised"].status is Status.PASS
    assert run(system, timedatectl=missing, clock_state=lambda: None)["clock synchronised"].status is Status.WARN


def test_an_invalid_config_fails_with_its_error(system):
    write(Path(system["config"]), "[gateway\n")
    check = run(system)["config valid"]
    assert check.status is Status.FAIL and "not valid TOML" in check.detail and "gsmgw config check" in check.fix


def test_the_command_on_this_machine_prints_json_and_exits_by_its_checks(system):
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "doctor", "--config", system["config"], "--json"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    report = json.loads(result.stdout)
    statuses = [c["status"] for c in report["checks"]]
    assert len(statuses) == 8 and set(statuses) <= {"PASS", "WARN", "FAIL"}
    assert result.returncode == (1 if "FAIL" in statuses else 0)
    assert report["passed"] is ("FAIL" not in statuses)
    lines = subprocess.run([sys.executable, "-m", "gateway.cli", "doctor", "--config", system["config"]],
                           capture_output=True, text=True, timeout=60, cwd=ROOT).stdout.splitlines()
    assert lines[-1] == report["summary"] and all(line.split(" ")[0] in ("PASS", "WARN", "FAIL") for line in lines[:-1])
