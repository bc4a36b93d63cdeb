"""What a status page, /api/v1/modems, /health and /metrics say about each modem/SIM.

`describe` reads the live supervisors (state, identity, health) and workers (limits, next slot);
the limit use is the worker's own windows of the SIM it holds, so the figures are what it will allow.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any


def describe(supervisors_and_workers: Iterable[tuple[Any, Any]], now: float | None = None) -> list[dict[str, Any]]:
    """[(ModemSupervisor, ModemWorker | None)] -> one dict per modem, JSON-ready."""
    result = []
    for supervisor, worker in supervisors_and_workers:
        clock_now = now if now is not None else (worker.clock.time() if worker is not None else datetime.now(UTC).timestamp())
        health = supervisor.health
        identity = supervisor.identity
        entry: dict[str, Any] = {
            "name": supervisor.name,
            "state": supervisor.state.value,
            "reason": supervisor.reason or None,
            "port": supervisor.port or None,  # where it was found (a modem named by IMEI moves)
            "recovery": supervisor.recovery or None,  # the recovery ladder's last step
            "operator": health.operator if health else None,
            "registration": health.registration if health else None,
            "signal": {"bars": health.signal.bars, "dbm": health.signal.dbm, "csq": health.signal.csq} if health else None,
            "identity": {"manufacturer": identity.manufacturer, "model": identity.model,
                         "firmware": identity.firmware, "imei": identity.imei,
                         "imsi": identity.imsi, "iccid": identity.iccid} if identity else None,
            "limits": {},
            "next_slot_at": None,
        }
        if worker is not None:
            entry["limits"] = {u.window: {"used": u.used, "left": u.left, "cap": u.cap}
                               for u in worker.windows.usage()}
            slot = worker.next_slot()
            entry["next_slot_at"] = _iso(max(slot, clock_now))
        result.append(entry)
    return result


def health_of(modem: dict[str, Any]) -> tuple[str, str]:
    """pass / warn / fail for one described modem, with the reason."""
    state = modem["state"]
    if state == "ready":
        bars = (modem.get("signal") or {}).get("bars")
        if bars is not None and bars <= 1:
            return "warn", f"weak signal ({bars} bar{'s' if bars != 1 else ''})"
        if any(w["cap"] and w["left"] == 0 for w in modem["limits"].values()):
            return "warn", "send limits used up"
        return "pass", "ready"
    if state in ("connecting", "initialising", "no_network"):
        return "warn", f"{state}{': ' + modem['reason'] if modem.get('reason') else ''}"
    return "fail", f"{state}{': ' + modem['reason'] if modem.get('reason') else ''}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
