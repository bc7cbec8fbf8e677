"""Session exports: ticket notes in six formats (SPEC §5).

One data structure, one renderer per format:

- `export_data(session, detail=..., upto=...)` reads everything an export
  needs into a frozen `ExportData` in a fixed number of queries: the session
  with its tree, version, engineer and outcome (one query, already done by
  `get_session_for_user`, which selects them) plus one for the steps, however
  many there are.
- `render(data, fmt)` turns it into markdown, text, html, psa, json or csv.
  Every format carries the same content in the same order: the header (tree
  and version, ticket, client, engineer, status, started, completed, total
  duration, outcome and its notes, next steps, summary), the steps with their
  answer, notes and duration, then the scratchpad.

Choices worth knowing:

- `detail="standard"` lists the path (`Decision.objects.on_path()`);
  `"full"` lists every step record, marking the undone and backtracked ones,
  with entry and exit times. `upto=N` keeps the first N steps of that list.
- Human formats number the listed steps 1, 2, 3…; JSON and CSV carry the
  recorded `seq`. Durations are human-readable (`format_duration`) in the
  human formats and integer seconds in JSON and CSV. Human timestamps are in
  `settings.TIME_ZONE` and name it; JSON and CSV timestamps are ISO 8601 UTC
  with microseconds (`2026-02-10T09:15:00.123456Z`); the HTML export's
  `<time datetime>` has milliseconds, all HTML allows (`html_datetime`).
- An active session says "In progress — exported at …" and shows the open
  step's elapsed time; in JSON the open step has `exited_at`,
  `duration_seconds` and `exit` null (no way of leaving it has happened yet),
  and the session's `completed_at`, `duration_seconds` and `outcome` are null.
- User text cannot change the structure of a format: Markdown escapes its
  special characters, HTML is autoescaped, CSV cells that a spreadsheet
  would run as a formula get a leading `'`.
- The HTML export is a complete standalone document with no styles at all:
  our CSP forbids inline styles on pages we serve, and a `<link>` to our
  stylesheet would break once the file is downloaded. Plain semantic HTML
  (headings, a definition list, an ordered list) reads well in any browser
  and pastes cleanly into a ticket or an email.
- `psa` is plain text for a ConnectWise/Autotask ticket note: no markup,
  compact, wrapped at 100 columns. A single word longer than that (a long
  URL) is kept whole so it still works when pasted.
- CSV is RFC 4180 (CRLF line ends, minimal quoting), UTF-8 without a BOM.
"""

from __future__ import annotations

import csv
import json
import re
import textwrap
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from resolutionflow import clock
from resolutionflow.timestamps import html_datetime
from sessions.formatting import format_elapsed, whole_seconds
from sessions.models import Decision, Pause, Session
from trees.models import Node

DETAILS = ("standard", "full")
JSON_FORMAT = "resolutionflow/session@1"
PSA_WIDTH = 100
NONE_TEXT = "—"


# What a step's line in every export shows, read in one values_list.
STEP_FIELDS = (
    "seq",
    "node_key",
    "node_kind",
    "node_title",
    "answer_label",
    "notes",
    "entered_at",
    "exited_at",
    "duration_seconds",
    "active_seconds",
    "engineer__username",
    "exit",
    "undone",
)


# --- the shared data ---------------------------------------------------------


@dataclass(frozen=True)
class ExportOutcome:
    code: str
    label: str
    kind: str


