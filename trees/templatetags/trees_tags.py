"""Template helpers for trees: `{% load trees_tags %}{{ node.body|markdown }}`."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from trees.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str | None) -> SafeString:
    """Render markdown to sanitised HTML."""
    return render_markdown(text or "")
