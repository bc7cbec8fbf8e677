"""Error pages, request ids, the log line of every failed request, and a database outage.

Every 4xx/5xx response is logged once on `resolutionflow.requests` with the
request id that the `X-Request-ID` response header carries, so a person who
quotes the id from a 500 page leads straight to the log line.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.test import Client, override_settings
from django.urls import reverse

from sessions import services
from sessions.models import Session
from sessions.tests.factories import build_version, outcome

REQUEST_LOGGER = "resolutionflow.requests"
HEX_ID = re.compile(r"[0-9a-f]{32}")
TRACE_MARKERS = ("Traceback", "OperationalError", "connection refused", 'File "', "django/")


@pytest.fixture
def request_log(caplog):
    """The records of `resolutionflow.requests` (which does not propagate to the root)."""
    logger = logging.getLogger(REQUEST_LOGGER)
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    yield lambda: [r for r in caplog.records if r.name == REQUEST_LOGGER]
    logger.removeHandler(caplog.handler)


@pytest.fixture
def active_session(alice, clock):
    version = build_version()
    return services.session_create(tree=version.tree, engineer=alice, ticket_ref="T-1042")


def _in_app_layout(html: str) -> bool:
    return (
        all(
            marker in html
            for marker in ('<a class="skip-link" href="#main">', '<main id="main"', "<footer")
        )
        and 'href="/static/css/app.css"' in html
    )


def _the_only_log_line(records, response):
    """The one log record of `response`, checked against its headers."""
    [record] = records
    assert record.request_id == response["X-Request-ID"]
    assert record.status == response.status_code
    return record


# --- the pages ------------------------------------------------------------------------


def test_it_renders_404_in_the_app_layout_and_logs_it(alice_client, alice, request_log):
    response = alice_client.get("/sessions/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    html = response.content.decode()
    assert _in_app_layout(html)
    assert "Page not found" in html
    assert 'class="nav-link"' in html  # the signed-in navigation, not a bare page
    record = _the_only_log_line(request_log(), response)
    assert record.levelname == "WARNING"
    assert record.method == "GET"
    assert record.path == "/sessions/00000000-0000-0000-0000-000000000000/"
    assert record.user_id == alice.pk


def test_it_renders_403_in_the_app_layout_and_logs_it(alice_client, request_log):
    response = alice_client.get(reverse("sessions:prepare"))
    assert response.status_code == 403
    html = response.content.decode()
    assert _in_app_layout(html)
    assert "You don't have access to this page" in html
    _the_only_log_line(request_log(), response)


def test_it_explains_the_reports_403(alice_client, request_log):
    response = alice_client.get(reverse("reports:overview"))
    assert response.status_code == 403
    html = response.content.decode()
    assert _in_app_layout(html)
    assert "Reports are for managers" in html
    _the_only_log_line(request_log(), response)


def test_it_renders_409_in_the_app_layout_and_logs_it(
    alice_client, active_session, alice, request_log
):
    services.session_complete(session=active_session, outcome=outcome("resolved"), by=alice)
    response = alice_client.post(
        reverse("sessions:complete", args=[active_session.pk]),
        {"outcome": "escalated", "source": "navigation"},
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert _in_app_layout(html)
    assert "Already closed by you as Resolved." in html
    assert "Nothing was changed." in html
    record = _the_only_log_line(request_log(), response)
    assert record.method == "POST"
    active_session.refresh_from_db()
    assert active_session.outcome.code == "resolved"


def test_it_renders_the_csrf_failure_in_the_app_layout(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/accounts/logout/")
    assert response.status_code == 403
    html = response.content.decode()
    assert _in_app_layout(html)
    assert "This form has expired" in html
    assert "<style" not in html  # Django's built-in page would break the CSP
    assert client.get("/").status_code == 200  # and nothing happened


@override_settings(DEBUG=False)
def test_it_renders_a_friendly_500_with_the_request_id_and_no_trace(alice, request_log):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    boom = RuntimeError("secret internals: /etc/passwd")
    with mock.patch("trees.views.build_outline", side_effect=boom):
        build_version()
        response = client.get(reverse("trees:detail", args=["vpn"]))
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html
    assert 'href="/static/css/app.css"' in html
    assert f"<code>{response['X-Request-ID']}</code>" in html
    assert "secret internals" not in html
    assert not any(marker in html for marker in TRACE_MARKERS)
    assert response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    record = _the_only_log_line(request_log(), response)
    assert record.levelname == "ERROR"


# --- request ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,status",
    [
        ("/", 200),
        ("/trees/", 200),
        ("/accounts/logout/", 405),
        ("/no-such-page/", 404),
        ("/healthz", 200),
    ],
)
def test_it_tags_every_response_with_a_request_id(alice_client, path, status):
    response = alice_client.get(path)
    assert response.status_code == status
    assert HEX_ID.fullmatch(response["X-Request-ID"])


def test_it_tags_redirects_too(client):
    response = client.get("/trees/")
    assert response.status_code == 302
    assert HEX_ID.fullmatch(response["X-Request-ID"])


def test_it_gives_every_request_its_own_id(alice_client):
    ids = {alice_client.get("/").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize(
    "incoming", ["req-2026-02-10.abc_123", "f" * 64, "0123abcd", "a1b2c3d4-e5f6-4711-8000-00000000"]
)
def test_it_echoes_a_valid_incoming_request_id(alice_client, incoming, request_log):
    response = alice_client.get("/no-such-page/", headers={"X-Request-ID": incoming})
    assert response["X-Request-ID"] == incoming
    assert _the_only_log_line(request_log(), response).request_id == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "short",
        "f" * 65,
        "abc def ghi",
        "abcdefgh\r\nX-Injected: 1",
        "abcdefgh status=200",
        "<script>alert(1)</script>",
        "ééééééééé",
        "",
    ],
)
def test_it_replaces_an_invalid_incoming_request_id(alice_client, incoming, request_log):
    response = alice_client.get("/no-such-page/", headers={"X-Request-ID": incoming})
    assert HEX_ID.fullmatch(response["X-Request-ID"])
    assert response["X-Request-ID"] != incoming
    assert "X-Injected" not in response
    assert _the_only_log_line(request_log(), response).request_id == response["X-Request-ID"]


def test_it_logs_nothing_for_successful_requests(alice_client, request_log):
    assert alice_client.get("/").status_code == 200
    assert alice_client.get("/trees/").status_code == 200
    assert request_log() == []


def test_it_logs_every_failed_request_once(alice_client, request_log):
    responses = [
        alice_client.get("/no-such-page/"),
        alice_client.get("/accounts/logout/"),
        alice_client.get(reverse("reports:overview")),
        alice_client.get(reverse("sessions:prepare")),
    ]
    assert [r.status_code for r in responses] == [404, 405, 403, 403]
    records = request_log()
    assert [r.request_id for r in records] == [r["X-Request-ID"] for r in responses]
    assert [r.status for r in records] == [404, 405, 403, 403]
    assert all(r.duration_ms >= 0 for r in records)


# --- database outage ---------------------------------------------------------------------


@contextmanager
def database_down():
    """Every attempt to reach the database fails, as when PostgreSQL is down."""

    def refuse(*args, **kwargs):
        raise OperationalError('connection to server at "db" (10.0.0.5), port 5432 failed')

    with (
        mock.patch.object(connection, "ensure_connection", refuse),
        mock.patch.object(connection, "cursor", refuse),
    ):
        yield


def _assert_unavailable_page(response) -> None:
    """The 503 page: try again in a moment, when, and the reference; no internals."""
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    html = response.content.decode()
    assert "try again in a moment" in html
    assert 'href="/static/css/app.css"' in html
    assert f"<code>{response['X-Request-ID']}</code>" in html
    assert not any(marker in html for marker in TRACE_MARKERS)
    assert response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert "Set-Cookie" not in response or "sessionid=" not in response["Set-Cookie"]


@pytest.mark.parametrize("error", [OperationalError, InterfaceError], ids=lambda e: e.__name__)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@override_settings(DEBUG=False)
def test_it_answers_503_when_the_database_fails_inside_a_view(
    alice, active_session, error, htmx, request_log
):
    """Signed in and past the middleware: the view's own query is what fails."""
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    run_url = reverse("sessions:run", args=[active_session.pk])
    lost = error("server closed the connection unexpectedly")
    with mock.patch("sessions.views.navigation._run_context", side_effect=lost):
        page = client.get(run_url, headers={"HX-Request": "true"} if htmx else {})
    _assert_unavailable_page(page)
    assert _the_only_log_line(request_log(), page).levelname == "ERROR"
    assert client.get(run_url).status_code == 200


