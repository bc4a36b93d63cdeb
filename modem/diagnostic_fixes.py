"""What a technician is told when a check did not pass: the cause in words, and the fix a person
can act on (a cable, a group, a SIM, a network's refusal). Pure: errors and states in, text out."""

from __future__ import annotations

import errno
import re

from modem.errors import CmeError, CmsError, CommandTimeout, SimError


def cause(exc: BaseException) -> str:
    root = exc.__cause__ or exc
    if isinstance(root, OSError) and root.errno is not None:
        return root.strerror or str(root)
    return str(root)


def port_fix(exc: BaseException) -> str:
    root = exc.__cause__
    code = getattr(root, "errno", None)
    if code == errno.ENOENT:
        return "the port is not there: check the USB cable and the path (ls -l /dev/serial/by-id/)"
    if code in (errno.EACCES, errno.EPERM):
        return "no permission: add the user to dialout (sudo usermod -aG dialout $USER, then log in again)"
    if code == errno.EBUSY or "lock" in str(root).lower():
        return "another program holds the port: stop gsmgw (systemctl stop gsmgw) and ModemManager"
    return "check the port path and that no other program uses it"


def timeout_detail(exc: CommandTimeout) -> str:
    if exc.command == "AT":
        return f"no answer to AT within {exc.seconds:g} s"
    return f"answered AT, then no answer to {exc.command} within {exc.seconds:g} s"


def sim_fix(exc: SimError) -> str:
    code = exc.__cause__.code if isinstance(exc.__cause__, CmeError) else None
    text = str(exc).lower()
    if code == 10 or "not inserted" in text:
        return "insert the SIM (power off first), contacts down, and push it fully into the holder"
    if code == 16 or "refused" in text:
        return "the PIN is wrong: check it in a phone (after 3 wrong tries the SIM needs its PUK)"
    if "pin" in text and "puk" not in text:
        return "pass the SIM's PIN with --pin (pin in the config), or remove the PIN lock in a phone"
    if "puk" in text:
        return "unlock the SIM with its PUK in a phone"
    return "reseat the SIM with the power off, or try another SIM"


# 3GPP TS 24.008 annex G: why a network refuses a registration (the causes modems pass on)
REJECT_CAUSES = {2: "IMSI unknown in HLR", 3: "illegal MS", 6: "illegal ME", 7: "GPRS services not allowed",
                 11: "PLMN not allowed", 12: "location area not allowed",
                 13: "roaming not allowed in this location area", 15: "no suitable cells in location area",
                 17: "network failure", 22: "congestion"}
_SIM_REFUSED = frozenset({2, 3, 6, 7})  # the subscription: only the operator can change it
_ROAMING = frozenset({11, 12, 13})  # this network is not the SIM's, or not here
_TRY_LATER = frozenset({17, 22})


def reject_cause(answer: str | None) -> int | None:
    """The reject cause in an AT+CEER answer (`+CEER: Registration rejected, cause 3`), if it gives one."""
    match = re.search(r"cause\D{0,3}(\d+)", answer or "", re.IGNORECASE)
    return int(match.group(1)) if match else None


def registration_reason(registration: str, cause: int | None) -> str:
    """`denied (cause 3: illegal MS)` where the modem gave the network's reason."""
    if cause is None:
        return registration
    return f"{registration} (cause {cause}: {REJECT_CAUSES.get(cause, 'unknown cause')})"


def registration_fix(registration: str, cause: int | None = None) -> str:
    if registration == "denied" and cause in _ROAMING:
        return ("the network does not let this SIM in here: roaming is off or not allowed on this network; "
                "enable roaming with the operator or use a SIM of a network with coverage here")
    if registration == "denied" and cause in _TRY_LATER:
        return "the network is busy or failing: wait a few minutes and run again"
    if registration == "denied" and cause in (15,):
        return "no cell here takes this SIM: move the antenna or the box, or use a SIM of another network"
    if registration == "denied":
        return ("the network refuses this SIM: check it is activated, paid up and not barred (try it in a phone"
                f"{'; call the operator' if cause in _SIM_REFUSED else ''})")
    if registration == "searching":
        return ("check the antenna and the coverage here; a modem just powered up may need a minute: "
                "run again with --timeout 60")
    return "the modem is not looking for a network: check the SIM, then power-cycle the modem"


def pin_tries_fix(left: int) -> str:
    if left == 0:
        return "the SIM is locked: unlock it with its PUK in a phone (ten wrong PUKs destroy it)"
    return f"only {left} PIN {'try' if left == 1 else 'tries'} left: check the PIN in a phone before running again"


def send_fix(cause: Exception) -> str:
    if isinstance(cause, CmsError) and cause.transient:
        return "a network problem: wait a minute and run again"
    if isinstance(cause, CmsError):
        return "check the number (+country code) and that the SIM's plan allows SMS there"
    return "power-cycle the modem and run again"
