"""Bad input never gives a 500, and a refusal changes nothing.

The fields come from the pages themselves: every form the app renders (its
`action`, the buttons' `formaction`, `hx-post`/`hx-get`) is parsed, for every
role, so a field added to a template is attacked without anyone listing it.
Query parameters that only links carry (`page`, `close`, `upto`, …) are
listed in LINK_PARAMETERS, and a URL whose view reads no input is named in
NO_INPUT: a new URL in neither place fails `test_it_knows_the_input_of_every_url`.

Three layers:
- a sweep: every hostile value below into every field of every form and
  query, one field at a time (the others valid), plain and htmx, plus every
  route argument, raw invalid UTF-8 in query strings and bodies, and oversize
  requests;
- hypothesis: random combinations of hostile and random values, bytes and
  repeated keys;
- targeted checks: NUL bytes refused with a clear message by every text
  field, and XSS payloads escaped on every page and in every export.

For each request: no 5xx (a streamed CSV is read to its end); a 4xx has a body
and leaves the database exactly as it was (row counts of every table of ours
and a checksum of the session, step and audit rows); an XSS payload sent is
never reflected unescaped in HTML.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import quote, quote_from_bytes, urlsplit

import pytest
from django.urls import Resolver404, resolve, reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolutionflow.tests.matrix import (
    Route,
    World,
    fingerprint,
    named_urls,
    print_count,
    rolled_back,
)
from resolutionflow.tests.test_access_matrix import EXPECTED
from sessions.models import Decision, Outcome, Session
from trees import services as tree_services
from trees.tests.factories import tree_document

pytestmark = pytest.mark.django_db

XSS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
FORMULA = '=HYPERLINK("http://evil.example.com","x")'
HOSTILE: tuple[str, ...] = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x00" * 8,
    "A" * 100_000,
    "é" * 50_000,  # 100 KB of UTF-8
    *XSS,
    "javascript:alert(1)",
    "'; DROP TABLE flow_sessions_session; --",
    "' OR '1'='1",
    "../../../../etc/passwd",
    "//evil.example.com/",
    "https://evil.example.com/login",
    "\r\nSet-Cookie: pwned=1",
    "%00",
    "%ff%fe",
    "\u202e\u0644\u0644",
    "𝕏𝕐",
    "²",
    "٣",
    "\ufeff",
    "{{ 7|add:7 }}{% debug %}",
    FORMULA,
    "-1",
    "0",
    "-0",
    "1.5",
    "1e309",
    "NaN",
    "99999999999999999999",
    str(2**63),
    str(-(2**63) - 1),
    " 7 ",
    "2026-02-30",
    "2026-13-01",
    "0000-00-00",
    "0001-01-01",
    "9999-12-31",
    "10/02/2026",
    "00000000-0000-0000-0000-000000000000",
    "5a0c9d0e-3c1f-4f0e-9a51-3f6f3c6e2b10",
    "not-a-uuid",
    "resolved",
    "no_such_outcome",
    "active",
    "vpn",
    "alice",
    "full",
    "true",
    "[]",
)
# Values for route arguments (`<uuid:session_id>`, `<slug:slug>`, `<str:fmt>`, …).
PATH_VALUES = (
    "00000000-0000-0000-0000-000000000000",
    "5a0c9d0e-3c1f-4f0e-9a51-3f6f3c6e2b10",
    "not-a-uuid",
    "no-such-tree",
    "vpn",
    "JSON",
    "exe",
    "nodes",
    "summary",
    "..",
    "x" * 5_000,
    "%00",
    "a\x00b",
    "<script>",
    "é",
)
ROUTE_ARGUMENT = re.compile(r"<(?:[^>:]+:)?(?P<name>[^>]+)>")
INVALID_UTF8 = (b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80")

# Query parameters that links carry but no form field does.
LINK_PARAMETERS: dict[tuple[str, str], set[str]] = {
    ("trees:library", "GET"): {"tag"},
    ("trees:detail", "GET"): {"version", "ticket", "client", "summary"},
    ("sessions:history", "GET"): {"page", "close", "engineer"},
    ("sessions:close-form", "GET"): {"next"},
    ("sessions:run", "GET"): {"complete", "handoff"},
    ("sessions:edit", "GET"): {"back"},
    ("sessions:export", "GET"): {"detail", "upto", "download"},
    ("sessions:history-csv", "GET"): {"q", "status", "outcome", "tree", "engineer", "from", "to"},
    ("sessions:steps-csv", "GET"): {"q", "status", "outcome", "tree", "engineer", "from", "to"},
    ("reports:overview", "GET"): {"sort", "version"},
    ("reports:tree", "GET"): {"sort", "tree", "shade"},
    ("reports:csv", "GET"): {"from", "to", "tree", "engineer", "sort", "version"},
    ("login", "GET"): {"next"},
    ("integrations:ticket-lookup", "GET"): {"ticket_ref", "client", "summary"},
    ("sessions:notes", "POST"): {"decision", "notes"},
    ("sessions:done", "POST"): {"decision", "notes"},
    ("sessions:back", "POST"): {"decision", "notes"},
    ("api:sessions", "GET"): {
        *("q", "status", "outcome", "tree", "engineer", "from", "to", "cursor", "limit"),
    },
    ("api:session", "GET"): {"detail"},
    ("api:report-summary", "GET"): {"from", "to", "tree", "engineer"},
    # The other tables read their filters through the same function as the
    # summary (api.api._report_filter); `tree` is the one that changes what they run.
    **{
        (f"api:report-{table}", "GET"): {"tree"}
        for table in ("trees", "nodes", "engineers", "daily", "outcomes")
    },
}
# URLs whose views read no query parameter or form field (route arguments are
# still attacked).
NO_INPUT = {
    "home",
    "healthz",
    "favicon",
    "logout",
    "password_change_done",
    "sessions:detail",
    "sessions:begin",
    "sessions:outcome-styles",
    "integrations:deliveries",
    "integrations:post",
    "integrations:retry",
    "profile",
    "token-revoke",
    "api:api-root",
    "api:not-found",
    "api:openapi-json",
    "api:openapi-view",
    "api:trees",
    "api:tree",
    # 404 while single sign-on is off, as it is here; their input (state, code,
    # nonce, next) is tested end to end in api/tests/test_oidc.py.
    "oidc-login",
    "oidc-callback",
    "sessions:pause",
    "sessions:resume",
}
# Text fields people type into: each must refuse NUL bytes with a message.
TEXT_FIELDS: dict[str, set[str]] = {
    "sessions:start": {"ticket_ref", "client", "summary"},
    "sessions:prepare": {"ticket_ref", "client", "summary"},
    "sessions:answer": {"notes"},
    "sessions:done": {"notes"},
    "sessions:back": {"notes"},
    "sessions:notes": {"notes"},
    "sessions:scratchpad": {"scratchpad"},
    "sessions:complete": {"outcome_notes", "next_steps"},
    "sessions:close": {"outcome_notes"},
    "token-new": {"name"},
    "sessions:hand-off": {"note"},
    "sessions:edit": {"ticket_ref", "client", "summary"},
}
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/sessions/"}
# Their valid body is prepared by answering a step first (World.valid_post).
SETUP_MOVES_ON = {"sessions:done", "sessions:back"}
# The values most likely to break something: each goes into every field on its
# own; the rest of HOSTILE goes into all of a form's fields at once.
SHARP = (
    "\x00",
    "a\x00b",
    "A" * 100_000,
    "é" * 50_000,
    *XSS,
    "-1",
    "²",
    "99999999999999999999",
    str(2**63),
    "2026-02-30",
    "0001-01-01",
    "9999-12-31",
    "not-a-uuid",
)


# --- finding the fields --------------------------------------------------------------------------


class _Forms(HTMLParser):
    """(target URL path, method) → field names, from forms, formaction and hx-* attributes."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.found: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._form: dict | None = None

    def _target(self, url: str | None) -> str:
        return urlsplit(url).path if url else urlsplit(self.page).path

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            method = (a.get("method") or "get").upper()
            targets = {(self._target(a.get("action")), method)}
            for hx in ("hx-post", "hx-get"):
                if hx in a:
                    targets.add((self._target(a[hx]), hx[3:].upper()))
            self._form = {"targets": targets, "fields": set()}
            for target in targets:
                self.found[target]  # noqa: B018 - a form without fields is still a target
            return
        extra = set()
        if tag == "button" and a.get("formaction"):
            extra.add((self._target(a["formaction"]), "POST"))
        for hx in ("hx-post", "hx-get"):
            if hx in a:
                extra.add((self._target(a[hx]), hx[3:].upper()))
        if self._form is not None:
            self._form["targets"] |= extra
            if tag in ("input", "select", "textarea", "button") and a.get("name"):
                self._form["fields"].add(a["name"])
        elif tag in ("input", "select", "textarea") and a.get("name"):
            for target in extra:
                self.found[target].add(a["name"])

    def handle_endtag(self, tag):
        if tag == "form" and self._form is not None:
            for target in self._form["targets"]:
                self.found[target] |= self._form["fields"]
            self._form = None


