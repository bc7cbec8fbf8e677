"""Project-wide template tags and helpers (templatetags.ui, widgets, timestamps)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django import forms
from django.contrib.auth import get_user_model
from django.template import TemplateSyntaxError, engines
from django.utils import timezone

from resolutionflow.timestamps import html_datetime
from resolutionflow.users import display_name
from resolutionflow.widgets import PlainSelect


def render(source: str, **context) -> str:
    return engines["django"].from_string(source).render(context)


def test_icon_draws_a_decorative_svg_without_loading_anything():
    html = render('{% icon "play" class="icon-sm" %}')

    assert html.startswith('<svg class="icon icon-sm" viewBox="0 0 24 24"')
    assert 'aria-hidden="true" focusable="false"' in html
    assert '<path d="M7 4.5v15l12.5-7.5z"/></svg>' in html


def test_icon_keeps_the_copy_buttons_css_hooks():
    assert render('{% icon "copy" %}').startswith('<svg class="icon icon-copy"')
    assert render('{% icon "check" class="icon-sm" %}').startswith(
        '<svg class="icon icon-sm icon-check"'
    )


@pytest.mark.parametrize("source", ['{% icon "nope" %}', '{% icon "play" colour="red" %}'])
def test_icon_refuses_an_unknown_name_or_option(source):
    with pytest.raises(TemplateSyntaxError):
        render(source)


class PickForm(forms.Form):
    pick = forms.ChoiceField(
        required=False,
        choices=[("", "Any"), ("a", "Alpha & <b>"), ("b", "Beta")],
        widget=PlainSelect,
    )


def options(html: str) -> list[str]:
    return [line for line in html.splitlines() if line.startswith("<option")]


def test_plain_select_marks_the_current_value_and_escapes_labels():
    html = str(PickForm({"pick": "b"})["pick"])

    assert html.startswith('<select id="id_pick" name="pick">')
    assert options(html) == [
        '<option value="">Any</option>',
        '<option value="a">Alpha &amp; &lt;b&gt;</option>',
        '<option value="b" selected>Beta</option>',
    ]
    assert html.endswith("</select>")


def test_plain_select_keeps_the_attributes_of_a_field_in_error():
    form = PickForm({"pick": "zzz"})
    assert not form.is_valid()

    html = str(form["pick"])

    assert 'aria-invalid="true"' in html
    assert "selected" not in html  # an unknown value selects nothing


def test_plain_select_selects_the_initial_value_of_an_unbound_form():
    html = str(PickForm(initial={"pick": "a"})["pick"])

    assert '<option value="a" selected>' in html


def test_options_writes_escaped_pairs_and_selects_the_current_value():
    html = render(
        "{% options choices current %}",
        choices=[("alice", "Alice <A>"), ("b&b", "B & B"), (3, "Three")],
        current="b&b",
    )

    assert html.split("\n") == [
        '<option value="alice">Alice &lt;A&gt;</option>',
        '<option value="b&amp;b" selected>B &amp; B</option>',
        '<option value="3">Three</option>',
    ]
    assert "selected" not in render("{% options choices %}", choices=[("a", "A")])


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [("Alice", "Archer", "Alice Archer"), ("Alice", "", "Alice"), ("", "", "alice")],
    ids=["full-name", "first-name-only", "username"],
)
def test_display_name_is_the_full_name_else_the_username(first, last, expected):
    user = get_user_model()(username="alice", first_name=first, last_name=last)

    assert display_name(user) == expected
    assert render("{{ user|display_name }}", user=user) == expected


def test_display_name_of_no_user_lets_the_template_choose_its_words():
    assert display_name(None) == ""
    assert render('{{ gone|display_name|default:"a deleted user" }}', gone=None) == (
        "a deleted user"
    )
    assert render("{{ missing|display_name }}") == ""


def test_display_name_is_escaped_in_templates():
    user = get_user_model()(username="x", first_name="<b>Bo</b>")

    assert render("{{ user|display_name }}", user=user) == "&lt;b&gt;Bo&lt;/b&gt;"


def test_html_datetime_keeps_milliseconds_in_the_current_time_zone():
    moment = datetime(2026, 2, 10, 9, 15, 0, 123456, tzinfo=UTC)

    assert html_datetime(moment) == "2026-02-10T09:15:00.123+00:00"
    assert render("{{ moment|html_datetime }}", moment=moment) == "2026-02-10T09:15:00.123+00:00"
    with timezone.override(ZoneInfo("Europe/Berlin")):
        assert html_datetime(moment) == "2026-02-10T10:15:00.123+01:00"
    assert html_datetime(moment, ZoneInfo("America/New_York")) == "2026-02-10T04:15:00.123-05:00"


def test_html_datetime_of_no_moment_is_empty():
    assert html_datetime(None) == ""
    assert render("{{ gone|html_datetime }}", gone=None) == ""
