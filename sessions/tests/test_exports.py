"""Exports (SPEC §5): six formats over one data structure, the views, the manager CSVs.

Golden files: `sessions/tests/golden/` holds the expected output of a fixed
session (built with the `clock` fixture, so every time is known) in every
format at both detail levels. After an intended change to an export, rewrite
them with

    UPDATE_GOLDEN=1 bin/test sessions/tests/test_exports.py

and review the diff before committing it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import markdown
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sessions import exports, services
from sessions.models import Decision, Session
from sessions.tests.factories import build_version, outcome

pytestmark = pytest.mark.django_db

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
SESSION_ID = uuid.UUID("5e551011-0000-4000-8000-000000001042")
ACTIVE_ID = uuid.UUID("5e551011-0000-4000-8000-000000002001")

HOSTILE_NOTES = "# Heading\n| a | b |\n|---|---|\n<script>alert(1)</script>"
SCRATCHPAD = (
    "VPN gateway: vpn.example.com (10.0.0.1)\n"
    "\n"
    "    indented line\n"
    "=cmd|' /C calc'!A0\n"
    "-- not a list\n"
    "===\n"
    "&copy; [link](http://evil.example) ![img](x.png) <b>bold</b>"
)


def _advance_and_answer(session: Session, clock, seconds: float, label: str, notes: str = ""):
    step = session.decisions.get(exited_at__isnull=True)
    clock.advance(seconds)
    if step.node_kind == "action":
        return services.decision_done(session=session, decision_id=step.pk, notes=notes)
    choice = step.node.choices.get(label=label)
    return services.decision_answer(
        session=session, decision_id=step.pk, choice_id=choice.pk, notes=notes
    )


def build_golden_session(engineer, clock, *, session_id=SESSION_ID, complete=True) -> Session:
    """The fixed session of the golden files: a loop, a Back, hostile notes, an outcome."""
    version = build_version()
    engineer.first_name, engineer.last_name = "Alice", "Ærøskøbing"
    engineer.save(update_fields=["first_name", "last_name"])
    session = services.session_create(
        tree=version.tree,
        engineer=engineer,
        ticket_ref="T-1042",
        client="Acme | Café *Ltd*",
        summary="User can't connect to the VPN from home.\n+ since Monday",
        session_id=session_id,
    )
    _advance_and_answer(session, clock, 150.4, "Yes", HOSTILE_NOTES)
    _advance_and_answer(session, clock, 95, "Done", "=SUM(A1)\n@cmd /c calc")
    _advance_and_answer(session, clock, 40, "No", "Still failing — error 809 🙁")
    # At client-installed again: that was the wrong answer, go back.
    step = session.decisions.get(exited_at__isnull=True)
    clock.advance(12)
    services.decision_back(session=session, decision_id=step.pk, notes="1. wrong branch")
    long_note = (
        "Connected after the reset; the user confirmed they can reach the file server, the "
        "intranet and the ticketing portal. Reference: "
        "https://kb.example.com/articles/vpn/reset-credentials-for-remote-workers-0001234567890"
    )
    _advance_and_answer(session, clock, 30, "Yes", long_note)
    services.session_save_scratchpad(session=session, text=SCRATCHPAD)
    if complete:
        clock.advance(20.6)
        services.session_complete(
            session=session,
            outcome=outcome("resolved"),
            by=engineer,
            outcome_notes="Reset the VPN credentials.\n- verified from home",
            next_steps="Monitor for 48h; close if quiet.",
        )
    return Session.objects.select_related("tree", "version", "engineer", "outcome").get(
        pk=session.pk
    )


@pytest.fixture
def golden_session(alice, clock):
    return build_golden_session(alice, clock)


@pytest.fixture
def active_session(alice, clock):
    session = build_golden_session(alice, clock, session_id=ACTIVE_ID, complete=False)
    clock.advance(65)
    return session


def golden_name(kind: str, fmt: str, detail: str) -> str:
    return f"{kind}-{detail}.{exports.EXPORT_FORMATS[fmt].extension}"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    assert path.exists(), f"{name} is missing: run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_bytes().decode("utf-8"), f"{name} differs"


# --- golden files -------------------------------------------------------------------


@pytest.mark.parametrize("detail", exports.DETAILS)
@pytest.mark.parametrize("fmt", exports.FORMATS)
def test_it_renders_the_completed_session_like_the_golden_file(golden_session, fmt, detail):
    data = exports.export_data(golden_session, detail=detail)

    assert_golden(golden_name("completed", fmt, detail), exports.render(data, fmt))


@pytest.mark.parametrize("fmt", exports.FORMATS)
def test_it_renders_the_active_session_like_the_golden_file(active_session, fmt):
    data = exports.export_data(active_session, detail="standard")

    assert_golden(golden_name("active", fmt, "standard"), exports.render(data, fmt))


# --- the shared data ----------------------------------------------------------------


def test_it_lists_the_path_in_standard_and_every_record_in_full(golden_session):
    standard = exports.export_data(golden_session)
    full = exports.export_data(golden_session, detail="full")

    assert [s.node_key for s in standard.steps] == [
        "client-installed",
        "reset-creds",
        "works-now",
        "done",
    ]
    assert [s.seq for s in standard.steps] == [1, 2, 5, 6]
    assert [s.number for s in standard.steps] == [1, 2, 3, 4]
    assert [s.seq for s in full.steps] == [1, 2, 3, 4, 5, 6]
    assert [s.marker for s in full.steps] == ["", "", "undone", "backtracked", "", ""]
    # Step durations add up to the total (SPEC §3 rule 5), here exactly.
    assert sum(s.duration_seconds for s in full.steps) == full.duration_seconds == 348


def test_it_reads_the_steps_in_one_query_with_the_session_preselected(
    golden_session, django_assert_num_queries
):
    # The steps, and the audit of changes (pauses and hand-offs only when there are any).
    with django_assert_num_queries(2):
        data = exports.export_data(golden_session, detail="full")
    for fmt in exports.FORMATS:
        with django_assert_num_queries(0):
            exports.render(data, fmt)


# --- the JSON contract ----------------------------------------------------------------

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
SESSION_KEYS = [
    "format",
    "id",
    "tree",
    "engineer",
    "ticket_ref",
    "client",
    "summary",
    "status",
    "started_at",
    "completed_at",
    "duration_seconds",
    "active_seconds",
    "outcome",
    "outcome_notes",
    "next_steps",
    "scratchpad",
    "pauses",
    "handoffs",
    "changes",
    "steps",
]
STEP_KEYS = [
    "seq",
    "node_key",
    "node_kind",
    "title",
    "answer",
    "notes",
    "entered_at",
    "exited_at",
    "duration_seconds",
    "active_seconds",
    "engineer",
    "exit",
    "undone",
]


def assert_contract(doc: dict) -> None:
    """The JSON export of SPEC §5: exact keys in order, and their types."""
    assert list(doc) == SESSION_KEYS
    assert doc["format"] == "resolutionflow/session@1"
    uuid.UUID(doc["id"])
    assert list(doc["tree"]) == ["slug", "name", "version"]
    assert isinstance(doc["tree"]["slug"], str) and isinstance(doc["tree"]["name"], str)
    assert type(doc["tree"]["version"]) is int
    for key in ("engineer", "ticket_ref", "client", "summary", "outcome_notes", "next_steps"):
        assert isinstance(doc[key], str), key
    assert isinstance(doc["scratchpad"], str)
    assert doc["status"] in {"prepared", "active", "completed"}
    assert doc["started_at"] is None or TIMESTAMP.match(doc["started_at"])
    if doc["status"] == "completed":
        assert TIMESTAMP.match(doc["completed_at"])
        assert type(doc["duration_seconds"]) is int
        assert list(doc["outcome"]) == ["code", "label", "kind"]
        assert all(isinstance(v, str) for v in doc["outcome"].values())
    else:
        assert doc["completed_at"] is None
        assert doc["duration_seconds"] is None
        assert doc["outcome"] is None
    for step in doc["steps"]:
        assert list(step) == STEP_KEYS
        assert type(step["seq"]) is int
        for key in ("node_key", "node_kind", "title", "answer", "notes"):
            assert isinstance(step[key], str), key
        assert TIMESTAMP.match(step["entered_at"])
        assert type(step["undone"]) is bool
        if step["exited_at"] is None:
            assert step["duration_seconds"] is None and step["exit"] is None
        else:
            assert TIMESTAMP.match(step["exited_at"])
            assert type(step["duration_seconds"]) is int
            assert step["exit"] in {"answered", "backtracked", "session_closed"}


@pytest.mark.parametrize("detail", exports.DETAILS)
def test_it_exports_json_that_keeps_the_contract(golden_session, detail):
    doc = json.loads(exports.render(exports.export_data(golden_session, detail=detail), "json"))

    assert_contract(doc)
    assert doc["id"] == str(SESSION_ID)
    assert doc["tree"] == {"slug": "vpn", "name": "VPN won't connect", "version": 1}
    assert doc["engineer"] == "alice"
    assert doc["started_at"] == "2026-02-10T09:15:00.123456Z"
    assert doc["completed_at"] == "2026-02-10T09:20:48.123456Z"
    assert doc["duration_seconds"] == 348
    assert doc["outcome"] == {"code": "resolved", "label": "Resolved", "kind": "success"}
    assert doc["steps"][0]["notes"] == HOSTILE_NOTES
    assert doc["steps"][0]["duration_seconds"] == 150
    assert len(doc["steps"]) == (4 if detail == "standard" else 6)


def test_it_exports_an_active_session_as_json_with_the_open_step_open(active_session):
    doc = json.loads(exports.render(exports.export_data(active_session, detail="full"), "json"))

    assert_contract(doc)
    assert doc["status"] == "active"
    last = doc["steps"][-1]
    assert (last["node_key"], last["exited_at"], last["duration_seconds"]) == ("done", None, None)
    assert last["exit"] is None and last["undone"] is False
    assert [s["undone"] for s in doc["steps"]] == [False, False, True, False, False, False]
    assert doc["steps"][3]["exit"] == "backtracked"


def test_it_exports_a_prepared_session(alice, charlie, clock):
    version = build_version()
    session = services.session_prepare(tree=version.tree, engineer=alice, by=charlie)
    data = exports.export_data(session)

    doc = json.loads(exports.render(data, "json"))
    assert_contract(doc)
    assert (doc["status"], doc["started_at"], doc["steps"]) == ("prepared", None, [])
    assert "Not started" in exports.render(data, "text")
    assert "No steps recorded yet." in exports.render(data, "psa")


# --- the CSV --------------------------------------------------------------------------


def parse_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("detail", exports.DETAILS)
def test_it_exports_csv_that_parses_back_to_the_same_values(golden_session, detail):
    data = exports.export_data(golden_session, detail=detail)
    text = exports.render(data, "csv")

    assert text.startswith(",".join(exports.SESSION_CSV_COLUMNS) + "\r\n")
    rows = parse_csv(text)
    assert len(rows) == len(data.steps)
    for row, step in zip(rows, data.steps, strict=True):
        assert row["session_id"] == str(SESSION_ID)
        assert row["tree"] == "vpn" and row["tree_name"] == "VPN won't connect"
        assert row["client"] == "Acme | Café *Ltd*"
        assert row["engineer"] == "alice"
        assert row["status"] == "completed" and row["outcome"] == "resolved"
        assert row["session_duration_seconds"] == "348"
        assert row["started_at"] == "2026-02-10T09:15:00.123456Z"
        assert int(row["seq"]) == step.seq
        assert row["node_key"] == step.node_key
        assert row["title"] == step.title
        assert row["answer"] == step.answer
        assert row["entered_at"] == exports.iso_utc(step.entered_at)
        assert row["exited_at"] == exports.iso_utc(step.exited_at)
        assert int(row["duration_seconds"]) == step.duration_seconds
        assert row["exit"] == step.exit
        assert row["undone"] == ("true" if step.undone else "false")
        assert row["scratchpad"] == SCRATCHPAD
        # Only formula starts are changed: every other note comes back as written.
        expected = "'" + step.notes if step.notes[:1] in ("=", "+", "-", "@") else step.notes
        assert row["notes"] == expected
    assert rows[0]["notes"] == HOSTILE_NOTES
    assert rows[1]["notes"] == "'=SUM(A1)\n@cmd /c calc"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (12, 12),
        (True, "true"),
    ],
)
def test_it_neutralises_spreadsheet_formulas_in_csv_cells(value, cell):
    assert exports.csv_cell(value) == cell


# --- escaping in the human formats ----------------------------------------------------


def test_it_keeps_markdown_structure_out_of_user_text(golden_session):
    text = exports.render(exports.export_data(golden_session, detail="full"), "markdown")
    html = markdown.markdown(text, extensions=["tables"])

    # One heading per section of ours; none from "# Heading" in the notes.
    assert re.findall(r"<h1>", html) == ["<h1>"]
    assert "<h1>Heading" not in html and "<h2>Heading" not in html
    assert "<table" not in html
    assert "<a " not in html and "<img" not in html
    assert "<script" not in html and "<b>" not in html
    assert "<em>Ltd</em>" not in html and "<blockquote>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "# Heading" in html and "| a | b |" in html


@pytest.mark.parametrize(
    ("line", "escaped"),
    [
        ("# Heading", r"\# Heading"),
        ("| a | b |", r"\| a \| b \|"),
        ("[x](http://e)", r"\[x\](http://e)"),
        ("![i](x.png)", r"!\[i\](x.png)"),
        ("*bold* _it_ `code`", r"\*bold\* \_it\_ \`code\`"),
        ("<script>", "&lt;script>"),
        ("</b><!-- x --><http://e>", "&lt;/b>&lt;!-- x -->&lt;http://e>"),
        ("a < b", "a < b"),
        ("&copy; & more", "&amp;copy; & more"),
        ("- item", r"\- item"),
        ("+ item", r"\+ item"),
        ("> quote", r"\> quote"),
        ("1. first", r"1\. first"),
        ("2) second", r"2\) second"),
        ("===", "&#61;=="),
        ("    code", "code"),
        (r"back\slash {x}", r"back\\slash \{x\}"),
        ("plain text, 3.5 - 1 = 2.5!", "plain text, 3.5 - 1 = 2.5!"),
    ],
)
def test_it_escapes_markdown_special_characters(line, escaped):
    assert exports.markdown_escape(line) == escaped


def test_it_escapes_everything_in_the_html_export(golden_session):
    html = exports.render(exports.export_data(golden_session), "html")

    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "style" not in html


def test_it_wraps_the_psa_note_at_100_columns(golden_session):
    text = exports.render(exports.export_data(golden_session, detail="full"), "psa")

    for line in text.splitlines():
        # Only a single word longer than the width (a URL) may overflow.
        assert len(line) <= 100 or " " not in line.strip(), line
    assert "https://kb.example.com/articles/vpn/reset-credentials" in text
    assert "**" not in text and "##" not in text


def _psa_with_first_title(session, title: str) -> list[str]:
    data = exports.export_data(session, detail="full")
    steps = (replace(data.steps[0], title=title), *data.steps[1:])
    return exports.render(replace(data, steps=steps), "psa").splitlines()


def test_it_keeps_a_steps_duration_with_the_word_before_it_in_the_psa_note(golden_session):
    # "1. " + 89 characters + " — Yes" is 98 columns: "(2m 30s)" used to start the next line.
    lines = _psa_with_first_title(golden_session, "T" * 40 + " " + "i" * 48)
    start = lines.index("Steps:") + 1
    assert lines[start : start + 2] == ["1. " + "T" * 40 + " " + "i" * 48 + " —", "   Yes (2m 30s)"]


@pytest.mark.parametrize("length", range(60, 200, 7), ids=lambda n: f"title-{n}")
def test_it_never_starts_a_psa_line_with_a_duration(golden_session, length):
    words = ("Check the gateway certificate " * 10)[:length].strip()
    for line in _psa_with_first_title(golden_session, words):
        assert not line.strip().startswith("("), line
        assert len(line) <= exports.PSA_WIDTH, line
    assert "\0" not in "".join(_psa_with_first_title(golden_session, words))


# --- active sessions, upto, timestamps ------------------------------------------------


@pytest.mark.parametrize("fmt", ["markdown", "text", "html", "psa"])
def test_it_marks_an_active_export_in_progress_with_the_open_steps_time(active_session, fmt):
    text = exports.render(exports.export_data(active_session), fmt)

    assert "In progress — exported at 2026-02-10 09:21 UTC" in text
    # The open step (entered 09:20:27.5, exported 09:21:32.5) has run 1m 05s.
    assert "Credentials reset fixed it" in text
    assert "1m 05s so far" in text


def test_it_keeps_only_the_first_steps_with_upto(golden_session):
    data = exports.export_data(golden_session, upto=2)

    assert [s.node_key for s in data.steps] == ["client-installed", "reset-creds"]
    assert data.total_steps == 4
    assert "Steps (first 2 of 4)" in exports.render(data, "text")
    assert (
        exports.export_data(golden_session, upto=99).steps
        == exports.export_data(golden_session).steps
    )


def test_it_shows_human_times_in_the_configured_time_zone(golden_session, settings):
    settings.TIME_ZONE = "Europe/Paris"
    text = exports.render(exports.export_data(golden_session, detail="full"), "text")

    assert "Started:        2026-02-10 10:15 CET" in text
    assert "Entered 2026-02-10 10:15:00 CET" in text
    # Machine formats stay in UTC.
    assert '"started_at": "2026-02-10T09:15:00.123456Z"' in exports.render(
        exports.export_data(golden_session), "json"
    )


def test_it_names_the_download_after_ticket_and_tree(golden_session, alice, clock):
    data = exports.export_data(golden_session)
    assert exports.filename(data, "markdown") == "T-1042-vpn.md"
    assert exports.filename(data, "psa") == "T-1042-vpn.psa.txt"

    odd = Session.objects.select_related("tree", "version", "engineer", "outcome").get(
        pk=services.session_create(
            tree=golden_session.tree, engineer=alice, ticket_ref="../../etc/passwd #1"
        ).pk
    )
    assert exports.filename(exports.export_data(odd), "csv") == "etc-passwd-1-vpn.csv"


# --- the export view -------------------------------------------------------------------

CONTENT_TYPES = {
    "markdown": "text/markdown; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "psa": "text/plain; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
}


def export_url(session: Session, fmt: str) -> str:
    return reverse("sessions:export", args=[session.pk, fmt])


@pytest.mark.parametrize("fmt", exports.FORMATS)
def test_it_serves_each_format_with_its_content_type(alice_client, golden_session, fmt):
    response = alice_client.get(export_url(golden_session, fmt), {"detail": "full"})

    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPES[fmt]
    assert "Content-Disposition" not in response
    expected = exports.render(exports.export_data(golden_session, detail="full"), fmt)
    assert response.content.decode() == expected


def test_it_offers_a_download_with_a_filename(alice_client, golden_session):
    response = alice_client.get(export_url(golden_session, "markdown"), {"download": "1"})

    assert response["Content-Disposition"] == 'attachment; filename="T-1042-vpn.md"'
    shown = alice_client.get(export_url(golden_session, "markdown"), {"download": "0"})
    assert "Content-Disposition" not in shown


def test_it_keeps_the_panel_and_the_document_apart_in_caches(alice_client, golden_session):
    response = alice_client.get(export_url(golden_session, "psa"))

    assert "HX-Request" in response["Vary"]
    assert response["Cache-Control"] == "private, no-store"


def test_it_returns_404_for_another_engineers_session(bob_client, golden_session):
    assert bob_client.get(export_url(golden_session, "json")).status_code == 404


def test_it_lets_a_manager_export_any_session(charlie_client, golden_session):
    assert charlie_client.get(export_url(golden_session, "json")).status_code == 200


def test_it_returns_404_for_an_unknown_format(alice_client, golden_session):
    assert alice_client.get(export_url(golden_session, "docx")).status_code == 404


def test_it_returns_404_for_an_unknown_session(alice_client, db):
    url = reverse("sessions:export", args=[uuid.uuid4(), "json"])
    assert alice_client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"detail": "everything"}, "detail must be “standard” or “full”."),
        ({"upto": "0"}, "upto must be a positive whole number of steps."),
        ({"upto": "-3"}, "upto must be a positive whole number of steps."),
        ({"upto": "two"}, "upto must be a positive whole number of steps."),
        ({"upto": "1.5"}, "upto must be a positive whole number of steps."),
    ],
)
def test_it_refuses_bad_options_with_a_message(alice_client, golden_session, params, message):
    response = alice_client.get(export_url(golden_session, "text"), params)

    assert response.status_code == 400
    assert message in response.content.decode()


def test_it_applies_upto_in_the_view(alice_client, golden_session):
    response = alice_client.get(export_url(golden_session, "json"), {"upto": "3"})

    assert [s["seq"] for s in response.json()["steps"]] == [1, 2, 5]


def test_it_refuses_other_methods(alice_client, golden_session):
    assert alice_client.post(export_url(golden_session, "json")).status_code == 405


def test_it_exports_an_active_session_from_the_view(alice_client, active_session):
    response = alice_client.get(export_url(active_session, "psa"))

    assert response.status_code == 200
    assert response.content.decode().startswith("In progress — exported at")
    assert response["Cache-Control"] == "private, no-store"


def test_it_answers_htmx_with_the_panel_for_the_picked_format(alice_client, golden_session):
    response = alice_client.get(
        export_url(golden_session, "markdown"), {"detail": "full"}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()

    assert response.status_code == 200
    assert "<html" not in body
    assert body.lstrip().startswith('<section id="export"')
    assert re.search(r'id="export-format-markdown"[^>]*aria-current="true"', body)
    assert re.search(r'id="export-detail-full"[^>]*aria-current="true"', body)
    # The preview is the export as text: the Markdown's own escapes, HTML-escaped once more.
    assert r"\# Heading" in body and "&amp;lt;script&gt;" in body
    # Copy for ticket copies the Markdown when Markdown is picked.
    assert "Markdown copied to the clipboard" in body


def test_it_previews_the_html_export_as_escaped_source(alice_client, golden_session):
    response = alice_client.get(export_url(golden_session, "html"), headers={"HX-Request": "true"})
    body = response.content.decode()

    assert "&lt;!DOCTYPE html&gt;" in body
    assert "<script" not in body
    # Any other format copies the PSA note.
    assert "PSA note copied to the clipboard" in body


@pytest.mark.parametrize("steps", [3, 60])
def test_it_exports_in_a_fixed_number_of_queries(
    alice, alice_client, clock, steps, django_assert_max_num_queries
):
    version = build_version()
    session = services.session_create(tree=version.tree, engineer=alice, ticket_ref="T-9")
    labels = {"client-installed": "Yes", "works-now": "No", "reset-creds": "Done"}
    while session.decisions.count() < steps:
        current = session.decisions.get(exited_at__isnull=True)
        _advance_and_answer(session, clock, 7, labels[current.node_key], "checked")
    assert Decision.objects.filter(session=session).count() == steps

    for fmt in exports.FORMATS:
        with django_assert_max_num_queries(6):
            response = alice_client.get(export_url(session, fmt), {"detail": "full"})
        assert response.status_code == 200


# --- managers' CSV downloads ------------------------------------------------------------


def streamed_rows(response) -> list[dict]:
    assert response.streaming
    return parse_csv(b"".join(response.streaming_content).decode("utf-8"))


@pytest.fixture
def history(alice, bob, clock):
    """Three of alice's sessions (completed, active, prepared) and one of bob's."""
    version = build_version()
    done = services.session_create(
        tree=version.tree, engineer=alice, ticket_ref="=HYPERLINK(1)", client="Acme"
    )
    clock.advance(90)
    services.session_complete(session=done, outcome=outcome("escalated"), by=alice)
    active = services.session_create(
        tree=version.tree, engineer=alice, ticket_ref="T-2", client="Globex"
    )
    clock.advance(30)
    step = active.decisions.get()
    services.decision_answer(
        session=active, decision_id=step.pk, choice_id=step.node.choices.get(label="Yes").pk
    )
    prepared = services.session_prepare(tree=version.tree, engineer=alice, by=alice)
    bobs = services.session_create(tree=version.tree, engineer=bob, ticket_ref="B-1")
    return {"done": done, "active": active, "prepared": prepared, "bobs": bobs}


def test_it_streams_the_history_as_csv_for_managers(charlie_client, history):
    response = charlie_client.get(reverse("sessions:history-csv"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(
        'attachment; filename="resolutionflow-sessions-'
    )
    rows = streamed_rows(response)
    assert len(rows) == 4
    assert list(rows[0]) == [
        "id",
        "engineer",
        "tree",
        "version",
        "ticket",
        "client",
        "status",
        "outcome",
        "started",
        "completed",
        "duration_seconds",
        "active_seconds",
        "steps",
    ]
    by_id = {row["id"]: row for row in rows}
    done = by_id[str(history["done"].pk)]
    assert done == {
        "id": str(history["done"].pk),
        "engineer": "alice",
        "tree": "vpn",
        "version": "1",
        "ticket": "'=HYPERLINK(1)",
        "client": "Acme",
        "status": "completed",
        "outcome": "escalated",
        "started": "2026-02-10T09:15:00.123456Z",
        "completed": "2026-02-10T09:16:30.123456Z",
        "duration_seconds": "90",
        "active_seconds": "90",
        "steps": "1",
    }
    assert by_id[str(history["active"].pk)]["status"] == "active"
    assert by_id[str(history["active"].pk)]["steps"] == "2"
    prepared = by_id[str(history["prepared"].pk)]
    assert (prepared["status"], prepared["started"], prepared["outcome"]) == ("prepared", "", "")


def test_it_applies_the_history_filters_to_the_csv(charlie_client, history):
    url = reverse("sessions:history-csv")

    def ids(**params) -> set[str]:
        return {row["id"] for row in streamed_rows(charlie_client.get(url, params))}

    assert ids(status="active") == {str(history["active"].pk), str(history["bobs"].pk)}
    assert ids(engineer="bob") == {str(history["bobs"].pk)}
    assert ids(outcome="escalated") == {str(history["done"].pk)}
    assert ids(q="globex") == {str(history["active"].pk)}
    assert ids(tree="vpn", engineer="alice", status="completed") == {str(history["done"].pk)}
    assert ids(**{"from": "2026-02-11"}) == set()
    assert len(ids(**{"from": "2026-02-10", "to": "2026-02-10"})) == 3  # prepared never started


def test_it_streams_every_step_record_as_csv(charlie_client, history):
    response = charlie_client.get(reverse("sessions:steps-csv"), {"engineer": "alice"})

    rows = streamed_rows(response)
    assert list(rows[0]) == [
        "session_id",
        "seq",
        "node_key",
        "node_kind",
        "title",
        "answer",
        "notes",
        "entered_at",
        "exited_at",
        "duration_seconds",
        "active_seconds",
        "engineer",
        "exit",
        "undone",
    ]
    active = [row for row in rows if row["session_id"] == str(history["active"].pk)]
    assert [(r["seq"], r["node_key"], r["answer"], r["duration_seconds"]) for r in active] == [
        ("1", "client-installed", "Yes", "30"),
        ("2", "reset-creds", "", ""),
    ]
    assert {row["session_id"] for row in rows} == {
        str(history["done"].pk),
        str(history["active"].pk),
    }


@pytest.mark.parametrize("name", ["sessions:history-csv", "sessions:steps-csv"])
def test_it_refuses_the_manager_csvs_to_engineers(alice_client, history, name):
    assert alice_client.get(reverse(name)).status_code == 403


def test_it_reads_the_csv_rows_only_while_streaming(charlie_client, history):
    with CaptureQueriesContext(connection) as before:
        response = charlie_client.get(reverse("sessions:steps-csv"))
    assert not any("flow_sessions_decision" in q["sql"] for q in before.captured_queries)

    with CaptureQueriesContext(connection) as during:
        chunks = list(response.streaming_content)
    assert any("flow_sessions_decision" in q["sql"] for q in during.captured_queries)
    # The header, then a chunk per step record: no document assembled in memory first.
    assert len(chunks) == 1 + 4
    assert all(chunk.endswith(b"\r\n") for chunk in chunks)


def test_it_keeps_exported_timestamps_in_utc_with_microseconds():
    moment = datetime(2026, 2, 10, 9, 15, 0, tzinfo=UTC)
    assert exports.iso_utc(moment) == "2026-02-10T09:15:00.000000Z"
