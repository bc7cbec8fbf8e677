"""Form widgets shared by the apps."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


def option_tags(choices: Iterable[tuple[object, object]], selected: Iterable = ()) -> SafeString:
    """`<option>`s for (value, label) pairs, those whose value is in `selected`
    selected; values and labels escaped. Long lists (hundreds of engineers) are
    written here rather than through a template or widget include per option."""
    chosen = {str(value) for value in selected}
    return format_html_join(
        "\n",
        '<option value="{}"{}>{}</option>',
        ((value, " selected" if str(value) in chosen else "", label) for value, label in choices),
    )


class PlainSelect(forms.Select):
    """A single `<select>` of flat choices, written out in Python.

    Django's Select renders every `<option>` through a template of its own: a
    manager's filter lists (hundreds of engineers, dozens of trees) cost more
    than the rest of the history page. The markup is the same: the attributes
    the bound field passes (id, aria-invalid, aria-describedby) and the widget's
    own, then the options with the current value selected.
    """

    # The options already written out with nothing selected, when the caller
    # has them (sessions.filters.OptionList): used while nothing is selected.
    markup: str | None = None

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        final = self.build_attrs(self.attrs, {**(attrs or {}), "name": name})
        selected = self.format_value(value)
        if self.markup is not None and selected == [""]:
            options = SafeString(self.markup)
        else:
            options = option_tags(self.choices, selected)
        return format_html("<select{}>\n{}\n</select>", flatatt(final), options)
