"""`gsmgw doctor`: what keeps an installed box from running for months, each as PASS/WARN/FAIL with
the fix: serial permissions, ModemManager keeping off the modems, the udev rule, the database
writable, disk space and SD-card wear, the clock synchronised (a Pi has no RTC), the config valid.

It reads the system through `Places` (the root of /etc, /dev, /proc and /sys, the service user,
the timedatectl program), so a test points it at a temporary tree. The lines, the summary, `--json`
and the exit code are the hw-test scripts' own (modem/technician.py): 0 unless something FAILed.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.cli.common import Commands, add_command
from gateway.core import config as config_module
from modem.diagnostics import Check, Status
from modem.technician import report

RULE = "etc/udev/rules.d/99-gsmgw-modems.rules"
SERIAL_PATTERNS = ("ttyUSB*", "ttyACM*", "ttyAMA*", "serial0")
DISK_FAIL_MB, DISK_WARN_MB = 100, 1024
SD_WRITES_WARN_GB_PER_DAY = 5.0  # a database logging every send writes far less; more wears a card in months
SECTOR = 512  # /sys/block/*/stat counts 512-byte sectors whatever the device's own size
TIME_ERROR = 5  # adjtimex(2): the kernel's clock is not synchronised


@dataclass(frozen=True)
class Places:
    root: Path = Path("/")
    user: str = "gsmgw"  # the service's user (systemd/gsmgw.sysusers)
    timedatectl: str = "timedatectl"
    clock_state: Callable[[], int | None] | None = None  # adjtimex's answer; None: ask the kernel

    def path(self, relative: str) -> Path:
        return self.root / relative


def register(commands: Commands) -> None:
    doctor = add_command(commands, "doctor", "check the installed system: permissions, ModemManager, udev, "
                                             "database, disk, clock, config")
    doctor.add_argument("--user", default=Places.user, help="the service's user (default gsmgw)")
    doctor.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    doctor.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    return report(checks(args.config, Places(user=args.user)), as_json=args.json)


def checks(config_path: str | None, places: Places) -> Iterator[Check]:
    config, problem = _config(config_path)
    yield problem or Check("config valid", Status.PASS, config.source)
    yield serial_permissions(places, config)
    yield modemmanager(places)
    yield udev_rule(places)
    yield database(config)
    yield disk_space(config)
    yield sd_card(places)
    yield clock(places)


def _config(path: str | None) -> tuple[config_module.Config, Check | None]:
    try:
        return config_module.load(path), None
    except config_module.ConfigError as exc:
        fix = ("run the installer (sudo systemd/install.sh), or name the file with --config" if "no such file" in str(exc)
               else "fix the line it names (the example: config/gsmgw.example.toml), then gsmgw config check")
        return config_module.from_dict({}), Check("config valid", Status.FAIL, str(exc), fix)


# ---- serial ports -------------------------------------------------------------------------------
def _groups(places: Places) -> dict[str, tuple[int, set[str]]]:
    """/etc/group as name -> (gid, members)."""
    groups: dict[str, tuple[int, set[str]]] = {}
    for line in _lines(places.path("etc/group")):
        fields = line.split(":")
        if len(fields) >= 4 and fields[2].isdigit():
            groups[fields[0]] = (int(fields[2]), {m for m in fields[3].split(",") if m})
    return groups


def _primary_gid(places: Places, user: str) -> int | None:
    for line in _lines(places.path("etc/passwd")):
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == user and fields[3].isdigit():
            return int(fields[3])
    return None


def serial_permissions(places: Places, config: config_module.Config) -> Check:
    name = "serial permissions"
    groups = _groups(places)
    gid = _primary_gid(places, places.user)
    if gid is None:
        return Check(name, Status.FAIL, f"no user {places.user}", "run the installer (sudo systemd/install.sh), "
                     "or name the service's user with --user")
    dialout = groups.get("dialout")
    if dialout is None:
        return Check(name, Status.FAIL, "no dialout group", "install the system's base packages (Debian has dialout)")
    if places.user not in dialout[1] and gid != dialout[0]:
        return Check(name, Status.FAIL, f"{places.user} is not in dialout",
                     f"sudo usermod -aG dialout {places.user}, then sudo systemctl restart gsmgw")
    ports = sorted({p for pattern in SERIAL_PATTERNS for p in places.path("dev").glob(pattern)})
    ports += [places.root / m.port.lstrip("/") for m in config.modems if m.port.startswith("/dev/")]
    wrong = []
    for port in dict.fromkeys(ports):
        try:
            info = port.stat()
        except OSError:
            continue  # a configured port that is unplugged now: the probe says so
        readable = info.st_gid == dialout[0] and info.st_mode & stat.S_IRGRP and info.st_mode & stat.S_IWGRP
        everyone = info.st_mode & stat.S_IROTH and info.st_mode & stat.S_IWOTH
        if not readable and not everyone:
            wrong.append(f"/{port.relative_to(places.root)} ({stat.filemode(info.st_mode)} gid {info.st_gid})")
    if wrong:
        return Check(name, Status.FAIL, f"not read-writable by dialout: {', '.join(wrong)}",
                     "install the udev rule (sudo systemd/install.sh), then sudo udevadm trigger")
    return Check(name, Status.PASS, f"{places.user} in dialout; {len(ports)} serial ports, all dialout rw")


# ---- ModemManager and udev ----------------------------------------------------------------------
def modemmanager(places: Places) -> Check:
    name = "ModemManager"
    running = any(_read(comm).strip() == "ModemManager" for comm in places.path("proc").glob("[0-9]*/comm"))
    if not running:
        return Check(name, Status.PASS, "not running")
    if "ID_MM_DEVICE_IGNORE" in _read(places.path(RULE)):
        return Check(name, Status.WARN, "running; the udev rule tells it to keep off the modems it names",
                     "a modem the rule does not name is still probed: sudo systemctl disable --now ModemManager")
    return Check(name, Status.FAIL, "running, and nothing tells it to keep off the modems (it sends AT commands "
                 "to every new serial port and holds it)",
                 "sudo systemctl disable --now ModemManager, or install the udev rule (sudo systemd/install.sh)")


def udev_rule(places: Places) -> Check:
    name = "udev rule"
    text = _read(places.path(RULE))
    if not text:
        return Check(name, Status.FAIL, f"/{RULE} missing", "sudo systemd/install.sh (it installs the rule)")
    if "ID_MM_DEVICE_IGNORE" not in text:
        return Check(name, Status.FAIL, f"/{RULE} lacks ID_MM_DEVICE_IGNORE",
                     "reinstall it from the checkout: sudo systemd/install.sh")
    return Check(name, Status.PASS, f"/{RULE}")


# ---- database and disk --------------------------------------------------------------------------
def _sqlite_file(config: config_module.Config) -> Path | None:
    url = config.database_url
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def database(config: config_module.Config) -> Check:
    name = "database writable"
    path = _sqlite_file(config)
    if path is None:
        return _database_server(config.database_url)
    folder = path.parent
    if not folder.is_dir():
        return Check(name, Status.FAIL, f"{folder} is not a folder",
                     "sudo systemd/install.sh makes it (the service's StateDirectory), or set data_dir in the config")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".gsmgw-doctor-"):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(f"{path} is read-only")
    except OSError as exc:
        return Check(name, Status.FAIL, f"{path}: {exc.strerror or exc}",
                     f"sudo chown -R gsmgw: {folder} (the service's StateDirectory), or set data_dir in the config")
    return Check(name, Status.PASS, f"{path}{'' if path.exists() else ' (created at the first start)'}")


def _database_server(url: str) -> Check:
    """A server database (PostgreSQL): writable is "a transaction can be opened"."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    name, fix = "database writable", "check the server runs and the url's user, password and database"
    try:
        shown = make_url(url).render_as_string(hide_password=True)
        engine = create_engine(url)
    except ImportError as exc:
        return Check(name, Status.FAIL, f"no driver for {url.split(':', 1)[0]}: {exc}",
                     "install it in the venv (.venv/bin/pip install 'psycopg[binary]' for PostgreSQL)")
    except (SQLAlchemyError, ValueError) as exc:
        return Check(name, Status.FAIL, f"the url is not usable: {exc}", fix)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return Check(name, Status.FAIL, f"{shown}: {str(exc).splitlines()[0]}", fix)
    finally:
        engine.dispose()
    return Check(name, Status.PASS, shown)


