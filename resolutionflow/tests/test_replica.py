"""Reports and CSV exports read from a real PostgreSQL streaming standby.

bin/test starts the standby (`pg_basebackup -R` from the throwaway primary, on
another port) and names it in TEST_REPLICA_DATABASE_URL. Each test points the
`replica` alias at the standby's copy of this worker's test database, writes on
the primary, waits until the standby has replayed those writes, and checks
which database served each read.
"""

from __future__ import annotations

import logging
import os
import socket
import time

import environ
import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reports.tests.builders import play, utc
from resolutionflow import replica
from resolutionflow.replica import REPLICA, ReplicaRouter, replica_reads
from sessions.models import Session
from trees.tests.factories import published_tree

REPLICA_URL = os.environ.get("TEST_REPLICA_DATABASE_URL", "")

if connection.vendor == "postgresql":
    # Known when the test databases are set up, so that the alias becomes a test
    # mirror of the primary's (same NAME); each test then points it at the
    # standby's copy of that database, and names it in settings.READ_REPLICA,
    # which is what makes the router use it.
    connections.settings.setdefault(
        REPLICA,
        connections.configure_settings(
            {
                DEFAULT_DB_ALIAS: connections.settings[DEFAULT_DB_ALIAS],
                REPLICA: {
                    **connections.settings[DEFAULT_DB_ALIAS],
                    "TEST": {"MIRROR": DEFAULT_DB_ALIAS},
                },
            }
        )[REPLICA],
    )

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL standby"),
    pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA]),
]


@pytest.fixture
def use_replica(settings):
    """Use the standby as the replica (or whatever `url` names)."""
    standby = connections[REPLICA]
    saved = dict(standby.settings_dict)

    def configure(url: str = REPLICA_URL):
        if not url:
            if os.environ.get("CI") == "true":
                pytest.fail("CI=true but TEST_REPLICA_DATABASE_URL is not set (bin/test sets it).")
            pytest.skip("no streaming standby (bin/test starts one with PostgreSQL)")
        where = environ.Env.db_url_config(url)
        standby.close()
        standby.settings_dict.update(
            HOST=where["HOST"],
            PORT=where["PORT"],
            NAME=connections[DEFAULT_DB_ALIAS].settings_dict["NAME"],
            OPTIONS={**saved.get("OPTIONS", {}), "connect_timeout": 2},
        )
        settings.READ_REPLICA = REPLICA
        replica.health.reset()
        return standby

    yield configure
    standby.close()
    standby.settings_dict.clear()
    standby.settings_dict.update(saved)
    replica.health.reset()


def wait_for_replay(standby, timeout: float = 10) -> None:
    """Until the standby has replayed everything the primary has written so far."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        (lsn,) = cursor.fetchone()
    deadline = time.monotonic() + timeout
    while True:
        with standby.cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])
            if cursor.fetchone()[0]:
                return
        assert time.monotonic() < deadline, "the standby did not catch up in time"
        time.sleep(0.02)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def completed(clock, alice):
    version = published_tree().published_version
    return play(version, alice, clock, at=utc(2, 2, 9), moves=[(60, "No")], outcome_code="resolved")


def test_the_standby_is_a_real_read_only_replica(use_replica, completed):
    standby = use_replica()
    wait_for_replay(standby)
    with standby.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (True,)
    with replica_reads():
        assert Session.objects.get().pk == completed.pk
        assert Session.objects.all().db == REPLICA


def test_reports_and_csv_exports_are_read_from_the_replica(use_replica, completed, charlie_client):
    standby = use_replica()
    wait_for_replay(standby)
    pages = [
        reverse("reports:overview") + "?from=2026-02-01&to=2026-02-10",
        reverse("reports:tree", args=[completed.tree.slug]) + "?from=2026-02-01&to=2026-02-10",
        reverse("reports:csv", args=["trees"]) + "?from=2026-02-01&to=2026-02-10",
        reverse("sessions:history-csv"),
        reverse("sessions:steps-csv"),
    ]
    for url in pages:
        with (
            CaptureQueriesContext(standby) as on_replica,
            CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_primary,
        ):
            response = charlie_client.get(url)
            body = b"".join(response) if response.streaming else response.content
        assert response.status_code == 200, url
        assert on_replica.captured_queries, f"{url} read nothing from the replica"
        # The primary only answers who is signed in (the session and the user).
        sessions_or_steps = [q["sql"] for q in on_primary if "flow_sessions_" in q["sql"]]
        assert not sessions_or_steps, url
        if "history.csv" in url or "sessions.csv" in url:
            assert str(completed.pk).encode() in body or completed.tree.title.encode() in body


def test_pages_that_write_or_read_their_own_writes_stay_on_the_primary(
    use_replica, completed, charlie_client
):
    standby = use_replica()
    wait_for_replay(standby)
    with CaptureQueriesContext(standby) as on_replica:
        for url in (
            reverse("sessions:history"),
            reverse("sessions:detail", args=[completed.pk]),
            reverse("home"),
        ):
            assert charlie_client.get(url).status_code == 200, url
    assert not on_replica.captured_queries


def test_a_replica_that_is_down_falls_back_to_the_primary_with_one_warning(
    use_replica, completed, charlie_client, caplog
):
    use_replica(f"postgres://postgres@127.0.0.1:{closed_port()}/resolutionflow")
    url = reverse("reports:overview") + "?from=2026-02-01&to=2026-02-10"
    with caplog.at_level(logging.WARNING, logger="resolutionflow.replica"):
        first = charlie_client.get(url)
        second = charlie_client.get(url)  # within the retry window: not tried again
    assert first.status_code == second.status_code == 200
    assert first.context["summary"].sessions_completed == 1
    warnings = [r for r in caplog.records if r.name == "resolutionflow.replica"]
    assert len(warnings) == 1
    assert "replica unavailable, reading from the primary" in warnings[0].getMessage()


def test_the_replica_is_tried_again_after_the_retry_window(
    use_replica, completed, charlie_client, settings
):
    settings.REPLICA_RETRY_SECONDS = 0
    url = reverse("reports:overview") + "?from=2026-02-01&to=2026-02-10"
    use_replica(f"postgres://postgres@127.0.0.1:{closed_port()}/resolutionflow")
    assert charlie_client.get(url).status_code == 200
    assert not replica.available()
    standby = use_replica()
    wait_for_replay(standby)
    with CaptureQueriesContext(standby) as on_replica:
        assert charlie_client.get(url).status_code == 200
    assert on_replica.captured_queries


def test_the_router_never_writes_to_or_migrates_the_replica(use_replica):
    use_replica()
    router = ReplicaRouter()
    assert router.db_for_write(Session) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(REPLICA, "flow_sessions") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "flow_sessions") is None
    assert router.db_for_read(Session) is None  # outside replica_reads: the primary
    with replica_reads():
        assert router.db_for_read(Session) == REPLICA
