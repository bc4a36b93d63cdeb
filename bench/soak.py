"""Soak: a real `gsmgw run` daemon on virtual modems while every modem fault kind is injected at
random, messages are sent through the REST API and SMS arrive from the virtual network (issue 13).

The virtual modems run in this process (so their network record and SIM counters outlive anything
the daemon does) on ptys the daemon's config names; faults go through their control API
(`modem.virtual.control.apply`, the dispatcher the control socket uses), seeded, the seed printed.
`--modems` SIMs carry the traffic; the first of them has a SIM PIN (configured correctly, so the
PIN path runs after every reboot). One more modem is there only to soak a wrong PIN: its SIM wants
another PIN than the config gives, and it is unplugged, reset and hung at random like the others;
its SIM must have seen exactly one PIN attempt at the end.

Checked at the end, each an invariant (the exit code is 1 if one fails; `soak_outcome.py` reads the
daemon's database and judges them):
  duplicates    parts the virtual network received more than once (same recipient, text and part
                number; every message text is unique) plus inbound SMS stored more than once (each
                injected SMS carries a unique token, counted in `inbound_messages`)
  lost_inbound  injected SMS with no inbound message
  sims_locked   SIMs that reached PUK, or lost a PIN try, or (the wrong-PIN SIM) saw more than one
                attempt
  not_final     messages neither final nor queued for a SIM that can take them: `queued`/`sending`
                messages are fine only while a ready SIM may take them (a half-sent message only
                on its own SIM), or their SIM rests out of rotation after a SIM/network refusal
                (`waiting_for_resting_sim`, reported apart: they go when the rest ends); a `sent`
                message is final once no report can come for it any more (`sent_no_report`: the
                daemon's sweep gave up the report of a part after `[reports] wait_hours`, here
                `--report-wait` seconds), and not final while a part still waits for its report
                (`awaiting_report`). The modems drop some reports themselves, as real ones do
                (`reports_discarded_by_modems`: a report that reaches a modem after it restarted
                and before the driver set its CNMI again is not routed, ds=0)

    .venv/bin/python bench/soak.py [--minutes 10] [--messages 2000] [--inbound 500] [--modems 4]
                                   [--seed N] [--drain 240] [--report-wait 30] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
import soak_outcome
from _common import ROOT, emit, free_port, stop_process
from soak_faults import Faults

from gateway.core.config_text import run_config
from modem.virtual.cli import run_simulator

PROFILES = "sim800,e3131,ec25,generic"
SIM_PIN, WRONG_PIN = "1234", "1111"  # the first SIM's PIN; the PIN the fifth modem is given
LOCKED_PIN = "4321"  # what the wrong-PIN modem's SIM really wants
FILLER = "The quick brown fox jumps over the lazy dog. "


def recipient(i: int) -> str:
    """A number of no virtual SIM, whose status report says delivered (see modem/virtual/network.py)."""
    return f"+4479{10 * i + 1:08d}"  # ends in 1: never ...0000, ...9998 or ...9999


def write_config(directory: Path, ports: dict[str, str], pins: dict[str, str], web_port: int,
                 report_wait_s: float) -> Path:
    modems = {name: {"port": path, "pin": pins.get(name, ""), "check_interval_s": 5.0, "command_timeout_s": 3.0}
              for name, path in ports.items()}
    path = directory / "gsmgw.toml"
    # a report not in after report_wait_s will not come: the soak's minutes, not the SMSC's days
    path.write_text(run_config(directory / "data", f"127.0.0.1:{web_port}", modems,
                               f"[reports]\nwait_hours = {report_wait_s / 3600!r}\n\n"))
    return path


def gsmgw(*args: str, **kwargs: Any) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", *args], cwd=ROOT, **kwargs)


class Api:
    """The daemon's REST API with one key; every POST carries an Idempotency-Key, so a retry after
    a lost answer stores nothing twice."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body: dict, key: str) -> Any:
        for attempt in range(30):
            try:
                answer = self.http.post(self.base + path, json=body, headers={"Idempotency-Key": key}, timeout=30)
                if answer.status_code < 500 and answer.status_code != 429:
                    answer.raise_for_status()
                    return answer.json()
            except requests.ConnectionError:
                pass
            time.sleep(min(5.0, 0.2 * (attempt + 1)))
        raise RuntimeError(f"POST {path} kept failing")

    def get(self, path: str) -> Any:
        answer = self.http.get(self.base + path, timeout=30)
        answer.raise_for_status()
        return answer.json()