def disk_space(config: config_module.Config) -> Check:
    name = "disk space"
    folder = Path(config.gateway.data_dir)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    free_mb = usage.free // 2**20
    detail = f"{free_mb} MB free of {usage.total // 2**20} MB at {folder}"
    fix = "free space (journalctl --vacuum-size=100M, old backups) or move data_dir to a larger disk"
    if free_mb < DISK_FAIL_MB:
        return Check(name, Status.FAIL, detail, fix)
    if free_mb < DISK_WARN_MB or usage.free < usage.total * 0.1:
        return Check(name, Status.WARN, detail, fix)
    return Check(name, Status.PASS, detail)


def sd_card(places: Places) -> Check:
    """Root on an SD card (mmcblk): how much was written since boot, per day."""
    name = "SD card wear"
    device = next((line.split()[0] for line in _lines(places.path("proc/mounts"))
                   if len(line.split()) > 1 and line.split()[1] == "/"), "")
    if "mmcblk" not in device:
        return Check(name, Status.PASS, f"root on {device or 'an unknown device'}, not an SD card")
    disk = os.path.basename(device).split("p")[0]  # mmcblk0p2 -> mmcblk0
    fields = _read(places.path(f"sys/block/{disk}/stat")).split()
    uptime = _read(places.path("proc/uptime")).split()
    if len(fields) < 7 or not uptime:
        return Check(name, Status.WARN, f"root on {device}; its write count is unreadable",
                     "keep data_dir on a USB disk or use an industrial (high-endurance) SD card")
    written_gb = int(fields[6]) * SECTOR / 1e9
    days = max(float(uptime[0]) / 86400, 1 / 24)
    per_day = written_gb / days
    detail = f"root on {device}: {written_gb:.1f} GB written in {days:.1f} days ({per_day:.1f} GB/day)"
    if per_day > SD_WRITES_WARN_GB_PER_DAY:
        return Check(name, Status.WARN, detail, "something writes a lot: find it (sudo iotop -ao); put the journal "
                     "in RAM (Storage=volatile) or data_dir on a USB disk")
    return Check(name, Status.PASS, f"{detail}; an industrial SD card lasts longer")


