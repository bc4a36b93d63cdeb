"""The hw-test checks that make traffic, as steps after the probe's ready checks (diagnostics.Step):
a USSD code (the balance), a loopback between two modems (A texts B and B texts A, the latency each
way), and a soak (N messages at the configured limits, then a summary).

Each is one attempt with its exact cause, as in diagnostics.py; the soak paces itself with the
daemon's own rule (gateway/outbound/limits.py), so it proves the SIM at the rate the gateway will use.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from gateway.outbound.limits import Limits, next_slot
from modem import diagnostic_fixes as fixes
from modem.diagnostics import READY_CHECKS, REGISTRATION, Check, CheckOptions, Probe, Status, Step
from modem.errors import CommandTimeout, ModemError
from modem.report_match import matches_any
from modem.session import SendFailed
from modem.ussd import UssdFailed

USSD = "USSD"


def ussd_step(code: str, timeout: float) -> Step:
    """Run `code` (a balance query such as *100#) and show the network's answer."""

    def run(probe: Probe) -> Check:
        name = f"{USSD} {code}"
        try:
            text = probe.session.ussd(code, timeout=timeout)
        except UssdFailed as exc:
            return Check(name, Status.FAIL, str(exc), "check the code with the operator (each has its own); "
                         "some networks answer USSD only at home, not roaming")
        except CommandTimeout:
            return Check(name, Status.FAIL, f"no answer within {timeout:g} s",
                         "the network did not answer: check the code, run again with --ussd-timeout 60")
        except (ModemError, ValueError) as exc:
            return Check(name, Status.FAIL, str(exc), "check the code (digits, * and #) and run again")
        return Check(name, Status.PASS, " ".join(text.split()) or "(empty answer)")

    return Step(f"{USSD} {code}", REGISTRATION, run)


# ---- loopback -----------------------------------------------------------------------------------
def loopback_checks(a: CheckOptions, b: CheckOptions, number_a: str, number_b: str,
                    timeout: float) -> Iterator[Check]:
    """Both modems' ready checks (named "A ..." and "B ..."), then A → B and B → A, each timed from
    the send until the other modem has the text."""
    with Probe(a, keep_sms=True) as probe_a, Probe(b, keep_sms=True) as probe_b:
        for label, probe in (("A", probe_a), ("B", probe_b)):
            for name in READY_CHECKS:
                yield replace(probe.run(name), name=f"{label} {name}")
        ready = probe_a.passed(REGISTRATION) and probe_b.passed(REGISTRATION)
        for name, sender, receiver, to in (("A → B", probe_a, probe_b, number_b),
                                           ("B → A", probe_b, probe_a, number_a)):
            if not ready:
                waiting = "A" if not probe_a.passed(REGISTRATION) else "B"
                yield Check(name, Status.SKIP, f"needs {waiting} {REGISTRATION}")
                continue
            yield _one_way(name, sender, receiver, to, timeout)


def _one_way(name: str, sender: Probe, receiver: Probe, to: str, timeout: float) -> Check:
    token = f"gsmgw loopback {uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    failed = _send(name, sender, to, token)
    if failed is not None:
        return failed
    inbox = receiver.reports
    arrived = inbox.wait(lambda: next((sms for sms in inbox.sms if sms.message and token in sms.message.text), None),
                         timeout)
    seconds = round(time.monotonic() - started, 3)
    if arrived is None:
        return Check(name, Status.FAIL, f"sent to {to}, not received within {timeout:g} s",
                     "check the receiving SIM's number (+country code) and that it is not full; "
                     "run again with --wait 120")
    return Check(name, Status.PASS, f"received in {seconds:g} s", seconds=seconds)


def _send(name: str, probe: Probe, to: str, text: str) -> Check | None:
    """None when the modem took the message; the FAIL otherwise."""
    try:
        probe.parts = probe.session.send(to, text)
    except SendFailed as exc:
        return Check(name, Status.FAIL, f"the modem refused the message: {exc.cause}", fixes.send_fix(exc.cause))
    except (ModemError, ValueError) as exc:
        return Check(name, Status.FAIL, str(exc), "check the number (+country code) and run again")
    return None


# ---- soak ---------------------------------------------------------------------------------------
@dataclass
class _Soak:
    """What the soak's sends left for its summary checks."""

    accepted: list[tuple[str, int | None, float]] = field(default_factory=list)  # (to, reference, sent at)
    send_seconds: list[float] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    sent_times: list[float] = field(default_factory=list)
    started: float = 0.0


SOAK_SENT, SOAK_REPORTS, SOAK_TIMING = "soak sent", "soak delivery reports", "soak send time"


def soak_steps(to: str, count: int, limits: Limits, report_timeout: float, *,
               clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Sequence[Step]:
    """Send `count` messages to `to` no faster than `limits` allow, then say how many went, how many
    were delivered and how long a send took."""
    state = _Soak()

    def send_all(probe: Probe) -> Check:
        state.started = clock()
        for number in range(1, count + 1):
            slot = next_slot(state.sent_times, limits, clock())
            sleep(max(0.0, slot - clock()))
            began = clock()
            state.sent_times.append(began)
            failed = _send(SOAK_SENT, probe, to, f"gsmgw soak {number}/{count}")
            if failed is not None:
                state.refused.append(f"{number}: {failed.detail}")
                continue
            state.send_seconds.append(clock() - began)
            state.accepted.extend((to, part.reference, began) for part in probe.parts)
        took = round(clock() - state.started, 1)
        detail = f"{count - len(state.refused)}/{count} accepted in {took:g} s ({_limits_text(limits)})"
        if state.refused:
            return Check(SOAK_SENT, Status.FAIL, f"{detail}; refused {'; '.join(state.refused[:3])}",
                         "the SIM or network refuses at this rate: lower the limits in the config for this SIM")
        return Check(SOAK_SENT, Status.PASS, detail)

    def reports(probe: Probe) -> Check:
        wanted = [(number, reference) for number, reference, _ in state.accepted]
        inbox = probe.reports

        def delivered() -> list | None:
            done = [r for r in inbox.reports if matches_any(r, wanted)]
            return done if len(done) >= len(wanted) else None

        inbox.wait(delivered, report_timeout)
        done = [r for r in inbox.reports if matches_any(r, wanted)]
        good = sum(r.outcome == "delivered" for r in done)
        detail = f"{good}/{len(wanted)} delivered, {len(done) - good} failed, {len(wanted) - len(done)} missing"
        if good < len(wanted):
            return Check(SOAK_REPORTS, Status.FAIL, detail, "the SIM's plan may not offer status reports, or the "
                         "network drops them under load; run again with --report-timeout 120")
        return Check(SOAK_REPORTS, Status.PASS, detail)

    def timing(probe: Probe) -> Check:
        if not state.send_seconds:
            return Check(SOAK_TIMING, Status.FAIL, "no message was accepted", "see the soak's sends above")
        took = state.send_seconds
        detail = f"median {statistics.median(took):.2f} s, slowest {max(took):.2f} s"
        return Check(SOAK_TIMING, Status.PASS, detail, seconds=round(max(took), 3))

    return (Step(SOAK_SENT, REGISTRATION, send_all), Step(SOAK_REPORTS, SOAK_SENT, reports),
            Step(SOAK_TIMING, REGISTRATION, timing))


def _limits_text(limits: Limits) -> str:
    caps = ", ".join(f"{cap}/{window}" for window, _span, cap in limits.windows())
    gap = f", {limits.min_gap_s:g} s apart" if limits.min_gap_s else ""
    return (caps or "no limits") + gap
