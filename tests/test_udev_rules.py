"""systemd/99-gsmgw-modems.rules read the way udev reads it, for the devices the rules name and for
one they must leave alone: which name each tty gets, ModemManager told to keep off, Huawei sticks
switched out of CD mode. (udev itself cannot be pointed at a rules file without installing it, so
a small evaluator of the rule syntax the file uses stands in for it; every line must parse.)"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

RULES = Path(__file__).parent.parent / "systemd" / "99-gsmgw-modems.rules"
PAIR = re.compile(r'\s*([A-Z_]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|:=|=)\s*"([^"]*)"\s*(?:,|$)')


def parse(text: str) -> list[list[tuple[str, str | None, str, str]]]:
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs, position = [], 0
        while position < len(line):
            match = PAIR.match(line, position)
            assert match, f"line {number}: cannot read {line[position:]!r}"
            pairs.append(match.groups())
            position = match.end()
        rules.append(pairs)
    return rules


@dataclass
class Device:
    action: str
    subsystem: str
    usb: dict[str, str]  # the USB parent's attributes (idVendor, idProduct)
    env: dict[str, str] = field(default_factory=dict)
    symlinks: list[str] = field(default_factory=list)
    run: list[str] = field(default_factory=list)
    assigned: dict[str, str] = field(default_factory=dict)


def evaluate(rules, device: Device) -> Device:
    substitute = lambda value: re.sub(r"\$env\{([^}]*)\}", lambda m: device.env.get(m.group(1), ""), value)  # noqa: E731
    labels = {pairs[0][3]: i for i, pairs in enumerate(rules) if pairs[0][0] == "LABEL"}
    i = 0
    while i < len(rules):
        pairs, jump = rules[i], None
        for key, attr, op, value in pairs:
            if op in ("==", "!="):
                actual = {"ACTION": device.action, "SUBSYSTEM": device.subsystem,
                          "SUBSYSTEMS": "usb" if device.usb else "", "ENV": device.env.get(attr or "", ""),
                          "ATTRS": device.usb.get(attr or "", None),
                          "ATTR": device.usb.get(attr or "", None) if device.subsystem == "usb" else None}[key]
                matched = actual is not None and fnmatchcase(actual, value)
                if matched != (op == "=="):
                    break
        else:
            for key, attr, op, value in pairs:
                if op in ("==", "!="):
                    continue
                if key == "ENV":
                    device.env[attr] = substitute(value)
                elif key == "SYMLINK":
                    device.symlinks.append(substitute(value))
                elif key == "RUN":
                    device.run.append(substitute(value))
                elif key == "GOTO":
                    jump = labels[value]
                elif key != "LABEL":
                    device.assigned[key] = value
        i = jump if jump is not None else i + 1
    return device


def tty(vendor: str, product: str, **env: str) -> Device:
    return Device("add", "tty", {"idVendor": vendor, "idProduct": product},
                  {"ID_PATH_TAG": "platform-3f980000_usb-usb-0_1_2_1_0", **env})


RULE_SET = parse(RULES.read_text())


@pytest.mark.parametrize("vendor, product, model", [
    ("1a86", "7523", "sim800"),  # CH340
    ("10c4", "ea60", "sim800"),  # CP210x
    ("0403", "6001", "sim800"),  # FTDI
    ("067b", "2303", "sim800"),  # PL2303
    ("12d1", "1436", "e173"),
    ("12d1", "1506", "e3131"),
    ("12d1", "1001", "huawei"),
    ("2c7c", "0125", "ec25"),
    ("19d2", "0031", "zte"),
])
def test_each_listed_model_gets_a_stable_name_and_modemmanager_keeps_off(vendor, product, model):
    device = evaluate(RULE_SET, tty(vendor, product, ID_SERIAL_SHORT="0123456789", ID_USB_INTERFACE_NUM="02"))
    assert device.symlinks == [f"gsmgw/{model}-0123456789-if02"]
    assert device.env["ID_MM_DEVICE_IGNORE"] == "1"
    assert device.assigned == {"GROUP": "dialout", "MODE": "0660"}


def test_an_adapter_without_a_serial_number_is_named_by_its_usb_socket():
    device = evaluate(RULE_SET, tty("1a86", "7523"))
    assert device.symlinks == ["gsmgw/sim800-platform-3f980000_usb-usb-0_1_2_1_0-if00"]


def test_other_serial_devices_are_left_alone():
    for device in (tty("2341", "0043"), Device("add", "tty", {}, {})):  # an Arduino; a UART without USB
        evaluate(RULE_SET, device)
        assert device.symlinks == [] and "ID_MM_DEVICE_IGNORE" not in device.env and not device.assigned
    removed = evaluate(RULE_SET, Device("remove", "tty", {"idVendor": "2c7c", "idProduct": "0125"}, {}))
    assert removed.symlinks == [] and not removed.env.get("ID_MM_DEVICE_IGNORE")


@pytest.mark.parametrize("product", ["1446", "1f01"])  # E173, E3131 as a CD drive
def test_huawei_sticks_in_cd_mode_are_switched_to_modem_mode(product):
    device = evaluate(RULE_SET, Device("add", "usb", {"idVendor": "12d1", "idProduct": product}, {}))
    assert device.run == [f"/usr/sbin/usb_modeswitch -v 12d1 -p {product} -J"]
    assert device.symlinks == []
