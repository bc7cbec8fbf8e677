"""Markdown for node bodies: rendered with Python-Markdown, then sanitised with nh3.

Bodies are written by tree authors, but a tree file can come from anywhere
(an import), so the HTML is cleaned against an allow-list: no scripts, no event
handlers, no inline styles (the Content-Security-Policy forbids them anyway),
links limited to web and mail addresses and opened with rel="noopener noreferrer".
"""

from __future__ import annotations

import re

import markdown as markdown_lib
import nh3
from django.utils.safestring import SafeString, mark_safe

# nl2br: authors type bodies in a textarea and expect a line break to show.
EXTENSIONS = ["fenced_code", "tables", "sane_lists", "nl2br"]

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "ul",
    "ol",
    "li",
    "strong",
    "em",
    "b",
    "i",
    "code",
    "pre",
    "a",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "kbd",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"scope"}}
URL_SCHEMES = {"http", "https", "mailto"}

# A body's headings sit inside a page that already has h1 and h2: shift them
# down two levels so `# Heading` becomes an h3 and the page outline holds.
_HEADING = re.compile(r"<(/?)h([1-6])\b")


def _shift_heading(match: re.Match[str]) -> str:
    return f"<{match.group(1)}h{min(int(match.group(2)) + 2, 6)}"


_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,9}[.)])\s")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def _separate_lists(text: str) -> str:
    """Start a list even without a blank line before it, as authors used to
    GitHub expect (Python-Markdown would otherwise fold it into the paragraph)."""
    out: list[str] = []
    in_fence = False
    previous = ""
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        elif (
            not in_fence
            and _LIST_ITEM.match(line)
            and previous.strip()
            and not _LIST_ITEM.match(previous)
            and not previous.startswith((" ", "\t"))
        ):
            out.append("")
        out.append(line)
        previous = line
    return "\n".join(out)


def render_markdown(text: str) -> SafeString:
    """Safe HTML for a markdown `text` ("" for an empty one)."""
    if not text or not text.strip():
        return mark_safe("")
    html = markdown_lib.markdown(_separate_lists(text), extensions=EXTENSIONS, output_format="html")
    html = _HEADING.sub(_shift_heading, html)
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )
    return mark_safe(cleaned)  # sanitised by nh3 just above