def _name_of(path: str) -> str | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.view_name if match.namespace != "admin" else None


def discover(world: World) -> dict[tuple[str, str], set[str]]:
    """Every (URL name, method) a page's forms or hx-* attributes send to, with their fields.

    The pages are crawled as alice, charlie and admin, with alice's session on
    its first step and again one step in (where Done and Back appear).
    """
    found: dict[tuple[str, str], set[str]] = defaultdict(set)

    def crawl() -> None:
        for route in named_urls():
            for role in ("alice", "charlie", "admin"):
                response = world.clients[role].get(world.url(route))
                if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                    continue
                parser = _Forms(world.url(route))
                parser.feed(response.content.decode())
                for (path, method), names in parser.found.items():
                    name = _name_of(path)
                    if name:
                        found[name, method] |= names - {"csrfmiddlewaretoken"}

    with rolled_back(*world.clients.values()):
        crawl()
    with rolled_back(*world.clients.values()):
        world.answer_yes()
        crawl()
    return found


# --- sending and judging -------------------------------------------------------------------------


@dataclass
class Tally:
    requests: int = 0
    values: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    server_errors: int = 0
    changed_on_refusal: int = 0


TALLY = Tally()


@dataclass(frozen=True)
class Target:
    route: Route
    method: str
    role: str
    fields: frozenset[str]

    @property
    def label(self) -> str:
        return f"{self.method} {self.route.name} as {self.role}"