# ---- clock --------------------------------------------------------------------------------------
def clock(places: Places) -> Check:
    """A Pi has no RTC: until NTP answers its clock is the last shutdown's, and quiet hours, limits
    and report times follow it."""
    name = "clock synchronised"
    fix = "sudo timedatectl set-ntp true (systemd-timesyncd), and let the box reach an NTP server (UDP 123)"
    try:
        answer = subprocess.run([places.timedatectl, "show", "-p", "NTPSynchronized", "--value"],
                                capture_output=True, text=True, timeout=10)
        synchronised = answer.stdout.strip() if answer.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        synchronised = ""
    if synchronised in ("yes", "no"):
        if synchronised == "yes":
            return Check(name, Status.PASS, "NTP synchronised (timedatectl)")
        return Check(name, Status.FAIL, "not synchronised (timedatectl: NTPSynchronized=no)", fix)
    state = (places.clock_state or _adjtimex)()
    if state is None:
        return Check(name, Status.WARN, "cannot tell (no timedatectl, adjtimex unavailable)", fix)
    if state == TIME_ERROR:
        return Check(name, Status.FAIL, "not synchronised (adjtimex: TIME_ERROR)", fix)
    return Check(name, Status.PASS, f"synchronised (adjtimex state {state})")


def _adjtimex() -> int | None:
    """The kernel's clock state (adjtimex(2) with no changes asked), None where there is none."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        buffer = ctypes.create_string_buffer(512)  # struct timex, zeroed: modes 0 reads only
        state = libc.adjtimex(buffer)
    except (OSError, AttributeError):
        return None
    return None if state < 0 else int(state)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _lines(path: Path) -> list[str]:
    return _read(path).splitlines()
