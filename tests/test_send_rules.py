"""Consent derivation, quiet hours and the send-time decision, from tables (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.consent.ledger import ConsentState, EventView, derive, opt_in_rule
from gateway.consent.rules import Facts, Rules, decide, parse_hhmm, quiet_until

T0 = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
IN, OUT, REQ = "opt_in", "opt_out", "opt_in_requested"


@pytest.mark.parametrize("events, status", [
    ([], "none"),
    ([(IN, "marketing")], "opted_in"),
    ([(IN, "marketing"), (OUT, "marketing")], "opted_out"),
    ([(IN, "marketing"), (OUT, "all")], "opted_out_all"),
    ([(OUT, "marketing"), (IN, "marketing")], "opted_in"),
    ([(REQ, "marketing")], "pending"),
    ([(REQ, "marketing"), (IN, "marketing")], "opted_in"),
    ([(IN, "marketing"), (REQ, "marketing")], "opted_in"),  # a request never takes consent away
    ([(OUT, "marketing"), (REQ, "marketing")], "opted_out"),  # nor gives it back
    ([(OUT, "all"), (IN, "marketing"), (OUT, "marketing")], "opted_out"),
])
def test_derive(events, status):
    assert derive(EventView(kind, scope, "keyword", T0) for kind, scope in events).status == status


OPTED_OUT = ConsentState("opted_out", T0, "keyword")


@pytest.mark.parametrize("state, source, double_opt_in, grant", [
    (ConsentState("none"), "api", False, True), (ConsentState("pending"), "import", False, True),
    (ConsentState("opted_in"), "staff", False, True), (ConsentState("none"), "web_form", True, False),
    # after an opt-out only the customer opts back in; everyone else asks, whatever the settings
    *((state, source, False, False) for state in (OPTED_OUT, ConsentState("opted_out_all", T0, "staff"))
      for source in ("api", "staff", "web_form", "import")),
    (OPTED_OUT, "keyword", False, True), (OPTED_OUT, "keyword", True, True),
])
def test_after_an_opt_out_only_the_customer_opts_in(state, source, double_opt_in, grant):
    rule = opt_in_rule(state, source, double_opt_in=double_opt_in)
    assert rule.grant is grant
    if state.opted_out and not grant:
        assert "opted out (" in rule.reason and "2027-01-15" in rule.reason


ASKED_AT = ConsentState("opted_out", T0, "keyword", requested_at=T0 + timedelta(days=1))


@pytest.mark.parametrize("state, double_opt_in, days, suppressed, action", [
    (ASKED_AT, False, 2, False, "asked"), (ASKED_AT, False, 8, False, "asked"),  # open for 7 days
    (ASKED_AT, False, 8.01, False, "ask"),  # lapsed: a new request may go
    (OPTED_OUT, False, 2, False, "ask"),  # nothing asked since the STOP
    (ConsentState("pending", T0, "web_form", requested_at=T0), True, 3, False, "asked"),
    (ConsentState("none"), True, 0, False, "ask"), (ConsentState("opted_in", T0), False, 0, False, "grant"),
    (ConsentState("opted_out_all", T0, "keyword"), False, 2, True, "refuse"),
    (ASKED_AT, False, 2, True, "refuse"),  # the request could not reach them whatever was asked before
])
def test_the_shop_asks_once_per_window_and_never_when_the_request_would_be_suppressed(
        state, double_opt_in, days, suppressed, action):
    rule = opt_in_rule(state, "staff", double_opt_in=double_opt_in, now=T0 + timedelta(days=days),
                       within=timedelta(days=7), request_suppressed=suppressed)
    assert rule.action == action, rule
    if action == "asked":
        assert f"sent at {state.requested_at.isoformat()}" in rule.reason and "no second one was sent" in rule.reason
    if action == "refuse" and state.everything_stopped:
        assert rule.reason.startswith("the customer asked for no messages at all (STOPALL, keyword) on 2027-01-15")


@pytest.mark.parametrize("events, now, awaiting", [
    ([(REQ, 0)], 0, True), ([(REQ, 0)], 7 * 86400, True), ([(REQ, 0)], 7 * 86400 + 1, False),
    ([(OUT, 0), (REQ, 10)], 20, True),  # staff asked after the STOP: their YES answers it
    ([(REQ, 0), (OUT, 10)], 20, False),  # a STOP after the request withdraws it
    ([(REQ, 0), (IN, 10)], 20, False),  # answered already
    ([(IN, 0)], 10, False), ([], 0, False),
])
def test_a_confirmation_is_awaited_only_within_the_window(events, now, awaiting):
    state = derive(EventView(kind, "marketing", "api", T0 + timedelta(seconds=at)) for kind, at in events)
    assert state.awaiting_confirmation(T0 + timedelta(seconds=now), timedelta(days=7)) is awaiting


LONDON, NEW_YORK = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")


@pytest.mark.parametrize("now, tz, start, end, opens", [
    ("2027-01-15T12:00", LONDON, "21:00", "08:00", None),
    ("2027-01-15T21:00", LONDON, "21:00", "08:00", "2027-01-16T08:00"),  # start is inclusive
    ("2027-01-15T23:30", LONDON, "21:00", "08:00", "2027-01-16T08:00"),
    ("2027-01-16T03:00", LONDON, "21:00", "08:00", "2027-01-16T08:00"),
    ("2027-01-16T08:00", LONDON, "21:00", "08:00", None),  # end is exclusive
    ("2027-01-15T12:30", LONDON, "12:00", "14:00", "2027-01-15T14:00"),  # a window inside one day
    ("2027-01-15T15:00", LONDON, "12:00", "14:00", None),
    ("2027-01-15T23:30", LONDON, "08:00", "08:00", None),  # equal: none
    # the contact's timezone, not the gateway's: 02:00 UTC is 21:00 in New York (winter, UTC-5)
    ("2027-01-16T02:00", NEW_YORK, "21:00", "08:00", "2027-01-16T13:00"),
    ("2027-01-15T13:00", NEW_YORK, "21:00", "08:00", None),
    # DST: London springs forward on 2027-03-28 at 01:00 UTC; the window still opens at 08:00 local (07:00 UTC)
    ("2027-03-28T00:30", LONDON, "21:00", "08:00", "2027-03-28T07:00"),
])
def test_quiet_until(now, tz, start, end, opens):
    now_dt = datetime.fromisoformat(now).replace(tzinfo=UTC)
    result = quiet_until(now_dt, tz, parse_hhmm(start), parse_hhmm(end))
    assert result == (datetime.fromisoformat(opens).replace(tzinfo=UTC) if opens else None)


@pytest.mark.parametrize("text", ["25:00", "9pm", "", "21:0", "21"])
def test_bad_time_of_day(text):
    with pytest.raises(ValueError, match="time of day"):
        parse_hhmm(text)


RULES = Rules(quiet_start=time(21), quiet_end=time(8), frequency_cap=2, frequency_days=7)
NIGHT = datetime(2027, 1, 15, 23, 0, tzinfo=UTC)
opted_in, opted_out, stop_all = ConsentState("opted_in"), ConsentState("opted_out", T0, "keyword"), ConsentState("opted_out_all", T0, "keyword")


@pytest.mark.parametrize("kind, source, state, sent, now, rules, action", [
    ("marketing", "api", opted_in, 0, T0, RULES, "send"),
    ("marketing", "api", ConsentState("none"), 0, T0, RULES, "suppress"),
    ("marketing", "api", ConsentState("pending"), 0, T0, RULES, "suppress"),
    ("marketing", "api", opted_out, 0, T0, RULES, "suppress"),
    ("marketing", "keyword", opted_out, 0, T0, RULES, "suppress"),  # marketing never slips through
    ("marketing", "api", opted_in, 2, T0, RULES, "suppress"),  # cap reached
    ("marketing", "api", opted_in, 1, T0, RULES, "send"),
    ("marketing", "api", opted_in, 0, NIGHT, RULES, "defer"),
    ("marketing", "api", opted_out, 0, NIGHT, RULES, "suppress"),  # opted out beats waiting
    ("transactional", "api", ConsentState("none"), 0, T0, RULES, "send"),
    ("transactional", "api", opted_out, 0, NIGHT, RULES, "send"),  # default: ignore STOP, quiet hours, caps
    ("transactional", "api", opted_in, 99, T0, RULES, "send"),
    ("transactional", "api", stop_all, 0, T0, RULES, "suppress"),  # STOPALL means everything
    ("transactional", "keyword", stop_all, 0, T0, RULES, "send"),  # ...but its own confirmation goes
    ("transactional", "api", opted_out, 0, T0, Rules(transactional_honour_stop=True), "suppress"),
    ("transactional", "api", stop_all, 0, T0, Rules(transactional_honour_stopall=False), "send"),
    ("transactional", "api", opted_in, 0, NIGHT, Rules(transactional_quiet_hours=True), "defer"),
    ("transactional", "keyword", opted_in, 0, NIGHT, Rules(transactional_quiet_hours=True), "send"),
    ("transactional", "api", opted_in, 3, T0, Rules(transactional_frequency_cap=3), "suppress"),
    ("marketing", "api", opted_in, 0, NIGHT, Rules(quiet_start=None, quiet_end=None), "send"),
    ("marketing", "api", opted_in, 50, T0, Rules(frequency_cap=0), "send"),
])
def test_decide(kind, source, state, sent, now, rules, action):
    verdict = decide(Facts(kind, source, state, sent, LONDON), rules, now)
    assert verdict.action == action, verdict
    if action == "defer":
        assert verdict.until is not None and verdict.until > now and verdict.until.tzinfo is not None
    if action == "suppress":
        assert verdict.reason
