"""`hw-test/dump`: record a modem's answers to the AT commands the gateway uses and write them as a
virtual-modem profile (modem/virtual/profiles.py, `load_profile`), so a technician's unknown modem
becomes a test: the virtual modem answers as it did, and the driver is run against it at once.

The modem's own identity (IMEI, ICCID) is replaced by the profile's placeholders, so a dump can be
shared without the unit's numbers. What a modem would not answer keeps the generic profile's value.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modem.diagnostics import ANSWERS, Check, Probe, Status, Step
from modem.errors import ModemError
from modem.lines import parse_fields, payload_of
from modem.pin import TRIES_COMMANDS, tries_left
from modem.session import ModemSession
from modem.supervision import ModemSettings
from modem.transport import AtTransport
from modem.virtual.profiles import GENERIC

# (profile field, command, answer prefix or "" for a bare line): what the gateway asks a modem
ASKED: tuple[tuple[str, str, str], ...] = (
    ("manufacturer", "AT+CGMI", ""), ("model", "AT+CGMM", ""), ("revision", "AT+CGMR", ""),
    ("gcap", "AT+GCAP", "+GCAP:"), ("cnmi_test", "AT+CNMI=?", "+CNMI:"), ("cscs_test", "AT+CSCS=?", "+CSCS:"),
    ("cpms_test", "AT+CPMS=?", "+CPMS:"), ("capacity", "AT+CPMS?", "+CPMS:"), ("cops_act", "AT+COPS?", "+COPS:"),
    ("csq", "AT+CSQ", "+CSQ:"),
)
ICCID_COMMANDS = (("+CCID", "AT+CCID"), ("+QCCID", "AT+QCCID"), ("^ICCID?", "AT^ICCID?"))
# vendor setup commands drivers send; those the modem takes with OK go in the profile's `accepted`
VENDOR_SETUP = ("AT^CURC=0", 'AT+QURCCFG="urcport","usbat"', "AT+CSCLK=0", "AT+CIURC=0", "AT+QSCLK=0")
RECORDED, WRITTEN, REPLAYED = "answers recorded", "profile written", "driver inits on the dumped profile"


def dump_steps(output: Path) -> Sequence[Step]:
    """Record (needs the modem to answer), write `output`, and replay it on a virtual modem."""
    state: dict[str, Any] = {}

    def record(probe: Probe) -> Check:
        answers, profile = record_profile(probe.transport, probe.session, probe.options.port)
        state["answers"], state["profile"] = answers, profile
        missing = [name for name, _command, _prefix in ASKED if name not in profile]
        detail = f"{len(answers)} commands; {profile['manufacturer']} {profile['model']}"
        if missing:
            return Check(RECORDED, Status.PASS, f"{detail}; no answer for {', '.join(missing)} (generic values kept)")
        return Check(RECORDED, Status.PASS, detail)

    def write(probe: Probe) -> Check:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps({"profile": state["profile"], "answers": state["answers"]}, indent=2) + "\n")
        except OSError as exc:
            return Check(WRITTEN, Status.FAIL, f"cannot write {output}: {exc.strerror or exc}",
                         "name a writable file with --output")
        return Check(WRITTEN, Status.PASS, f"{output} (use it: hw-test/probe --simulate --profile {output})")

    def replay(probe: Probe) -> Check:
        return replay_check(output)

    return (Step(RECORDED, ANSWERS, record), Step(WRITTEN, RECORDED, write), Step(REPLAYED, WRITTEN, replay))


def record_profile(transport: AtTransport, session: ModemSession, port: str) -> tuple[dict[str, list[str]], dict]:
    """Every answer (command -> lines, or ["ERROR ..."]) and the profile fields they give."""
    answers: dict[str, list[str]] = {}

    def ask(command: str) -> list[str] | None:
        try:
            lines = list(transport.command(command, expect=None).lines)
        except ModemError as exc:
            answers[command] = [f"ERROR {exc}"]
            return None
        answers[command] = lines
        return lines

    identity = session.identity()
    profile: dict[str, Any] = {"name": f"dump-{_slug(identity.model or 'modem')}",
                               "usb": bool(re.search(r"ttyUSB|ttyACM", os.path.realpath(port)))}  # udev's names link there
    for name, command, prefix in ASKED:
        lines = ask(command)
        line = next((x for x in lines or () if x.startswith(prefix) and x.strip()), None)
        value = _field(name, line, prefix) if line else None
        if value is not None:
            profile[name] = value
    selected = re.findall(r'"([A-Z_]+)"', " ".join(answers.get("AT+CPMS?", [])))
    profile["capacity"] = {**profile.get("capacity", {}), **_capacities(ask, profile.get("cpms_test", ""), selected)}
    ati = ask("ATI")
    if ati:
        profile["ati"] = [_anonymous(x, identity.imei, identity.iccid) for x in ati if x.strip()]
    for key, command in ICCID_COMMANDS:
        lines = ask(command)
        line = next((x for x in lines or () if x.strip()), None)
        if line and identity.iccid and (identity.iccid in line or _swapped(identity.iccid) in line):
            profile["iccid"] = {key: _anonymous(line, identity.imei, identity.iccid)}
            break
    for command, prefix in TRIES_COMMANDS:
        lines = ask(command)
        line = next((x for x in lines or () if x.startswith(prefix)), None)
        if line and tries_left(line) is not None:
            profile["pin_counter"] = command.removeprefix("AT").split("=")[0].rstrip("?")
            break
    accepted = [c.removeprefix("AT").split("=")[0] for c in VENDOR_SETUP if ask(c) is not None]
    profile["accepted"] = sorted(GENERIC.accepted | set(accepted))
    unit = [(number, label) for number, label in ((identity.imei, "<IMEI>"), (identity.iccid, "<ICCID>"),
                                                 (_swapped(identity.iccid or ""), "<ICCID>")) if number]
    for command, lines in answers.items():
        for number, label in unit:
            lines = [line.replace(number, label) for line in lines]
        answers[command] = lines
    return answers, profile


def _capacities(ask: Any, cpms_test: str, selected: list[str]) -> dict[str, int]:
    """The size of each memory AT+CPMS=? offers (AT+CPMS? tells only the selected ones), each selected
    in turn, then the modem's own selection (`selected`, as AT+CPMS? named it) put back."""
    offered = re.findall(r'"([A-Z_]+)"', cpms_test.split(")")[0])
    sizes: dict[str, int] = {}
    for memory in offered:
        lines = ask(f'AT+CPMS="{memory}"') if memory != "MT" else None  # MT is SM and ME together
        fields = parse_fields(payload_of(lines[0])) if lines else []
        if len(fields) >= 2 and fields[1].isdigit():
            sizes[memory] = int(fields[1])
    if selected:
        ask("AT+CPMS=" + ",".join(f'"{memory}"' for memory in selected))
    return sizes


