"""The steps every console page takes with a form (a change only with a valid CSRF token, a destructive
one asked first, a refused form's status) and the one lookup of the domain's refusals in words."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask_wtf import FlaskForm
from jinja2 import DictLoader
from werkzeug.exceptions import NotFound
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired

from web.console.forms import confirm_page, form_status, require_posted
from web.console.labels import words_matching
from web.console.rows import or_404


class NameForm(FlaskForm):
    name = StringField(validators=[DataRequired()])
    submit = SubmitField()


@pytest.fixture
def client():
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test", WTF_CSRF_ENABLED=True)
    app.jinja_loader = DictLoader({"ask.html": "delete {{ what }}? {{ form.csrf_token }}"})
    done: list[str] = []

    @app.route("/thing/delete", methods=["GET", "POST"])
    def delete() -> object:
        asking = confirm_page(NameForm(), "ask.html", ask=False, what="the thing")
        if asking is not None:
            return asking
        done.append("deleted")
        return "deleted"

    @app.route("/thing/gone/delete", methods=["GET", "POST"])
    def delete_gone() -> object:
        asking = confirm_page(NameForm(), "ask.html", ask=True, what="nothing")
        return asking if asking is not None else "deleted"

    @app.route("/thing/ping", methods=["POST"])
    def ping() -> object:
        require_posted(NameForm())
        done.append("pinged")
        return "pinged"

    @app.route("/thing/new", methods=["GET", "POST"])
    def new() -> object:
        form = NameForm()
        if form.validate_on_submit():
            return "made"
        return "form", form_status(form, refused=422)

    app.done = done
    return app.test_client()


def token(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_a_destructive_action_asks_first_and_goes_on_only_with_a_valid_token(client):
    asked = client.get("/thing/delete")
    assert asked.status_code == 200 and "delete the thing?" in asked.get_data(as_text=True)
    assert client.application.done == []
    assert client.post("/thing/delete", data={"name": "x"}).status_code == 400
    assert client.application.done == []
    answer = client.post("/thing/delete", data={"name": "x", "csrf_token": token(client, "/thing/delete")})
    assert answer.get_data(as_text=True) == "deleted" and client.application.done == ["deleted"]


def test_an_action_that_no_longer_applies_is_asked_again_even_when_posted(client):
    answer = client.post("/thing/gone/delete", data={"name": "x", "csrf_token": token(client, "/thing/delete")})
    assert answer.status_code == 200 and "delete nothing?" in answer.get_data(as_text=True)


def test_a_post_without_its_token_changes_nothing(client):
    assert client.post("/thing/ping", data={"name": "x"}).status_code == 400
    assert client.application.done == []
    assert client.post("/thing/ping", data={"name": "x", "csrf_token": token(client, "/thing/delete")}).status_code == 200
    assert client.application.done == ["pinged"]


def test_a_form_page_is_200_when_shown_and_its_refusal_status_when_it_comes_back(client):
    assert client.get("/thing/new").status_code == 200
    assert client.post("/thing/new", data={"name": ""}).status_code == 422
    made = client.post("/thing/new", data={"name": "x", "csrf_token": token(client, "/thing/delete")})
    assert made.get_data(as_text=True) == "made"


def test_the_first_rule_found_in_the_sentence_gives_the_words():
    rules = ((re.compile(r"^opted out of all"), "everything"), (re.compile(r"^opted out"), "marketing"),
             (re.compile(r"frequency cap"), "cap"))
    assert words_matching(rules, "opted out of all messages") == "everything"
    assert words_matching(rules, "opted out (keyword)") == "marketing"
    assert words_matching(rules, "refused: frequency cap reached") == "cap"
    assert words_matching(rules, "not opted out") is None
    assert words_matching(rules, "something else", "the rules refuse it") == "the rules refuse it"
    assert words_matching(rules, None, "the rules refuse it") == "the rules refuse it"


def test_what_a_page_is_about_or_a_404():
    assert or_404(0) == 0
    with pytest.raises(NotFound):
        or_404(None)
