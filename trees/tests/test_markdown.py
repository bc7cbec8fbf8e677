"""Node bodies: markdown rendered, then sanitised (nothing executable reaches the page)."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from trees.markdown import render_markdown


def test_it_renders_markdown():
    html = render_markdown("Check **Apps & features**.\n\n- one\n- two\n\n`ipconfig /all`")
    assert "<strong>Apps &amp; features</strong>" in html
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    assert "<code>ipconfig /all</code>" in html


def test_it_renders_fenced_code_and_tables():
    html = render_markdown(
        "```powershell\nGet-Service | Where Status -eq 'Stopped'\n```\n\n"
        "| Port | Use |\n|:--|--:|\n| 443 | TLS |"
    )
    assert "<pre><code>Get-Service | Where Status -eq 'Stopped'\n</code></pre>" in html
    assert "<table>" in html and "<th>Port</th>" in html and "<td>443</td>" in html
    assert "style=" not in html  # column alignment would need inline styles (CSP)


@pytest.mark.parametrize(
    "body",
    [
        "<script>alert('x')</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="#" onclick="alert(1)">x</a>',
        "[click](javascript:alert(1))",
        '<iframe src="https://evil.example"></iframe>',
        "<svg onload=alert(1)>",
        '<p style="background:url(javascript:alert(1))">x</p>',
        "<scr<script>ipt>alert(1)</script>",
    ],
)
def test_it_strips_anything_executable(body):
    html = render_markdown(body).lower()
    for needle in ("<script", "onerror", "onclick", "onload", "javascript:", "<iframe", "style="):
        assert needle not in html


def test_it_adds_rel_to_links_and_keeps_web_addresses():
    html = render_markdown("[Docs](https://learn.microsoft.com/) and <mailto:help@example.com>")
    assert '<a href="https://learn.microsoft.com/" rel="noopener noreferrer">Docs</a>' in html
    assert "mailto:" in html


def test_it_shifts_headings_below_the_page_headings():
    html = render_markdown("# Big\n\n## Smaller\n\n###### Tiny")
    assert "<h3>Big</h3>" in html and "<h4>Smaller</h4>" in html and "<h6>Tiny</h6>" in html
    assert "<h1" not in html and "<h2" not in html


def test_it_renders_nothing_for_an_empty_body():
    assert render_markdown("") == ""
    assert render_markdown("  \n ") == ""


def test_it_is_a_template_filter():
    template = Template("{% load trees_tags %}{{ body|markdown }}")
    html = template.render(Context({"body": "**bold** <script>x()</script>"}))
    assert html == "<p><strong>bold</strong> </p>"
    assert Template("{% load trees_tags %}{{ body|markdown }}").render(Context({})) == ""


def test_it_keeps_single_line_breaks():
    html = render_markdown("First line.\nSecond line.")
    assert "First line.<br" in html
    assert "Second line." in html


def test_it_starts_a_list_right_after_a_paragraph_line():
    html = render_markdown("Check:\n- the cable\n- the port\n\n```\nline\n- not a list\n```")
    assert "<ul>" in html
    assert html.count("<li>") == 2
    assert "- not a list" in html
