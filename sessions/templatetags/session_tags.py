"""Template helpers for the session pages: `{% load session_tags %}`."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from resolutionflow import clock
from resolutionflow.widgets import option_tags
from sessions import cards
from sessions.cards import LIVE_MARK, render_cards
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


class LiveNode(template.Node):
    """`{% live "name" [page] %}…{% endlive %}`: a part of a history card never reused
    from the cache.

    Rendered as usual, except while `sessions.cards` renders a card for the cache
    (`card_cache` in the context): then it leaves a marker, which `render_cards`
    replaces with this block rendered for the page that shows the card. `page`
    says the block renders the same for every card of a page (it uses the page's
    context, not the card's), so it is rendered once per page.
    """

    child_nodelists = ("nodelist",)

    def __init__(self, name: str, nodelist: template.NodeList, *, per_page: bool) -> None:
        self.name = name
        self.nodelist = nodelist
        self.per_page = per_page

    def render(self, context: template.Context) -> str:
        if context.get("card_cache"):
            return LIVE_MARK.format(self.name)
        return self.nodelist.render(context)


@register.tag
def live(parser: template.base.Parser, token: template.base.Token) -> LiveNode:
    bits = token.split_contents()
    usage = '{% live "name" %} or {% live "name" page %}'
    if len(bits) not in (2, 3) or bits[1][0] not in "\"'" or bits[1][0] != bits[1][-1]:
        raise template.TemplateSyntaxError(f"{usage}: the name is quoted")
    if len(bits) == 3 and bits[2] != "page":
        raise template.TemplateSyntaxError(f"{usage}: {bits[2]!r} is neither")
    name = bits[1][1:-1]
    if not name or not all(c.islower() or c == "-" for c in name):
        raise template.TemplateSyntaxError(f"{{% live %}} names are lower-case words: {name!r}")
    nodelist = parser.parse(("endlive",))
    parser.delete_first_token()
    return LiveNode(name, nodelist, per_page=len(bits) == 3)


@register.simple_tag(takes_context=True)
def active_counter(context: template.Context, session: Session) -> SafeString:
    """`{% active_counter s %}`: a running session's active time so far, which app.js
    keeps counting. Rendered for the cache (a card, a history page) it is a clock
    marker instead, filled in with the time at each load (sessions.cards)."""
    origin = session.clock_origin
    if context.get("card_cache") or context.get("page_cache"):
        return cards.clock_mark(origin)
    return cards.active_counter(origin, clock.now())


@register.simple_tag(takes_context=True)
def session_cards(context: template.Context, sessions) -> SafeString:
    """`{% session_cards page.object_list %}`: the history's cards, each in an `<li>`,
    from the shared cache where they can be (sessions.cards)."""
    return format_html_join(
        "\n", "<li>{}</li>", ((card,) for card in render_cards(context, sessions))
    )


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
