"""`hw-test/probe` without `--port`: every serial port that may hold a modem, probed in turn, so a
technician who does not know which of a stick's interfaces speaks AT need not guess."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from modem.diagnostics import Check, CheckOptions, Status, run_checks


def serial_ports() -> list[tuple[str, str]]:
    """Serial ports that may hold a modem (USB, ACM, the Pi's UARTs), with what the kernel says of them;
    legacy ttyS ports with no hardware behind them are left out."""
    from serial.tools import list_ports

    return sorted((port.device, f"{port.description} {port.hwid}".strip())
                  for port in list_ports.comports() if port.hwid and port.hwid != "n/a")


def scan_ports(ports: Sequence[tuple[str, str]], options_for: Callable[[str], CheckOptions]) -> Iterator[Check]:
    """Probe every port; one that does not answer AT is one SKIP line (a USB stick has several
    interfaces and only one speaks AT), and FAIL only when no port answered at all."""
    if not ports:
        yield Check("serial ports", Status.FAIL, "none found",
                    "plug the modem in and look at `dmesg | tail`; a Huawei stick seen as a CD drive needs "
                    "usb_modeswitch (the udev rule runs it)")
        return
    yield Check("serial ports", Status.PASS, "; ".join(f"{path} ({about})" for path, about in ports))
    answered = 0
    for path, _about in ports:
        checks = list(run_checks(options_for(path)))
        name = os.path.basename(path)
        first_failed = next((c for c in checks[:2] if not c.passed), None)
        if first_failed is not None:
            yield Check(name, Status.SKIP, f"not a modem's AT port ({first_failed.detail})")
            continue
        answered += 1
        yield from (replace(check, name=f"{name} {check.name}") for check in checks)
    if not answered:
        yield Check("modems found", Status.FAIL, f"none of the {len(ports)} ports answers AT",
                    "check the modem's power and baud rate (--baudrate), or name the port with --port")
