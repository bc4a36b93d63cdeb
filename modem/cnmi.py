"""Which +CNMI setting to ask a modem for (pure): what its `AT+CNMI=?` offers, in our order of
preference, as Gammu chooses it; a fixed list where the modem will not say."""

from __future__ import annotations

from modem.lines import parse_ranges, payload_of

# +CNMI settings in order of preference: store SMS and status reports on the SIM (nothing lost if we
# crash before handling them), then direct status reports, then no reports at all. The same order,
# per parameter, picks a setting from what AT+CNMI=? offers (as Gammu does); this list is the fallback.
CNMI_CHOICES = ("2,1,0,2,0", "2,1,0,1,0", "1,1,0,1,0", "2,1,0,0,0", "1,1,0,0,0")
CNMI_PREFERENCE = ((2, 1, 3), (1, 3, 2), (0,), (2, 1, 0), (0, 1))  # mode, mt, bm, ds, bfr


def cnmi_from_test(answer: str) -> str | None:
    """The preferred +CNMI setting among those an `AT+CNMI=?` answer offers, e.g.
    `+CNMI: (0-3),(0-3),(0,2),(0,1),(0,1)` -> "2,1,0,1,0"; None when it offers none we can use."""
    offered = parse_ranges(payload_of(answer))
    if len(offered) < 2:
        return None
    chosen: list[int] = []
    for i, preference in enumerate(CNMI_PREFERENCE):
        values = offered[i] if i < len(offered) else {0}
        if i >= 2 and not values:  # an empty group: the parameter is not offered, leave it at 0
            values = {0}
        pick = next((v for v in preference if v in values), None)
        if pick is None:
            if i < 2:
                return None  # no usable mode or SMS indication
            pick = min(values)
        chosen.append(pick)
    return ",".join(map(str, chosen))


def choices(offered: str | None) -> list[str]:
    """The settings to try in turn: the one derived from `AT+CNMI=?` first, then the fixed list."""
    derived = cnmi_from_test(offered or "")
    return ([derived] if derived else []) + [c for c in CNMI_CHOICES if c != derived]
