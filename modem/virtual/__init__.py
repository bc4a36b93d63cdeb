"""Virtual GSM modems for tests, `gsmgw simulate` and technician dry runs (OctoPrint's virtual
printer idea): the real serial driver talks AT to them over a pty, unchanged.

    device.py    VirtualModem: state and power of one modem (bytes in, bytes out), SIM and SMS memory
    line.py      its byte line discipline: echo, command lines, "> " bodies, answers in order
    commands.py  its AT command handlers, dispatched by full name (setting_commands.py: host settings,
                 sim_commands.py: SIM, power, registration; sms_commands.py: SMS memory, sending)
    delivery.py  its network side: registration, incoming SMS and status reports, their URCs
    faults.py    its control API: fault injection and run-time switches
    profiles.py  per-model answers and quirks (sim800, e3131, ec25, generic)
    network.py   VirtualNetwork: MSISDNs, routing between modems, status reports
    server.py    VirtualModemPort: a modem on a pty behind a stable symlink (+ TCP), unplug/replug
    record.py    SubmitRecord: JSON line per submitted part
    control.py   fault injection from Python or a JSON-lines control socket
    cli.py       run_simulator() and `python -m modem.virtual`
"""

from modem.virtual.cli import Simulation, run_simulator
from modem.virtual.device import VirtualModem
from modem.virtual.network import VirtualNetwork
from modem.virtual.profiles import PROFILES, Profile
from modem.virtual.record import SubmitRecord
from modem.virtual.scheduler import ManualScheduler, ThreadScheduler
from modem.virtual.server import VirtualModemPort

__all__ = ["ManualScheduler", "PROFILES", "Profile", "Simulation", "SubmitRecord", "ThreadScheduler",
           "VirtualModem", "VirtualModemPort", "VirtualNetwork", "run_simulator"]