@dataclass(frozen=True)
class ExportStep:
    number: int  # position in this export: 1, 2, 3…
    seq: int  # the recorded sequence number
    node_key: str
    node_kind: str
    title: str
    answer: str
    notes: str
    entered_at: datetime
    exited_at: datetime | None
    duration_seconds: int | None
    exit: str  # "" while the step is open
    undone: bool
    elapsed_seconds: int  # the duration, or for the open step the time so far
    active_seconds: int | None = None  # the duration less its pauses (SPEC §9)
    engineer: str = ""  # username of whoever took the step

    @property
    def is_open(self) -> bool:
        return self.exited_at is None

    @property
    def backtracked(self) -> bool:
        return self.exit == Decision.Exit.BACKTRACKED

    @property
    def marker(self) -> str:
        """How `full` detail flags a step that is not on the path (empty when it is)."""
        if self.undone:
            return "undone"
        if self.backtracked:
            return "backtracked"
        return ""

    @property
    def result(self) -> str:
        """What happened at this step, for the human formats."""
        if self.is_open:
            return "In progress"
        if self.answer:
            return self.answer
        if self.backtracked:
            return "Went back"
        if self.node_kind == Node.Kind.SOLUTION:
            return "Solution reached"
        return "Session closed at this step"

    @property
    def duration_text(self) -> str:
        return format_elapsed(self.elapsed_seconds, so_far=self.is_open)

    @property
    def entered_text(self) -> str:
        return human_time(self.entered_at, seconds=True)

    @property
    def exited_text(self) -> str:
        return human_time(self.exited_at, seconds=True) if self.exited_at else ""

    @property
    def entered_iso(self) -> str:
        """For the HTML export's `<time datetime>`: milliseconds, in the zone shown."""
        return html_datetime(self.entered_at, timezone.get_default_timezone())

    @property
    def exited_iso(self) -> str:
        return html_datetime(self.exited_at, timezone.get_default_timezone())

    @property
    def times_text(self) -> str:
        """`Entered … , exited …`: the step's timestamps, for `full` detail."""
        exited = f"exited {self.exited_text}" if self.exited_at else "still open"
        return f"Entered {self.entered_text}, {exited}"


@dataclass(frozen=True)
class ExportData:
    id: uuid.UUID
    tree_slug: str
    tree_name: str
    version: int
    engineer: str  # username: stable, what the JSON contract carries
    engineer_name: str  # "Full Name (username)" or the username, for people
    ticket_ref: str
    client: str
    summary: str
    status: str
    status_label: str
    started_at: datetime | None
    completed_at: datetime | None
    duration_seconds: int | None  # total; None until completed
    elapsed_seconds: int | None  # total when completed, so far when active
    outcome: ExportOutcome | None
    outcome_notes: str
    next_steps: str
    scratchpad: str
    steps: tuple[ExportStep, ...]
    total_steps: int  # steps at this detail level before `upto` cut the list
    detail: str
    upto: int | None
    exported_at: datetime
    # SPEC §9: active time (the total less pauses; so far while active), the
    # pauses, the hand-offs and every field changed after the start.
    active_seconds: int | None = None
    pauses: tuple[dict, ...] = ()
    handoffs: tuple[dict, ...] = ()
    changes: tuple[dict, ...] = ()

    @property
    def is_active(self) -> bool:
        return self.status == Session.Status.ACTIVE

    @property
    def active_text(self) -> str:
        if self.active_seconds is None:
            return NONE_TEXT
        return format_elapsed(self.active_seconds, so_far=self.is_active)

    def lifecycle_lines(self) -> list[str]:
        """Pauses and hand-offs in words, for the human formats (empty when none)."""
        lines = []
        for pause in self.pauses:
            what = "Idle" if pause["kind"] == "idle" else "Paused"
            end = human_time(pause["ended_at"]) if pause["ended_at"] else "now"
            lines.append(f"{what}: {human_time(pause['started_at'])} – {end}")
        for handoff in self.handoffs:
            lines.append(
                f"Handed off {human_time(handoff['at'])} from {handoff['from']} "
                f"to {handoff['to']}: {handoff['note']}"
            )
        return lines

    @property
    def is_truncated(self) -> bool:
        return len(self.steps) < self.total_steps

    @property
    def full(self) -> bool:
        return self.detail == "full"

    @property
    def in_progress_line(self) -> str:
        """The unmistakable mark of an export taken before the session ended."""
        if not self.is_active:
            return ""
        return f"In progress — exported at {human_time(self.exported_at)}"

    @property
    def duration_text(self) -> str:
        if self.elapsed_seconds is None:
            return NONE_TEXT
        return format_elapsed(self.elapsed_seconds, so_far=self.is_active)

    @property
    def started_text(self) -> str:
        return human_time(self.started_at) if self.started_at else "Not started"

    @property
    def completed_text(self) -> str:
        if self.completed_at:
            return human_time(self.completed_at)
        return "Not yet" if self.is_active else NONE_TEXT

    @property
    def outcome_text(self) -> str:
        return self.outcome.label if self.outcome else NONE_TEXT

    @property
    def tree_text(self) -> str:
        return f"{self.tree_name} (version {self.version})"

    @property
    def steps_heading(self) -> str:
        if self.is_truncated:
            return f"Steps (first {len(self.steps)} of {self.total_steps})"
        return "Steps"

    def header_fields(self) -> list[tuple[str, str]]:
        """The one-line header fields, in the order every human format shows them."""
        return [
            ("Tree", self.tree_text),
            ("Ticket", self.ticket_ref or NONE_TEXT),
            ("Client", self.client or NONE_TEXT),
            ("Engineer", self.engineer_name),
            ("Status", self.status_label),
            ("Started", self.started_text),
            ("Completed", self.completed_text),
            ("Total duration", self.duration_text),
            ("Active time", self.active_text),
            ("Outcome", self.outcome_text),
        ]

    def text_sections(self) -> list[tuple[str, str]]:
        """The free-text header sections that have something in them, in order."""
        sections = [
            ("Outcome notes", self.outcome_notes),
            ("Next steps", self.next_steps),
            ("Summary", self.summary),
            ("Pauses and hand-offs", "\n".join(self.lifecycle_lines())),
        ]
        return [(title, text) for title, text in sections if text.strip()]


