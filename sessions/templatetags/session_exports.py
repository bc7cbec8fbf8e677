"""The Export panel's first render: `{% load session_exports %}`."""

from __future__ import annotations

from django import template

from sessions.models import Session
from sessions.views.exports import export_panel_context

register = template.Library()


@register.simple_tag
def export_panel(session: Session) -> dict:
    """What the panel shows when its page loads: the PSA note at standard detail.

    Switching format or detail asks the export URL over htmx, whose view
    renders the same panel (`sessions/_export_panel.html#panel`).
    """
    return export_panel_context(session)["export_panel"]