def _field(name: str, line: str, prefix: str) -> Any:
    if not prefix:
        return line.strip()
    if name in ("gcap", "cnmi_test", "cscs_test", "cpms_test"):
        return line.strip()
    fields = parse_fields(payload_of(line))
    if name == "capacity":  # +CPMS: "SM",0,30,"SM",0,30,...
        triples = [fields[i:i + 3] for i in range(0, len(fields) - 2, 3)]
        capacity = {memory.strip('"'): int(total) for memory, _used, total in triples if total.isdigit()}
        return capacity or None
    if name == "cops_act":
        return f",{fields[3]}" if len(fields) > 3 and fields[3].isdigit() else ""
    if name == "csq" and len(fields) >= 2 and fields[0].isdigit() and fields[1].isdigit():
        return [int(fields[0]), int(fields[1])]
    return None


def _anonymous(line: str, imei: str, iccid: str | None) -> str:
    """The unit's numbers as the profile's placeholders (braces in the text itself escaped)."""
    text = line.replace("{", "{{").replace("}", "}}")
    if imei:
        text = text.replace(imei, "{imei}")
    if iccid:
        text = text.replace(iccid, "{iccid}").replace(_swapped(iccid), "{iccid_swapped}")
    return text


def _swapped(iccid: str) -> str:
    """Huawei's ^ICCID shows the ICCID in nibble-swapped pairs, as stored on the SIM."""
    padded = iccid + ("F" if len(iccid) % 2 else "")
    return "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "modem"


def replay_check(path: Path) -> Check:
    """Load the profile into a virtual modem on a pty and run the driver's init and identity on it."""
    from modem.virtual.cli import run_simulator

    try:
        with tempfile.TemporaryDirectory(prefix="gsmgw-dump-") as directory:
            with run_simulator(1, directory=directory, profile=str(path), register_delay=0.1, out=None) as simulation:
                transport = AtTransport(simulation.ports["sim1"].path, ModemSettings("replay"))
                try:
                    transport.open()
                    session = ModemSession(transport)
                    session.init()
                    identity = session.identity()
                finally:
                    transport.close()
    except (ModemError, ValueError) as exc:
        return Check(REPLAYED, Status.FAIL, f"{path}: {exc}",
                     "the driver cannot use this modem's answers as recorded: send the file with the report")
    return Check(REPLAYED, Status.PASS, f"{identity.manufacturer} {identity.model} on a virtual modem: init and "
                 "identity as on the real one")
