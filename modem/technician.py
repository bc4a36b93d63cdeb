"""The hw-test scripts' shared command line: where the modem is (`--port` or `--simulate`), how the
results print (one PASS/FAIL/SKIP line each, or `--json`), the summary line and the exit code.

Each script in `hw-test/` only says which checks it runs (`modem/diagnostics.py`) and adds its own
options. Bad options end with a usage error (exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from modem.diagnostics import Check, CheckOptions, all_passed, summary
from modem.virtual.profiles import PROFILES, get_profile

if TYPE_CHECKING:
    from modem.virtual.cli import Simulation

SIMULATED_RECIPIENT = "+447700900999"


def parser(prog: str, description: str, *, port_required: bool = True) -> argparse.ArgumentParser:
    """The options every hw-test script takes."""
    result = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = result.add_mutually_exclusive_group(required=port_required)
    where.add_argument("--port", help="serial device, pty path or socket://host:port")
    where.add_argument("--simulate", action="store_true", help="dry run on a virtual modem")
    result.add_argument("--profile", help=f"virtual modem model with --simulate ({', '.join(sorted(PROFILES))}, "
                        "or a profile file from hw-test/dump)")
    result.add_argument("--baudrate", type=int, default=115200)
    result.add_argument("--rtscts", action="store_true", help="hardware flow control (5-wire UART)")
    result.add_argument("--pin", default="", help="the SIM's PIN, if it asks for one")
    result.add_argument("--min-bars", type=int, default=CheckOptions.min_bars, help="signal below this fails (0-5)")
    result.add_argument("--timeout", type=float, default=CheckOptions.register_timeout,
                        help="seconds to wait for network registration")
    result.add_argument("--answer-timeout", type=float, default=CheckOptions.answer_timeout,
                        help="seconds the modem has to answer AT before it counts as hung (default %(default)g)")
    result.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    result.add_argument("-v", "--verbose", action="store_true", help="show the modem log and the AT traffic")
    return result


def parse(arguments: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    args = arguments.parse_args(argv)
    if args.profile is not None and not args.simulate:
        arguments.error("--profile only applies with --simulate")
    if args.simulate:
        try:
            get_profile(args.profile or "sim800")
        except ValueError as exc:
            arguments.error(f"--profile {args.profile}: {exc}")
    if not 0 <= args.min_bars <= 5:
        arguments.error("--min-bars must be 0 to 5")
    if args.answer_timeout <= 0:
        arguments.error("--answer-timeout must be more than 0")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL, format="%(name)s: %(message)s")
    return args


def options(args: argparse.Namespace, port: str, **extra: object) -> CheckOptions:
    return CheckOptions(port=port, baudrate=args.baudrate, rtscts=args.rtscts, pin=args.pin,
                        min_bars=args.min_bars, register_timeout=args.timeout, answer_timeout=args.answer_timeout,
                        **extra)


@contextlib.contextmanager
def modem_port(args: argparse.Namespace, modems: int = 1,
               simulated: Callable[[argparse.Namespace, Simulation], None] | None = None) -> Iterator[str | None]:
    """The port to test: `--port`, or the first of `modems` virtual modems for as long as the block
    runs; `simulated` then sets what else the script takes from them (a peer, its number, a pin)."""
    if not args.simulate:
        yield args.port
        return
    from modem.virtual.cli import run_simulator

    with tempfile.TemporaryDirectory(prefix="gsmgw-hwtest-") as directory:
        simulation = run_simulator(modems, directory=directory, profile=args.profile or "sim800", report_delay=0.5,
                                   register_delay=0.2, out=None)
        try:
            if simulated is not None:
                simulated(args, simulation)
            yield simulation.ports["sim1"].path
        finally:
            simulation.close()


def report(checks: Iterable[Check], *, as_json: bool) -> int:
    """Print each check as it comes (lines) or all at the end (--json); 0 only when all passed."""
    done: list[Check] = []
    for check in checks:
        done.append(check)
        if not as_json:
            print(check.line(), flush=True)
    if as_json:
        print(json.dumps({"checks": [c.as_dict() for c in done], "summary": summary(done),
                          "passed": all_passed(done)}, indent=2))
    else:
        print(summary(done), flush=True)
    return 0 if all_passed(done) else 1


def main(arguments: argparse.ArgumentParser, checks: Callable[[argparse.Namespace, str | None], Iterable[Check]],
         argv: list[str] | None = None, *,
         validate: Callable[[argparse.Namespace], str | None] | None = None, modems: int = 1,
         simulated: Callable[[argparse.Namespace, Simulation], None] | None = None) -> int:
    """Parse, set up the modem, run the script's checks, print them and return the exit code.
    `validate` returns a usage error for option combinations argparse cannot express; `modems` and
    `simulated` are for `--simulate` (see modem_port)."""
    args = parse(arguments, argv)
    problem = validate(args) if validate is not None else None
    if problem:
        arguments.error(problem)
    try:
        with modem_port(args, modems, simulated) as port:
            return report(checks(args, port), as_json=args.json)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def default_recipient(args: argparse.Namespace, given: str | None) -> str | None:
    """A dry run sends to a number of the virtual network unless told otherwise."""
    return given or (SIMULATED_RECIPIENT if args.simulate else None)

