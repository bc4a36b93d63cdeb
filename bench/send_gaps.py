"""Where a modem's idle time between two sends goes (`bench/throughput.py --gaps`).

Wraps, in this process only, the steps a worker runs between the modem's answer to one AT+CMGS and
the next: the claim, the send-time check on its own connection, the settings' version (read before each
limit wait and each check), the `submitting` commit (with the
status hooks in its transaction and what runs after its commit) and the other send-path writes.
Per send on each worker thread it keeps the gap from the answer (`ModemSession.submit` returning)
to the next AT+CMGS (`submit` called again), the time from that AT+CMGS to the PDU (the
`submitting` commit overlaps the modem's prompt), and how long each step took inside the gap, inside
the prompt's wait and while the modem worked on the PDU. Instrumented runs cost some CPU: their
utilisation is not the bench's figure.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

STEPS = ("claim", "consent", "settings", "submitting", "hooks", "after_commit", "part_sent", "other_write")


class SendGaps:
    def __init__(self) -> None:
        self._local = threading.local()
        self.gaps: list[float] = []  # answer -> next AT+CMGS, seconds
        self.to_pdu: list[float] = []  # AT+CMGS -> PDU written
        self.spent: dict[str, dict[str, float]] = {w: defaultdict(float) for w in ("gap", "prompt", "busy")}
        self._lock = threading.Lock()
        self._undo: list[Callable[[], None]] = []

    # ---- wrapping --------------------------------------------------------------------------
    def install(self) -> None:
        from gateway.consent.send_check import ConsentCheck
        from gateway.outbound.queue import Queue
        from gateway.settings.effective import Effective
        from modem.session import ModemSession

        self._wrap(Queue, "claim", "claim")
        self._wrap(ConsentCheck, "__call__", "consent")
        self._wrap(Effective, "_refresh", "settings")  # the limits' and the rules' version, before each use
        self._wrap(Queue, "part_submitting", "submitting")
        self._wrap(Queue, "_hooks", "hooks")
        self._wrap(Queue, "_committed", "after_commit")
        self._wrap(Queue, "part_sent", "part_sent")
        for name in ("finish", "release", "defer", "retry", "settle"):
            self._wrap(Queue, name, "other_write")
        original = ModemSession.submit
        gaps = self

        @functools.wraps(original)
        def submit(session: Any, part: Any, *, before_pdu: Any = None, after_pdu: Any = None) -> Any:
            return gaps._submit(original, session, part, before_pdu, after_pdu)

        ModemSession.submit = submit  # type: ignore[method-assign]
        self._undo.append(lambda: setattr(ModemSession, "submit", original))

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    def _wrap(self, owner: type, name: str, step: str) -> None:
        original = owner.__dict__[name]
        gaps = self

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                gaps._spent()[step] += time.perf_counter() - started

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    # ---- per thread ------------------------------------------------------------------------
    def _spent(self) -> dict[str, float]:
        local = self._local
        if not hasattr(local, "spent"):
            local.spent = defaultdict(float)
            local.answered = None
        return local.spent

    def _take(self, where: str) -> None:
        spent = self._spent()
        with self._lock:
            for step, seconds in spent.items():
                self.spent[where][step] += seconds
        spent.clear()

    def _submit(self, original: Any, session: Any, part: Any, before_pdu: Any, after_pdu: Any) -> Any:
        self._spent()
        local = self._local
        started = time.perf_counter()
        if local.answered is not None:
            with self._lock:
                self.gaps.append(started - local.answered)
            self._take("gap")
        else:
            self._spent().clear()

        def before() -> None:
            try:
                if before_pdu is not None:
                    before_pdu()
            finally:
                self._take("prompt")

        def after() -> None:
            with self._lock:
                self.to_pdu.append(time.perf_counter() - started)
            if after_pdu is not None:
                after_pdu()

        try:
            return original(session, part, before_pdu=before, after_pdu=after)
        finally:
            self._take("busy")
            local.answered = time.perf_counter()

    # ---- figures ---------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """Milliseconds: the gap's mean, p50 and p90; AT+CMGS to PDU; each step per send."""
        sends = max(len(self.gaps), 1)
        ordered = sorted(self.gaps)

        def at(share: float) -> float:
            return round(ordered[min(int(share * len(ordered)), len(ordered) - 1)] * 1000, 2) if ordered else 0.0

        return {
            "sends": len(self.gaps),
            "gap_mean_ms": round(sum(self.gaps) / sends * 1000, 2), "gap_p50_ms": at(0.5), "gap_p90_ms": at(0.9),
            "cmgs_to_pdu_mean_ms": round(sum(self.to_pdu) / max(len(self.to_pdu), 1) * 1000, 2),
            **{f"{where}_ms_per_send": {step: round(self.spent[where].get(step, 0.0) / sends * 1000, 3)
                                        for step in STEPS if self.spent[where].get(step)}
               for where in ("gap", "prompt", "busy")},
        }
