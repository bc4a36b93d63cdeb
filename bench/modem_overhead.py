"""CPU and time per single-part message through the serial driver, on one zero-latency virtual modem.

The virtual modem runs in a child process (`python -m modem.virtual 1 --latency 0`), so the CPU
counted here is the driver's alone: AtTransport's reader thread, ModemSession, PDU encoding and the
pty writes. Status reports are delayed beyond the run so they add nothing.

    .venv/bin/python bench/modem_overhead.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from _common import emit, rss_mb, self_cpu_s, start_simulator

from modem.session import ModemSession
from modem.supervision import ModemSettings
from modem.transport import AtTransport


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gsmgw-bench-") as tmp:
        sim = start_simulator(1, tmp, latency=0.0, report_delay=600.0)
        transport = AtTransport(sim.ports["sim1"], ModemSettings("sim1"))
        try:
            transport.open()
            session = ModemSession(transport)
            session.init()
            session.wait_registered(10)
            session.send("+447700900555", "warm-up")
            cpu0, wall0 = self_cpu_s(), time.perf_counter()
            for i in range(args.messages):
                session.send(f"+4477009{i % 10000 + 10000:05d}", f"Your code is {i:06d}")
            wall = time.perf_counter() - wall0
            cpu = self_cpu_s() - cpu0
        finally:
            transport.close()
            sim.stop()
    emit({"messages": args.messages, "modems": 1, "seconds": round(wall, 3),
          "msg_per_s": round(args.messages / wall, 1),
          "cpu_s": round(cpu, 3), "cpu_ms_per_msg": round(1000 * cpu / args.messages, 3),
          "rss_mb": rss_mb()})


if __name__ == "__main__":
    main()
