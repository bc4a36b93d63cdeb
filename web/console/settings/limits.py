"""/settings/limits: the sending rules (limits per SIM, quiet hours, frequency cap), editable by
admins. The config file's values are the defaults; a value saved here wins over the file's until it
is reset, reaches the running workers at their next claim (gateway.settings), and is audited.
The per-modem limits stay the file's, shown read-only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm

from gateway.settings import store
from gateway.settings.keys import (
    LIMIT_FIELDS, Invalid, config_sims, consent_key, defaults, effective_consent, sim_limit_key,
)
from web.console.security import admin_required, client_address
from web.context import WebContext

# the domain's error codes (gateway.settings.keys.MESSAGES), in the user's language
ERRORS = {
    "time": lazy_gettext("Enter a time as HH:MM, e.g. 21:00."),
    "days": lazy_gettext("Enter a number of days from 0 to 366."),
    "days_for_cap": lazy_gettext("With a cap, the days must be more than 0."),
    "count": lazy_gettext("Enter a whole number from 0 to 10,000,000 (0: no limit)."),
    "order": lazy_gettext("Must be at least the limit of the shorter window (%(n)s)."),
    "unknown": lazy_gettext("This setting cannot be changed here."),
}
LABELS = {
    "quiet_hours_start": lazy_gettext("Quiet hours start"),
    "quiet_hours_end": lazy_gettext("Quiet hours end"),
    "frequency_cap": lazy_gettext("Marketing messages per contact (0: no cap)"),
    "frequency_days": lazy_gettext("In how many days"),
    "per_minute": lazy_gettext("Per minute"),
    "per_hour": lazy_gettext("Per hour"),
    "per_day": lazy_gettext("Per day"),
    "per_month": lazy_gettext("Per month"),
}
CONSENT_FIELDS = ("quiet_hours_start", "quiet_hours_end", "frequency_cap", "frequency_days")


class SaveForm(FlaskForm):
    """Its CSRF token only: the fields are the settings in force, named by their keys."""


class ResetForm(FlaskForm):
    pass


@dataclass(frozen=True)
class Field:
    id: str
    key: str
    label: str
    value: str
    file_value: Any
    override: store.Override | None
    error: str | None
    kind: str  # time | count | days
    file_key: str  # where the file sets it


def _fields(keys: list[str], names: list[str], prefix: str, values: dict[str, Any], file: dict[str, Any],
            overrides: dict[str, store.Override], errors: dict[str, str]) -> list[Field]:
    kinds = {"quiet_hours_start": "time", "quiet_hours_end": "time", "frequency_days": "days"}
    return [Field(f"{prefix}-{name}", key, str(LABELS[name]), _shown(values[key]), file[key], overrides.get(key),
                  errors.get(key), kinds.get(name, "count"),
                  f"[consent] {name}" if prefix == "consent" else f"[sims.limits] {name}")
            for key, name in zip(keys, names)]


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def register(blueprint: Blueprint, context: WebContext) -> None:
    def page(values: dict[str, Any] | None = None, errors: dict[str, str] | None = None, status: int = 200) -> Any:
        config = context.config
        file = defaults(config)
        overrides = {k: o for k, o in store.overrides(context.sessions).items() if k in file}
        shown = {**store.in_force(context.sessions, config), **(values or {})}
        errors = errors or {}
        consent = _fields([consent_key(n) for n in CONSENT_FIELDS], list(CONSENT_FIELDS), "consent", shown, file,
                          overrides, errors)
        sims = [(sim, _fields([sim_limit_key(sim, f) for f in LIMIT_FIELDS], list(LIMIT_FIELDS), f"sim{i}", shown,
                              file, overrides, errors))
                for i, sim in enumerate(config_sims(config))]
        return render_template("console/settings/limits.html", form=SaveForm(), reset_form=ResetForm(),
                               source=config.source, modems=config.modems, consent=consent, sims=sims,
                               changed=[(o, file[o.key]) for o in overrides.values()],
                               labels=_key_labels(config), has_errors=bool(errors),
                               sim_names={sim: sim.replace("iccid:", "ICCID ").replace("imsi:", "IMSI ")
                                          for sim in config_sims(config)},
                               in_force=effective_consent(config.consent, {k: o.value for k, o in overrides.items()})), status

    @blueprint.route("/settings/limits", methods=["GET", "POST"], endpoint="settings_limits")
    @admin_required
    def limits_page() -> Any:
        if request.method == "GET":
            return page()
        form = SaveForm()
        if not form.validate():
            return page(status=400)
        wanted = set(defaults(context.config))
        values = {k: v for k, v in request.form.items() if k in wanted}
        try:
            changed = store.change(context.sessions, context.clock, context.config, values,
                                   actor=current_user.account.name, address=client_address())
        except Invalid as invalid:
            errors = {k: str(ERRORS[code]) % params if params else str(ERRORS[code])
                      for k, (code, params) in invalid.errors.items()}
            return page(values, errors, 400)
        if changed:
            flash(gettext("Saved: the workers use the new values from their next message."), "info")
        else:
            flash(gettext("Nothing changed."), "info")
        return redirect(url_for("console.settings_limits"))

    @blueprint.route("/settings/limits/reset", methods=["POST"], endpoint="settings_limits_reset")
    @admin_required
    def reset() -> Any:
        form = ResetForm()
        key = request.form.get("key", "")
        if not form.validate() or key not in defaults(context.config):
            return page(status=400)
        if store.reset(context.sessions, context.clock, key, actor=current_user.account.name,
                       address=client_address()):
            flash(gettext("Back to the configuration file's value."), "info")
        return redirect(url_for("console.settings_limits"))


def _key_labels(config: Any) -> dict[str, tuple[str | None, str]]:
    """A key in words (its SIM, if any, and its label), for the list of values changed here."""
    labels: dict[str, tuple[str | None, str]] = {consent_key(n): (None, str(LABELS[n])) for n in CONSENT_FIELDS}
    for sim in config_sims(config):
        for f in LIMIT_FIELDS:
            labels[sim_limit_key(sim, f)] = (sim, str(LABELS[f]))
    return labels
