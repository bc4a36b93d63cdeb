"""Splitting one AT command line into commands, the way modems do (V.250 §5.4).

`ATE0+CMEE=1;+CMGF=0` is three commands: basic `E0`, then extended `+CMEE=1` and `+CMGF=0`.
Extended commands come as exec (`+CSQ`), read (`+CREG?`), test (`+CNMI=?`) or set (`+CMGS=23`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EXEC, READ, TEST, SET = "exec", "read", "test", "set"


@dataclass(frozen=True)
class Command:
    name: str  # "E", "&F", "+CMGS", "^CURC"
    kind: str  # EXEC/READ/TEST/SET for extended commands; EXEC for basic ones
    args: tuple[str, ...] = ()  # quotes removed
    raw: str = ""  # argument text as typed
    quoted: tuple[bool, ...] = ()


_BASIC = re.compile(r"(&[A-Z]|[A-Z])(\d*)", re.I)
_S_REG = re.compile(r"S(\d+)(=\d*|\?)?", re.I)
_EXT_NAME = re.compile(r"[+^$%][A-Z0-9]+", re.I)


class ParseError(ValueError):
    """The line is not valid AT syntax: the modem answers ERROR."""


def split_args(text: str) -> tuple[tuple[str, ...], tuple[bool, ...]]:
    """Comma-separated arguments; commas inside double quotes do not split."""
    if text == "":
        return (), ()
    args: list[str] = []
    quoted: list[bool] = []
    cur: list[str] = []
    in_q = was_q = False
    for ch in text:
        if ch == '"':
            in_q = not in_q
            was_q = True
        elif ch == "," and not in_q:
            args.append("".join(cur).strip())
            quoted.append(was_q)
            cur, was_q = [], False
        else:
            cur.append(ch)
    if in_q:
        raise ParseError("unterminated string")
    args.append("".join(cur).strip())
    quoted.append(was_q)
    return tuple(args), tuple(quoted)


def _split_semicolons(text: str) -> list[str]:
    parts, cur, in_q = [], [], False
    for ch in text:
        if ch == '"':
            in_q = not in_q
        if ch == ";" and not in_q:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def parse(body: str) -> list[Command]:
    """Commands in the text after "AT". Raises ParseError for syntax a modem would reject."""
    commands: list[Command] = []
    pos = 0
    # Basic commands: letters with optional digits, until the first extended command.
    while pos < len(body) and body[pos] not in "+^$%;":
        if body[pos] == " ":
            pos += 1
            continue
        if body[pos] in "Dd":  # dial takes the rest of the line
            commands.append(Command("D", EXEC, (body[pos + 1:],), body[pos + 1:]))
            return commands
        if m := _S_REG.match(body, pos):
            commands.append(Command("S" + m.group(1), EXEC, (m.group(2) or "",), m.group(2) or ""))
            pos = m.end()
            continue
        m = _BASIC.match(body, pos)
        if not m:
            raise ParseError(body[pos:])
        commands.append(Command(m.group(1).upper(), EXEC, (m.group(2),) if m.group(2) else (), m.group(2)))
        pos = m.end()
    for part in _split_semicolons(body[pos:]):
        part = part.strip()
        if part[:2].upper() == "AT":  # some hosts repeat the prefix after ';'
            part = part[2:]
        m = _EXT_NAME.match(part)
        if not m:
            raise ParseError(part)
        name, rest = m.group(0).upper(), part[m.end():]
        if rest == "":
            commands.append(Command(name, EXEC))
        elif rest == "?":
            commands.append(Command(name, READ))
        elif rest == "=?":
            commands.append(Command(name, TEST))
        elif rest.startswith("="):
            args, quoted = split_args(rest[1:])
            commands.append(Command(name, SET, args, rest[1:], quoted))
        else:  # e.g. "+CMGL4": no separator
            raise ParseError(part)
    return commands
