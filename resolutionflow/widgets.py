"""Form widgets shared by the apps."""

from __future__ import annotations

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


class PlainSelect(forms.Select):
    """A single `<select>` of flat choices, written out in Python.

    Django's Select renders every `<option>` through a template of its own: a
    manager's filter lists (hundreds of engineers, dozens of trees) cost more
    than the rest of the history page. The markup is the same: the attributes
    the bound field passes (id, aria-invalid, aria-describedby) and the widget's
    own, then the options with the current value selected.
    """

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        final = self.build_attrs(self.attrs, {**(attrs or {}), "name": name})
        selected = {str(v) for v in self.format_value(value)}
        options = format_html_join(
            "\n",
            '<option value="{}"{}>{}</option>',
            (
                (key, " selected" if str(key) in selected else "", label)
                for key, label in self.choices
            ),
        )
        return format_html("<select{}>\n{}\n</select>", flatatt(final), options)
