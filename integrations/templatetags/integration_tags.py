"""Markup that pages of lower apps need from integrations (loaded, never imported)."""

from __future__ import annotations

from django import template
from django.urls import reverse

from integrations.models import Connection
from integrations.panel import panel_context

register = template.Library()


@register.inclusion_tag("integrations/_ticket_panel.html", takes_context=True)
def ticket_panel(context: template.Context, session) -> dict:
    """The session detail page's Ticket card: deliveries, Post to ticket, Retry."""
    may_act = session.may_change(context["request"].user)
    return {**panel_context(session, may_act=may_act), "csrf_token": context.get("csrf_token")}


@register.simple_tag
def ticket_lookup_url() -> str:
    """The lookup URL when a default PSA connection can answer it, else ""."""
    if Connection.objects.active().psa().filter(is_default=True).exists():
        return reverse("integrations:ticket-lookup")
    return ""