def export_data(
    session: Session,
    *,
    detail: str = "standard",
    upto: int | None = None,
    with_changes: bool = True,
    pauses: Sequence[Pause] | None = None,
) -> ExportData:
    """Everything an export shows, read in one query for the steps.

    Pass a session fetched with its tree, version, engineer and outcome
    selected (as `get_session_for_user` does); otherwise each of those costs
    one more query, still independent of the number of steps.
    """
    if detail not in DETAILS:
        raise ValueError(f"detail must be one of {', '.join(DETAILS)}")
    if upto is not None and upto < 1:
        raise ValueError("upto must be a positive integer")
    now = clock.now()
    decisions = Decision.objects.filter(session=session).order_by("seq")
    if detail == "standard":
        decisions = decisions.on_path()
    rows = list(decisions.values_list(*STEP_FIELDS, named=True))
    listed = rows if upto is None else rows[:upto]
    steps = tuple(
        ExportStep(
            number=number,
            seq=row.seq,
            node_key=row.node_key,
            node_kind=row.node_kind,
            title=row.node_title,
            answer=row.answer_label,
            notes=row.notes,
            entered_at=row.entered_at,
            exited_at=row.exited_at,
            duration_seconds=row.duration_seconds,
            exit=row.exit,
            undone=row.undone,
            elapsed_seconds=(
                row.duration_seconds
                if row.duration_seconds is not None
                else whole_seconds(now - row.entered_at)
            ),
            active_seconds=row.active_seconds,
            engineer=row.engineer__username or "",
        )
        for number, row in enumerate(listed, start=1)
    )
    # Most sessions never paused nor changed hands: no query for those.
    # `pauses`: the session's, when the caller has them already (the detail page).
    if pauses is None:
        pauses = ()
        if session.paused_seconds or session.paused_at:
            pauses = session.pauses.select_related("by").order_by("started_at", "pk")
    pauses = tuple(
        {
            "started_at": p.started_at,
            "ended_at": p.ended_at,
            "kind": p.kind,
            "by": p.by.get_username() if p.by else None,
        }
        for p in pauses
    )
    handoffs = ()
    if session.handed_off_at:
        handoffs = tuple(
            {
                "from": h.from_engineer.get_username(),
                "to": h.to_engineer.get_username(),
                "at": h.at,
                "note": h.note,
            }
            for h in session.handoffs.select_related("from_engineer", "to_engineer")
        )
    # Only JSON lists the audited changes: a page that previews another format
    # (the detail page's export panel) skips the query with `with_changes=False`.
    changes = ()
    if with_changes and session.started_at is not None:
        changes = tuple(
            {
                "field": c.field,
                "old": c.old_value,
                "new": c.new_value,
                "by": c.changed_by.get_username() if c.changed_by else None,
                "at": c.changed_at,
                "source": c.source,
            }
            for c in session.changes.select_related("changed_by")
        )
    engineer = session.engineer
    username = engineer.get_username()
    full_name = engineer.get_full_name().strip()
    outcome = session.outcome
    if session.started_at is None:
        elapsed = None
    elif session.completed_at is not None:
        elapsed = (
            session.duration_seconds
            if session.duration_seconds is not None
            else whole_seconds(session.completed_at - session.started_at)
        )
    else:
        elapsed = whole_seconds(now - session.started_at)
    return ExportData(
        id=session.pk,
        tree_slug=session.tree.slug,
        tree_name=session.tree.name,
        version=session.version.number,
        engineer=username,
        engineer_name=f"{full_name} ({username})" if full_name else username,
        ticket_ref=session.ticket_ref,
        client=session.client,
        summary=session.summary,
        status=str(session.status),
        status_label=session.get_status_display(),
        started_at=session.started_at,
        completed_at=session.completed_at,
        duration_seconds=elapsed if session.completed_at is not None else None,
        elapsed_seconds=elapsed,
        outcome=ExportOutcome(outcome.code, outcome.label, outcome.kind) if outcome else None,
        outcome_notes=session.outcome_notes,
        next_steps=session.next_steps,
        scratchpad=session.scratchpad,
        steps=steps,
        total_steps=len(rows),
        detail=detail,
        upto=upto,
        exported_at=now,
        active_seconds=(
            None if session.started_at is None else whole_seconds(session.active_elapsed(now))
        ),
        pauses=pauses,
        handoffs=handoffs,
        changes=changes,
    )


