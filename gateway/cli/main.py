"""The `gsmgw` command line: thin commands over the library, with clear exit codes.

Each command group lives in its own module and adds its parsers here (`register`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway.cli import apikey, audience, doctor, messages, modem, service, user
from gateway.core import config as config_module


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except config_module.ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gsmgw", description="SMS gateway for GSM modems")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command")
    for group in (service, messages, apikey, audience, modem, doctor, user):
        group.register(commands)
    return parser
