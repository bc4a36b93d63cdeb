"""Per-model answers and quirks, as data.

Everything that differs between a SIMCom SIM800, a Huawei E3131/E173 stick and a Quectel EC25 lives
here, so the command handlers (`commands.py`) have no `if model == ...`. Strings come from the
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


def cpms_test(*memories: str) -> str:
    """The AT+CPMS=? answer of a model that offers the same memories for reading, writing and
    receiving (all of these do)."""
    offered = "(" + ",".join(f'"{memory}"' for memory in memories) + ")"
    return "+CPMS: " + ",".join([offered] * 3)


_COMMON_OK = frozenset(
    {"+CLIP", "+CVHU", "+CRC", "+CLIR", "+CSDH", "+CGSMS", "+CMMS", "+IFC", "+IPR", "+CSAS", "+CRES",
     "+CTZU", "+CTZR", "+CGEREP", "+CEREG", "+CSCB", "&D", "&C", "&K"}
)

SIM800 = Profile(
    name="sim800",
    manufacturer="SIMCOM_Ltd",
    model="SIMCOM_SIM800",
    revision="Revision:1418B04SIM800C24",
    ati=("SIM800 R14.18",),
    iccid={"+CCID": "{iccid}"},
    boot_lines=((0.0, "RDY"), (0.02, "+CFUN: 1"), (0.04, "+CPIN: {cpin}")),
    ready_lines=("Call Ready", "SMS Ready"),
    cnmi_test="+CNMI: (0-3),(0-3),(0,2),(0,1),(0,1)",
    cmt_header='+CMT: "",{length}',
    list_alpha='""',
    cscs_test='+CSCS: ("IRA","GSM","UCS2","HEX","PCCP","PCDN","8859-1")',
    cpms_test=cpms_test("SM", "ME", "SM_P", "ME_P", "MT"),
    storage_full_urc='+CIEV: "SMSFULL",1',
    vendor_urcs=("+CGEV: NW DETACH", "+CGEV: ME PDN DEACT 1", "*RADIOPOWER: 1"),
    accepted=_COMMON_OK | {"+CSCLK", "+CIURC", "+CLTS", "+CSGS", "+CMGHEX"},
    pin_counter="+SPIC",
    startup_refusal=("cms", 500),
)

E3131 = Profile(
    name="e3131",
    manufacturer="huawei",
    model="E3131",
    revision="21.158.13.00.209",
    ati=("Manufacturer: huawei", "Model: E3131", "Revision: 21.158.13.00.209", "IMEI: {imei}",
         "+GCAP: +CGSM,+DS,+ES"),
    gcap="+GCAP: +CGSM,+DS,+ES",
    iccid={"^ICCID?": "^ICCID: {iccid_swapped}"},
    boot_lines=((0.0, "^BOOT:20952548,0,0,0,72"), (0.02, "^SIMST:{simst}"), (0.04, "^SRVST:2")),
    noise=("^RSSI:21", "^MODE:5,4", "^BOOT:20952548,0,0,0,72"),
    cnmi_test="+CNMI: (0,1,2),(0,1,2,3),(0,2),(0,1,2),(0,1)",
    cnmi_default=(0, 0, 0, 0, 0),
    cscs_test='+CSCS: ("IRA","UCS2","GSM")',
    cpms_test=cpms_test("ME", "MT", "SM", "SR"),
    capacity={"SM": 30, "ME": 50, "SR": 30},
    storage_full_urc='^SMMEMFULL: "SM"',
    report_storage="SR",
    unknown_reply="COMMAND NOT SUPPORT",
    cops_act=",2",
    first_index=0,
    usb=True,
    ussd_coding="packed",
    vendor_urcs=("^CSNR:-100,-9", "+CGEV: ME PDN ACT 1", "^DSFLOWRPT:0000000E,00000000,00000000"),
    accepted=_COMMON_OK | {"^CURC", "^PORTSEL", "^USSDMODE", "^U2DIAG", "^SYSCFG", "^SYSCFGEX"},
    pin_counter="^CPIN",
    startup_refusal=("cme", 14),
)

EC25 = Profile(
    name="ec25",
    manufacturer="Quectel",
    model="EC25",
    revision="EC25EFAR06A06M4G",
    ati=("Quectel", "EC25", "Revision: EC25EFAR06A06M4G"),
    iccid={"+QCCID": "+QCCID: {iccid}", "+CCID": "+CCID: {iccid}"},
    boot_lines=((0.0, "RDY"), (0.02, "+CFUN: 1"), (0.04, "+CPIN: {cpin}"), (0.06, "+QUSIM: 1")),
    ready_lines=("+QIND: SMS DONE", "+QIND: PB DONE"),
    cnmi_test="+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)",
    cscs_test='+CSCS: ("GSM","IRA","UCS2")',
    cpms_test=cpms_test("SM", "ME", "MT"),
    capacity={"SM": 30, "ME": 255},
    storage_full_urc='+QIND: "smsfull","SM"',
    cops_act=",7",
    usb=True,
    ussd_coding="ucs2",
    vendor_urcs=("+CGEV: ME PDN ACT 1", "+CGEV: NW PDN DEACT 1", "+ZEND"),
    accepted=_COMMON_OK | {"+QURCCFG", "+QCFG", "+QINDCFG", "+QSCLK"},
    pin_counter="+QPINC",
    startup_refusal=("cme", 14),
)

GENERIC = Profile(
    name="generic",
    manufacturer="Virtual",
    model="GSM Modem",
    revision="1.0",
    ati=("Virtual GSM Modem 1.0",),
    iccid={"+CCID": "+CCID: {iccid}"},
    accepted=_COMMON_OK,
)

PROFILES: dict[str, Profile] = {p.name: p for p in (SIM800, E3131, EC25, GENERIC)}
PROFILES["e173"] = E3131  # same firmware family, same answers


def load_profile(path: str | Path) -> Profile:
    """A profile written by `hw-test/dump` (JSON: {"profile": {field: value}}): a technician's
    unknown modem, answering as it did. ValueError for a file that is not one."""
    try:
        data = json.loads(Path(path).read_text())["profile"]
        fields = {f.name: f for f in dataclasses.fields(Profile)}
        unknown = set(data) - set(fields)
        if unknown:
            raise ValueError(f"unknown fields {', '.join(sorted(unknown))}")
        values = {key: _from_json(fields[key].type, value) for key, value in data.items()}
        return dataclasses.replace(GENERIC, **values)
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a modem profile written by hw-test/dump ({exc})") from None


def _from_json(hint: str, value: Any) -> Any:
    """JSON's lists back into the tuples and frozensets the dataclass holds."""
    if hint.startswith("frozenset"):
        return frozenset(value)
    if hint.startswith("tuple[tuple"):
        return tuple(tuple(item) for item in value)
    if hint.startswith("tuple"):
        return tuple(value)
    return value


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