# --- shared formatting -----------------------------------------------------------


def human_time(value: datetime, *, seconds: bool = False) -> str:
    """`2026-02-10 09:15 UTC`: in the configured time zone, which it names."""
    local = timezone.localtime(value, timezone.get_default_timezone())
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{local.strftime(pattern)} {local.tzname() or settings.TIME_ZONE}"


def iso_utc(value: datetime | None) -> str | None:
    """`2026-02-10T09:15:00.123456Z`: ISO 8601 in UTC, always with microseconds."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _lines(text: str) -> list[str]:
    """User text as lines: CRLF from browsers normalised, blank lines around it dropped."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _step_line(step: ExportStep, title: str, result: str, *, glue: str = " ") -> str:
    """`Title — Answer (2m 30s) [undone]`, the one-line summary of a step.

    `glue` stands for the spaces in and before the duration, so that a wrapping
    format can keep "Answer (2m 30s)" in one piece (see `_wrap`)."""
    marker = f" [{step.marker}]" if step.marker else ""
    duration = f"({step.duration_text})".replace(" ", glue)
    return f"{title} — {result}{glue}{duration}{marker}"


# --- markdown -----------------------------------------------------------------------

# Escaped wherever they appear: they make emphasis, code, links, tables,
# headings, or (`{}`) attribute lists. A `<` that could open a tag becomes an
# entity because not every Markdown dialect honours `\<` (Python-Markdown does
# not) and raw HTML would otherwise pass through.
_MD_ALWAYS = re.compile(r"([\\`*_{}\[\]#|])")
_MD_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# What could open raw HTML, a comment or an autolink: `<` before a letter, `/`, `!` or `?`.
_MD_TAG = re.compile(r"<(?=[A-Za-z/!?])")
# Only at the start of a line: block quotes, list items, setext underlines.
_MD_LEADING = re.compile(r"^([>+\-])")
_MD_ORDERED = re.compile(r"^(\d+)([.)])")
_MD_SETEXT = re.compile(r"^=+\s*$")


def markdown_escape(text: str) -> str:
    """Escape one line of user text so Markdown shows it literally."""
    text = _MD_ENTITY.sub("&amp;", text)
    text = _MD_TAG.sub("&lt;", text)
    text = _MD_ALWAYS.sub(r"\\\1", text)
    # Leading whitespace would make an indented code block or change list nesting.
    text = text.lstrip()
    text = _MD_LEADING.sub(r"\\\1", text)
    text = _MD_ORDERED.sub(r"\1\\\2", text)
    # A line of "=" under a paragraph makes it a heading. `\=` is not an
    # escape in every dialect; an entity is.
    if _MD_SETEXT.match(text):
        text = "&#61;" + text[1:]
    return text


