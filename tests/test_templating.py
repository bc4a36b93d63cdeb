"""Templates are pure: table tests and a property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.outbound.templating import MissingVariable, TemplateError, contact_values, parse, placeholders, render


@pytest.mark.parametrize("template, values, text", [
    ("Your code is {code}", {"code": "123456"}, "Your code is 123456"),
    ("Привет, {first_name}! Скидка {pct}%", {"first_name": "Ольга", "pct": 20}, "Привет, Ольга! Скидка 20%"),
    ("مرحبا {name}", {"name": "أمل"}, "مرحبا أمل"),
    ("{{literal}} {x}", {"x": "y"}, "{literal} y"),
    ("no placeholders", {}, "no placeholders"),
    ("{a}{a}", {"a": "1"}, "11"),
])
def test_render(template, values, text):
    assert render(template, values) == text


@pytest.mark.parametrize("template", ["{", "}", "{a.b}", "{a[0]}", "{x:>10}", "{x!r}", "{0}", "{}", "{ x }"])
def test_broken_templates_are_refused(template):
    with pytest.raises(TemplateError):
        placeholders(template)


def test_every_missing_value_is_named():
    with pytest.raises(MissingVariable) as caught:
        render("Hi {name}, {code} at {shop}", {"code": "1"})
    assert caught.value.names == ["name", "shop"]
    assert str(caught.value) == "no value for {name}, {shop}"


def test_contact_values():
    assert contact_values("Amira Khalil", {"size": 42, "bad key": 1, "city": None}) == {
        "size": 42, "name": "Amira Khalil", "first_name": "Amira"}
    assert contact_values(None, None) == {}


@given(st.text())
def test_text_without_braces_renders_as_itself(text):
    plain = text.replace("{", "").replace("}", "")
    assert render(plain, {}) == plain


def test_a_name_of_only_whitespace_is_no_name():
    assert contact_values("  \t ", {"city": "Omsk"}) == {"city": "Omsk"}
    assert contact_values("  Olga  Petrova ", None) == {"name": "Olga  Petrova", "first_name": "Olga"}


@pytest.mark.parametrize("template, values, text", [
    ("Hi {first_name|friend}!", {}, "Hi friend!"),
    ("Hi {first_name|friend}!", {"first_name": "Ольга"}, "Hi Ольга!"),
    ("Hi {first_name|friend}!", {"first_name": "  "}, "Hi friend!"),
    ("مرحبا {first_name|صديقي}", {"first_name": "أمل"}, "مرحبا أمل"),
    ("你好{first_name|朋友}", {}, "你好朋友"),
    ("Sale in {city|}!", {}, "Sale in !"),
    ("{size|M: ask us!}", {}, "M: ask us!"),
    ("{{x|y}} {a|b}", {"a": 1}, "{x|y} 1"),
])
def test_fallbacks(template, values, text):
    assert render(template, values) == text


def test_a_fallback_does_not_hide_other_missing_values():
    with pytest.raises(MissingVariable) as caught:
        render("{first_name|friend} {code}", {})
    assert caught.value.names == ["code"]
    assert placeholders("{first_name|friend} {first_name} {code}") == ["first_name", "code"]


def test_a_parsed_template_renders_like_its_text():
    pieces = parse("Hi {first_name|friend}, {{ok}}")
    assert render(pieces, {"first_name": "Li"}) == render("Hi {first_name|friend}, {{ok}}", {"first_name": "Li"}) == "Hi Li, {ok}"


@pytest.mark.parametrize("template", ["{|x}", "{a b|x}", "{a|b{c}", "{a|" + "x" * 201 + "}"])
def test_broken_fallbacks_are_refused(template):
    with pytest.raises(TemplateError):
        placeholders(template)