@override_settings(DEBUG=False)
def test_it_answers_503_to_a_post_while_the_database_is_down(alice, active_session):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    step = active_session.decisions.get()
    with database_down():
        response = client.post(
            reverse("sessions:notes", args=[active_session.pk]),
            {"decision": step.pk, "notes": "Lost?"},
        )
    _assert_unavailable_page(response)
    step.refresh_from_db()
    assert step.notes == ""


@override_settings(DEBUG=False)
def test_it_keeps_the_500_page_for_other_errors(alice):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    with mock.patch("trees.views.build_outline", side_effect=ValueError("bug")):
        build_version()
        response = client.get(reverse("trees:detail", args=["vpn"]))
    assert response.status_code == 500
    assert "Retry-After" not in response
    assert "Something went wrong" in response.content.decode()


@override_settings(DEBUG=False)
def test_it_survives_a_database_outage_without_a_restart(alice, active_session, request_log):
    # One client (one handler, one middleware chain) throughout: no restart.
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    run_url = reverse("sessions:run", args=[active_session.pk])
    assert client.get(run_url).status_code == 200

    with database_down():
        health = client.get("/healthz")
        page = client.get(run_url)
        anonymous = Client(raise_request_exception=False).get("/healthz")

    assert health.status_code == 503
    assert health.json() == {"status": "error", "database": "unavailable"}
    assert anonymous.status_code == 503
    # The session lookup of the sign-in check is what fails: a 503, not a 500.
    _assert_unavailable_page(page)
    statuses = {r.request_id: (r.status, r.levelname, r.user_id) for r in request_log()}
    assert statuses[page["X-Request-ID"]] == (503, "ERROR", None)
    assert statuses[health["X-Request-ID"]][0] == 503

    # Back up: the same client carries on, nothing was lost.
    assert client.get("/healthz").status_code == 200
    response = client.get(run_url)
    assert response.status_code == 200
    assert "T-1042" in response.content.decode()
    assert Session.objects.get(pk=active_session.pk).started_at is not None


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@override_settings(DEBUG=False)
def test_it_reconnects_after_postgresql_goes_away_and_comes_back(alice):
    """A real outage: our server connection is terminated and PostgreSQL refuses new ones."""
    if connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL backend")
    client = Client(raise_request_exception=False)
    client.force_login(alice)

    def request(path: str):
        # Django's WSGI handler closes broken connections at the start of every
        # request; the test client switches that off, so do what the handler does.
        close_old_connections()
        return client.get(path)

    assert request("/").status_code == 200
    original = dict(connection.settings_dict)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            [pid] = cursor.fetchone()
        import psycopg

        with psycopg.connect(
            host=original["HOST"] or None,
            port=original["PORT"] or None,
            user=original["USER"] or None,
            password=original["PASSWORD"] or None,
            dbname=connection.settings_dict["NAME"],
            autocommit=True,
        ) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(_refused_port()))

        health = request("/healthz")
        page = request("/")
        assert health.status_code == 503
        _assert_unavailable_page(page)
    finally:
        connection.settings_dict.update(HOST=original["HOST"], PORT=original["PORT"])

    assert request("/healthz").status_code == 200
    assert request("/").status_code == 200