def _hard_breaks(lines: list[str]) -> list[str]:
    """Keep line breaks: two trailing spaces are a hard break in every Markdown dialect."""
    return [
        f"{line}  "
        if line.strip() and index + 1 < len(lines) and lines[index + 1].strip()
        else line
        for index, line in enumerate(lines)
    ]


def _markdown_lines(text: str, indent: str = "") -> list[str]:
    """Multi-line user text, each line escaped and indented (blank lines stay blank)."""
    return [f"{indent}{markdown_escape(line)}" if line.strip() else "" for line in _lines(text)]


def render_markdown(data: ExportData) -> str:
    esc = markdown_escape
    title = esc(data.tree_name)
    out = [f"# {esc(data.ticket_ref)}: {title}" if data.ticket_ref else f"# {title}", ""]
    if data.in_progress_line:
        out += [f"**{data.in_progress_line}**", ""]
    out += [f"- **{label}:** {esc(value)}" for label, value in data.header_fields()]
    for heading, text in data.text_sections():
        out += ["", f"## {heading}", "", *_hard_breaks(_markdown_lines(text))]
    out += ["", f"## {data.steps_heading}", ""]
    if not data.steps:
        out.append("No steps recorded yet.")
    for step in data.steps:
        prefix = f"{step.number}. "
        indent = " " * len(prefix)
        result = esc(step.result) if step.answer else f"*{esc(step.result)}*"
        item = [prefix + _step_line(step, f"**{esc(step.title)}**", result)]
        if data.full:
            item.append(f"{indent}*{step.times_text}*")
        if step.notes.strip():
            notes = _markdown_lines(step.notes, indent)
            notes[0] = f"{indent}Notes: {notes[0].lstrip()}"
            item += notes
        out += _hard_breaks(item)
    if data.scratchpad.strip():
        out += ["", "## Scratchpad", "", *_hard_breaks(_markdown_lines(data.scratchpad))]
    return "\n".join(out) + "\n"


# --- plain text -------------------------------------------------------------------


def _indented(text: str, indent: str) -> list[str]:
    return [f"{indent}{line}".rstrip() for line in _lines(text)]


def render_text(data: ExportData) -> str:
    heading = f"{data.ticket_ref}: {data.tree_name}" if data.ticket_ref else data.tree_name
    out = [heading, "=" * len(heading), ""]
    if data.in_progress_line:
        out += [f"*** {data.in_progress_line} ***", ""]
    width = max(len(label) for label, _ in data.header_fields()) + 2
    out += [f"{label + ':':<{width}}{value}" for label, value in data.header_fields()]
    for heading_text, text in data.text_sections():
        out += ["", f"{heading_text}:", *_indented(text, "  ")]
    out += ["", data.steps_heading, "-" * len(data.steps_heading)]
    if not data.steps:
        out.append("No steps recorded yet.")
    for step in data.steps:
        prefix = f"{step.number}. "
        indent = " " * len(prefix)
        out.append(prefix + _step_line(step, step.title, step.result))
        if data.full:
            out.append(f"{indent}{step.times_text}")
        if step.notes.strip():
            notes = _indented(step.notes, indent + "  ")
            out += [f"{indent}Notes:", *notes]
    if data.scratchpad.strip():
        out += ["", "Scratchpad", "----------", *_indented(data.scratchpad, "")]
    return "\n".join(out) + "\n"


# --- psa ticket note -------------------------------------------------------------


# A space the PSA wrapping must not break at: TextWrapper breaks only at ASCII
# whitespace, and NUL never occurs in stored text (PostgreSQL refuses it).
_NO_BREAK = "\0"


