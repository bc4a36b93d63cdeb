"""Finding a modem by what it is (IMEI, or its SIM's ICCID) rather than where it is plugged in.

A modem configured with `imei` or `iccid` is looked for among the serial ports each time its
supervisor connects, so a modem moved to another USB socket keeps its name (and with it its limits
and history). Ports are visited in a stable order, each device once however many names it has
(/dev/serial/by-id/… and the /dev/ttyUSBn it points at), and a port another supervisor holds is
never touched: `PortClaims` is shared by every supervisor of the daemon.
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Callable, Iterable, Sequence

from modem.health import Identity

# where a Pi's modems appear: udev's stable names first, then the kernel's
DEFAULT_SCAN = ("/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*", "/dev/ttyAMA*")


def device_of(path: str) -> str:
    """The device behind a path (symlinks followed), to tell two names of one tty apart."""
    return os.path.realpath(path)


def candidates(patterns: Iterable[str], first: str = "") -> list[str]:
    """The ports matching `patterns`, in order (`first`, then each pattern's matches sorted), one per device."""
    seen: set[str] = set()
    found: list[str] = []
    for path in ([first] if first else []) + [p for pattern in patterns for p in sorted(glob.glob(pattern))]:
        device = device_of(path)
        if device in seen or not os.path.exists(path):
            continue
        seen.add(device)
        found.append(path)
    return found


def matches(identity: Identity | None, *, imei: str = "", iccid: str = "") -> bool:
    """Whether a probed modem is the one configured: every identity key given must agree."""
    if identity is None:
        return False
    if imei and identity.imei.strip() != imei:
        return False
    return not iccid or (identity.iccid or "").upper() == iccid.upper()


def wanted(imei: str, iccid: str) -> str:
    """How the configured modem is named, for messages."""
    return " and ".join(f"{key} {value}" for key, value in (("IMEI", imei), ("ICCID", iccid)) if value)


class PortClaims:
    """Which supervisor holds which serial port; a claimed port is not probed by the others. A port is
    known by its name and by the device it points at now (a udev link is re-pointed on replug)."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}
        self._lock = threading.Lock()

    def claim(self, path: str, owner: str) -> bool:
        keys = {os.path.abspath(path), device_of(path)}
        with self._lock:
            if any(self._owners.get(key, owner) != owner for key in keys):
                return False
            for key in keys:
                self._owners[key] = owner
            return True

    def release(self, owner: str) -> None:
        with self._lock:
            for key in [k for k, o in self._owners.items() if o == owner]:
                del self._owners[key]


def find(patterns: Sequence[str], probe: Callable[[str], Identity | None], claims: PortClaims, owner: str, *,
         imei: str = "", iccid: str = "", first: str = "") -> tuple[str | None, list[str]]:
    """The first free port whose modem matches, claimed for `owner`; with the ports tried and what
    they said (for the "not found" reason)."""
    tried: list[str] = []
    for path in candidates(patterns, first):
        if not claims.claim(path, owner):
            continue
        identity = probe(path)
        if matches(identity, imei=imei, iccid=iccid):
            return path, tried
        claims.release(owner)
        tried.append(f"{path}: {'no answer' if identity is None else 'IMEI ' + (identity.imei or '?')}")
    return None, tried
