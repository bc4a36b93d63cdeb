"""Per-model answers and quirks, as data.

Everything that differs between a SIMCom SIM800, a Huawei E3131/E173 stick and a Quectel EC25 lives
here (each built-in model a file in `profile_data/`, read like a `hw-test/dump` file), so the
command handlers (`commands.py`) have no `if model == ...`. Strings come from the
vendors' AT manuals and from dumps of real units (Gammu's tests, python-gsmmodem's fake modems);
`{imei}` and friends are filled in per virtual modem.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Profile:
    name: str
    manufacturer: str  # AT+CGMI
    model: str  # AT+CGMM
    revision: str  # AT+CGMR
    ati: tuple[str, ...]  # ATI lines; may use {imei}
    # ICCID: command key ("+CCID", "+QCCID", "^ICCID?") -> answer line; {iccid} or {iccid_swapped}.
    iccid: dict[str, str]
    gcap: str = "+GCAP: +CGSM"
    # Unsolicited lines after power-on: (seconds after boot, line). {cpin} = SIM state word.
    boot_lines: tuple[tuple[float, str], ...] = ()
    # Lines once the SIM is ready and SMS is usable (SIM800 "Call Ready"/"SMS Ready", EC25 "+QIND").
    ready_lines: tuple[str, ...] = ()
    # Periodic noise until AT^CURC=0 (Huawei); interval in seconds.
    noise: tuple[str, ...] = ()
    noise_interval: float = 2.0
    cnmi_test: str = "+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)"  # also what AT+CNMI=<...> accepts
    cnmi_default: tuple[int, int, int, int, int] = (2, 1, 0, 0, 0)
    cmt_header: str = "+CMT: ,{length}"  # PDU-mode +CMT; SIM800 prints an empty quoted alpha
    list_alpha: str = ""  # what goes in the <alpha> slot of +CMGL/+CMGR (SIM800: "")
    cscs_test: str = '+CSCS: ("GSM","UCS2","IRA")'
    cpms_test: str = '+CPMS: ("SM","ME"),("SM","ME"),("SM","ME")'  # see `cpms_test`
    capacity: dict[str, int] = field(default_factory=lambda: {"SM": 30, "ME": 50})
    storage_full_urc: str | None = None
    # Where status reports go under AT+CNMI ds=2 when not mem3 (Huawei: "SR", announced +CDSI: "SR",n);
    # it must be one of `capacity`.
    report_storage: str | None = None
    unknown_reply: str | None = None  # non-standard error text for unknown commands (Huawei)
    cops_act: str = ""  # ",<AcT>" suffix in +COPS? answers
    csq: tuple[int, int] = (21, 99)
    # Extended commands accepted with a bare OK (vendor setup commands drivers send).
    accepted: frozenset[str] = frozenset()
    first_index: int = 1  # SMS memory index of the first slot (Huawei counts from 0)
    usb: bool = False  # AT+CFUN=1,1 re-enumerates the USB device (the tty disappears for a moment)
    ussd_coding: str = "text"  # how +CUSD texts go on the line: "text", "ucs2" or "packed" (ussd_service.py)
    # Unsolicited lines no driver asks for, at random moments once `vendor_noise` is on (faults.py).
    vendor_urcs: tuple[str, ...] = ("*RADIOPOWER: 1", "+ZEND")
    # The command that tells how many PIN/PUK tries are left (+CPINR, SIMCom +SPIC, Huawei ^CPIN,
    # Quectel +QPINC); the others are unknown to the model.
    pin_counter: str = "+CPINR"
    # What SMS commands answer during the start-up window, before "SMS Ready": ("cms"|"cme", code).
    startup_refusal: tuple[str, int] = ("cme", 515)


_COMMON_OK = frozenset(
    {"+CLIP", "+CVHU", "+CRC", "+CLIR", "+CSDH", "+CGSMS", "+CMMS", "+IFC", "+IPR", "+CSAS", "+CRES",
     "+CTZU", "+CTZR", "+CGEREP", "+CEREG", "+CSCB", "&D", "&C", "&K"}
)
PROFILE_DATA = Path(__file__).with_name("profile_data")  # the built-in models, one JSON file each


def _from_json(hint: str, value: Any) -> Any:
    """JSON's lists back into the tuples and frozensets the dataclass holds."""
    if hint.startswith("frozenset"):
        return frozenset(value)
    if hint.startswith("tuple[tuple"):
        return tuple(tuple(item) for item in value)
    if hint.startswith("tuple"):
        return tuple(value)
    return value


def profile_from(data: dict[str, Any], base: Profile | None = None) -> Profile:
    """A profile from JSON's {field: value} (a built-in's file or a dump), over `base`'s values for
    the fields it leaves out (the dataclass's defaults without one). ValueError for unknown fields."""
    fields = {f.name: f for f in dataclasses.fields(Profile)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"unknown fields {', '.join(sorted(unknown))}")
    values = {key: _from_json(str(fields[key].type), value) for key, value in data.items()}
    return Profile(**values) if base is None else dataclasses.replace(base, **values)


def _built_in(name: str) -> Profile:
    """A built-in model from profile_data/<name>.json; its `accepted` lists only its own vendor
    commands, beside those every model takes."""
    profile = profile_from(json.loads((PROFILE_DATA / f"{name}.json").read_text())["profile"])
    return dataclasses.replace(profile, accepted=_COMMON_OK | profile.accepted)


SIM800, E3131, EC25, GENERIC = (_built_in(name) for name in ("sim800", "e3131", "ec25", "generic"))
PROFILES: dict[str, Profile] = {p.name: p for p in (SIM800, E3131, EC25, GENERIC)}
PROFILES["e173"] = E3131  # same firmware family, same answers


def load_profile(path: str | Path) -> Profile:
    """A profile written by `hw-test/dump` (JSON: {"profile": {field: value}}): a technician's
    unknown modem, answering as it did. ValueError for a file that is not one."""
    try:
        return profile_from(json.loads(Path(path).read_text())["profile"], GENERIC)
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a modem profile written by hw-test/dump ({exc})") from None


def is_profile_file(name: str) -> bool:
    return name.endswith(".json")


def get_profile(name: str | Profile) -> Profile:
    """A built-in profile by name, or a dumped one by its .json path."""
    if isinstance(name, Profile):
        return name
    if is_profile_file(name):
        return load_profile(name)
    try:
        return PROFILES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown modem profile {name!r}; choose from {', '.join(sorted(PROFILES))}") from None