def test_it_answers_a_malformed_request_with_a_400_page(alice_client, request_log):
    # More fields than DATA_UPLOAD_MAX_NUMBER_FIELDS: Django refuses to parse the query.
    query = "&".join(f"f{i}=1" for i in range(1_100))
    response = alice_client.get("/sessions/", QUERY_STRING=query)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Request not understood" in html
    assert 'href="/static/css/app.css"' in html
    _the_only_log_line(request_log(), response)


# --- a body in another charset -------------------------------------------------------------

FOREIGN_CHARSETS = ("utf8", "UTF8", "latin-1", "iso-8859-1", "utf-16", "ascii", "cp1252")


@pytest.mark.parametrize("charset", FOREIGN_CHARSETS)
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
@pytest.mark.parametrize("path", ["/accounts/login/", "/trees/", "/sessions/prepare/"])
@override_settings(DEBUG=False)
def test_it_answers_a_form_in_another_charset_with_the_400_page(
    alice, charlie, charset, signed_in, path, request_log
):
    """Django refuses a form body declared in anything but UTF-8; that is a 400, never a 500
    (the CSRF check of the 400 handler used to read the body again and fail)."""
    client = Client(raise_request_exception=False, enforce_csrf_checks=True)
    if signed_in:
        client.force_login(charlie)
    client.get(reverse("login"))  # the CSRF cookie, as a browser would have it
    before = Session.objects.count()
    content_type = f"application/x-www-form-urlencoded; charset={charset}"
    body = f"csrfmiddlewaretoken={client.cookies['csrftoken'].value}&username=alice&ticket_ref=x"
    response = client.post(path, body.encode(), content_type=content_type)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Request not understood" in html
    assert "UTF-8" in html
    assert 'href="/static/css/app.css"' in html
    assert not any(marker in html for marker in TRACE_MARKERS)
    assert response["Content-Security-Policy"]
    _the_only_log_line(request_log(), response)
    assert Session.objects.count() == before
    # A GET never reads a body: the same headers are no reason to refuse it.
    got = client.generic("GET", path, body.encode(), content_type=content_type)
    assert got.status_code in (200, 302, 403)