def _role_for(name: str, method: str) -> list[str]:
    """Who can reach the view's input handling: engineers first, then managers, admin."""
    row = EXPECTED[name, method]
    allowed = [r for r in ("alice", "charlie", "admin") if row[r] not in {"403", "404", "405"}]
    if not allowed:
        return ["anonymous"] if row["anonymous"] not in {"405", "login"} else []
    roles = allowed[:1]
    if name == "trees:detail":
        roles.append("admin")  # staff may pick a version: a path of its own
    if name == "sessions:history":
        roles.append("charlie")  # managers get the engineer filter
    return list(dict.fromkeys(roles))


_TARGETS: list[Target] = []


def targets(world: World) -> list[Target]:
    """What to attack, found once per run (per xdist worker), not once per test.

    Discovery crawls every page as three roles, twice: about ten seconds. What
    it finds (URL names, methods, roles, field names) comes from the templates
    and the shape of the world, never from one test's rows, so every test may
    share it.
    """
    if not _TARGETS:
        _TARGETS.extend(_discover_targets(world))
    return list(_TARGETS)


def _discover_targets(world: World) -> list[Target]:
    inputs = discover(world)
    for key, extra in LINK_PARAMETERS.items():
        inputs[key] = inputs.get(key, set()) | extra
    found = []
    for route in named_urls():
        for method in ("GET", "POST"):
            if (route.name, method) not in inputs:
                continue
            for role in _role_for(route.name, method):
                found.append(Target(route, method, role, frozenset(inputs[route.name, method])))
    return found


