"""A config file's text for a program that starts a `gsmgw run` of its own on modems it names by
port (the soak benchmark, the crash tests): `tomllib` reads TOML but does not write it.

Every modem gets a `[modems.limits]` of no caps, so such a program's sends go as fast as the
modems take them, not at a new SIM's safe pace.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

from gateway.outbound.limits import Limits

Value = str | int | float | bool
NO_LIMITS: dict[str, Value] = dataclasses.asdict(Limits())  # 0 in every key: no cap


def run_config(data_dir: Path, listen: str, modems: Mapping[str, Mapping[str, Value]], extra: str = "") -> str:
    """[gateway] data_dir, [web] listen, then `extra` (TOML for more sections) and one [[modems]]
    entry per name with its keys (port, pin, timings) and no send limits."""
    entries = "".join(
        f"[[modems]]\nname = {_value(name)}\n{_keys(keys)}[modems.limits]\n{_keys(NO_LIMITS)}\n"
        for name, keys in modems.items())
    return f"[gateway]\ndata_dir = {_value(str(data_dir))}\n\n[web]\nlisten = {_value(listen)}\n\n{extra}{entries}"


def _keys(keys: Mapping[str, Value]) -> str:
    return "".join(f"{key} = {_value(value)}\n" for key, value in keys.items())


def _value(value: Value) -> str:
    """A TOML literal: JSON's string escapes are TOML's basic string's, a float's repr is a TOML float."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")  # DEL: JSON leaves it
    return repr(value)
