"""`gsmgw simulate` / `python -m modem.virtual`: N virtual modems on one virtual network."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from modem.virtual.control import ControlServer
from modem.virtual.device import VirtualModem
from modem.virtual.network import VirtualNetwork
from modem.virtual.profiles import get_profile
from modem.virtual.server import VirtualModemPort


@dataclass
class Simulation:
    """What `run_simulator` started; `close()` stops everything it started, in reverse order."""

    network: VirtualNetwork
    ports: dict[str, VirtualModemPort]
    control: ControlServer | None = None
    modems: list[VirtualModem] = field(default_factory=list)

    def port(self, name: str) -> VirtualModemPort:
        return self.ports[name]

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
            self.control = None
        for port in self.ports.values():
            port.close()
        for modem in self.modems:
            modem.close()
        self.network.close()

    def __enter__(self) -> "Simulation":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_simulator(
    count: int,
    *,
    directory: str,
    profile: str = "sim800",
    tcp: bool = False,
    control: str | None = None,
    record: str | None = None,
    report_delay: float = 1.0,
    latency: float = 0.0,
    send_delay: float = 0.0,
    register_delay: float = 0.2,
    out: TextIO | None = sys.stdout,
    modem_options: dict | None = None,
    now: Callable[[], datetime] | None = None,
) -> Simulation:
    """Start `count` modems (profile may be "sim800,e3131,ec25" to cycle models) on one network.

    Prints one line per modem: `sim1 <dir>/sim1 msisdn=+447700900001 profile=sim800 [tcp=...]`.
    `record` defaults to `<directory>/submitted.jsonl`; `modem_options` go to every VirtualModem
    (e.g. {"cnma_timeout": 1.0, "noise_interval": 0.1, "ussd_reply": "..."}); `now` is the network's
    clock (the gateway's, when it runs on a fake one).
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    profiles = [p.strip() for p in profile.split(",") if p.strip()]
    for name in profiles:
        get_profile(name)  # ValueError for an unknown name or a file that is not a profile
    os.makedirs(directory, exist_ok=True)
    network = VirtualNetwork(report_delay=report_delay, now=now,
                             record=record or os.path.join(directory, "submitted.jsonl"))
    sim = Simulation(network, {})
    try:
        for i in range(1, count + 1):
            name = f"sim{i}"
            modem = VirtualModem(name, profiles[(i - 1) % len(profiles)], network=network, latency=latency,
                                 send_delay=send_delay, register_delay=register_delay, power_on=False,
                                 **(modem_options or {}))
            sim.modems.append(modem)
            port = VirtualModemPort(modem, directory, name, tcp=tcp)
            sim.ports[name] = port
            if out is not None:
                extra = f" tcp={port.tcp_url}" if port.tcp_url else ""
                print(f"{name} {port.path} msisdn={modem.msisdn} profile={modem.profile.name}{extra}",
                      file=out, flush=True)
        if control:
            sim.control = ControlServer(sim.ports, control)
            if out is not None:
                print(f"control {sim.control.address}", file=out, flush=True)
    except BaseException:
        sim.close()
        raise
    return sim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modem.virtual", description=__doc__)
    parser.add_argument("count", type=int, nargs="?", default=2)
    parser.add_argument("--dir", default="/tmp/gsmgw-sim", help="where the sim1, sim2... links go")
    parser.add_argument("--profile", default="sim800", help="sim800, e3131, ec25, generic, or a list")
    parser.add_argument("--tcp", action="store_true", help="also listen on 127.0.0.1 (socket:// URLs)")
    parser.add_argument("--control", help="control socket: a path, or 127.0.0.1:PORT")
    parser.add_argument("--record", help="JSON-lines file of submitted parts")
    parser.add_argument("--report-delay", type=float, default=1.0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--send-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    sim = run_simulator(args.count, directory=args.dir, profile=args.profile, tcp=args.tcp,
                        control=args.control, record=args.record, report_delay=args.report_delay,
                        latency=args.latency, send_delay=args.send_delay)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
    return 0