def _wrap(text: str, *, first: str = "", rest: str = "") -> list[str]:
    """Wrap each line of `text` at PSA_WIDTH, `first` before the first line; a
    _NO_BREAK in `text` is a space that is never a line break."""
    wrapper = textwrap.TextWrapper(
        width=PSA_WIDTH,
        break_long_words=False,
        break_on_hyphens=False,
        replace_whitespace=True,
    )
    out: list[str] = []
    for index, line in enumerate(_lines(text)):
        wrapper.initial_indent = first if index == 0 else rest
        wrapper.subsequent_indent = rest
        out += wrapper.wrap(line.rstrip()) or [(first if index == 0 else rest).rstrip()]
    return [line.replace(_NO_BREAK, " ") for line in out]


def render_psa(data: ExportData) -> str:
    out = []
    if data.in_progress_line:
        out += _wrap(data.in_progress_line)
    tree = f"Tree: {data.tree_name} (v{data.version})"
    ticket = f"Ticket: {data.ticket_ref or NONE_TEXT}"
    client = f"Client: {data.client or NONE_TEXT}"
    out += _wrap(" | ".join([tree, ticket, client]), rest="  ")
    out += _wrap(f"Engineer: {data.engineer_name} | Status: {data.status_label}", rest="  ")
    times = [f"Started: {data.started_text}", f"Completed: {data.completed_text}"]
    out += _wrap(" | ".join([*times, f"Total duration: {data.duration_text}"]), rest="  ")
    out += _wrap(f"Outcome: {data.outcome_text}", rest="  ")
    for heading, text in data.text_sections():
        out += _wrap(text, first=f"{heading}: ", rest="  ")
    out += ["", f"{data.steps_heading}:"]
    if not data.steps:
        out.append("No steps recorded yet.")
    for step in data.steps:
        prefix = f"{step.number}. "
        indent = " " * len(prefix)
        # The duration stays with the word before it: "(1m 51s)" never starts a line.
        line = _step_line(step, step.title, step.result, glue=_NO_BREAK)
        out += _wrap(line, first=prefix, rest=indent)
        if data.full:
            out += _wrap(step.times_text, first=indent, rest=indent)
        if step.notes.strip():
            out += _wrap(step.notes, first=f"{indent}Notes: ", rest=indent + "  ")
    if data.scratchpad.strip():
        out += ["", "Scratchpad:", *_wrap(data.scratchpad)]
    return "\n".join(out) + "\n"


# --- html ---------------------------------------------------------------------


def render_html(data: ExportData) -> str:
    # The template autoescapes every value: user text stays text. The result
    # is returned as a plain (not "safe") string: anything that shows the
    # export inside a page, like the Export panel's preview, must escape it.
    html = render_to_string("sessions/exports/session.html", {"data": data})
    return str.__str__(html)


# --- json --------------------------------------------------------------------------


def json_document(data: ExportData) -> dict[str, Any]:
    """The machine-readable contract of SPEC §5, keys in the documented order."""
    return {
        "format": JSON_FORMAT,
        "id": str(data.id),
        "tree": {"slug": data.tree_slug, "name": data.tree_name, "version": data.version},
        "engineer": data.engineer,
        "ticket_ref": data.ticket_ref,
        "client": data.client,
        "summary": data.summary,
        "status": data.status,
        "started_at": iso_utc(data.started_at),
        "completed_at": iso_utc(data.completed_at),
        "duration_seconds": data.duration_seconds,
        "active_seconds": data.active_seconds,
        "outcome": (
            {"code": data.outcome.code, "label": data.outcome.label, "kind": data.outcome.kind}
            if data.outcome
            else None
        ),
        "outcome_notes": data.outcome_notes,
        "next_steps": data.next_steps,
        "scratchpad": data.scratchpad,
        "pauses": [
            {
                "started_at": iso_utc(p["started_at"]),
                "ended_at": iso_utc(p["ended_at"]),
                "kind": p["kind"],
                "by": p["by"],
            }
            for p in data.pauses
        ],
        "handoffs": [
            {"from": h["from"], "to": h["to"], "at": iso_utc(h["at"]), "note": h["note"]}
            for h in data.handoffs
        ],
        "changes": [
            {
                "field": c["field"],
                "old": c["old"],
                "new": c["new"],
                "by": c["by"],
                "at": iso_utc(c["at"]),
                "source": c["source"],
            }
            for c in data.changes
        ],
        "steps": [
            {
                "seq": step.seq,
                "node_key": step.node_key,
                "node_kind": step.node_kind,
                "title": step.title,
                "answer": step.answer,
                "notes": step.notes,
                "entered_at": iso_utc(step.entered_at),
                "exited_at": iso_utc(step.exited_at),
                "duration_seconds": step.duration_seconds,
                "active_seconds": step.active_seconds,
                "engineer": step.engineer,
                "exit": step.exit or None,
                "undone": step.undone,
            }
            for step in data.steps
        ],
    }


