"""A hypothesis state machine: whatever the interleaving of enqueue, STOP, START, send and restart
(with or without a crash in the middle), marketing never goes to a contact who had opted out at the
moment of sending, and a consented contact's marketing is never held back.

Real parts throughout: a SQLite file, Queue, the inbound pipeline (keywords arrive as stored
inbound parts, as from a modem) and the send-time check the workers run. "Sending" is what the
worker does: claim, check, then record the parts.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from gateway import db
from gateway.clock import FakeClock
from gateway.config import ConsentSection
from gateway.models import MessageStatus
from gateway.queue import Queue
from gateway.send_check import ConsentCheck, rules_from

from .audience_helpers import make_rig

NUMBERS = ("+447700900201", "+447700900202")
STOPS = ("STOP", "Stop.", "СТОП", "退订", "إلغاء", "unsubscribe", "STOPALL")
STARTS = ("START", "yes", "Unstop")
RULES = ConsentSection(quiet_hours_start="00:00", quiet_hours_end="00:00", frequency_cap=0)
_TEMPLATE: list[Path] = []
SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else None  # a real file, in memory: fsyncs cost nothing


def template() -> Path:
    """One migrated database, copied for every example (migrations take longer than an example)."""
    if not _TEMPLATE:
        directory = tempfile.mkdtemp(prefix="gsmgw-consent-", dir=SCRATCH)
        atexit.register(shutil.rmtree, directory, True)
        path = Path(directory) / "template.db"
        engine = db.make_engine(f"sqlite:///{path}")
        db.upgrade(engine)
        engine.dispose()
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


class ConsentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="gsmgw-machine-", dir=SCRATCH))
        self.path = self.dir / "gsmgw.db"
        shutil.copy(template(), self.path)
        self.clock = FakeClock()
        self.opted_in = {n: False for n in NUMBERS}  # the model: consent now
        self.unprocessed: list[tuple[str, bool]] = []  # keywords stored but not processed (crash)
        self.marketing_sent = 0
        self._open()

    def _open(self) -> None:
        self.engine = db.make_engine(f"sqlite:///{self.path}")
        self.queue = Queue(db.sessions(self.engine), self.clock)
        self.check = ConsentCheck(self.queue.sessions, self.clock, rules_from(RULES), default_timezone="Europe/London")
        self.rig = make_rig(self.queue, self.clock)

    def _close(self) -> None:
        self.rig.pipeline.stop()
        self.engine.dispose()

    def teardown(self) -> None:
        self._close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @initialize()
    def everyone_signed_up(self) -> None:
        for number in NUMBERS:
            self.rig.audience.opt_in(number, source="web_form", detail="signup form")
            self.opted_in[number] = True

    @rule(number=st.sampled_from(NUMBERS), kind=st.sampled_from(("marketing", "marketing", "transactional")))
    def enqueue(self, number: str, kind: str) -> None:
        self.queue.enqueue(number, "Sale!" if kind == "marketing" else "Your code is 4711", kind=kind,
                           source="campaign" if kind == "marketing" else "api")

    @rule(number=st.sampled_from(NUMBERS), text=st.sampled_from(STOPS), processed=st.booleans())
    def customer_stops(self, number: str, text: str, processed: bool) -> None:
        self.rig.receive(number, text, deliver=processed)
        if processed:
            self.opted_in[number] = False
        else:
            self.unprocessed.append((number, False))

    @rule(number=st.sampled_from(NUMBERS), text=st.sampled_from(STARTS), by_staff=st.booleans())
    def opt_in_again(self, number: str, text: str, by_staff: bool) -> None:
        if by_staff:
            self.rig.audience.opt_in(number, source="staff", detail="asked at the till")
        else:
            self.rig.receive(number, text)
        self.opted_in[number] = True

    @rule(count=st.integers(1, 3))
    def send(self, count: int) -> None:
        for _ in range(count):
            self._send_one()

    def _send_one(self) -> None:
        claimed = self.queue.claim("sim1")
        if claimed is None:
            return
        verdict = self.check(claimed)
        if claimed.kind == "marketing":
            assert verdict.action == ("send" if self.opted_in[claimed.to_number] else "suppress"), verdict
        if verdict.action == "suppress":
            self.queue.finish(claimed.id, MessageStatus.SUPPRESSED, verdict.reason)
            return
        assert verdict.action == "send"
        for part_id in claimed.part_ids.values():
            self.queue.part_submitting(part_id, "sim1")
            self.queue.part_sent(part_id, 1)
        self.queue.finish(claimed.id, MessageStatus.SENT)
        if claimed.kind == "marketing":
            self.marketing_sent += 1

    @rule()
    def claim_then_crash(self) -> None:
        """The process dies after a claim, before the check: the restart puts the message back."""
        if self.queue.claim("sim1") is not None:
            self.restart()

    @rule()
    def restart(self) -> None:
        self._close()
        self._open()  # the pipeline's start() processes keywords stored before the crash
        self.queue.recover(modems=["sim1"])
        for number, opted_in in self.unprocessed:
            self.opted_in[number] = opted_in
        self.unprocessed.clear()

    @invariant()
    def nothing_left_sending(self) -> None:
        assert MessageStatus.SENDING not in self.queue.depth()


ConsentMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=20, deadline=None,
                                            suppress_health_check=[HealthCheck.too_slow])
TestConsentMachine = ConsentMachine.TestCase
