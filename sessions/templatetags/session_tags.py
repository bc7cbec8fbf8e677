"""Template helpers for the session pages: `{% load session_tags %}`."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.safestring import SafeString

from resolutionflow.widgets import option_tags
from sessions.formatting import format_duration
from sessions.models import Session

register = template.Library()


@register.filter(name="duration")
def duration(value: int | float | timedelta | None) -> str:
    """`{{ step.duration_seconds|duration }}` → "2m 30s", "1h 04m", "45s"."""
    try:
        return format_duration(value)
    except (TypeError, ValueError):
        return ""


@register.simple_tag(takes_context=True)
def session_start_form(context: template.Context, tree):
    """The Start form for `tree`: the bound form being re-shown, or a fresh one.

    A fresh form is pre-filled from the deep link's `ticket`, `client` and
    `summary` query parameters. It carries a new `session_id`, so submitting the same rendered
    form twice (double click, resend) finds the session the first submit made.
    """
    from sessions.forms import StartForm

    form = context.get("start_form")
    if form is not None:
        return form
    # The deep link for a button in the PSA: /trees/<slug>/?ticket=…&client=…&summary=…
    request = context.get("request")
    query = request.GET if request is not None else {}
    initial = {
        field: query.get(param, "")[: StartForm.base_fields[field].max_length].replace("\x00", "")
        for param, field in (("ticket", "ticket_ref"), ("client", "client"), ("summary", "summary"))
        if query.get(param)
    }
    return StartForm(initial=initial)


@register.simple_tag
def outcome_options(outcomes, selected: str = "") -> SafeString:
    """The `<option>`s of an outcome select (the close popover on every active
    history card): written out in Python, as a page may carry 25 of them."""
    return option_tags(((o.code, o.label) for o in outcomes), [selected])


@register.inclusion_tag("sessions/_active_sessions_banner.html", takes_context=True)
def active_sessions_banner(context: template.Context) -> dict:
    """`{% active_sessions_banner %}`: the signed-in user's active sessions, to resume.

    A tag of sessions so that a page of an app below it (the tree library)
    shows the banner without that app importing sessions.
    """
    return {
        "active_sessions": Session.objects.active_for(context["request"].user).select_related(
            "tree"
        )
    }
