"""`gsmgw user add NAME --role admin|staff` and `gsmgw user passwd NAME`: console users for headless installs.

The password is asked twice on a terminal; from a pipe it is the first line of standard input
(`echo "$PW" | gsmgw user add anna --role staff`), never an argument (the process list shows those).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any, TextIO

from gateway.cli.common import Commands, opened


def register(commands: Commands) -> None:
    user = commands.add_parser("user", help="console users").add_subparsers(dest="user_command")
    add = user.add_parser("add", help="add a console user (password from the terminal or stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("admin", "staff"),
                     help="admin: everything; staff: send, inbox, contacts, campaigns")
    add.set_defaults(func=_add)
    passwd = user.add_parser("passwd", help="set a console user's password (from the terminal or stdin)")
    passwd.add_argument("name")
    passwd.set_defaults(func=_passwd)
    for sub in (add, passwd):
        sub.add_argument("--config")


def read_password(stdin: TextIO | None = None) -> str | None:
    """The new password: asked twice on a terminal, else stdin's first line. None: they differed."""
    stdin = stdin or sys.stdin
    if stdin is None:  # started with no standard input at all
        return ""
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            return None
        return first
    return stdin.readline().rstrip("\r\n")


def _add(args: argparse.Namespace) -> int:
    from gateway.users import accounts

    return _with_password(args, lambda sessions, clock, password: accounts.add(
        sessions, clock, args.name, password, args.role), "added")


def _passwd(args: argparse.Namespace) -> int:
    from gateway.users import accounts

    return _with_password(args, lambda sessions, clock, password: accounts.set_password(
        sessions, clock, args.name, password), "password changed")


def _with_password(args: argparse.Namespace, change: Callable[..., Any], done: str) -> int:
    """Read the password, run `change(sessions, clock, password)`, say what came of it."""
    from gateway.core.clock import Clock
    from gateway.users.accounts import UserError

    password = read_password()
    if password is None:
        print("the passwords differ: nothing changed", file=sys.stderr)
        return 2
    with opened(args) as (_, queue, _):
        try:
            account = change(queue.sessions, Clock(), password)
        except UserError as exc:
            print(f"not done: {exc}", file=sys.stderr)
            return 2
    print(f"user {account.name} ({account.role}): {done}")
    return 0