def render_json(data: ExportData) -> str:
    return json.dumps(json_document(data), indent=2, ensure_ascii=False) + "\n"


# --- csv ----------------------------------------------------------------------------

# A cell starting with one of these runs as a formula in Excel, LibreOffice
# and Google Sheets (OWASP "CSV injection"); a leading quote makes it text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value safe to put in a spreadsheet cell (numbers stay numbers)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, int):
        return value
    return csv_text(str(value))


def csv_text(text: str) -> str:
    """`text` as a spreadsheet shows it, never run as a formula: every CSV we serve
    (exports, the history downloads, the report tables) writes user text through here."""
    return "'" + text if text.startswith(_FORMULA_START) else text


class _Echo:
    """A file-like object whose `write` hands the line back (for streaming)."""

    def write(self, value: str) -> str:
        return value


def csv_rows(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """Yield each row as one RFC 4180 CSV line, made safe by `csv_cell`."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


SESSION_CSV_COLUMNS = (
    "session_id",
    "tree",
    "tree_name",
    "version",
    "ticket_ref",
    "client",
    "engineer",
    "status",
    "started_at",
    "completed_at",
    "session_duration_seconds",
    "session_active_seconds",
    "outcome",
    "outcome_label",
    "outcome_notes",
    "next_steps",
    "summary",
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
    "step_engineer",
    "exit",
    "undone",
    "scratchpad",
)


def render_csv(data: ExportData) -> str:
    """A row per step; the session's own fields repeat on each row so any row stands alone."""
    session = [
        data.id,
        data.tree_slug,
        data.tree_name,
        data.version,
        data.ticket_ref,
        data.client,
        data.engineer,
        data.status,
        data.started_at,
        data.completed_at,
        data.duration_seconds,
        data.active_seconds,
        data.outcome.code if data.outcome else "",
        data.outcome.label if data.outcome else "",
        data.outcome_notes,
        data.next_steps,
        data.summary,
    ]
    rows = [SESSION_CSV_COLUMNS]
    for step in data.steps:
        rows.append(
            [
                *session,
                step.seq,
                step.node_key,
                step.node_kind,
                step.title,
                step.answer,
                step.notes,
                step.entered_at,
                step.exited_at,
                step.duration_seconds,
                step.active_seconds,
                step.engineer,
                step.exit,
                step.undone,
                data.scratchpad,
            ]
        )
    return "".join(csv_rows(rows))


# --- formats ---------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    name: str
    label: str
    render: Callable[[ExportData], str]
    content_type: str
    extension: str


EXPORT_FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("markdown", "Markdown", render_markdown, "text/markdown; charset=utf-8", "md"),
        Format("text", "Text", render_text, "text/plain; charset=utf-8", "txt"),
        Format("html", "HTML", render_html, "text/html; charset=utf-8", "html"),
        Format("psa", "PSA note", render_psa, "text/plain; charset=utf-8", "psa.txt"),
        Format("json", "JSON", render_json, "application/json", "json"),
        Format("csv", "CSV", render_csv, "text/csv; charset=utf-8", "csv"),
    )
}
FORMATS = tuple(EXPORT_FORMATS)


def render(data: ExportData, fmt: str) -> str:
    return EXPORT_FORMATS[fmt].render(data)


_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def filename(data: ExportData, fmt: str) -> str:
    """`T-1042-vpn-wont-connect.md`: the ticket, the tree, the format's extension."""
    ticket = _UNSAFE_FILENAME.sub("-", data.ticket_ref).strip("-.")
    stem = ticket or f"session-{str(data.id)[:8]}"
    return f"{stem}-{data.tree_slug}.{EXPORT_FORMATS[fmt].extension}"