def _read(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


class Judge:
    """Sends one request inside a savepoint and records what is wrong with the answer."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.problems: list[str] = []
        self._clean: dict[tuple, tuple] = {}

    def send(
        self,
        target: Target,
        *,
        data: dict | None = None,
        htmx: bool = False,
        url: str | None = None,
        raw_query: str | None = None,
        raw_body: bytes | None = None,
        content_type: str = "application/x-www-form-urlencoded",
        sent: tuple[str, ...] = (),
    ) -> int:
        client = self.world.clients[target.role]
        client.raise_request_exception = False
        # A request on one session's URL can touch only that session's rows
        # (the row counts still cover every table); with a URL of its own the
        # whole database is compared.
        touched = self._session_of(target) if url is None else None
        with rolled_back(client):
            body = self.world.valid_post(target.route.name) if target.method == "POST" else {}
            before = self._before(target, touched)
            if data:
                body.update(data)
            url = url or self.world.url(target.route)
            headers = HTMX if htmx else {}
            extra = {"QUERY_STRING": raw_query} if raw_query is not None else {}
            try:
                if target.method == "GET" and raw_body is not None:
                    response = client.generic(
                        "GET", url, raw_body, content_type=content_type, headers=headers
                    )
                elif target.method == "GET":
                    response = client.get(url, body, headers=headers, **extra)
                elif raw_body is not None:
                    response = client.post(
                        url, raw_body, content_type=content_type, headers=headers
                    )
                else:
                    response = client.post(url, body, headers=headers)
                content = _read(response)
                status, content_type = response.status_code, response.get("Content-Type", "")
            except Exception as error:  # a crash while streaming is a 500 the user sees
                status, content, content_type = 500, repr(error).encode(), ""
            TALLY.requests += 1
            TALLY.values.update(sent)
            TALLY.statuses[status] += 1
            what = f"{target.label} {url} {self._describe(data, raw_query, raw_body)}"
            if status >= 500:
                TALLY.server_errors += 1
                self.problems.append(f"{status}: {what}")
            elif status >= 400:
                if not content.strip():
                    self.problems.append(f"{status} with an empty body: {what}")
                if fingerprint(touched) != before:
                    TALLY.changed_on_refusal += 1
                    self.problems.append(f"{status} but the database changed: {what}")
            if "html" in content_type:
                text = content.decode("utf-8", "replace")
                for payload in XSS:
                    if any(payload in value for value in sent) and payload in text:
                        self.problems.append(f"XSS payload reflected unescaped: {what}")
        return status

    def _session_of(self, target: Target) -> Session | None:
        if "session_id" not in target.route.params:
            return None
        pk = self.world.kwargs_for(target.route)["session_id"]
        return next(s for s in (self.world.active, self.world.prepared) if s.pk == pk)

    def _before(self, target: Target, touched: Session | None) -> tuple:
        """The database before the request. Every request is rolled back, so it is
        the same each time, except where preparing the body moves the session on."""
        if target.route.name in SETUP_MOVES_ON:
            return fingerprint(touched)
        key = (target.route.name, touched.pk if touched else None)
        if key not in self._clean:
            self._clean[key] = fingerprint(touched)
        return self._clean[key]

    @staticmethod
    def _describe(data, raw_query, raw_body) -> str:
        def short(value) -> str:
            text = repr(value)
            return text if len(text) <= 60 else text[:57] + "…'"

        if raw_query is not None:
            return f"QUERY_STRING={short(raw_query)}"
        if raw_body is not None:
            return f"body={short(raw_body)}"
        return ", ".join(f"{k}={short(v)}" for k, v in (data or {}).items())


@pytest.fixture
def world(clock) -> World:
    # Failed sign-ins hash the password they were given (even for unknown
    # users): conftest's fast hasher keeps a thousand of them from taking minutes.
    return World.build()


# --- coverage ------------------------------------------------------------------------------------


def test_it_knows_the_input_of_every_url(world):
    found = targets(world)
    covered = {t.route.name for t in found}
    unknown = sorted(r.name for r in named_urls() if r.name not in covered | NO_INPUT)
    assert not unknown, (
        f"{unknown}: add their query parameters to LINK_PARAMETERS (or the URL to "
        f"NO_INPUT if the view reads none) in {__name__}"
    )
    fields = {(t.route.name, t.method): t.fields for t in found}
    # The discovery sees the forms as they are rendered, hidden fields included.
    assert {"decision", "choice", "notes"} <= fields["sessions:answer", "POST"]
    assert {"outcome", "outcome_notes", "next_steps"} <= fields["sessions:complete", "POST"]
    assert {"outcome", "outcome_notes", "next"} <= fields["sessions:close", "POST"]
    assert {"ticket_ref", "client", "summary", "session_id"} <= fields["sessions:start", "POST"]
    assert {"q", "status", "outcome", "tree", "from", "to"} <= fields["sessions:history", "GET"]
    assert {"from", "to", "tree", "engineer"} <= fields["reports:overview", "GET"]
    for name, text_fields in TEXT_FIELDS.items():
        assert text_fields <= fields[name, "POST"], name


# --- the sweep -----------------------------------------------------------------------------------


# About 4,300 requests in all, in parts so that the test run's workers share
# them (every target falls in exactly one part). The suite's 120 s limit is
# there to stop a hung test, not to time a sweep this size.
SWEEP_PARTS = 4


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "part", range(SWEEP_PARTS), ids=[f"part-{n + 1}-of-{SWEEP_PARTS}" for n in range(SWEEP_PARTS)]
)
def test_it_answers_every_hostile_value_in_every_field_without_a_500(world, part):
    judge = Judge(world)
    for target in targets(world)[part::SWEEP_PARTS]:
        names = sorted(target.fields)
        # Every value into all of the form's fields at once…
        for index, value in enumerate(HOSTILE):
            # Alternate plain and htmx posts: both code paths see the values.
            htmx = target.method == "POST" and index % 2 == 1
            judge.send(target, data=dict.fromkeys(names, value), htmx=htmx, sent=(value,))
        # …and the sharpest ones into each field alone, the others valid, so
        # a field that is checked late still sees them.
        for index, value in enumerate(SHARP):
            for name in names:
                htmx = target.method == "POST" and index % 2 == 0
                judge.send(target, data={name: value}, htmx=htmx, sent=(value,))
    assert not judge.problems, "\n".join(judge.problems[:40])


def test_it_answers_hostile_route_arguments_without_a_500(world):
    judge = Judge(world)
    for target in targets(world) + _no_input_targets(world):
        route = target.route
        for param in route.params:
            for value in PATH_VALUES:
                # Filled in by hand, not with reverse(): the converters would
                # refuse most of these values, and that refusal is what we test.
                values = {k: str(v) for k, v in world.kwargs_for(route).items()}
                values[param] = value
                url = "/" + ROUTE_ARGUMENT.sub(
                    lambda m, values=values: quote(values[m["name"]], safe=""), route.route
                )
                judge.send(target, url=url, sent=(value,))
    assert not judge.problems, "\n".join(judge.problems[:40])


def _no_input_targets(world: World) -> list[Target]:
    found = []
    for route in named_urls():
        if route.name in NO_INPUT and route.params:
            for method in ("GET", "POST"):
                for role in _role_for(route.name, method):
                    found.append(Target(route, method, role, frozenset()))
    return found


def test_it_answers_invalid_utf8_and_oversize_requests_without_a_500(world):
    judge = Judge(world)
    for target in targets(world):
        # The bytes in every field at once: a query string or form body is decoded
        # whole, before any view reads a field, and each field then holds what the
        # decoding made of them.
        names = sorted(target.fields) or ["q"]
        for raw in INVALID_UTF8:
            encoded = quote_from_bytes(raw)
            if target.method == "GET":
                # Percent-encoded, and as the raw bytes a WSGI server passes on.
                judge.send(target, raw_query=_fields(names, encoded), sent=(encoded,))
                judge.send(target, raw_query=_fields(names, raw.decode("latin-1")), sent=())
            else:
                judge.send(target, raw_body=_fields(names, raw.decode("latin-1")).encode("latin-1"))
                judge.send(target, raw_body=_fields(names, encoded).encode(), sent=())
        # More fields than DATA_UPLOAD_MAX_NUMBER_FIELDS, repeated keys, a body
        # over DATA_UPLOAD_MAX_MEMORY_SIZE: a 400 (a GET view that reads no
        # query never parses it, and is right not to fail).
        many = "&".join(f"f{i}=1" for i in range(1_100))
        # As in production, the CSRF check reads the body before any view runs
        # (once the browser has its CSRF cookie, which any page gives it).
        client = world.clients[target.role]
        client.get(reverse("login"))
        client.handler.enforce_csrf_checks = True
        if target.method == "GET":
            status = judge.send(target, raw_query=many)
            judge.send(target, raw_query="&&&==&=x&page=1&page=2&page=-3&q&q=%00")
        else:
            status = judge.send(target, raw_body=many.encode())
            too_big = judge.send(target, raw_body=b"notes=" + b"x" * 3_000_000)
            assert too_big == 400, target.label
        client.handler.enforce_csrf_checks = False
        if target.fields or target.method == "POST":
            assert status == 400, target.label
    assert not judge.problems, "\n".join(judge.problems[:40])


def _fields(names: list[str], value: str) -> str:
    return "&".join(f"{name}={value}" for name in names)


# --- a field missing from the post ---------------------------------------------------------------

# What a person typed earlier, in every text column a post could overwrite.
SAVED = "Typed earlier; must survive"
SESSION_TEXT = ("ticket_ref", "client", "summary", "scratchpad", "outcome_notes", "next_steps")


def _seed_saved_text(world: World) -> list[int]:
    """Fill every text column of alice's sessions and their steps; the steps' ids."""
    sessions = [world.active.pk, world.prepared.pk]
    Session.objects.filter(pk__in=sessions).update(**dict.fromkeys(SESSION_TEXT, SAVED))
    steps = Decision.objects.filter(session__in=sessions)
    steps.update(notes=SAVED)
    return list(steps.values_list("pk", flat=True))


def _blanked_text(world: World, steps: list[int]) -> list[str]:
    """The seeded columns that are now empty: text a post erased (a step the
    post opened starts empty, and is not one of `steps`)."""
    sessions = [world.active.pk, world.prepared.pk]
    blanked = [
        f"session {column}"
        for row in Session.objects.filter(pk__in=sessions).values(*SESSION_TEXT)
        for column, value in row.items()
        if not value
    ]
    blanked += [
        f"step {seq} notes"
        for seq in Decision.objects.filter(pk__in=steps, notes="").values_list("seq", flat=True)
    ]
    return blanked


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_it_never_loses_saved_text_to_a_post_missing_a_field(world, htmx):
    """Every POST target, the valid body without one of its fields at a time.

    A browser always sends every text field of a form, so a field missing is a
    post the page did not make: it may be refused (a 4xx with a body that
    changes nothing) or carried out, but it never blanks what was saved.
    """
    problems = []
    tried = 0
    for target in targets(world):
        if target.method != "POST":
            continue
        client = world.clients[target.role]
        names = sorted(target.fields | set(world.valid_post_fields(target.route.name)))
        for name in names:
            with rolled_back(client):
                body = world.valid_post(target.route.name)
                body.pop(name, None)
                steps = _seed_saved_text(world)
                before = fingerprint()
                response = client.post(world.url(target.route), body, headers=HTMX if htmx else {})
                tried += 1
                TALLY.requests += 1
                TALLY.statuses[response.status_code] += 1
                what = f"{target.label} without {name!r}: {response.status_code}"
                if response.status_code >= 500:
                    TALLY.server_errors += 1
                    problems.append(what)
                elif response.status_code >= 400:
                    if not response.content.strip():
                        problems.append(f"{what} with an empty body")
                    if fingerprint() != before:
                        TALLY.changed_on_refusal += 1
                        problems.append(f"{what} but the database changed")
                blanked = _blanked_text(world, steps)
                if blanked:
                    problems.append(f"{what} and it erased {', '.join(blanked)}")
    assert tried > 20  # not vacuous: every POST form's every field
    assert not problems, "\n".join(problems)


# Declared charsets Django refuses for a form body (only UTF-8 is read).
FOREIGN_CHARSETS = ("utf8", "latin-1", "utf-16", "ascii", "cp1252")


def test_it_answers_a_form_body_in_another_charset_with_a_400(world):
    """Every target, signed in and anonymous, GET and POST, with the CSRF check on:
    POST is a 400 that changes nothing (the body is refused), GET never a 5xx."""
    judge = Judge(world)
    seen: set[tuple[str, str, str]] = set()
    for found in targets(world):
        for role in (found.role, "anonymous"):
            target = Target(found.route, found.method, role, found.fields)
            if (target.route.name, target.method, role) in seen:
                continue
            seen.add((target.route.name, target.method, role))
            client = world.clients[role]
            client.get(reverse("login"))
            token = client.cookies["csrftoken"].value
            body = "&".join(
                [f"csrfmiddlewaretoken={token}", *(f"{name}=x" for name in sorted(found.fields))]
            ).encode()
            client.handler.enforce_csrf_checks = True
            try:
                for charset in FOREIGN_CHARSETS:
                    content_type = f"application/x-www-form-urlencoded; charset={charset}"
                    status = judge.send(target, raw_body=body, content_type=content_type)
                    if target.method == "POST" and status != 400:
                        judge.problems.append(f"{status} for charset={charset}: {target.label}")
            finally:
                client.handler.enforce_csrf_checks = False
    assert not judge.problems, "\n".join(judge.problems[:40])


# --- hypothesis ----------------------------------------------------------------------------------

random_value = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=300),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.dates().map(lambda d: d.isoformat()),
    st.uuids().map(str),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"),
)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_it_never_fails_on_random_input(world, data):
    judge = Judge(world)
    all_targets = data.draw(st.just(targets(world)))
    target = data.draw(st.sampled_from(all_targets), label="target")
    names = sorted(target.fields) or ["q"]
    values = data.draw(
        st.dictionaries(
            st.sampled_from(names),
            st.one_of(random_value, st.lists(random_value, min_size=2, max_size=3)),
            max_size=len(names),
        ),
        label="fields",
    )
    htmx = data.draw(st.booleans(), label="htmx")
    sent = tuple(
        v for value in values.values() for v in (value if isinstance(value, list) else [value])
    )
    if data.draw(st.booleans(), label="raw bytes") and target.method == "GET":
        raw = data.draw(st.binary(max_size=60), label="bytes")
        judge.send(target, raw_query=f"{names[0]}={quote_from_bytes(raw)}", htmx=htmx)
    judge.send(target, data=values, htmx=htmx, sent=sent)
    assert not judge.problems, "\n".join(judge.problems)


# --- NUL bytes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_it_refuses_nul_bytes_in_every_text_field_with_a_message(world, htmx):
    """PostgreSQL cannot store NUL in text: every field must refuse it before it gets there."""
    problems = []
    by_name = {t.route.name: t for t in targets(world) if t.method == "POST"}
    for name, text_fields in TEXT_FIELDS.items():
        target = by_name[name]
        client = world.clients[target.role]
        for text_field in sorted(text_fields):
            with rolled_back(client):
                body = world.valid_post(name)
                before = fingerprint()
                body[text_field] = "checked the\x00 cable"
                response = client.post(world.url(target.route), body, headers=HTMX if htmx else {})
                TALLY.requests += 1
                html = response.content.decode()
                if response.status_code != 422:
                    problems.append(f"{name} {text_field}: {response.status_code}")
                elif "Null characters are not allowed" not in html:
                    problems.append(f"{name} {text_field}: 422 without saying why")
                if fingerprint() != before:
                    problems.append(f"{name} {text_field}: the database changed")
    assert not problems, "\n".join(problems)


def test_it_reads_every_posted_text_through_a_form_field():
    """ProhibitNullCharactersValidator (and max_length) only run in form fields."""
    from django.core.validators import ProhibitNullCharactersValidator

    from api.forms import TokenForm
    from sessions.forms import (
        CompleteForm,
        EditDetailsForm,
        NotesForm,
        PrepareForm,
        ScratchpadForm,
        StartForm,
    )

    forms = {
        "token-new": TokenForm(),
        "sessions:start": StartForm(),
        "sessions:prepare": PrepareForm(),
        "sessions:notes": NotesForm(),
        "sessions:scratchpad": ScratchpadForm(),
        "sessions:complete": CompleteForm(),
        "sessions:edit": EditDetailsForm(),
    }
    for name, form in forms.items():
        for text_field in TEXT_FIELDS[name]:
            validators = form.fields[text_field].validators
            assert any(isinstance(v, ProhibitNullCharactersValidator) for v in validators), (
                name,
                text_field,
            )
            assert form.fields[text_field].max_length, (name, text_field)


def test_it_refuses_nul_bytes_in_imported_trees():
    for path, value in [
        (("name",), "VPN\x00"),
        (("description",), "a\x00b"),
        (("category",), "\x00"),
        (("nodes", 0, "title"), "Is it\x00 plugged in?"),
        (("nodes", 0, "body"), "\x00"),
        (("nodes", 1, "command"), "ipconfig\x00"),
        (("nodes", 0, "choices", 0, "label"), "Y\x00es"),
    ]:
        document = tree_document()
        holder = document
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = value
        before = fingerprint()
        with pytest.raises(tree_services.ImportProblems) as refused:
            tree_services.tree_import(data=json.dumps(document), filename="bad.json")
        TALLY.requests += 1
        assert "NUL" in " ".join(refused.value.lines())
        assert fingerprint() == before


# --- XSS -----------------------------------------------------------------------------------------

SCRIPT, IMG = XSS


def _hostile_tree() -> str:
    """A published tree whose every text (names, bodies, commands, labels) is a payload."""
    document = tree_document(
        name=f"Net {SCRIPT}",
        description=f"Desc {IMG}",
        category=f"Cat {SCRIPT}",
    )
    for node in document["nodes"]:
        node["title"] = f"{node['title']} {SCRIPT}"
        node["body"] = f"Body {SCRIPT} and {IMG} [link](javascript:alert(1))"
        if node.get("command") is not None:
            node["command"] = f"cmd {IMG}"
        for choice in node.get("choices", []):
            choice["label"] = f"{choice['label']} {IMG}"
    version = tree_services.tree_import(data=json.dumps(document), filename="x.json", publish=True)
    return version.tree.slug


def _hostile_session(world: World, slug: str) -> Session:
    """A session built through the views, with a payload in every field a person types."""
    client = world.clients["alice"]
    session_id = uuid.uuid4()
    response = client.post(
        reverse("sessions:start", args=[slug]),
        {
            "session_id": session_id,
            "ticket_ref": f"T{SCRIPT}"[:64],
            "client": f"Client {IMG}",
            "summary": f"Summary {SCRIPT} {IMG} {FORMULA}",
        },
    )
    assert response.status_code == 303, response.content.decode()[:500]
    session = Session.objects.get(pk=session_id)
    step = session.decisions.get()
    yes = step.node.choices.order_by("position").first()
    assert (
        client.post(
            reverse("sessions:answer", args=[session.pk]),
            {"decision": step.pk, "choice": yes.pk, "notes": f"Notes {SCRIPT} {FORMULA}"},
        ).status_code
        == 303
    )
    assert (
        client.post(
            reverse("sessions:scratchpad", args=[session.pk]),
            {"scratchpad": f"Pad {IMG} {SCRIPT}"},
        ).status_code
        == 303
    )
    return session


def _pages(world: World, session: Session, slug: str, *, completed: bool) -> list[tuple[str, str]]:
    pk = session.pk
    pages = [
        ("alice", "/"),
        ("alice", reverse("trees:library")),
        ("alice", reverse("trees:library") + f"?q={quote(SCRIPT)}"),
        ("alice", reverse("trees:detail", args=[slug])),
        ("admin", reverse("trees:detail", args=[slug]) + "?version=1"),
        ("alice", reverse("sessions:detail", args=[pk])),
        ("alice", reverse("sessions:history")),
        ("alice", reverse("sessions:history") + f"?q={quote(SCRIPT)}&from={quote(IMG)}"),
        ("alice", reverse("sessions:history") + f"?close={pk}"),
        ("charlie", reverse("sessions:history")),
        ("charlie", reverse("reports:overview")),
        ("charlie", reverse("reports:overview") + f"?tree={quote(SCRIPT)}"),
        ("charlie", reverse("reports:tree", args=[slug])),
        ("charlie", reverse("sessions:prepare")),
        ("admin", reverse("admin:trees_tree_changelist")),
        ("admin", reverse("admin:trees_treeversion_changelist")),
        ("admin", reverse("admin:trees_node_changelist")),
        ("charlie", reverse("reports:tree", args=[slug]) + f"?shade={quote(SCRIPT)}"),
    ]
    if not completed:
        pages.append(("alice", reverse("sessions:run", args=[pk])))
        pages.append(("alice", reverse("sessions:run", args=[pk]) + "?complete=1"))
    for fmt in ("markdown", "text", "html", "psa", "json", "csv"):
        for detail in ("standard", "full"):
            url = reverse("sessions:export", args=[pk, fmt]) + f"?detail={detail}"
            pages.append(("alice", url))
            pages.append(("alice", url + "&htmx"))
    for name in ("sessions:history-csv", "sessions:steps-csv"):
        pages.append(("charlie", reverse(name)))
    for table in ("summary", "trees", "engineers", "daily"):
        pages.append(("charlie", reverse("reports:csv", args=[table])))
    pages.append(("charlie", reverse("reports:csv", args=["nodes"]) + f"?tree={slug}"))
    return pages


def _check_escaped(world: World, pages, problems: list[str]) -> dict[str, int]:
    """Fetch every page; HTML must carry the payloads escaped, never raw."""
    shown = defaultdict(int)
    for role, url in pages:
        htmx = url.endswith("&htmx")
        url = url.removesuffix("&htmx")
        response = world.clients[role].get(url, headers=HTMX if htmx else {})
        TALLY.requests += 1
        if response.status_code != 200:
            problems.append(f"{url} as {role}: {response.status_code}")
            continue
        body = _read(response).decode()
        kind = response["Content-Type"]
        where = f"{url}{' (htmx)' if htmx else ''} as {role}"
        if "html" in kind:
            for payload in (SCRIPT, IMG, "<img src=x", "<script>alert"):
                if payload in body:
                    problems.append(f"{where}: raw {payload!r}")
            if "&lt;script&gt;alert(1)&lt;/script&gt;" in body:
                shown[url] += 1
            if "javascript:alert" in body and 'href="javascript:' in body:
                problems.append(f"{where}: a javascript: link")
        else:
            assert response["X-Content-Type-Options"] == "nosniff"
            if "markdown" in kind and "<script>" in body:
                problems.append(f"{where}: Markdown with a raw <script> tag")
            if "csv" in kind and any(
                line.startswith("=") or ",=" in line for line in body.splitlines()
            ):
                problems.append(f"{where}: a CSV cell a spreadsheet would run as a formula")
            if "json" in kind:
                json.loads(body)  # still valid JSON, the payloads inside strings
    return shown


def test_it_escapes_xss_payloads_on_every_page_and_in_every_export(world, clock):
    slug = _hostile_tree()
    session = _hostile_session(world, slug)
    problems: list[str] = []

    shown = _check_escaped(world, _pages(world, session, slug, completed=False), problems)

    clock.advance(60)
    response = world.clients["alice"].post(
        reverse("sessions:complete", args=[session.pk]),
        {
            "outcome": "resolved",
            "outcome_notes": f"Outcome {SCRIPT}",
            "next_steps": f"Next {IMG} {FORMULA}",
            "source": "navigation",
        },
    )
    assert response.status_code == 303
    shown_after = _check_escaped(world, _pages(world, session, slug, completed=True), problems)
    assert not problems, "\n".join(problems)

    # Not vacuous: the payloads are on the pages that show those fields, escaped.
    for url in (
        reverse("trees:detail", args=[slug]),
        reverse("sessions:detail", args=[session.pk]),
        reverse("sessions:history"),
        reverse("sessions:run", args=[session.pk]),
        reverse("sessions:export", args=[session.pk, "html"]) + "?detail=full",
    ):
        assert shown.get(url) or shown_after.get(url), f"no escaped payload on {url}"
    session.refresh_from_db()
    assert session.outcome_notes == f"Outcome {SCRIPT}"  # stored as typed, escaped on output
    decision = Decision.objects.filter(session=session).order_by("seq").first()
    assert decision.notes == f"Notes {SCRIPT} {FORMULA}"
    assert Outcome.objects.filter(code="resolved").exists()


@pytest.fixture(scope="module", autouse=True)
def _print_the_count(request):
    yield
    if TALLY.requests:
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(TALLY.statuses.items()))
        print_count(
            request.config,
            f"hostile input: {TALLY.requests} requests, {len(TALLY.values)} distinct hostile "
            f"values; {TALLY.server_errors} answered 5xx; {TALLY.changed_on_refusal} refusals "
            f"changed the database ({statuses})",
        )