def test_it_still_reads_a_form_declared_as_utf8(alice_client):
    response = alice_client.post(
        "/accounts/logout/", b"", content_type="application/x-www-form-urlencoded; charset=UTF-8"
    )
    assert response.status_code == 302


# --- a real PostgreSQL that stops and starts again ---------------------------------------


def _pg_bindir() -> Path | None:
    found = shutil.which("pg_config")
    if found:
        answer = subprocess.run([found, "--bindir"], capture_output=True, text=True)
        bindir = Path(answer.stdout.strip())
        if (bindir / "pg_ctl").exists():
            return bindir
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    return None


class ThrowawayCluster:
    """A PostgreSQL cluster of this test's own, so stopping it disturbs no other test.

    As bin/test does it: initdb and pg_ctl refuse to run as root, so as root
    they run as the postgres account, in a directory it owns.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="resolutionflow-outage."))
        self.data = self.root / "data"
        self.port = _refused_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres")

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        initdb = str(self.bindir / "initdb")
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        pg_ctl = str(self.bindir / "pg_ctl")
        log = str(self.root / "log")
        self._run(pg_ctl, "-D", str(self.data), "-l", log, "-w", "start", "-o", options)

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def copy_database(self, settings: dict) -> None:
        """The test database, schema and rows, into a database of the same name here."""
        source = ["-h", settings["HOST"] or "127.0.0.1", "-p", str(settings["PORT"] or 5432)]
        env = {**os.environ, "PGPASSWORD": settings["PASSWORD"] or ""}
        user = settings["USER"] or "postgres"
        here = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        subprocess.run(
            [str(self.bindir / "createdb"), *here, settings["NAME"]], check=True, timeout=60
        )
        dump = subprocess.run(
            [str(self.bindir / "pg_dump"), *source, "-U", user, "--no-owner", settings["NAME"]],
            check=True,
            capture_output=True,
            env=env,
            timeout=60,
        )
        subprocess.run(
            [str(self.bindir / "psql"), *here, "-q", "-v", "ON_ERROR_STOP=1", settings["NAME"]],
            input=dump.stdout,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def remove(self) -> None:
        with suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@override_settings(DEBUG=False)
def test_it_answers_503_while_postgresql_is_stopped_and_recovers_when_it_starts(alice, clock):
    """Stop a real cluster (as a restart does): 503 with Retry-After meanwhile, then 200
    on the same client and connection settings, without restarting anything."""
    if connection.vendor != "postgresql":
        pytest.skip("stops a PostgreSQL cluster")
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL's binaries (initdb, pg_ctl) are not installed")
    session = services.session_create(
        tree=build_version().tree, engineer=alice, ticket_ref="T-1042"
    )
    cluster = ThrowawayCluster(bindir)
    original = dict(connection.settings_dict)
    client = Client(raise_request_exception=False)
    client.force_login(alice)  # its session row is copied with the rest
    run_url = reverse("sessions:run", args=[session.pk])

    def request(path: str):
        # What Django's WSGI handler does at the start of every request (the
        # test client switches it off): drop a connection that has failed.
        close_old_connections()
        return client.get(path)

    try:
        cluster.init()
        cluster.start()
        cluster.copy_database(original)
        connection.close()
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(cluster.port))
        assert request(run_url).status_code == 200  # on the throwaway cluster now

        cluster.stop()
        for path in (run_url, "/", "/trees/"):
            _assert_unavailable_page(request(path))
        assert request("/healthz").status_code == 503

        cluster.start()
        assert request("/healthz").status_code == 200
        page = request(run_url)
        assert page.status_code == 200
        assert "T-1042" in page.content.decode()
    finally:
        connection.close()
        connection.settings_dict.update(HOST=original["HOST"], PORT=original["PORT"])
        cluster.remove()
