"""Project-wide template tags, built into every template (no `{% load %}` needed).

`{% options choices selected %}`: the `<option>`s of a long select from (value, label)
pairs (`resolutionflow.widgets.option_tags`).

`{{ user|display_name }}`: a person's full name, else their username
(`resolutionflow.users.display_name`).

`{{ session.started_at|html_datetime }}`: a moment for `<time datetime>` or a data-
attribute, to the millisecond (`resolutionflow.timestamps.html_datetime`); never
`|date:"c"`, whose microseconds HTML does not allow.

`{% icon "clock" %}`, `{% icon "play" class="icon-sm" %}`: an inline SVG icon (24×24,
stroked with currentColor, decorative: aria-hidden). Give the surrounding control its
own text or aria-label; icons never carry meaning alone.

A simple tag rather than a template include: the history page draws a few icons
on each of its 25 cards, and an include costs a template render each time.
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from resolutionflow import timestamps, users
from resolutionflow.widgets import option_tags

register = template.Library()

# The shapes inside each icon's <svg>, by name. Trusted markup written here.
ICONS = {
    "plus": '<path d="M12 5v14M5 12h14"/>',
    "play": '<path d="M7 4.5v15l12.5-7.5z"/>',
    "clock": '<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/>',
    "check": '<path d="M5 12.5l4.5 4.5L19 7.5"/>',
    "x": '<path d="M6 6l12 12M18 6L6 18"/>',
    "chevron-down": '<path d="M6 9l6 6 6-6"/>',
    "chevron-right": '<path d="M9 6l6 6-6 6"/>',
    "menu": '<path d="M4 7h16M4 12h16M4 17h16"/>',
    "logout": (
        '<path d="M15 4h3a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-3"/>'
        '<path d="M10 16l-4-4 4-4"/>'
        '<path d="M6 12h10"/>'
    ),
    "key": '<circle cx="8" cy="15" r="4"/><path d="M11 12l8-8M16 7l3 3M14 9l2 2"/>',
    "alert": (
        '<path d="M10.3 3.9L2.5 17.5A2 2 0 0 0 4.2 20.5h15.6a2 2 0 0 0 1.7-3'
        'L13.7 3.9a2 2 0 0 0-3.4 0z"/>'
        '<path d="M12 9v4M12 17h.01"/>'
    ),
    "info": '<circle cx="12" cy="12" r="9"/><path d="M12 11v5M12 8h.01"/>',
    "check-circle": '<circle cx="12" cy="12" r="9"/><path d="M8 12.5l2.5 2.5L16 9.5"/>',
    "x-circle": '<circle cx="12" cy="12" r="9"/><path d="M9 9l6 6M15 9l-6 6"/>',
    "copy": (
        '<rect x="9" y="9" width="11" height="11" rx="2"/>'
        '<path d="M5 15H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v1"/>'
    ),
    "arrow-right": '<path d="M5 12h14M13 6l6 6-6 6"/>',
    "arrow-left": '<path d="M19 12H5M11 6l-6 6 6 6"/>',
    "inbox": (
        '<path d="M3 13h5l1.5 3h5L16 13h5"/>'
        '<path d="M5.5 5h13L21 13v5a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-5z"/>'
    ),
    "tree": (
        '<circle cx="6" cy="5" r="2"/>'
        '<circle cx="6" cy="19" r="2"/>'
        '<circle cx="18" cy="12" r="2"/>'
        '<path d="M6 7v10M6 12h4a4 4 0 0 0 4-4V8M14 12h2"/>'
    ),
    "history": '<path d="M3 12a9 9 0 1 0 3-6.7L3 8"/><path d="M3 3v5h5M12 7v5l3 2"/>',
    "chart": '<path d="M4 20V10M10 20V4M16 20v-7M22 20H2"/>',
    "ticket": (
        '<path d="M3 8a2 2 0 0 0 2-2h14a2 2 0 0 0 2 2v8a2 2 0 0 0-2 2H5a2 2 0 0 0-2-2z"/>'
        '<path d="M10 6v12" stroke-dasharray="2 2"/>'
    ),
    "building": (
        '<rect x="4" y="3" width="16" height="18" rx="1"/>'
        '<path d="M9 7h1M14 7h1M9 11h1M14 11h1M9 15h1M14 15h1M10 21v-3h4v3"/>'
    ),
    "search": '<circle cx="11" cy="11" r="7"/><path d="M20 20l-4-4"/>',
    "lock": '<rect x="4" y="11" width="16" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/>',
    "user": '<circle cx="12" cy="8" r="4"/><path d="M4 21a8 8 0 0 1 16 0"/>',
    "calendar": (
        '<rect x="3" y="5" width="18" height="16" rx="2"/><path d="M3 10h18M8 3v4M16 3v4"/>'
    ),
    "compass": '<circle cx="12" cy="12" r="9"/><path d="M15.5 8.5l-2 5-5 2 2-5z"/>',
    "clipboard": (
        '<rect x="5" y="4" width="14" height="17" rx="2"/>'
        '<path d="M9 4V3h6v1M9 10h6M9 14h6M9 18h3"/>'
    ),
    "home": '<path d="M3 11l9-7 9 7"/><path d="M5 9.5V20h14V9.5"/>',
    "download": '<path d="M12 4v11M7 10l5 5 5-5M5 20h14"/>',
    "external": (
        '<path d="M14 4h6v6M20 4l-9 9M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5"/>'
    ),
    "refresh": '<path d="M20 11a8 8 0 0 0-14.9-3M4 5v4h4M4 13a8 8 0 0 0 14.9 3M20 19v-4h-4"/>',
    "filter": '<path d="M4 5h16l-6 8v5l-4 2v-7z"/>',
}
# Icons with their own CSS hook (app.js swaps copy/check on the copy buttons).
_EXTRA_CLASS = {"copy": " icon-copy", "check": " icon-check"}


@register.filter
def html_datetime(value) -> str:
    return timestamps.html_datetime(value)


@register.simple_tag
def icon(name: str, stroke: str = "2", **options: str) -> SafeString:
    """The icon `name`, with `class` added to its classes; an unknown name is an
    error, so a typo fails the tests rather than drawing nothing."""
    try:
        shapes = ICONS[name]
    except KeyError:
        raise template.TemplateSyntaxError(f"Unknown icon {name!r}.") from None
    extra = options.pop("class", "")
    if options:
        raise template.TemplateSyntaxError(f"Unknown icon option(s): {', '.join(options)}.")
    css = " ".join(filter(None, ["icon", extra])) + _EXTRA_CLASS.get(name, "")
    return format_html(
        '<svg class="{}" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
        'stroke-width="{}" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" '
        'focusable="false">{}</svg>',
        css,
        stroke,
        mark_safe(shapes),  # noqa: S308 - the constant markup above
    )


@register.simple_tag
def options(choices, selected: str = "") -> SafeString:
    """`{% options filters.engineer_choices filters.engineer %}`: an `<option>` per
    (value, label) pair, the one whose value is `selected` selected."""
    return option_tags(choices, [selected])


@register.filter
def display_name(user) -> str:
    """`{{ session.engineer|display_name }}` → "Alice Archer", or "alice" without a full name."""
    return users.display_name(user or None)
