"""The campaigns' pure parts, table-tested: personal text and its parts, the footer, the window,
the ETA, the variant split."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from gateway.campaigns.footer import FOOTERS, footer_for, with_footer
from gateway.campaigns.personal import Body
from gateway.campaigns.split import variant_index
from gateway.campaigns.timing import Window, eta_seconds, sim_seconds
from gateway.consent.keywords import DEFAULTS, OPT_OUT, normalise
from gateway.outbound.limits import Limits
from modem.encoding import segment_info


@pytest.mark.parametrize("name, fields, language, text", [
    ("Olga Petrova", {}, "en", "Hi Olga, 20% off in Leeds"),
    (None, {"city": "Leeds"}, None, "Hi friend, 20% off in Leeds"),
    ("Ольга", {"city": "Омск"}, "ru", "Hi Ольга, 20% off in Омск"),
    ("أمل خليل", {}, "ar", "Hi أمل, 20% off in Leeds"),
    ("王芳", {}, "zh", "Hi 王芳, 20% off in Leeds"),
])
def test_placeholders_with_fallbacks_in_every_script(name, fields, language, text):
    body = Body("Hi {first_name|friend}, 20% off in {city|Leeds}", footer=False)
    personal = body.for_contact(name, fields, language)
    assert personal.text == text
    assert (personal.encoding, personal.parts) == (segment_info(text).encoding, segment_info(text).parts)


@pytest.mark.parametrize("language, footer", [("ru", "СТОП — отписаться"), ("ar-EG", FOOTERS["ar"]),
                                              ("zh_CN", FOOTERS["zh"]), ("en", FOOTERS["en"]), ("xx", FOOTERS["en"]),
                                              (None, FOOTERS["en"])])
def test_the_footer_is_in_the_contacts_language(language, footer):
    assert footer_for(language) == footer
    assert with_footer("Sale", language) == f"Sale\n{footer}"


def test_every_footer_names_an_opt_out_word_of_its_language():
    for language in ("en", "ru", "ar", "zh"):
        folded = normalise(FOOTERS[language])
        assert any(rule.word in folded for rule in DEFAULTS
                   if rule.action == OPT_OUT and rule.language == language), language


def test_the_footer_counts_in_the_parts():
    text = "x" * 150  # one part alone; with the footer two
    assert Body(text, footer=False).for_contact(None, {}, "en").parts == 1
    with_it = Body(text, footer=True).for_contact(None, {}, "en")
    assert with_it.parts == 2 == segment_info(with_it.text or "").parts
    assert with_it.text is not None and with_it.text.endswith("Reply STOP to opt out")


def test_a_value_that_forces_ucs2_or_an_extra_part_is_warned_about():
    body = Body("Hello {first_name|there}, our sale starts today!", footer=False)
    assert body.for_contact("Olga", {}, "en").warning is None
    ucs2 = body.for_contact("Ольга", {}, "ru")
    assert ucs2.encoding == "ucs2" and "{first_name} need UCS-2" in (ucs2.warning or "")
    long = Body("x" * 150 + " {city|}", footer=False).for_contact(None, {"city": "Llanfairpwllgwyngyll"}, "en")
    assert long.parts == 2 and "make 2 parts instead of 1" in (long.warning or "")


def test_a_missing_value_without_fallback_is_a_problem_not_a_text():
    personal = Body("Your size: {size}", footer=False).for_contact("Li", {}, "zh")
    assert personal.text is None and personal.problem == "no value for {size}"


LONDON, MOSCOW = ZoneInfo("Europe/London"), ZoneInfo("Europe/Moscow")


@pytest.mark.parametrize("start, end, at, tz, inside, opens", [
    ("10:00", "20:00", "2027-01-15T09:00Z", LONDON, False, "2027-01-15T10:00Z"),
    ("10:00", "20:00", "2027-01-15T09:00Z", MOSCOW, True, "2027-01-15T09:00Z"),  # 12:00 there
    ("10:00", "20:00", "2027-01-15T17:30Z", MOSCOW, False, "2027-01-16T07:00Z"),  # 20:30 there: tomorrow
    ("20:00", "02:00", "2027-01-15T23:00Z", LONDON, True, "2027-01-15T23:00Z"),
    ("20:00", "02:00", "2027-01-15T03:00Z", LONDON, False, "2027-01-15T20:00Z"),
    ("00:00", "00:00", "2027-01-15T03:00Z", LONDON, True, "2027-01-15T03:00Z"),
])
def test_the_window_is_in_the_contacts_zone(start, end, at, tz, inside, opens):
    window = Window(time.fromisoformat(start), time.fromisoformat(end))
    when = datetime.fromisoformat(at).astimezone(UTC)
    assert window.contains(when, tz) is inside
    assert window.opens(when, tz) == datetime.fromisoformat(opens)


def test_the_eta_is_the_slowest_sim_within_its_limits():
    limits = Limits(per_minute=6, per_hour=120, per_day=500, min_gap_s=2.0)
    assert sim_seconds(0, limits) == 0.0
    assert sim_seconds(1, limits) == 0.0
    assert sim_seconds(6, limits) == 10.0  # five gaps of 2 s
    assert sim_seconds(7, limits) == 60.0  # the seventh waits for the minute
    assert sim_seconds(121, limits) == 3600.0
    assert eta_seconds({"a": 7, "b": 1}, {"a": limits, "b": limits}) == 60.0
    assert eta_seconds({"a": 1}, {}) is None


def test_the_split_follows_the_weights_and_never_changes_its_mind():
    picks = Counter(variant_index(7, contact, [1, 3]) for contact in range(1, 4001))
    assert 900 < picks[0] < 1100 and 2900 < picks[1] < 3100
    assert [variant_index(7, c, [1, 3]) for c in range(50)] == [variant_index(7, c, [1, 3]) for c in range(50)]
    assert variant_index(7, 5, [1]) == 0