class Soak:
    def __init__(self, args: argparse.Namespace, directory: Path) -> None:
        self.args = args
        self.dir = directory
        self.rng = random.Random(args.seed)
        self.window = args.minutes * 60
        self.traffic = [f"sim{i}" for i in range(1, args.modems + 1)]
        self.wrong_pin_modem = f"sim{args.modems + 1}"
        self.sim = run_simulator(args.modems + 1, directory=str(directory / "ports"), profile=PROFILES,
                                 report_delay=1.0, latency=0.005, register_delay=0.2, out=None,
                                 modem_options={"startup": 2.0})
        self.sim.ports["sim1"].modem.sim("pin", pin=SIM_PIN)
        self.sim.ports[self.wrong_pin_modem].modem.sim("pin", pin=LOCKED_PIN)
        self.faults = Faults(self.sim, random.Random(self.rng.randrange(1 << 30)), self.traffic,
                             [self.wrong_pin_modem])
        self.message_ids: list[int] = []
        self.texts: dict[int, str] = {}
        self.tokens: list[str] = []
        self.injected: dict[str, dict] = {}  # token -> where and how it came
        self.pdus: dict[str, list[str]] = {}  # token -> its SMS-DELIVER parts
        self.states_seen: dict[str, Counter] = {name: Counter() for name in self.sim.ports}
        self.ever_puk: set[str] = set()
        self.lost_tries: set[str] = set()
        self.errors: list[str] = []
        self.stop = threading.Event()

    # -- set-up ------------------------------------------------------------------------------------
    def start_daemon(self) -> None:
        web_port = free_port()
        pins = {"sim1": SIM_PIN, self.wrong_pin_modem: WRONG_PIN}
        self.config = write_config(self.dir, {n: p.path for n, p in self.sim.ports.items()}, pins, web_port,
                                   self.args.report_wait)
        made = gsmgw("apikey", "create", "--config", str(self.config), "--name", "soak", "--scopes", "send,read",
                     "--json", stdout=subprocess.PIPE, text=True)
        out, _ = made.communicate(60)
        if made.returncode:
            raise RuntimeError("gsmgw apikey create failed")
        self.api = Api(f"http://127.0.0.1:{web_port}/api/v1", json.loads(out)["token"])
        self.log = open(self.dir / "daemon.log", "ab")
        self.daemon = gsmgw("run", "--config", str(self.config), stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                modems = self.api.get("/modems")["items"]
                if sum(m["state"] == "ready" for m in modems) == len(self.traffic):
                    return
            except requests.RequestException:
                pass
            if self.daemon.poll() is not None:
                raise RuntimeError(f"the daemon exited with {self.daemon.returncode}")
            time.sleep(0.5)
        raise RuntimeError("the modems did not get ready within 60 s")

    # -- the three sources of events ---------------------------------------------------------------
    def send_loop(self) -> None:
        """`--messages` over the first 85 % of the window: single POSTs and bulk ones."""
        total, span = self.args.messages, self.window * 0.85
        rng = random.Random(self.rng.randrange(1 << 30))
        started, i = time.monotonic(), 0
        while i < total and not self.stop.is_set():
            due = int(total * min(1.0, (time.monotonic() - started) / span)) + 1
            while i < min(due, total):
                batch = min(rng.choice([1, 1, 1, 5, 20]), total - i)
                items = []
                for j in range(i, i + batch):
                    if j % 50 == 7:  # a number the network refuses (CMS 1, unassigned): the message fails
                        for modem in self.traffic:
                            self.faults.control(modem, "refuse_number", number=recipient(j), code=1)
                        self.faults.counts["refused_number"] += 1
                    text = f"soak-out-{self.args.seed}-{j:05d} " + (FILLER * rng.randint(4, 8) if j % 10 == 0 else "ok")
                    items.append({"to": recipient(j), "text": text,
                                  "priority": rng.choice(["high", "normal", "normal", "bulk"])})
                body = items[0] if batch == 1 else {"messages": items}
                answer = self.api.post("/messages", body, key=f"soak-{self.args.seed}-{i}-{batch}")
                created = [answer] if batch == 1 else answer["messages"]
                for item, made in zip(items, created):
                    self.message_ids.append(made["id"])
                    self.texts[made["id"]] = item["text"]
                i += batch
            time.sleep(0.2)

    def inbound_loop(self) -> None:
        """`--inbound` SMS from the network over the first 85 % of the window, each with a token."""
        total, span = self.args.inbound, self.window * 0.85
        rng = random.Random(self.rng.randrange(1 << 30))
        started = time.monotonic()
        for i in range(total):
            wait = started + span * i / total - time.monotonic()
            if self.stop.wait(max(0.0, wait)):
                return
            token = f"soak-in-{self.args.seed}-{i:05d}"
            long = rng.random() < 0.15
            text = f"{token} " + (FILLER * rng.randint(4, 6) if long else "hello")
            # "auto" follows the CNMI the driver chose; "store" is a +CMTI lost on the line; a flash SMS
            # comes as +CMT whatever the CNMI
            mode = rng.choices(["auto", "cmti", "store"], weights=[6, 2, 1])[0]
            modem = rng.choice(self.traffic)
            flash = not long and rng.random() < 0.05
            pdus = self.faults.control(modem, "inject_sms", sender=f"+44792{1000000 + i:07d}", text=text, mode=mode,
                                       split=long and rng.random() < 0.5, flash=flash)
            self.tokens.append(token)
            self.pdus[token] = [pdu.upper() for pdu in pdus]
            self.injected[token] = {"modem": modem, "mode": mode, "long": long, "flash": flash,
                                    "at": round(time.time(), 3)}

    def fault_loop(self) -> None:
        started = time.monotonic()
        next_fault = started + 5
        while not self.stop.is_set():
            now = time.monotonic()
            if now - started >= self.window:
                return
            self.faults.run_due()
            if now >= next_fault:
                try:
                    self.faults.inject((now - started) / self.window)
                except Exception as exc:  # a control call refused: a soak defect, not the daemon's
                    self.errors.append(f"fault: {exc!r}")
                next_fault = now + self.faults.rng.expovariate(1 / self.args.fault_gap)
            time.sleep(0.1)

    def watch_loop(self) -> None:
        """SIM counters every half second, the daemon's modem states every two."""
        last_api = 0.0
        while not self.stop.wait(0.5):
            for name, port in self.sim.ports.items():
                status = port.modem.status()
                if status["sim"] == "puk":
                    self.ever_puk.add(name)
                if status["pin_tries_left"] < (2 if name == self.wrong_pin_modem else 3):
                    self.lost_tries.add(name)
            if time.monotonic() - last_api > 2:
                last_api = time.monotonic()
                try:
                    for modem in self.api.get("/modems")["items"]:
                        self.states_seen[modem["name"]][modem["state"]] += 1
                except requests.RequestException:
                    pass

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self.start_daemon()
        threads = [threading.Thread(target=fn, name=fn.__name__, daemon=True)
                   for fn in (self.send_loop, self.inbound_loop, self.fault_loop, self.watch_loop)]
        for thread in threads:
            thread.start()
        for thread in threads[:3]:
            thread.join()
        self.faults.heal()
        # drain: every message final (or queued for a SIM that can take it), every SMS stored
        deadline = time.monotonic() + self.args.drain
        while True:
            outcome = soak_outcome.read(self.dir, self.message_ids)
            states = {m["name"]: m["state"] for m in self.api.get("/modems")["items"]}
            stuck, resting, waiting = soak_outcome.settled(outcome, states)
            lost = sum(1 for t in self.tokens if not outcome["inbound"][t])
            awaiting, _ = soak_outcome.awaiting(outcome)
            if (not stuck and not waiting and not lost and not awaiting) or time.monotonic() > deadline:
                break
            time.sleep(2)
        self.stop.set()
        threads[3].join()
        wrong_pin = self.sim.ports[self.wrong_pin_modem].modem.status()
        code = stop_process(self.daemon, signal.SIGTERM, 30)
        if code is None:
            code = "killed after 30 s"
        self.log.close()

        submitted = Counter((r["recipient"], r["text"], r["concat_seq"]) for r in self.sim.network.record.submitted)
        out_dups = sum(n - 1 for n in submitted.values() if n > 1)
        in_dups = sum(n - 1 for n in outcome["inbound"].values() if n > 1)
        locked = self.ever_puk | self.lost_tries
        if wrong_pin["pin_attempts"] != 1:
            locked.add(self.wrong_pin_modem)
        # a `sent` message is final once the daemon gave up every report still missing (a modem drops
        # those it gets between a silent reboot and its new CNMI: reports_discarded_by_modems)
        awaiting, given_up = soak_outcome.awaiting(outcome)
        discarded = sum(p.modem.reports_discarded for n, p in self.sim.ports.items())
        final_states = Counter("sent_no_report" if s == "sent" and outcome["reports"][mid] == "none" else s
                               for mid, (s, _, _) in outcome["statuses"].items())
        result = {
            "minutes": self.args.minutes, "modems": self.args.modems, "seed": self.args.seed,
            "messages": len(self.message_ids), "inbound": len(self.tokens),
            "faults": dict(sorted(self.faults.counts.items())),
            "duplicates": out_dups + in_dups, "duplicates_outbound": out_dups, "duplicates_inbound": in_dups,
            "lost_inbound": lost, "sims_locked": len(locked), "locked": sorted(locked),
            "not_final": stuck + awaiting, "awaiting_report": awaiting, "sent_no_report": given_up,
            "report_wait_s": self.args.report_wait, "reports_discarded_by_modems": discarded,
            "reports_discarded_per_modem": {n: f"{p.modem.reports_discarded} ({p.modem.profile.name})"
                                            for n, p in self.sim.ports.items() if p.modem.reports_discarded}, "waiting_for_resting_sim": resting, "queued_for_ready_sim": waiting,
            "final_states": dict(sorted(final_states.items())),
            "parts_submitted": len(self.sim.network.record.submitted),
            "wrong_pin": {"modem": self.wrong_pin_modem, "pin_attempts": wrong_pin["pin_attempts"],
                          "sim": wrong_pin["sim"], "daemon_state": states.get(self.wrong_pin_modem)},
            "pin_attempts_sim1": self.sim.ports["sim1"].modem.pin_attempts,
            "modem_states_seen": {n: dict(c) for n, c in self.states_seen.items()},
            "lost_detail": [self.lost_detail(t) for t in self.tokens if not outcome["inbound"][t]][:5],
            "stored_on_modems": {n: p.modem.status()["stored"] for n, p in self.sim.ports.items()},
            "daemon_exit": code, "errors": self.errors[:10],
            "seconds": round(time.monotonic() - started, 1),
        }
        return result

    def lost_detail(self, token: str) -> dict[str, Any]:
        """What is known of an SMS the gateway did not store: how it was injected, when and how its
        modem handed each part to the host (`cmt`: a +CMT; `stored`: on the SIM), the faults on
        that modem from 20 s before to 20 s after, and the daemon's log lines about that modem then."""
        injected = self.injected[token]
        modem = self.sim.ports[injected["modem"]].modem
        parts = set(self.pdus[token])
        delivered = [{"at": at, "how": how} for at, how, pdu in list(modem.deliveries) if pdu.upper() in parts]
        start = min([d["at"] for d in delivered] or [injected["at"]]) - 20
        faults = [f for f in self.faults.log if f["modem"] == injected["modem"] and start <= f["at"] <= start + 40]
        return {"token": token, **injected, "delivered": delivered, "faults_near": faults,
                "daemon_log": self.daemon_lines(injected["modem"], start, start + 40)}

    def daemon_lines(self, modem: str, start: float, end: float) -> list[str]:
        """The daemon's log lines naming `modem` between two epochs (its lines carry HH:MM:SS, local
        time on the day of the run), at most 30."""
        day = time.strftime("%Y-%m-%d", time.localtime(start))
        lines = []
        for line in (self.dir / "daemon.log").read_text(errors="replace").splitlines():
            stamp = line[:8]
            if f"{modem}:" not in line or not re.fullmatch(r"\d\d:\d\d:\d\d", stamp):
                continue
            at = time.mktime(time.strptime(f"{day} {stamp}", "%Y-%m-%d %H:%M:%S"))
            if start - 1 <= at <= end:
                lines.append(line)
        return lines[:30]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long faults are injected")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--inbound", type=int, default=500)
    parser.add_argument("--modems", type=int, default=4, help="SIMs carrying traffic (one more has a wrong PIN)")
    parser.add_argument("--seed", type=int, default=None, help="default: from the time, printed")
    parser.add_argument("--fault-gap", type=float, default=3.0, help="mean seconds between two faults")
    parser.add_argument("--drain", type=float, default=240.0, help="most seconds to wait after the faults stop")
    parser.add_argument("--report-wait", type=float, default=30.0,
                        help="the daemon's [reports] wait_hours, in seconds: a report not in by then will not come")
    parser.add_argument("--keep", help="work in this directory and keep it (the daemon's log, database, ports)")
    args = parser.parse_args()
    if args.modems < 2:
        parser.error("--modems must be at least 2")
    if args.seed is None:
        args.seed = int(time.time()) % 1_000_000
    print(f"seed {args.seed}", flush=True)
    directory = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gsmgw-soak-"))
    directory.mkdir(parents=True, exist_ok=True)
    soak = Soak(args, directory)
    try:
        result = soak.run()
    finally:
        if getattr(soak, "daemon", None) is not None and soak.daemon.poll() is None:
            soak.daemon.kill()
        soak.sim.close()
    ok = soak_outcome.invariants_hold(result)
    if not ok:
        print(f"invariant failed; the daemon's log and database are in {directory}", file=sys.stderr, flush=True)
    elif not args.keep:
        shutil.rmtree(directory, ignore_errors=True)
    emit(result)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
